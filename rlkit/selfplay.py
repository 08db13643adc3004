"""AlphaZero's search and games: a PUCT tree, searches batched over many games, self-play.

Values are negamax: an edge's value is from the view of the player who chose it (the mover at
the node), so each node picks the child best for itself. The value head replaces the rollout.
Many games advance in lockstep, so the network sees one batch of leaves per simulation round.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rlkit.envs.factory import EnvConfig, make_env
from rlkit.networks import PolicyValueNet, fold_batch_norm, resolve_device
from rlkit.search import SearchModel

if TYPE_CHECKING:
    from rlkit.agents.alphazero import AlphaZeroConfig

Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Observations (batch, C, H, W) -> policy logits (batch, actions) and values (batch,)."""


class Node:
    """A searched state with one edge per legal action: prior, visit count, value sum."""

    __slots__ = (
        "actions",
        "children",
        "n",
        "obs",
        "prior",
        "q",
        "reward",
        "state",
        "terminal",
        "to_play",
        "visits",
        "w",
    )

    def __init__(
        self, state: Any, obs: np.ndarray, to_play: int, reward: float, terminal: bool, actions: Any
    ) -> None:
        self.state, self.obs, self.to_play = state, obs, to_play
        self.reward = reward
        """Reward of the move into this node, for the player who made it."""
        self.terminal = terminal
        self.actions: np.ndarray = np.asarray(actions, dtype=np.int64)
        self.prior: np.ndarray | None = None
        """P(s, a) over `actions`; None until the node is expanded."""
        self.n = np.zeros(len(self.actions))
        self.w = np.zeros(len(self.actions))
        self.q = np.zeros(len(self.actions))
        """w / n, kept by backup (0 for unvisited edges)."""
        self.visits = 0
        """N(s): the expansion plus every simulation through this node."""
        self.children: list[Node | None] = [None] * len(self.actions)


def root_node(game: SearchModel) -> Node:
    """A node for the game's current state."""
    observe = getattr(game, "observation", None)
    if observe is None:
        raise TypeError(f"{type(game).__name__} has no observation() for the network")
    return Node(game.clone_state(), observe(), game.to_play(), 0.0, False, game.legal_actions())


def puct_scores(node: Node, c_puct: float) -> np.ndarray:
    """q(s,a) + c * P(s,a) * sqrt(N(s)) / (1 + n(s,a)), with q = 0 for unvisited edges."""
    assert node.prior is not None
    scores: np.ndarray = node.q + (c_puct * math.sqrt(node.visits)) * node.prior / (1.0 + node.n)
    return scores


def _child(game: SearchModel, node: Node, index: int) -> Node:
    game.restore_state(node.state)
    obs, reward, terminated, truncated, _ = game.step(int(node.actions[index]))
    done = bool(terminated or truncated)
    actions = np.empty(0, dtype=np.int64) if done else game.legal_actions()
    return Node(game.clone_state(), obs, game.to_play(), float(reward), done, actions)


def descend(root: Node, game: SearchModel, c_puct: float) -> tuple[list[tuple[Node, int]], Node]:
    """Follow PUCT from `root` to an unexpanded or terminal node, creating it on the way."""
    node, path = root, []
    while node.prior is not None and not node.terminal:
        index = int(np.argmax(puct_scores(node, c_puct)))
        child = node.children[index]
        if child is None:
            child = node.children[index] = _child(game, node, index)
        path.append((node, index))
        node = child
    return path, node


def backup(path: list[tuple[Node, int]], leaf: Node, value: float) -> None:
    """Add `value` (for the player to move at `leaf`) to every edge of `path`, negamax style."""
    child = leaf
    for node, index in reversed(path):
        value = child.reward + (value if child.to_play == node.to_play else -value)
        node.n[index] += 1
        node.w[index] += value
        node.q[index] = node.w[index] / node.n[index]
        node.visits += 1
        child = node


def expand(node: Node, logits: np.ndarray) -> None:
    """Priors: the softmax of the network's logits over the legal actions only."""
    legal = logits[node.actions]
    exp = np.exp(legal - legal.max())
    node.prior = exp / exp.sum()
    node.visits = 1


def add_noise(node: Node, alpha: float, fraction: float, rng: np.random.Generator) -> None:
    """Mix Dirichlet(alpha) noise into a root's priors: (1 - fraction) P + fraction eta."""
    assert node.prior is not None
    if fraction > 0 and len(node.actions) > 1:
        eta = rng.dirichlet(np.full(len(node.actions), alpha))
        node.prior = (1 - fraction) * node.prior + fraction * eta


