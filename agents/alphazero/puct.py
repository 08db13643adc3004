"""PUCT search (AlphaGo Zero / AlphaZero): a tree over a SearchModel, guided by a policy/value net.

Values are negamax: an edge's value is from the view of the player who chose it (the mover at
the node), so each node picks the child best for itself. The value head replaces the rollout.
Many games advance in lockstep, so the network sees one batch of leaves per simulation round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rlkit.agents.alphazero.network import PolicyValueNet, fold_batch_norm
from rlkit.search_model import SearchModel

LeafEvaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Observations (batch, C, H, W) -> policy logits (batch, actions) and values (batch,)."""


class PUCTNode:
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
        self.children: list[PUCTNode | None] = [None] * len(self.actions)


def root_node(game: SearchModel) -> PUCTNode:
    """A node for the game's current state."""
    observe = getattr(game, "observation", None)
    if observe is None:
        raise TypeError(f"{type(game).__name__} has no observation() for the network")
    return PUCTNode(game.clone_state(), observe(), game.to_play(), 0.0, False, game.legal_actions())


def puct_scores(node: PUCTNode, c_puct: float) -> np.ndarray:
    """q(s,a) + c * P(s,a) * sqrt(N(s)) / (1 + n(s,a)), with q = 0 for unvisited edges."""
    assert node.prior is not None
    scores: np.ndarray = node.q + (c_puct * math.sqrt(node.visits)) * node.prior / (1.0 + node.n)
    return scores


def child_node(game: SearchModel, node: PUCTNode, index: int) -> PUCTNode:
    """The node reached by the edge `index` of `node` (the game is moved there)."""
    game.restore_state(node.state)
    obs, reward, terminated, truncated, _ = game.step(int(node.actions[index]))
    done = bool(terminated or truncated)
    actions = np.empty(0, dtype=np.int64) if done else game.legal_actions()
    return PUCTNode(game.clone_state(), obs, game.to_play(), float(reward), done, actions)


def descend(
    root: PUCTNode, game: SearchModel, c_puct: float
) -> tuple[list[tuple[PUCTNode, int]], PUCTNode]:
    """Follow PUCT from `root` to an unexpanded or terminal node, creating it on the way."""
    node, path = root, []
    while node.prior is not None and not node.terminal:
        index = int(np.argmax(puct_scores(node, c_puct)))
        child = node.children[index]
        if child is None:
            child = node.children[index] = child_node(game, node, index)
        path.append((node, index))
        node = child
    return path, node


def backup(path: list[tuple[PUCTNode, int]], leaf: PUCTNode, value: float) -> None:
    """Add `value` (for the player to move at `leaf`) to every edge of `path`, negamax style."""
    child = leaf
    for node, index in reversed(path):
        value = child.reward + (value if child.to_play == node.to_play else -value)
        node.n[index] += 1
        node.w[index] += value
        node.q[index] = node.w[index] / node.n[index]
        node.visits += 1
        child = node


def expand(node: PUCTNode, logits: np.ndarray) -> None:
    """Priors: the softmax of the network's logits over the legal actions only."""
    legal = logits[node.actions]
    exp = np.exp(legal - legal.max())
    node.prior = exp / exp.sum()
    node.visits = 1


def add_noise(node: PUCTNode, alpha: float, fraction: float, rng: np.random.Generator) -> None:
    """Mix Dirichlet(alpha) noise into a root's priors: (1 - fraction) P + fraction eta."""
    assert node.prior is not None
    if fraction > 0 and len(node.actions) > 1:
        eta = rng.dirichlet(np.full(len(node.actions), alpha))
        node.prior = (1 - fraction) * node.prior + fraction * eta


def search(
    roots: Sequence[PUCTNode],
    games: Sequence[SearchModel],
    evaluate: LeafEvaluator,
    simulations: int,
    c_puct: float,
) -> None:
    """Run `simulations` simulations on every root; root i is searched with games[i]."""
    evaluate_leaves([([], r) for r in roots if r.prior is None], evaluate)
    for _ in range(simulations):
        pending = []
        for root, game in zip(roots, games, strict=True):
            path, leaf = descend(root, game, c_puct)
            if leaf.terminal:
                backup(path, leaf, 0.0)
            else:
                pending.append((path, leaf))
        evaluate_leaves(pending, evaluate)


def evaluate_leaves(
    pending: list[tuple[list[tuple[PUCTNode, int]], PUCTNode]], evaluate: LeafEvaluator
) -> None:
    if not pending:
        return
    logits, values = evaluate(np.stack([leaf.obs for _, leaf in pending]))
    for (path, leaf), row, value in zip(pending, logits, values, strict=True):
        expand(leaf, row)
        backup(path, leaf, float(value))


def choose(root: PUCTNode, temperature: float, rng: np.random.Generator | None) -> int:
    """Index of the edge to play: by visit counts ** (1/T), or the most visited (rng None)."""
    if rng is None or temperature <= 0:
        return int(np.argmax(root.n))
    weights = (root.n / root.n.max()) ** (1.0 / temperature)  # scaled first: no overflow
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def net_evaluator(net: PolicyValueNet, device: torch.device) -> LeafEvaluator:
    """A batch evaluator returning numpy arrays, over a snapshot of `net`'s current weights
    (batch norm folded into the convolutions)."""
    folded = fold_batch_norm(net).to(device)

    def evaluate(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            logits, value = folded(torch.as_tensor(obs, device=device))
        return logits.float().cpu().numpy(), value.float().cpu().numpy()

    return evaluate


def visit_distribution(root: PUCTNode, num_actions: int) -> np.ndarray:
    """The search policy pi over all actions: visit counts normalised, zero on illegal ones."""
    pi = np.zeros(num_actions, dtype=np.float32)
    pi[root.actions] = root.n / max(root.n.sum(), 1.0)
    return pi


def fresh_node(node: PUCTNode) -> PUCTNode:
    """The same position with no search statistics (a new tree's root)."""
    return PUCTNode(node.state, node.obs, node.to_play, node.reward, node.terminal, node.actions)
