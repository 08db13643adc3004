"""AlphaZero's games: self-play records, arena games between two networks, board symmetries,
and the self-play jobs that worker processes run."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlkit.agents.alphazero.config import AlphaZeroConfig
from rlkit.agents.alphazero.network import PolicyValueNet
from rlkit.agents.alphazero.puct import (
    LeafEvaluator,
    PUCTNode,
    add_noise,
    child_node,
    choose,
    evaluate_leaves,
    fresh_node,
    net_evaluator,
    root_node,
    search,
    visit_distribution,
)
from rlkit.envs.factory import EnvConfig, make_env
from rlkit.errors import SpaceError
from rlkit.nn.networks import resolve_device
from rlkit.search_model import SearchModel, find_model


@dataclass
class GameRecord:
    """One finished self-play game: per position the planes, legal mask, visit distribution."""

    obs: list[np.ndarray] = field(default_factory=list)
    mask: list[np.ndarray] = field(default_factory=list)
    pi: list[np.ndarray] = field(default_factory=list)
    to_play: list[int] = field(default_factory=list)
    outcome: float = 0.0
    """Reward of the last move, for the player who made it (+1 win, 0 draw)."""
    last_mover: int = 0

    def targets(self) -> np.ndarray:
        """z for every position: the outcome from the view of the player to move there."""
        sign = np.where(np.asarray(self.to_play) == self.last_mover, 1.0, -1.0)
        return (sign * self.outcome).astype(np.float32)


def self_play(
    games: Sequence[SearchModel],
    evaluate: LeafEvaluator,
    config: AlphaZeroConfig,
    num_actions: int,
    rng: np.random.Generator,
) -> list[GameRecord]:
    """Play one game on each of `games` (freshly reset) in lockstep; return their records."""
    roots = [root_node(g) for g in games]
    records = [GameRecord() for _ in games]
    live = list(range(len(games)))
    move = 0
    while live:
        active = [roots[i] for i in live]
        evaluate_leaves([([], r) for r in active if r.prior is None], evaluate)
        for root in active:
            add_noise(root, config.dirichlet_alpha, config.dirichlet_fraction, rng)
        search(active, [games[i] for i in live], evaluate, config.simulations, config.c_puct)
        still = []
        for i in live:
            root, record = roots[i], records[i]
            _record(record, root, num_actions)
            hot = move < config.temperature_moves
            index = choose(root, config.temperature, rng if hot else None)
            child = root.children[index] or child_node(games[i], root, index)
            if child.terminal:
                record.outcome, record.last_mover = child.reward, root.to_play
            else:
                roots[i] = child if config.reuse_tree else fresh_node(child)
                still.append(i)
        live, move = still, move + 1
    return records


def _record(record: GameRecord, root: PUCTNode, num_actions: int) -> None:
    mask = np.zeros(num_actions, dtype=bool)
    mask[root.actions] = True
    record.obs.append(root.obs)
    record.mask.append(mask)
    record.pi.append(visit_distribution(root, num_actions))
    record.to_play.append(root.to_play)


def play_arena(
    games: Sequence[SearchModel],
    seats: Sequence[tuple[LeafEvaluator, LeafEvaluator]],
    config: AlphaZeroConfig,
    rng: np.random.Generator,
) -> list[float]:
    """Play one game per entry (seats[i][p] moves for player p); return player 0's results.

    No noise; the first `arena_temperature_moves` moves are sampled by visit count so that
    repeated games differ, later moves take the most visited action.
    """
    roots: list[PUCTNode | None] = [root_node(g) for g in games]
    results = [0.0] * len(games)
    move = 0
    while any(r is not None for r in roots):
        groups: dict[int, list[int]] = {}
        for i, root in enumerate(roots):
            if root is not None:
                groups.setdefault(id(seats[i][root.to_play]), []).append(i)
        for members in groups.values():
            batch = [root for i in members if (root := roots[i]) is not None]
            evaluate = seats[members[0]][batch[0].to_play]
            search(batch, [games[i] for i in members], evaluate, config.simulations, config.c_puct)
        hot = move < config.arena_temperature_moves
        for i, root in enumerate(roots):
            if root is None:
                continue
            child = child_node(games[i], root, choose(root, 1.0, rng if hot else None))
            if child.terminal:
                results[i] = child.reward if root.to_play == 0 else -child.reward
                roots[i] = None
            else:
                roots[i] = fresh_node(child)
        move += 1
    return results


_FLIPS: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    lambda a: a,
    lambda a: a[..., ::-1],
    lambda a: a[..., ::-1, :],
    lambda a: a[..., ::-1, ::-1],
)


def board_maps(square: bool) -> list[Callable[[np.ndarray], np.ndarray]]:
    """Maps of the last two axes onto themselves: flips, and on a square board the transposes."""
    maps = list(_FLIPS)
    if square:
        maps += [lambda a, f=f: np.swapaxes(f(a), -1, -2) for f in _FLIPS]  # type: ignore[misc]
    return maps


Positions = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Planes (n, C, H, W), legal masks (n, A), visit distributions (n, A), outcomes z (n,)."""


