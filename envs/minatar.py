"""MinAtar (Young & Tian 2019): five Atari-like games on 10x10 grids of boolean channels.

The games come from the optional `minatar` package (`pip install -e '.[minatar]'`). Gymnasium 1.x
does not load its plugin registration by itself, so rlkit registers the ids here, the way
`minatar.gym.register_envs` does, when the package is installed (finding it imports nothing):
`MinAtar/<Game>-v0` with all six actions and `-v1` with the game's minimal action set, sticky
actions (0.1) and difficulty ramping as in the paper. Observations are (10, 10, channels) bool,
channel last; `rlkit.nn.networks.MinAtarCNN` takes them as they are.
"""

from __future__ import annotations

import importlib.util

import gymnasium as gym

GAMES = {
    "Asterix": "asterix",
    "Breakout": "breakout",
    "Freeway": "freeway",
    "Seaquest": "seaquest",
    "SpaceInvaders": "space_invaders",
}
"""Gymnasium name -> MinAtar's module name of each game."""
PREFIX = "MinAtar/"


def installed() -> bool:
    """Whether the minatar package can be imported (without importing it)."""
    return importlib.util.find_spec("minatar") is not None


def register() -> None:
    """Register MinAtar/<Game>-v0 and -v1 with Gymnasium if minatar is installed."""
    if not installed():
        return
    for name, game in GAMES.items():
        for version, minimal in (("v0", False), ("v1", True)):
            env_id = f"{PREFIX}{name}-{version}"
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point="minatar.gym:BaseEnv",
                    kwargs={"game": game, "use_minimal_action_set": minimal},
                )


def missing_hint(env_id: str) -> str:
    """What to install for a MinAtar id when minatar is missing ('' otherwise)."""
    if env_id.startswith(PREFIX) and not installed():
        return (
            f"; {env_id} is a MinAtar game, which needs the minatar extra: "
            "pip install -e '.[minatar]'"
        )
    return ""
