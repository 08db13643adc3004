"""Many genomes at once: a vector env whose sub-envs each play one genome's episodes.

Small policies (CartPole-sized MLPs) spend most of an evaluation in per-step overhead (the
vector env, the rollout loop), not in the network. Here K sub-envs step together, sub-env i
playing the task in slot i with that genome's own network; when a task has played its episodes
the slot is reset with the next task's seed. Every task sees exactly what `Evaluator.evaluate`
gives it alone (same env seed, same autoresets, the same numpy forward pass on its own row),
so the serial backend, which uses this, returns the same numbers as the worker backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from rlkit.agents.ga.genome import Genome
from rlkit.nn.numpy_mlp import Layer, mlp_forward
from rlkit.rollout import RolloutState, rollout

Layers = list[Layer]


class GenomePolicy(Protocol):
    """What evaluating genomes needs of the agent (the Deep GA's GenomePolicy): a policy network
    whose parameters come from a genome, with a numpy forward pass for MLPs."""

    genome: Genome
    layers: Layers | None
    """Numpy views of an MLP's layers, following every set_genome; None for other networks."""

    def set_genome(self, genome: Genome) -> None: ...

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray: ...

    def actions(self, out: np.ndarray) -> np.ndarray: ...

    def layer_copy(self) -> Layers: ...


@dataclass
class _Slot:
    """The task a sub-env is playing and what it has measured so far."""

    task: Any = None
    layers: Layers = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    behaviours: list[np.ndarray] = field(default_factory=list)
    steps: int = 0


class _SlotPolicy:
    """Acts on row i with slot i's network; idle slots get the first action."""

    def __init__(self, agent: GenomePolicy, slots: list[_Slot], outputs: int) -> None:
        self.agent, self.slots = agent, slots
        self.idle = np.zeros((1, outputs), np.float32)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        rows = [
            mlp_forward(slot.layers, obs[i : i + 1]) if slot.task is not None else self.idle
            for i, slot in enumerate(self.slots)
        ]
        return self.agent.actions(np.concatenate(rows))


class _Idle(gym.Env[Any, Any]):
    """Stands in for a slot's env once no task is left for it: a step costs nothing."""

    def __init__(self, env: gym.Env[Any, Any], obs: np.ndarray) -> None:
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self.obs = obs.copy()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.obs, 0.0, False, False, {}


def evaluate_batch(
    envs: VectorEnv[Any, Any, Any],
    agent: GenomePolicy,
    tasks: Sequence[Any],
    behaviour: Callable[[np.ndarray], np.ndarray] | None,
    done: Callable[[Any, _Slot], None],
) -> None:
    """Play every task (an EvalTask) on `envs`, calling `done(task, slot)` as each finishes."""
    queue = list(reversed(tasks))
    slots = [_Slot() for _ in range(envs.num_envs)]
    real_envs = list(envs.envs)  # type: ignore[attr-defined]
    state = RolloutState.reset(envs, None)
    for i in range(len(slots)):
        _assign(envs, agent, state, slots, i, queue)
    outputs = mlp_forward(agent.layer_copy(), state.obs[:1]).shape[1]
    policy = _SlotPolicy(agent, slots, outputs)
    try:
        _play(envs, agent, state, slots, queue, policy, behaviour, done)
    finally:
        envs.envs[:] = real_envs  # type: ignore[attr-defined]


def _play(
    envs: VectorEnv[Any, Any, Any],
    agent: GenomePolicy,
    state: RolloutState,
    slots: list[_Slot],
    queue: list[Any],
    policy: _SlotPolicy,
    behaviour: Callable[[np.ndarray], np.ndarray] | None,
    done: Callable[[Any, _Slot], None],
) -> None:
    """The loop of `evaluate_batch`."""
    for transition, finished in rollout(envs, policy, state, explore=False):
        for slot in slots:
            slot.steps += slot.task is not None
        for ep in finished:
            slot = slots[ep.env_index]
            if slot.task is None:
                continue
            slot.returns.append(ep.episode_return)
            if behaviour is not None:
                slot.behaviours.append(behaviour(transition.next_obs[ep.env_index]))
            if len(slot.returns) == slot.task.episodes:
                done(slot.task, slot)
                _assign(envs, agent, state, slots, ep.env_index, queue)
        if all(slot.task is None for slot in slots):
            return


def _assign(
    envs: VectorEnv[Any, Any, Any],
    agent: GenomePolicy,
    state: RolloutState,
    slots: list[_Slot],
    i: int,
    queue: list[Any],
) -> None:
    """Give sub-env i the next task: its genome's network and a reset with its seed."""
    sub_envs = envs.envs  # type: ignore[attr-defined]
    if not queue:
        slots[i] = _Slot()
        if not isinstance(sub_envs[i], _Idle):
            sub_envs[i] = _Idle(sub_envs[i], state.obs[i])
        return
    task = queue.pop()
    genome: Genome = task.genome
    agent.set_genome(genome)
    slots[i] = _Slot(task=task, layers=agent.layer_copy())
    obs, _ = envs.envs[i].reset(seed=task.seed)  # type: ignore[attr-defined]
    state.obs[i] = obs
    state.returns[i] = 0.0
    state.lengths[i] = 0
