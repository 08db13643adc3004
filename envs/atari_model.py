"""An Atari game with the emulator as the model: ALE's cloneState/restoreState for planners.

Registered as "rlkit/AtariModel-v0" (kwarg `game`, e.g. "boxing"). It is a single Gymnasium env
(not rlkit's native Atari vector env), so a planner can snapshot and restore the emulator. Sticky
actions are off (repeat_action_probability = 0), which makes the emulator deterministic given a
snapshot, so a plan found by search is the plan played. Observations are the 128 bytes of console
RAM by default (cheap to produce in every search step); obs_type = "rgb" gives the screen.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from ale_py import ALEState
from ale_py.env import AtariEnv

from rlkit.errors import ConfigError


class AtariModel(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """A single-player Atari env implementing the model protocol (rlkit.search_model)."""

    num_players = 1

    def __init__(self, env: AtariEnv) -> None:
        super().__init__(env)
        self.atari = env
        self._actions = np.arange(len(env.ale.getMinimalActionSet()), dtype=np.int64)

    def clone_state(self) -> ALEState:
        """The emulator's state (comparable with ==)."""
        return self.atari.clone_state()

    def restore_state(self, state: ALEState) -> None:
        """Put the emulator back into a snapshot."""
        self.atari.restore_state(state)

    def legal_actions(self) -> np.ndarray:
        """Every action of the game's minimal action set is always legal."""
        return self._actions

    def to_play(self) -> int:
        """A single player: always 0."""
        return 0


def make_atari_model(
    game: str = "boxing",
    obs_type: Literal["ram", "rgb", "grayscale"] = "ram",
    frameskip: int = 4,
    render_mode: Literal["human", "rgb_array"] | None = None,
) -> gym.Env[np.ndarray, int]:
    """The Atari game `game` (an ale-py ROM name such as "boxing", "pong") with the protocol."""
    if frameskip < 1:
        raise ConfigError(f"frameskip must be >= 1, got {frameskip}")
    kwargs: dict[str, Any] = {"obs_type": obs_type, "frameskip": frameskip}
    env = AtariEnv(game=game, repeat_action_probability=0.0, render_mode=render_mode, **kwargs)
    return AtariModel(env)