def symmetric_images(positions: Positions) -> Positions:
    """The positions and their images under the board's symmetries, stacked.

    Actions that are the cells row by row get the flips (and on a square board the rotations)
    of the board; actions that are the columns get the mirror image; other layouts none.
    """
    obs, mask, pi, z = positions
    rows, cols = obs.shape[-2:]
    if mask.shape[1] == rows * cols:
        maps = board_maps(rows == cols)
        images = [
            (m(obs), _on_cells(m, mask, rows, cols), _on_cells(m, pi, rows, cols)) for m in maps
        ]
    elif mask.shape[1] == cols:
        images = [(obs, mask, pi), (obs[..., ::-1], mask[:, ::-1], pi[:, ::-1])]
    else:
        return positions
    return (
        np.concatenate([o for o, _, _ in images]),
        np.concatenate([m for _, m, _ in images]),
        np.concatenate([p for _, _, p in images]),
        np.tile(z, len(images)),
    )


def _on_cells(
    move: Callable[[np.ndarray], np.ndarray], values: np.ndarray, rows: int, cols: int
) -> np.ndarray:
    return move(values.reshape(len(values), rows, cols)).reshape(len(values), -1)


def positions_of(records: list[GameRecord]) -> Positions:
    """Stack the positions of finished games with their targets z."""
    return (
        np.stack([o for r in records for o in r.obs]).astype(np.float32),
        np.stack([m for r in records for m in r.mask]),
        np.stack([p for r in records for p in r.pi]),
        np.concatenate([r.targets() for r in records]),
    )


def make_games(env: EnvConfig, count: int) -> list[SearchModel]:
    """`count` searchable two-player games of the experiment's env (any opponent layer skipped)."""
    return [searchable(make_env(env)) for _ in range(count)]


def reset_games(games: Sequence[SearchModel], rng: np.random.Generator) -> None:
    """Start a new game on each (seeded from `rng`)."""
    for game in games:
        game.reset(seed=int(rng.integers(2**31)))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SelfPlayJob:
    """Work for one self-play process: which game, which network weights, how many games."""

    env: EnvConfig
    config: AlphaZeroConfig
    shape: tuple[int, ...]
    num_actions: int
    weights: dict[str, torch.Tensor]
    games: int
    seed: int


def run_job(job: SelfPlayJob) -> list[GameRecord]:
    """Play a job's games, `concurrent_games` at a time, in this process."""
    c = job.config
    device = resolve_device(c.device)
    net = PolicyValueNet(job.shape, job.num_actions, c.channels, c.blocks, c.value_hidden)
    net.load_state_dict(job.weights)
    evaluate = net_evaluator(net.to(device), device)
    rng = np.random.default_rng(job.seed)
    games = make_games(job.env, min(job.config.concurrent_games, job.games))
    records: list[GameRecord] = []
    while len(records) < job.games:
        batch = games[: min(len(games), job.games - len(records))]
        reset_games(batch, rng)
        records += self_play(batch, evaluate, job.config, job.num_actions, rng)
    return records


def init_worker() -> None:
    """Worker processes use one torch thread each (the machine's cores are the workers) and
    leave Ctrl-C to the trainer, which stops after the current phase."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def searchable(env: Any) -> SearchModel:
    """The two-player game inside `env` (SpaceError if it cannot be searched or is not one)."""
    game = find_model(env)
    if game.num_players != 2:
        raise SpaceError(
            f"agent 'alphazero' plays two-player games; {type(game).__name__} has "
            f"num_players = {game.num_players}"
        )
    return game
