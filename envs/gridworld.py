"""The 4x4 gridworld of Sutton & Barto, example 4.1, with a toy-text transition table.

States 0..15 row-major; 0 and 15 are terminal. Actions 0=up, 1=right, 2=down, 3=left. Every
move costs -1; a move off the grid leaves the state unchanged; entering a terminal state ends
the episode. Episodes start uniformly at random in one of the 14 non-terminal states.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.utils import categorical_sample

SIZE = 4
NUM_STATES = SIZE * SIZE
TERMINALS = (0, NUM_STATES - 1)
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
"""(row, column) change of up, right, down, left."""
ACTION_NAMES = ("up", "right", "down", "left")

Table = dict[int, dict[int, list[tuple[float, int, float, bool]]]]


def next_state(state: int, action: int) -> int:
    """Where `action` leads from `state`; moves off the grid stay put."""
    row, col = divmod(state, SIZE)
    d_row, d_col = MOVES[action]
    new_row, new_col = row + d_row, col + d_col
    if not (0 <= new_row < SIZE and 0 <= new_col < SIZE):
        return state
    return new_row * SIZE + new_col


def build_table() -> Table:
    """P[s][a] = [(1.0, s2, -1.0, s2 is terminal)]; terminal states self-loop, reward 0, done.

    The terminal rows are never used by step() (an episode ends on entering them); they make
    the table complete so models built from it (TabularModel.from_table) have every state.
    """
    table: Table = {}
    for s in range(NUM_STATES):
        table[s] = {}
        for a in range(len(MOVES)):
            if s in TERMINALS:
                table[s][a] = [(1.0, s, 0.0, True)]
            else:
                s2 = next_state(s, a)
                table[s][a] = [(1.0, s2, -1.0, s2 in TERMINALS)]
    return table


class GridWorldEnv(gym.Env[int, int]):
    """Sutton & Barto's 4x4 gridworld (example 4.1); registered as rlkit/GridWorld-v0."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 - Gymnasium's API

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: {render_mode!r} is not supported; choose 'ansi' or None"
            )
        self.render_mode = render_mode
        # int observations and actions like the toy-text envs; Discrete is typed for np.int64
        self.observation_space = gym.spaces.Discrete(NUM_STATES)  # type: ignore[assignment]
        self.action_space = gym.spaces.Discrete(len(MOVES))  # type: ignore[assignment]
        self.P = build_table()
        self.initial_state_distrib = np.array(
            [0.0 if s in TERMINALS else 1.0 for s in range(NUM_STATES)]
        )
        self.initial_state_distrib /= self.initial_state_distrib.sum()
        self.s = 1  # until reset() draws a start state
        self.lastaction: int | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Start in a uniformly random non-terminal state."""
        super().reset(seed=seed)
        self.s = int(categorical_sample(self.initial_state_distrib, self.np_random))
        self.lastaction = None
        return self.s, {"prob": 1.0}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Move deterministically; reward -1, terminated on entering a terminal corner."""
        prob, s2, reward, terminated = self.P[self.s][int(action)][0]
        self.s = s2
        self.lastaction = int(action)
        return s2, reward, terminated, False, {"prob": prob}

    def render(self) -> str | None:
        """ansi: the grid as text, T for terminals, x for the agent, last action below."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; use render_mode='ansi'")
            return None
        rows = []
        for row in range(SIZE):
            cells = []
            for col in range(SIZE):
                s = row * SIZE + col
                cells.append("x" if s == self.s else "T" if s in TERMINALS else ".")
            rows.append(" ".join(cells))
        last = "" if self.lastaction is None else f"  ({ACTION_NAMES[self.lastaction]})\n"
        return last + "\n".join(rows) + "\n"
