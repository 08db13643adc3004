"""The model protocol: what an env offers so that planners (UCT, AlphaZero) can search it.

A searchable env lets a planner save the exact state, try moves, and go back. To make your own
Gymnasium env searchable, give the env class (or a wrapper around it) these members:

- `num_players: int`: 1 for a single-agent task, 2 for a two-player game.
- `clone_state() -> Any`: a snapshot of everything `step` depends on (board, player to move,
  whether the game is over, the emulator's state, ...). It must not change later when the env
  moves on; for board games make it hashable and comparable (a tuple), so that trees can be reused.
- `restore_state(state) -> None`: put the env back into a snapshot from `clone_state`.
- `legal_actions() -> np.ndarray`: the int64 ids of the actions allowed now.
- `to_play() -> int`: the player to move (0 or 1; always 0 in single-agent envs).
- `step(action)`: the ordinary Gymnasium step, whose reward is for the player who moved (in a
  two-player game: +1 when the mover wins, 0 otherwise).

The search steps the layer that implements the protocol directly, so outer wrappers (time limits,
an opponent that replies inside `step`) do not take part in the search. `find_model(env)` finds
that layer; a planner restores the snapshot it started from when it is done, so the live episode
carries on unchanged. Planners treat `step` as deterministic given a snapshot (for Atari: make the
emulator with repeat_action_probability=0).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlkit.errors import SpaceError

MODEL_METHODS = ("clone_state", "restore_state", "legal_actions", "to_play", "step")
MODEL_ATTRIBUTES = ("num_players",)


@runtime_checkable
class SearchModel(Protocol):
    """An environment a planner can search: snapshots, legal actions and the player to move."""

    num_players: int

    def clone_state(self) -> Any:
        """An immutable snapshot of the whole state (hashable and comparable for board games)."""

    def restore_state(self, state: Any) -> None:
        """Return to a snapshot made by clone_state."""

    def legal_actions(self) -> np.ndarray:
        """The int64 ids of the actions allowed now."""

    def to_play(self) -> int:
        """The player to move: 0 or 1 in two-player games, always 0 in single-agent envs."""

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Gymnasium step; the reward is for the player who moved."""


def missing_model_methods(env: Any) -> list[str]:
    """The protocol members that `env` itself (not its inner envs) lacks."""
    missing = [name for name in MODEL_METHODS if not callable(getattr(env, name, None))]
    missing += [name for name in MODEL_ATTRIBUTES if not isinstance(getattr(env, name, None), int)]
    return missing


def find_model(env: Any) -> SearchModel:
    """The outermost layer of `env`'s wrapper chain that implements the protocol.

    Raises SpaceError naming the env and the members it lacks when no layer has them all.
    """
    layer = env
    while layer is not None:
        if not missing_model_methods(layer):
            return layer  # type: ignore[no-any-return]
        layer = getattr(layer, "env", None)
    base = getattr(env, "unwrapped", env)
    spec = getattr(base, "spec", None)
    name = spec.id if spec is not None else type(base).__name__
    missing = missing_model_methods(base)
    raise SpaceError(
        f"{name} cannot be searched: it lacks the model protocol's {', '.join(missing)} "
        "(see rlkit.search_model for how to make an env searchable)"
    )


__all__ = ["MODEL_METHODS", "SearchModel", "find_model", "missing_model_methods"]
