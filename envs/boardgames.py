"""Tic-tac-toe and Connect Four as two-player Gymnasium envs that implement the model protocol.

A board is two bitboards, the stones of the player to move and the opponent's, so a move is a few
integer operations and a snapshot is a small tuple (cur, opp, ply, status). Observations are
float32 planes (2, rows, cols) from the mover's view: plane 0 the mover's stones, plane 1 the
opponent's. `step(a)` plays `a` for the player to move; the reward is +1 to the mover on a win and
0 otherwise; an illegal move ends the game with reward -1 and info["illegal"] = True.

`rlkit.players.make_tictactoe(opponent=...)` and `make_connect_four` (the registered entry points)
wrap the game in `VersusOpponent`, which makes it a single-agent env for the runner; planners
still search the pure game inside it (see rlkit.search_model.find_model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlkit.errors import ConfigError

ONGOING, WON, DRAW, ILLEGAL = 0, 1, 2, 3
"""Status of a game; WON means the player who moved last won."""

State = tuple[int, int, int, int]
"""A snapshot: (mover's bits, opponent's bits, ply, status)."""


class BoardGame(gym.Env[np.ndarray, int]):
    """Common base of the two-player board games: bitboards, snapshots, observations."""

    metadata = {"render_modes": ["ansi"], "render_fps": 2}  # noqa: RUF012 - Gymnasium's API
    num_players = 2
    rows: ClassVar[int]
    cols: ClassVar[int]
    num_actions: ClassVar[int]
    bit_of_cell: ClassVar[np.ndarray]
    """Bit index of each (row, col) cell, row 0 at the top."""

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2, self.rows, self.cols), np.float32)
        self.action_space = gym.spaces.Discrete(self.num_actions)  # type: ignore[assignment]
        self._shifts = self.bit_of_cell.astype(np.int64)
        self.cur, self.opp, self.ply, self.status = 0, 0, 0, ONGOING

    # -- the model protocol -------------------------------------------------------------------
    def clone_state(self) -> State:
        """The whole state as a hashable tuple."""
        return (self.cur, self.opp, self.ply, self.status)

    def restore_state(self, state: State) -> None:
        """Return to a snapshot from clone_state."""
        self.cur, self.opp, self.ply, self.status = state

    def legal_actions(self) -> np.ndarray:
        """The legal moves as int64 ids (none once the game is over)."""
        return np.asarray(self.legal_moves(), dtype=np.int64)

    def to_play(self) -> int:
        """0 when the first player is to move, 1 for the second."""
        return self.ply & 1

    # -- fast helpers for search --------------------------------------------------------------
    def legal_moves(self) -> Sequence[int]:
        """The legal moves as a (shared, read-only) sequence of ints."""
        raise NotImplementedError

    def play(self, action: int) -> tuple[float, bool]:
        """Play a legal move for the player to move; return (mover's reward, game over)."""
        raise NotImplementedError

    def decisive_move(self) -> int | None:
        """A move that wins at once, else one that blocks an immediate win of the opponent."""
        moves = self.legal_moves()
        for bits in (self.cur, self.opp):
            for move in moves:
                if self._wins_with(bits, move):
                    return move
        return None

    def _wins_with(self, bits: int, move: int) -> bool:
        """True if the stones `bits` plus `move` make a winning line."""
        raise NotImplementedError

    def terminal(self) -> bool:
        """True once the game is over."""
        return self.status != ONGOING

    def observation(self) -> np.ndarray:
        """The current observation: (2, rows, cols) float32 planes from the mover's view."""
        cur = (np.int64(self.cur) >> self._shifts) & 1
        opp = (np.int64(self.opp) >> self._shifts) & 1
        return np.stack([cur, opp]).astype(np.float32)

    def action_mask(self) -> np.ndarray:
        """Boolean mask of the legal moves."""
        mask = np.zeros(self.num_actions, dtype=bool)
        mask[list(self.legal_moves())] = True
        return mask

    # -- Gymnasium ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.cur, self.opp, self.ply, self.status = 0, 0, 0, ONGOING
        return self.observation(), {"action_mask": self.action_mask()}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if self.status != ONGOING or a not in self.legal_moves():
            self.status = ILLEGAL if self.status == ONGOING else self.status
            info = {"action_mask": self.action_mask(), "illegal": True}
            return self.observation(), -1.0, True, False, info
        reward, done = self.play(a)
        return self.observation(), reward, done, False, {"action_mask": self.action_mask()}

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.board_text()
        return None

    def board_text(self) -> str:
        """The board as text: X moved first, O second; the move ids underneath."""
        x_bits, o_bits = (self.cur, self.opp) if self.ply % 2 == 0 else (self.opp, self.cur)
        lines = []
        for r in range(self.rows):
            row = ""
            for c in range(self.cols):
                bit = 1 << int(self.bit_of_cell[r, c])
                row += "X" if x_bits & bit else "O" if o_bits & bit else "."
            lines.append(" ".join(row))
        return "\n".join(lines) + "\n" + self.move_legend()

    def move_legend(self) -> str:
        """How the moves are numbered, for a human player."""
        raise NotImplementedError


def _ttt_lines() -> tuple[tuple[int, ...], ...]:
    """Per cell, the masks of the winning lines through it."""
    lines = [[r * 3 + c for c in range(3)] for r in range(3)]
    lines += [[r * 3 + c for r in range(3)] for c in range(3)]
    lines += [[0, 4, 8], [2, 4, 6]]
    masks = [sum(1 << i for i in line) for line in lines]
    return tuple(
        tuple(m for m, line in zip(masks, lines, strict=True) if cell in line) for cell in range(9)
    )


_TTT_LINES = _ttt_lines()
_TTT_LEGAL = tuple(tuple(i for i in range(9) if free >> i & 1) for free in range(512))


class TicTacToeEnv(BoardGame):
    """Tic-tac-toe; actions 0..8 are the cells row by row; registered as rlkit/TicTacToe-v0."""

    rows, cols, num_actions = 3, 3, 9
    bit_of_cell = np.arange(9).reshape(3, 3)

    def legal_moves(self) -> Sequence[int]:
        if self.status:
            return ()
        return _TTT_LEGAL[~(self.cur | self.opp) & 511]

    def play(self, action: int) -> tuple[float, bool]:
        mine = self.cur | (1 << action)
        self.cur, self.opp = self.opp, mine
        self.ply += 1
        for line in _TTT_LINES[action]:
            if mine & line == line:
                self.status = WON
                return 1.0, True
        if self.ply == 9:
            self.status = DRAW
            return 0.0, True
        return 0.0, False

    def _wins_with(self, bits: int, move: int) -> bool:
        mine = bits | (1 << move)
        return any(mine & line == line for line in _TTT_LINES[move])

    def move_legend(self) -> str:
        return "moves: 0 1 2 / 3 4 5 / 6 7 8 (row by row)"


_C4_H = 7  # bits per column: six rows plus an empty guard bit that stops shifts wrapping
_C4_BOTTOM = tuple(1 << (c * _C4_H) for c in range(7))
_C4_TOP = tuple(1 << (c * _C4_H + 5) for c in range(7))
_C4_COLUMN = tuple(0b111111 << (c * _C4_H) for c in range(7))
_C4_TOP_ALL = sum(_C4_TOP)
_C4_LEGAL: dict[int, tuple[int, ...]] = {}


def _c4_wins(b: int) -> bool:
    """True if bitboard `b` has four in a row in any direction."""
    for d in (1, 7, 6, 8):
        m = b & (b >> d)
        if m & (m >> (2 * d)):
            return True
    return False


class ConnectFourEnv(BoardGame):
    """Connect Four on 6x7; action = column 0..6; registered as rlkit/ConnectFour-v0."""

    rows, cols, num_actions = 6, 7, 7
    bit_of_cell = np.array([[c * _C4_H + (5 - r) for c in range(7)] for r in range(6)])

    def legal_moves(self) -> Sequence[int]:
        if self.status:
            return ()
        full = (self.cur | self.opp) & _C4_TOP_ALL
        moves = _C4_LEGAL.get(full)
        if moves is None:
            moves = _C4_LEGAL[full] = tuple(c for c in range(7) if not full & _C4_TOP[c])
        return moves

    def play(self, action: int) -> tuple[float, bool]:
        mask = self.cur | self.opp
        mine = self.cur | ((mask + _C4_BOTTOM[action]) & _C4_COLUMN[action])
        self.cur, self.opp = self.opp, mine
        self.ply += 1
        if _c4_wins(mine):
            self.status = WON
            return 1.0, True
        if self.ply == 42:
            self.status = DRAW
            return 0.0, True
        return 0.0, False

    def _wins_with(self, bits: int, move: int) -> bool:
        mask = self.cur | self.opp
        return _c4_wins(bits | ((mask + _C4_BOTTOM[move]) & _C4_COLUMN[move]))

    def move_legend(self) -> str:
        return "moves: 0 1 2 3 4 5 6 (columns, left to right)"


GAMES: dict[str, type[BoardGame]] = {
    "rlkit/TicTacToe-v0": TicTacToeEnv,
    "rlkit/ConnectFour-v0": ConnectFourEnv,
}
