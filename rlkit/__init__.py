"""rlkit: reinforcement-learning agents on one runner."""

from rlkit.agent import Agent, EnvSpec, Transition, register_agent, registered_agents
from rlkit.errors import CheckpointError, ConfigError, RlkitError, SpaceError
from rlkit.schedules import Constant, Exponential, Linear, Piecewise, ScheduleConfig, build_schedule
from rlkit.tabular_model import TabularModel

__version__ = "0.1.0"

_LAZY = {
    "train": "rlkit.training.runner",
    "resume": "rlkit.training.runner",
    "evaluate_checkpoint": "rlkit.training.runner",
    "load_experiment": "rlkit.experiment",
    "Experiment": "rlkit.experiment",
}


def __getattr__(name: str) -> object:
    """Import the runner (torch, TensorBoard) only when it is first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rlkit' has no attribute {name!r}")


__all__ = [
    "Agent",
    "CheckpointError",
    "ConfigError",
    "Constant",
    "EnvSpec",
    "Experiment",
    "Exponential",
    "Linear",
    "Piecewise",
    "RlkitError",
    "ScheduleConfig",
    "SpaceError",
    "TabularModel",
    "Transition",
    "build_schedule",
    "evaluate_checkpoint",
    "load_experiment",
    "register_agent",
    "registered_agents",
    "resume",
    "train",
]
