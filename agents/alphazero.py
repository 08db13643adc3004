"""AlphaZero: PUCT search guided by a residual policy/value network trained by self-play.

Training runs in rlkit.alphazero (the agent's own training loop); this agent plays: on the
runner's env (act, through the searchable game inside it) and in the arena (as_player).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlkit import selfplay
from rlkit.agent import Agent, EnvSpec, register_agent
from rlkit.errors import RlkitError, SpaceError
from rlkit.networks import PolicyValueNet, resolve_device
from rlkit.search import SearchModel, find_model


@dataclass
class AlphaZeroConfig:
    """Network, search, self-play, training and arena settings of AlphaZero."""

    blocks: int = 2
    """Residual blocks in the network's trunk."""
    channels: int = 32
    """Convolution channels of the trunk."""
    value_hidden: int = 64
    """Hidden units of the value head."""
    simulations: int = 50
    """PUCT simulations per move in self-play and the arena."""
    play_simulations: int = 0
    """Simulations per move when playing greedily (rlkit eval, arena players); 0: simulations."""
    c_puct: float = 1.5
    """Exploration constant c of q + c * P * sqrt(N) / (1 + n)."""
    dirichlet_alpha: float = 0.3
    """Concentration of the Dirichlet noise mixed into the root priors in self-play."""
    dirichlet_fraction: float = 0.25
    """Weight of that noise: P = (1 - fraction) P + fraction * Dirichlet (0: no noise)."""
    temperature: float = 1.0
    """Self-play samples moves by visit count ** (1/temperature) for the first moves."""
    temperature_moves: int = 4
    """Self-play moves (both players counted) played with the temperature; then the most visited."""
    reuse_tree: bool = True
    """Self-play keeps the subtree of the move played for the next search."""
    symmetries: bool = True
    """Add the board's symmetric images of every position to the replay (boards whose actions
    are the cells in row-major order: flips and rotations; actions = columns: the mirror)."""
    concurrent_games: int = 32
    """Games each process plays in lockstep, so the network evaluates their leaves in one batch."""
    games_per_iteration: int = 64
    """Self-play games per iteration (played with the best network)."""
    replay_size: int = 50_000
    """Positions kept in the replay (symmetric images included); oldest dropped first."""
    batch_size: int = 128
    """Positions per gradient step."""
    train_steps: int = 200
    """Gradient steps per iteration on the candidate network."""
    learning_rate: float = 1e-3
    """Adam step size."""
    weight_decay: float = 1e-4
    """L2 coefficient c: the loss gains (c/2)|theta|^2 (Adam's weight_decay adds c * theta)."""
    arena_games: int = 20
    """Games candidate vs best per iteration, half with each as first player (0: always accept)."""
    arena_threshold: float = 0.55
    """The candidate becomes the best network when its score (wins + draws/2) / games >= this."""
    arena_temperature_moves: int = 2
    """Arena moves sampled by visit count so that repeated games differ; then the most visited."""
    iterations: int = 20
    """Iterations of self-play, training and arena."""
    time_budget_s: float = 0.0
    """Also stop after the iteration that passes this much training time (0: no limit)."""
    eval_every: int = 0
    """Iterations between greedy evaluations on the [env] (0: only the final one)."""
    workers: int = 1
    """Self-play processes (1: in the training process, reproducible with the seed)."""
    start_method: Literal["spawn", "forkserver"] = "forkserver"
    """How worker processes are started (fork is unsafe with torch's threads)."""
    device: str = "auto"
    """auto: CUDA when present, else CPU (training and in-process search)."""

    def __post_init__(self) -> None:
        for name in ("blocks", "channels", "value_hidden", "simulations", "concurrent_games"):
            _at_least(name, getattr(self, name), 1)
        for name in ("games_per_iteration", "batch_size", "iterations", "workers"):
            _at_least(name, getattr(self, name), 1)
        for name in ("temperature_moves", "train_steps", "arena_games", "eval_every"):
            _at_least(name, getattr(self, name), 0)
        for name in ("play_simulations", "arena_temperature_moves"):
            _at_least(name, getattr(self, name), 0)
        if self.replay_size < self.batch_size:
            raise ValueError(f"replay_size must be >= batch_size, got {self.replay_size}")
        for name in ("c_puct", "dirichlet_alpha", "temperature", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.dirichlet_fraction <= 1:
            raise ValueError(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if not 0 <= self.arena_threshold <= 1:
            raise ValueError(f"arena_threshold must be in [0, 1], got {self.arena_threshold}")
        if self.weight_decay < 0 or self.time_budget_s < 0:
            raise ValueError("weight_decay and time_budget_s must be >= 0")


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def build_network(config: AlphaZeroConfig, spec: EnvSpec) -> PolicyValueNet:
    """The residual net for `spec`'s board planes and actions."""
    assert isinstance(spec.observation_space, gym.spaces.Box)
    assert isinstance(spec.action_space, gym.spaces.Discrete)
    return PolicyValueNet(
        spec.observation_space.shape,
        int(spec.action_space.n),
        config.channels,
        config.blocks,
        config.value_hidden,
    )


@register_agent("alphazero")
class AlphaZeroAgent(Agent[AlphaZeroConfig]):
    """Plays two-player board games by PUCT search with the best network found in training."""

    config_class = AlphaZeroConfig
    training_loop = "rlkit.alphazero:train_run"

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        obs, actions = spec.observation_space, spec.action_space
        if not (isinstance(obs, gym.spaces.Box) and len(obs.shape) == 3):
            raise SpaceError(
                f"agent 'alphazero' needs board planes, a Box of shape (planes, rows, cols); "
                f"{spec.env_id} has {obs} (use a board game such as rlkit/TicTacToe-v0)"
            )
        if not isinstance(actions, gym.spaces.Discrete):
            raise SpaceError(
                f"agent 'alphazero' needs a Discrete action space; {spec.env_id} has {actions}"
            )

    def __init__(self, config: AlphaZeroConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.device = resolve_device(config.device)
        self.network = build_network(config, spec).to(self.device)
        self.network.eval()
        self.evaluate = selfplay.net_evaluator(self.network, self.device)
        self.envs: Any = None
        self.last_root: selfplay.Node | None = None

    def attach(self, envs: Any) -> None:
        self.envs = envs

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        subs = getattr(self.envs, "envs", None)
        if subs is None:
            raise RlkitError(
                "agent 'alphazero' searches the env's game: it needs a sync vector env "
                "(env.vectorization = 'sync') attached with attach(envs)"
            )
        return np.array([self.move(searchable(env), explore) for env in subs], dtype=np.int64)

    def move(self, game: SearchModel, explore: bool, root: selfplay.Node | None = None) -> int:
        """Search from the game's state (or a reused tree `root` of it) and return an action;
        the game's state is kept; `last_root` is the searched tree."""
        root = root or selfplay.root_node(game)
        self.last_root = root
        c = self.config
        if explore:
            if root.prior is None:
                self.evaluate_root(root)
            selfplay.add_noise(root, c.dirichlet_alpha, c.dirichlet_fraction, self.rng)
        simulations = c.simulations if explore else c.play_simulations or c.simulations
        try:
            selfplay.search([root], [game], self.evaluate, simulations, c.c_puct)
        finally:
            game.restore_state(root.state)
        index = selfplay.choose(root, c.temperature, self.rng if explore else None)
        return int(root.actions[index])

    def evaluate_root(self, root: selfplay.Node) -> None:
        """Expand a root with the network (search would do it; noise needs the priors first)."""
        logits, _ = self.evaluate(root.obs[None])
        selfplay.expand(root, logits[0])

    def as_player(self) -> AlphaZeroPlayer:
        """This agent as an arena player (greedy search, no noise)."""
        return AlphaZeroPlayer(self)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.set_network(state["network"])

    def set_network(self, weights: dict[str, Any]) -> None:
        """Load network weights; the search's evaluator is rebuilt from them."""
        self.network.load_state_dict(weights)
        self.network.eval()
        self.evaluate = selfplay.net_evaluator(self.network, self.device)


def searchable(env: Any) -> SearchModel:
    """The two-player game inside `env` (SpaceError if it cannot be searched or is not one)."""
    game = find_model(env)
    if game.num_players != 2:
        raise SpaceError(
            f"agent 'alphazero' plays two-player games; {type(game).__name__} has "
            f"num_players = {game.num_players}"
        )
    return game


class AlphaZeroPlayer:
    """An arena player: PUCT search with the agent's network, the most visited move; the
    subtree of the position reached after its move and the reply is reused."""

    def __init__(self, agent: AlphaZeroAgent) -> None:
        self.agent = agent
        simulations = agent.config.play_simulations or agent.config.simulations
        self.name = f"alphazero({simulations} simulations)"
        self.previous: selfplay.Node | None = None

    def reset(self) -> None:
        """A new game: forget the old tree."""
        self.previous = None

    def choose(self, game: SearchModel) -> int:
        action = self.agent.move(game, explore=False, root=self._reused(game.clone_state()))
        self.previous = self.agent.last_root
        return action

    def _reused(self, state: Any) -> selfplay.Node | None:
        """The node of `state` two plies below the last searched root, if the tree has it."""
        children = self.previous.children if self.previous is not None else []
        for child in children:
            for node in child.children if child is not None else []:
                if node is not None and node.state == state:
                    return node
        return None
