"""Environment factories and rlkit's own environments, registered with Gymnasium on import."""

if __name__ != "rlkit.envs":  # pragma: no cover - guard against `import envs`
    raise ImportError("import rlkit.envs, not the top-level 'envs' directory")

import gymnasium as gym

if "rlkit/GridWorld-v0" not in gym.registry:
    gym.register(
        id="rlkit/GridWorld-v0",
        entry_point="rlkit.envs.gridworld:GridWorldEnv",
        max_episode_steps=100,
    )
from rlkit.envs import (
    continuous,  # noqa: F401 - registers rlkit/TargetReach-v0
    maze,  # noqa: F401 - registers rlkit/DeceptiveMaze-v0
)

for _id, _entry in (
    ("rlkit/TicTacToe-v0", "rlkit.players:make_tictactoe"),
    ("rlkit/ConnectFour-v0", "rlkit.players:make_connect_four"),
    ("rlkit/AtariModel-v0", "rlkit.envs.atari_model:make_atari_model"),
    ("rlkit/Blackjack-v0", "rlkit.envs.blackjack:FlatBlackjackEnv"),
):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry)
