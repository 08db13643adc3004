"""Build single and vector Gymnasium environments from an `[env]` table, with clear errors."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv

from rlkit.agent import EnvSpec
from rlkit.config import from_dict
from rlkit.envs import minatar
from rlkit.envs.atari import AtariOptions, is_atari_id, make_atari_vector_env
from rlkit.envs.paired import PairedVectorEnv
from rlkit.envs.wrappers import RewardNoise
from rlkit.errors import ConfigError, suggest
from rlkit.tabular_model import TabularModel


@dataclass
class EnvConfig:
    """The `[env]` table of an experiment."""

    id: str
    """Gymnasium id, e.g. "CartPole-v1", "FrozenLake-v1", "rlkit/GridWorld-v0", "ALE/Pong-v5"."""
    num_envs: int = 1
    """Environments stepped together in one vector env."""
    vectorization: Literal["sync", "async", "paired"] = "sync"
    """sync: one process; async: one worker process per env; paired (training, num_envs >= 2):
    two sync halves, each stepped on a worker thread while the agent acts on the other half
    (rlkit.envs.paired), which pays for envs that step outside the GIL (Atari's native env)."""
    max_episode_steps: int | None = None
    """Time limit (truncation) overriding the env's registered one."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for gymnasium.make, e.g. {map_name = "4x4", is_slippery = true}."""
    reward_noise: float = 0.0
    """Std of Gaussian noise added to training rewards (0: off); evaluation is noise-free."""

    def __post_init__(self) -> None:
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")
        if self.vectorization == "paired" and self.num_envs < 2:
            raise ValueError(f"vectorization 'paired' needs num_envs >= 2, got {self.num_envs}")
        if self.reward_noise < 0:
            raise ValueError(f"reward_noise must be >= 0, got {self.reward_noise}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {self.max_episode_steps}")


@functools.cache
def _register_all() -> None:
    """Register rlkit's and ale-py's environments with Gymnasium (once)."""
    import ale_py

    import rlkit.envs  # noqa: F401 - registers rlkit/ ids

    gym.register_envs(ale_py)
    minatar.register()


def known_env_ids() -> list[str]:
    """Every registered Gymnasium id (rlkit's and Atari's included)."""
    _register_all()
    return sorted(gym.registry)


def check_env_id(env_id: str) -> None:
    """Raise ConfigError naming close matches if `env_id` is not registered."""
    _register_all()
    if env_id in gym.registry:
        return
    if hint := minatar.missing_hint(env_id):
        raise ConfigError(f"env.id: unknown environment {env_id!r}{hint}")
    ids = list(gym.registry)
    hint = suggest(env_id, ids) or suggest(env_id.split("/")[-1], [i.split("/")[-1] for i in ids])
    raise ConfigError(
        f"env.id: unknown environment {env_id!r}{hint}; `rlkit list` shows the registered ids"
    )


def make_env(config: EnvConfig, training: bool = False, **extra: Any) -> gym.Env[Any, Any]:
    """One environment, with the configured time limit (and reward noise when training)."""
    check_env_id(config.id)
    kwargs = {"disable_env_checker": True, **config.kwargs, **extra}
    if config.max_episode_steps is not None:
        kwargs["max_episode_steps"] = config.max_episode_steps
    _check_render_mode(config.kwargs)
    try:
        _check_kwargs(config.id, config.kwargs)
        env = gym.make(config.id, **kwargs)
    except gym.error.DependencyNotInstalled as exc:
        raise ConfigError(
            f"env.id: {config.id} needs a package that is not installed: "
            f"{' '.join(str(exc).split())}"
        ) from None
    except Exception as exc:  # envs raise anything for bad values (KeyError for a bad map_name)
        raise ConfigError(
            f"env.kwargs: {config.id} could not be made with {config.kwargs} "
            f"({type(exc).__name__}: {str(exc).strip() or 'no detail'})"
        ) from None
    if training and config.reward_noise > 0:
        env = RewardNoise(env, config.reward_noise)
    return env


def _check_render_mode(kwargs: dict[str, Any]) -> None:
    """Refuse render modes that draw on a screen: every env of a run would open a window (and
    slow training to the display's pace); rlkit records videos itself."""
    mode = kwargs.get("render_mode")
    if mode is not None and mode != "rgb_array":
        raise ConfigError(
            f"env.kwargs.render_mode: {mode!r} would draw every env on a screen while training; "
            "leave it out (rlkit eval RUN --video FILE.gif records the policy) or use 'rgb_array'"
        )


def _check_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    """Name unknown keyword arguments of the env's constructor, with the valid ones."""
    entry = gym.registry[env_id].entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    if not callable(creator):
        return
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [name for name in params if name not in ("self", "render_mode")]
    for key in kwargs:
        if key not in params:
            raise ConfigError(
                f"env.kwargs.{key}: {env_id} has no such argument{suggest(key, valid)}; "
                f"valid: {', '.join(valid) or 'none'}"
            )


def make_vector_env(
    config: EnvConfig, num_envs: int | None = None, training: bool = True
) -> VectorEnv[Any, Any, Any]:
    """A vector env with same-step autoreset: after a done step, `obs` is already the reset obs
    and the true final observation is in info["final_obs"]. `training=False` builds the
    evaluation flavour (no reward noise; for Atari: whole games, unclipped rewards)."""
    n = config.num_envs if num_envs is None else num_envs
    if config.vectorization == "paired" and training and n >= 2:
        halves = dataclasses.replace(config, vectorization="sync")
        first = make_vector_env(halves, n // 2, training)
        return PairedVectorEnv(first, make_vector_env(halves, n - n // 2, training))
    if is_atari_id(config.id):
        options = from_dict(AtariOptions, config.kwargs, "env.kwargs")
        if config.max_episode_steps is not None:
            frames = config.max_episode_steps * options.frame_skip
            options = dataclasses.replace(options, max_episode_frames=frames)
        return make_atari_vector_env(config.id, n, options, training=training)
    make_one: Callable[[], gym.Env[Any, Any]] = functools.partial(make_env, config, training)
    make_one().close()  # fail here, in this process, with a clear message
    fns = [make_one] * n
    if config.vectorization == "async":
        return AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


def env_spec(config: EnvConfig, envs: VectorEnv[Any, Any, Any]) -> EnvSpec:
    """Describe `envs` to an agent, including the transition table when the env has one."""
    model = None
    if not is_atari_id(config.id):
        probe = envs.envs[0] if isinstance(envs, SyncVectorEnv) else make_env(config)
        model = TabularModel.from_env(probe)
    return EnvSpec(
        env_id=config.id,
        observation_space=envs.single_observation_space,
        action_space=envs.single_action_space,
        num_envs=envs.num_envs,
        model=model,
    )


def describe_env(env_id: str) -> str:
    """A short family label for `rlkit list`."""
    entry = str(gym.registry[env_id].entry_point)
    for key, label in (
        ("toy_text", "toy text"),
        ("classic_control", "classic control"),
        ("box2d", "box2d"),
        ("mujoco", "mujoco"),
        ("ale_py", "atari"),
        ("rlkit", "rlkit"),
    ):
        if key in entry:
            return label
    return "other"


__all__ = ["EnvConfig", "check_env_id", "env_spec", "known_env_ids", "make_env", "make_vector_env"]
