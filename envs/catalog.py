"""The registered environments grouped by kind, for people (`rlkit list envs`).

Gymnasium registers ids whose code needs packages rlkit does not install (Box2D, MuJoCo, jax):
they fail when made. A kind is listed only when what it needs can be imported, and the others
are named once with what would install them.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class EnvKind:
    """A family of environment ids, what they need and how to get it."""

    label: str
    matches: Callable[[str, str], bool]
    """(id, entry point) -> whether the id is of this kind."""
    needs: str = ""
    """The module the kind's code imports ('' for none beyond rlkit's dependencies)."""
    install: str = ""
    """How to install `needs`."""

    def installed(self) -> bool:
        return not self.needs or importlib.util.find_spec(self.needs) is not None


def _entry(prefix: str) -> Callable[[str, str], bool]:
    return lambda env_id, entry: entry.startswith(prefix)


KINDS = (
    EnvKind("toy text", _entry("gymnasium.envs.toy_text")),
    EnvKind("classic control", _entry("gymnasium.envs.classic_control")),
    EnvKind("rlkit's own", lambda env_id, entry: env_id.startswith("rlkit/")),
    EnvKind("atari", _entry("ale_py")),
    EnvKind("minatar", _entry("minatar"), "minatar", "pip install -e '.[minatar]'"),
    EnvKind(
        "box2d",
        _entry("gymnasium.envs.box2d"),
        "Box2D",
        "pip install 'gymnasium[box2d]', which builds with swig and a C++ compiler",
    ),
    EnvKind("mujoco", _entry("gymnasium.envs.mujoco"), "mujoco", "pip install 'gymnasium[mujoco]'"),
    EnvKind(
        "jax (phys2d/, tabular/)",
        lambda env_id, entry: env_id.startswith(("phys2d/", "tabular/")),
        "jax",
        "pip install 'gymnasium[jax]'",
    ),
)
"""The kinds in the order `rlkit list` shows them. Ids of no kind (mujoco-py's v2/v3 ids,
shimmy's Gym 0.21 wrappers: they cannot be made with today's packages) are not listed."""


def kinds_of(ids: list[str]) -> dict[EnvKind, list[str]]:
    """The ids of each kind (every kind present, in KINDS order)."""
    grouped: dict[EnvKind, list[str]] = {kind: [] for kind in KINDS}
    for env_id in ids:
        entry = str(gym.registry[env_id].entry_point)
        for kind in KINDS:
            if kind.matches(env_id, entry):
                grouped[kind].append(env_id)
                break
    return grouped


_ATARI_V5 = re.compile(r"^ALE/([A-Za-z0-9]+)-v5$")


def atari_games(ids: list[str]) -> list[str]:
    """The game names of the ALE/<Game>-v5 ids among `ids` (each game's v0/v4/NoFrameskip
    ids are the same game with other settings)."""
    return sorted(m.group(1) for env_id in ids if (m := _ATARI_V5.match(env_id)))
