"""AlphaZero's settings: network, search, self-play, training and arena."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
