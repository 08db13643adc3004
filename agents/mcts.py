"""UCT: Monte Carlo tree search with UCB1 over an environment's model (rlkit.search_model).

Each simulation descends the tree by UCB1, mean + c * sqrt(ln N_parent / n_child), expands one
untried action, plays random moves (or a rollout policy) from there up to a depth limit, and backs
the discounted return up the path, negating it whenever the player to move changes (negamax). The
action played is the most visited child. Nodes keep the model's snapshot, so a simulation steps
the env only below the tree; after a real move the subtree of the moves actually played is kept
(found by snapshot). UCT does not learn: the runner's training steps only play.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlkit.agent import PLANNING, Agent, EnvSpec, register_agent, require_discrete
from rlkit.envs.boardgames import BoardGame
from rlkit.errors import RlkitError, SpaceError
from rlkit.search_model import SearchModel, find_model

RolloutPolicy = Callable[[SearchModel, Sequence[int], random.Random], int]
"""A rollout policy: (model in the current state, legal moves, rng) -> move."""


@dataclass
class UCTConfig:
    """UCT search: exploration constant, budget per move, rollouts and tree reuse."""

    c: float = math.sqrt(2.0)
    """Exploration constant of UCB1: mean + c * sqrt(ln N_parent / n_child); scale with rewards."""
    simulations: int = 1_000
    """Simulations per move (0: only the seconds budget limits the search)."""
    seconds: float = 0.0
    """Wall-clock budget per move in seconds (0: off); with both set, whichever ends first."""
    rollout: Literal["random", "decisive"] = "random"
    """Rollout moves: random, or decisive (take an immediate win, else block the opponent's,
    else random; board games only)."""
    rollout_depth: int = 0
    """Moves per random rollout before it is cut off (0: play to the end of the game)."""
    discount: float = 1.0
    """Discount of rewards along the tree path and the rollout, in [0, 1]."""
    reuse_tree: bool = True
    """Keep the subtree of the moves actually played for the next search."""
    solve: bool = True
    """MCTS-Solver in two-player games: back up proven wins and losses (as OpenSpiel's MCTS)."""
    seed: int | None = None
    """Seed of the search's random numbers (None: derived from the run's seed)."""

    def __post_init__(self) -> None:
        if self.simulations < 0 or not 0 <= self.seconds < math.inf:
            raise ValueError(
                f"simulations and seconds must be >= 0 and finite, got {self.simulations} and "
                f"{self.seconds}"
            )
        if self.simulations == 0 and self.seconds == 0:
            raise ValueError("the search budget is zero: set simulations >= 1 or seconds > 0")
        if not 0 <= self.c < math.inf:
            raise ValueError(f"c must be >= 0 and finite, got {self.c}")
        if self.rollout_depth < 0:
            raise ValueError(f"rollout_depth must be >= 0, got {self.rollout_depth}")
        if not 0.0 <= self.discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {self.discount}")


class UCTNode:
    """A tree node: the state after a move, the mover's reward for it, and the statistics."""

    __slots__ = (
        "children",
        "proven",
        "reward",
        "state",
        "terminal",
        "to_play",
        "untried",
        "value",
        "visits",
    )

    def __init__(
        self, state: Any, reward: float, terminal: bool, to_play: int, untried: list[int]
    ) -> None:
        self.state, self.reward, self.terminal, self.to_play = state, reward, terminal, to_play
        self.untried = untried
        self.children: dict[int, UCTNode] = {}
        self.visits = 0
        self.value = 0.0
        """Sum of the returns to the player who moved into this node."""
        self.proven: float | None = None
        """The exact value to the player who moved into this node, once solved (MCTS-Solver)."""

    def ucb_child(self, c: float) -> tuple[int, UCTNode]:
        """The (action, child) of highest UCB1 score; every child has been visited."""
        scale = c * math.sqrt(math.log(self.visits))
        best, best_score = None, -math.inf
        for item in self.children.items():
            child = item[1]
            proven = child.proven
            if proven is None:
                score = child.value / child.visits + scale / math.sqrt(child.visits)
            else:  # a solved child is worth exactly its value, with no exploration bonus
                score = proven
            if score > best_score:
                best, best_score = item, score
        assert best is not None
        return best


def ucb1(parent_visits: int, child_visits: int, child_value: float, c: float) -> float:
    """UCB1 score of a child: its mean return plus c * sqrt(ln N_parent / n_child)."""
    return child_value / child_visits + c * math.sqrt(math.log(parent_visits) / child_visits)


class _Sim:
    """Fast access to a model: board games through play/legal_moves, others through step."""

    def __init__(self, model: SearchModel) -> None:
        self.model = model
        self.snapshot, self.restore = model.clone_state, model.restore_state
        self.to_play = model.to_play
        self.legal: Callable[[], Sequence[int]]
        self.play: Callable[[int], tuple[float, bool]]
        if isinstance(model, BoardGame):
            self.legal, self.play = model.legal_moves, model.play
        else:
            self.legal, self.play = self._legal, self._play

    def _legal(self) -> list[int]:
        return [int(a) for a in self.model.legal_actions()]

    def _play(self, action: int) -> tuple[float, bool]:
        _, reward, terminated, truncated, _ = self.model.step(action)
        return float(reward), bool(terminated or truncated)


class UCTSearch:
    """The search and the tree kept between moves, for one env."""

    def __init__(
        self, config: UCTConfig, seed: int, rollout_policy: RolloutPolicy | None = None
    ) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.rollout_policy = rollout_policy
        self.root: UCTNode | None = None
        self.simulations_done = 0
        self.solving = False

    def clear(self) -> None:
        """Forget the tree (a new game)."""
        self.root = None

    def choose(self, model: SearchModel) -> int:
        """Search from the model's current state within the budget; return the most visited move."""
        sim = _Sim(model)
        start_state = sim.snapshot()
        root = self._root_for(sim, start_state)
        try:
            self._run(root, sim)
        finally:
            sim.restore(start_state)
        if not root.children:
            raise RlkitError("UCT was asked to move in a state with no legal actions")
        action = max(root.children, key=lambda a: _preference(root.children[a]))
        self.root = root if self.config.reuse_tree else None
        return int(action)

    def _root_for(self, sim: _Sim, state: Any) -> UCTNode:
        """The node of `state` in the kept tree (at most two moves down), or a fresh one."""
        if self.root is not None:
            frontier = [self.root]
            for _ in range(3):
                for node in frontier:
                    if node.state == state:
                        return node
                frontier = [child for node in frontier for child in node.children.values()]
        legal = list(sim.legal())
        return UCTNode(state, 0.0, not legal, sim.to_play(), legal)

    def _run(self, root: UCTNode, sim: _Sim) -> None:
        cfg = self.config
        deadline = time.perf_counter() + cfg.seconds if cfg.seconds > 0 else math.inf
        limit = cfg.simulations if cfg.simulations > 0 else math.inf
        done = 0
        self.solving = cfg.solve and sim.model.num_players == 2
        if cfg.rollout == "decisive" and self.rollout_policy is None:
            self.rollout_policy = _decisive_policy(sim.model)
        while done < limit and root.proven is None:
            self._simulate(root, sim)
            done += 1
            if deadline != math.inf and time.perf_counter() >= deadline:
                break
        self.simulations_done = done

    def _simulate(self, root: UCTNode, sim: _Sim) -> None:
        """One simulation: select, expand, roll out, back up."""
        node, path, c = root, [root], self.config.c
        while not node.untried and node.children:
            node = node.ucb_child(c)[1]
            path.append(node)
        g = 0.0
        if node.untried:
            sim.restore(node.state)
            action = node.untried.pop(int(self.rng.random() * len(node.untried)))
            reward, over = sim.play(action)
            legal = [] if over else list(sim.legal())
            child = UCTNode(sim.snapshot(), reward, over or not legal, sim.to_play(), legal)
            node.children[action] = child
            path.append(child)
            if not child.terminal:
                g = self._rollout(sim, child.to_play)
            elif self.solving:
                child.proven = reward
                _solve(path)
        _backup(path, g, self.config.discount)

    def _rollout(self, sim: _Sim, player: int) -> float:
        """Discounted return to `player` of random (or policy) moves from the current state."""
        depth = self.config.rollout_depth or 1 << 30
        gamma, policy, rand = self.config.discount, self.rollout_policy, self.rng.random
        legal, play, to_play = sim.legal, sim.play, sim.to_play
        g, scale = 0.0, 1.0
        for _ in range(depth):
            moves = legal()
            if not moves:
                break
            mover = to_play()
            if policy is None:
                action = moves[int(rand() * len(moves))]
            else:
                action = policy(sim.model, moves, self.rng)
            reward, over = play(action)
            g += scale * (reward if mover == player else -reward)
            scale *= gamma
            if over:
                break
        return g


def _decisive_policy(model: SearchModel) -> RolloutPolicy:
    """The decisive-moves rollout policy over a board game's `decisive_move` helper."""
    decisive = getattr(model, "decisive_move", None)
    if decisive is None:
        raise SpaceError(
            f"rollout = 'decisive' needs a board game with decisive_move(); "
            f"{type(model).__name__} has none: use rollout = 'random'"
        )

    def policy(_: SearchModel, moves: Sequence[int], rng: random.Random) -> int:
        move: int | None = decisive()
        return moves[int(rng.random() * len(moves))] if move is None else move

    return policy


def _preference(node: UCTNode) -> tuple[float, int, float]:
    """Order of the root's moves: proven value (0 if unsolved), then visits, then mean."""
    proven = 0.0 if node.proven is None else node.proven
    return proven, node.visits, node.value / node.visits if node.visits else 0.0


def _solve(path: list[UCTNode]) -> None:
    """MCTS-Solver: prove the nodes above a newly proven leaf where their children allow it."""
    for i in range(len(path) - 2, -1, -1):
        node = path[i]
        values = [child.proven for child in node.children.values()]
        known = [v for v in values if v is not None]
        if not known:
            return
        best = max(known)
        if best < 1.0 and (node.untried or len(known) < len(values)):
            return  # neither a proven win below nor every move solved
        mover = path[i - 1].to_play if i > 0 else 1 - node.to_play
        node.proven = node.reward + (best if node.to_play == mover else -best)


def _backup(path: list[UCTNode], g: float, gamma: float) -> None:
    """Back the leaf's return `g` (to its player to move) up the path, negamax style."""
    for i in range(len(path) - 1, 0, -1):
        node, mover = path[i], path[i - 1].to_play
        g = node.reward + gamma * (g if node.to_play == mover else -g)
        node.visits += 1
        node.value += g
    path[0].visits += 1


class UCTPlayer:
    """UCT as a board-game player (rlkit.players.Player)."""

    def __init__(self, config: UCTConfig, seed: int) -> None:
        budget = f"{config.simulations}" if config.simulations else f"{config.seconds}s"
        self.name = f"uct:{budget}"
        self.search = UCTSearch(config, seed)

    def reset(self) -> None:
        """A new game: drop the tree."""
        self.search.clear()

    def choose(self, game: Any) -> int:
        return self.search.choose(find_model(game))


@register_agent("uct")
class UCTAgent(Agent[UCTConfig]):
    """UCT (Monte Carlo tree search) planning on the env's model; does not learn."""

    family = PLANNING

    config_class = UCTConfig

    def __init__(self, config: UCTConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.seed = seed if config.seed is None else config.seed
        self.searches: list[UCTSearch] = []
        self.models: list[SearchModel] = []
        _probe_model(spec.env_id)

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        require_discrete(spec, "uct", observations=False, actions=True)

    def attach(self, envs: Any) -> None:
        subs = getattr(envs, "envs", None)
        if subs is None:
            raise SpaceError(
                f"agent 'uct' needs in-process envs to search ({type(envs).__name__} has none): "
                "use env.vectorization = 'sync' and an env with the model protocol "
                "(e.g. rlkit/AtariModel-v0 instead of ALE/...)"
            )
        self.models = [find_model(env) for env in subs]
        if len(self.searches) != len(self.models):
            self.searches = [UCTSearch(self.config, self.seed + i) for i in range(len(self.models))]
        for search in self.searches:
            search.clear()

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        if not self.models:
            raise RlkitError("agent 'uct' acts on an env's model: attach(envs) must come first")
        return np.array(
            [s.choose(m) for s, m in zip(self.searches, self.models, strict=True)], dtype=np.int64
        )

    def as_player(self) -> UCTPlayer:
        """This agent's search as a board-game player."""
        return UCTPlayer(self.config, self.seed)

    def state_dict(self) -> dict[str, Any]:
        rngs = [[s.rng.getstate()[0], list(s.rng.getstate()[1])] for s in self.searches]
        return {**super().state_dict(), "search_rngs": rngs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.searches = [UCTSearch(self.config, self.seed) for _ in state["search_rngs"]]
        for search, (version, internal) in zip(self.searches, state["search_rngs"], strict=True):
            search.rng.setstate((version, tuple(internal), None))


def _probe_model(env_id: str) -> None:
    """Fail at construction, before any run files are written, if the env cannot be searched."""
    try:
        env = gym.make(env_id, disable_env_checker=True)
    except Exception:  # needs kwargs we do not have here: attach() checks the real env
        return
    try:
        find_model(env)
    finally:
        env.close()