def search(
    roots: Sequence[Node],
    games: Sequence[SearchModel],
    evaluate: Evaluator,
    simulations: int,
    c_puct: float,
) -> None:
    """Run `simulations` simulations on every root; root i is searched with games[i]."""
    _evaluate_leaves([([], r) for r in roots if r.prior is None], evaluate)
    for _ in range(simulations):
        pending = []
        for root, game in zip(roots, games, strict=True):
            path, leaf = descend(root, game, c_puct)
            if leaf.terminal:
                backup(path, leaf, 0.0)
            else:
                pending.append((path, leaf))
        _evaluate_leaves(pending, evaluate)


def _evaluate_leaves(
    pending: list[tuple[list[tuple[Node, int]], Node]], evaluate: Evaluator
) -> None:
    if not pending:
        return
    logits, values = evaluate(np.stack([leaf.obs for _, leaf in pending]))
    for (path, leaf), row, value in zip(pending, logits, values, strict=True):
        expand(leaf, row)
        backup(path, leaf, float(value))


def choose(root: Node, temperature: float, rng: np.random.Generator | None) -> int:
    """Index of the edge to play: by visit counts ** (1/T), or the most visited (rng None)."""
    if rng is None or temperature <= 0:
        return int(np.argmax(root.n))
    weights = (root.n / root.n.max()) ** (1.0 / temperature)  # scaled first: no overflow
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def net_evaluator(net: PolicyValueNet, device: torch.device) -> Evaluator:
    """A batch evaluator returning numpy arrays, over a snapshot of `net`'s current weights
    (batch norm folded into the convolutions)."""
    folded = fold_batch_norm(net).to(device)

    def evaluate(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            logits, value = folded(torch.as_tensor(obs, device=device))
        return logits.float().cpu().numpy(), value.float().cpu().numpy()

    return evaluate


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


def visit_distribution(root: Node, num_actions: int) -> np.ndarray:
    """The search policy pi over all actions: visit counts normalised, zero on illegal ones."""
    pi = np.zeros(num_actions, dtype=np.float32)
    pi[root.actions] = root.n / max(root.n.sum(), 1.0)
    return pi


def self_play(
    games: Sequence[SearchModel],
    evaluate: Evaluator,
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
        _evaluate_leaves([([], r) for r in active if r.prior is None], evaluate)
        for root in active:
            add_noise(root, config.dirichlet_alpha, config.dirichlet_fraction, rng)
        search(active, [games[i] for i in live], evaluate, config.simulations, config.c_puct)
        still = []
        for i in live:
            root, record = roots[i], records[i]
            _record(record, root, num_actions)
            hot = move < config.temperature_moves
            index = choose(root, config.temperature, rng if hot else None)
            child = root.children[index] or _child(games[i], root, index)
            if child.terminal:
                record.outcome, record.last_mover = child.reward, root.to_play
            else:
                roots[i] = child if config.reuse_tree else _fresh(child)
                still.append(i)
        live, move = still, move + 1
    return records


def _record(record: GameRecord, root: Node, num_actions: int) -> None:
    mask = np.zeros(num_actions, dtype=bool)
    mask[root.actions] = True
    record.obs.append(root.obs)
    record.mask.append(mask)
    record.pi.append(visit_distribution(root, num_actions))
    record.to_play.append(root.to_play)


def _fresh(node: Node) -> Node:
    return Node(node.state, node.obs, node.to_play, node.reward, node.terminal, node.actions)


def play_arena(
    games: Sequence[SearchModel],
    seats: Sequence[tuple[Evaluator, Evaluator]],
    config: AlphaZeroConfig,
    rng: np.random.Generator,
) -> list[float]:
    """Play one game per entry (seats[i][p] moves for player p); return player 0's results.

    No noise; the first `arena_temperature_moves` moves are sampled by visit count so that
    repeated games differ, later moves take the most visited action.
    """
    roots: list[Node | None] = [root_node(g) for g in games]
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
            child = _child(games[i], root, choose(root, 1.0, rng if hot else None))
            if child.terminal:
                results[i] = child.reward if root.to_play == 0 else -child.reward
                roots[i] = None
            else:
                roots[i] = _fresh(child)
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
    from rlkit.agents.alphazero import searchable

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
