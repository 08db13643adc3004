"""AlphaZero: PUCT search guided by a residual policy/value network trained by self-play.

Training runs in rlkit.agents.alphazero.train (the agent's own training loop); this agent
plays: on the runner's env (act, through the searchable game inside it) and in matches
(as_player).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.agent import PLANNING, Agent, EnvSpec, register_agent
from rlkit.agents.alphazero.config import AlphaZeroConfig
from rlkit.agents.alphazero.network import PolicyValueNet
from rlkit.agents.alphazero.puct import (
    PUCTNode,
    add_noise,
    choose,
    expand,
    net_evaluator,
    root_node,
    search,
)
from rlkit.agents.alphazero.selfplay import searchable
from rlkit.agents.alphazero.train import AlphaZeroLoop
from rlkit.errors import RlkitError, SpaceError
from rlkit.nn.networks import resolve_device
from rlkit.search_model import SearchModel


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

    family = PLANNING

    config_class = AlphaZeroConfig
    training_loop = AlphaZeroLoop
    budget_keys = frozenset({"agent.iterations", "agent.time_budget_s"})

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
        self.evaluate = net_evaluator(self.network, self.device)
        self.envs: Any = None
        self.last_root: PUCTNode | None = None

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

    def move(self, game: SearchModel, explore: bool, root: PUCTNode | None = None) -> int:
        """Search from the game's state (or a reused tree `root` of it) and return an action;
        the game's state is kept; `last_root` is the searched tree."""
        root = root or root_node(game)
        self.last_root = root
        c = self.config
        if explore:
            if root.prior is None:
                self.evaluate_root(root)
            add_noise(root, c.dirichlet_alpha, c.dirichlet_fraction, self.rng)
        simulations = c.simulations if explore else c.play_simulations or c.simulations
        try:
            search([root], [game], self.evaluate, simulations, c.c_puct)
        finally:
            game.restore_state(root.state)
        index = choose(root, c.temperature, self.rng if explore else None)
        return int(root.actions[index])

    def evaluate_root(self, root: PUCTNode) -> None:
        """Expand a root with the network (search would do it; noise needs the priors first)."""
        logits, _ = self.evaluate(root.obs[None])
        expand(root, logits[0])

    def as_player(self) -> AlphaZeroPlayer:
        """This agent as a board-game player (greedy search, no noise)."""
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
        self.evaluate = net_evaluator(self.network, self.device)


class AlphaZeroPlayer:
    """A board-game player: PUCT search with the agent's network, the most visited move; the
    subtree of the position reached after its move and the reply is reused."""

    def __init__(self, agent: AlphaZeroAgent) -> None:
        self.agent = agent
        simulations = agent.config.play_simulations or agent.config.simulations
        self.name = f"alphazero({simulations} simulations)"
        self.previous: PUCTNode | None = None

    def reset(self) -> None:
        """A new game: forget the old tree."""
        self.previous = None

    def choose(self, game: SearchModel) -> int:
        action = self.agent.move(game, explore=False, root=self._reused(game.clone_state()))
        self.previous = self.agent.last_root
        return action

    def _reused(self, state: Any) -> PUCTNode | None:
        """The node of `state` two plies below the last searched root, if the tree has it."""
        children = self.previous.children if self.previous is not None else []
        for child in children:
            for node in child.children if child is not None else []:
                if node is not None and node.state == state:
                    return node
        return None
