"""The agent protocol, the transition batch it sees, and the registry of agents by name."""

from __future__ import annotations

import abc
import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

import gymnasium as gym
import numpy as np

from rlkit.errors import ConfigError, SpaceError, one_of, suggest
from rlkit.seeding import derive_seed
from rlkit.tabular_model import TabularModel

if TYPE_CHECKING:  # the training layer sits above this protocol: a type-only reference
    from rlkit.training.session import TrainingLoop

BUILTIN_AGENTS = "rlkit.agents"
"""The package whose import registers the built-in agent families. It is found by name, like
a plugin, so that no module of the core imports an agent family."""

ConfigT = TypeVar("ConfigT")


class Transition(NamedTuple):
    """One step of every env in a vector env; arrays have a leading num_envs axis."""

    obs: np.ndarray
    """Observations the actions were chosen on (s_tm1)."""
    action: np.ndarray
    """Actions taken (a_tm1)."""
    reward: np.ndarray
    """Rewards received (r_t), float32."""
    next_obs: np.ndarray
    """Next observations (s_t); the true final observation where the episode ended."""
    terminated: np.ndarray
    """True where s_t is terminal: do not bootstrap."""
    truncated: np.ndarray
    """True where the episode was cut off (time limit): bootstrap from s_t."""


@dataclass(frozen=True)
class EnvSpec:
    """What an agent is told about the environment it will act in."""

    env_id: str
    observation_space: gym.Space[Any]
    """Space of one env's observation."""
    action_space: gym.Space[Any]
    """Space of one env's action."""
    num_envs: int
    model: TabularModel | None = None
    """Transition table, for envs with a known model (toy text, the gridworld)."""


TABULAR = (1, "tabular and dynamic programming")
DEEP_Q = (2, "deep Q-learning")
POLICY_GRADIENT = (3, "policy gradient")
PLANNING = (4, "planning")
NEUROEVOLUTION = (5, "neuroevolution")
"""The families `rlkit list` groups agents and experiments under (Agent.family): their place
in the listing and their name."""


class Agent(abc.ABC, Generic[ConfigT]):
    """Base class of every agent: act on a batch, observe transitions, update, save and load.

    The runner calls, per vector step: `act(obs, explore=True)`, then `observe(transition)`,
    then `update()`. Agents decide themselves whether they learn on a given call, return
    metrics as a dict of floats and never write to a logger.
    """

    config_class: ClassVar[type]
    training_loop: ClassVar[type[TrainingLoop] | None] = None
    """The family's own training loop (a `rlkit.training.session.TrainingLoop`: self-play,
    generations), run inside the same run session as every other; None: the runner's step loop
    trains the agent with act/observe/update."""
    family: ClassVar[tuple[int, str]] = (99, "other")
    """The family `rlkit list` groups the agent and its experiments under: (its place in the
    listing, its name)."""
    budget_keys: ClassVar[frozenset[str]] = frozenset()
    """`agent.*` keys that only set the training budget, so `--resume --set` may change them
    (every `run.*` budget key may change already)."""

    def __init__(self, config: ConfigT, spec: EnvSpec, seed: int) -> None:
        self.config = config
        self.spec = spec
        self.rng = np.random.default_rng(seed)

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        """Raise SpaceError if this agent cannot act in `spec`'s spaces (default: any)."""

    @classmethod
    def warm_up(cls, config: Any, num_envs: int) -> tuple[int, str] | None:
        """The env step (summed over sub-envs) of the agent's first learning update at the
        earliest, and the settings that put it there (the run warns when it comes after its
        budget); None: it can learn from its first steps."""
        return None

    @classmethod
    def for_acting(cls, config: Any, state: dict[str, Any]) -> Any:
        """The config to build this agent with when it only acts (`rlkit eval`, videos, board-game
        players) from its saved `state`, which it may trim in place; default: `config` as is."""
        return config

    def attach(self, envs: Any) -> None:
        """Called by the rollout loop with the vector env it is about to step (planning agents
        keep it to read the environment's model state); the default ignores it."""

    @abc.abstractmethod
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Return one action per row of `obs`; `explore=False` means greedy evaluation."""

    def observe(self, transition: Transition) -> None:
        """Take in the latest vector step."""

    def update(self) -> dict[str, float]:
        """Learn if it is time to; return metrics (empty when nothing was learned)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: parameters, optimizer, RNG, counters."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        self.rng.bit_generator.state = state["rng"]


AgentFactory = type[Agent[Any]]
_REGISTRY: dict[str, AgentFactory] = {}


def register_agent(name: str) -> Callable[[AgentFactory], AgentFactory]:
    """Class decorator: make an Agent subclass available as `[agent] name = "<name>"`."""

    def decorate(cls: AgentFactory) -> AgentFactory:
        if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
            raise TypeError(f"agent {cls.__name__} needs a config_class that is a dataclass")
        _REGISTRY[name] = cls
        return cls

    return decorate


def agent_class(name: str) -> AgentFactory:
    """Look up a registered agent by name, with a helpful error for unknown names."""
    _load_builtin_agents()
    if name not in _REGISTRY:
        raise ConfigError(
            f"agent.name: unknown agent {name!r}{suggest(name, _REGISTRY)}; "
            f"registered agents: {one_of(_REGISTRY)}"
        )
    return _REGISTRY[name]


def registered_agents() -> dict[str, AgentFactory]:
    """All registered agents, built-in and custom."""
    _load_builtin_agents()
    return dict(_REGISTRY)


def _load_builtin_agents() -> None:
    importlib.import_module(BUILTIN_AGENTS)


def build_agent(name: str, config: Any, spec: EnvSpec, seed: int) -> Agent[Any]:
    """The registered agent `name` for `spec`: its spaces checked, then built with a seed derived
    from the run's `seed`."""
    cls = agent_class(name)
    cls.check_spaces(spec)
    return cls(config, spec, derive_seed(seed, 0))


def discrete_sizes(spec: EnvSpec) -> tuple[int, int]:
    """(states, actions) of a spec whose observations and actions are Discrete (as the agent's
    check_spaces, through require_discrete, has made sure)."""
    observations, actions = spec.observation_space, spec.action_space
    assert isinstance(observations, gym.spaces.Discrete), observations
    assert isinstance(actions, gym.spaces.Discrete), actions
    return int(observations.n), int(actions.n)


def require_discrete(spec: EnvSpec, agent: str, *, observations: bool, actions: bool) -> None:
    """Raise SpaceError unless the named spaces are Discrete."""
    wanted = []
    if observations and not isinstance(spec.observation_space, gym.spaces.Discrete):
        wanted.append(f"Discrete observations (got {spec.observation_space})")
    if actions and not isinstance(spec.action_space, gym.spaces.Discrete):
        wanted.append(f"Discrete actions (got {spec.action_space})")
    if wanted:
        raise SpaceError(
            f"agent {agent!r} cannot run on {spec.env_id}: it needs " + " and ".join(wanted)
        )
