"""DQN's two Q-function paths train alike: autograd and the hand-written MLP pass take the same
gradient steps on the same batches, and numpy acting picks the same actions as torch acting."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import EnvSpec
from rlkit.agents.dqn import DQNAgent, DQNConfig
from rlkit.agents.dqn.agent import Batch
from rlkit.agents.dqn.qfunction import AutogradQFunction, ManualQFunction
from rlkit.config import from_dict

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
ACTIONS = 4
BATCH = 16


def agent(manual_backward: bool, **overrides: Any) -> DQNAgent:
    """A small CPU agent; the same seed, so the same initial weights, for either path."""
    settings = {"device": "cpu", "hidden": [16, 16], "manual_backward": manual_backward}
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", OBS, gym.spaces.Discrete(ACTIONS), 1)
    return DQNAgent(from_dict(DQNConfig, {**settings, **overrides}, "agent"), spec, seed=0)


def random_batch(rng: np.random.Generator, weighted: bool) -> Batch:
    """Random transitions, a quarter of them terminal; TD errors beyond Huber's bend of 1."""
    discount = np.where(rng.random(BATCH) < 0.25, 0.0, 0.99)
    weight = torch.as_tensor(rng.uniform(0.1, 1.0, BATCH), dtype=torch.float32)
    return Batch(
        torch.as_tensor(rng.normal(size=(BATCH, 3)), dtype=torch.float32),
        torch.as_tensor(rng.integers(ACTIONS, size=BATCH)),
        torch.as_tensor(2.0 * rng.normal(size=BATCH), dtype=torch.float32),
        torch.as_tensor(rng.normal(size=(BATCH, 3)), dtype=torch.float32),
        torch.as_tensor(discount, dtype=torch.float32),
        weight if weighted else None,
        np.arange(BATCH),
    )


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "per_weights"])
def test_both_paths_take_the_same_gradient_steps_and_actions(
    activation: str, dueling: bool, double: bool, weighted: bool
) -> None:
    config = {"activation": activation, "dueling": dueling, "double": double}
    manual, auto = agent(True, **config), agent(False, **config)
    assert isinstance(manual.online_q, ManualQFunction)
    assert isinstance(auto.online_q, AutogradQFunction)
    rng = np.random.default_rng(1)
    for step in range(8):
        batch = random_batch(rng, weighted)
        q_before = []
        for a in (manual, auto):
            q, _ = a._gradient_step(batch, a._td_target(batch))
            q_before.append(q)
            if step % 3 == 2:
                a._update_target()
        torch.testing.assert_close(q_before[0], q_before[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(manual.flat, auto.flat, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(manual.target_flat, auto.target_flat, rtol=1e-5, atol=1e-6)
    assert not torch.equal(manual.flat, manual.target_flat)  # the target lags: a real test

    obs = rng.normal(size=(512, 3)).astype(np.float32)
    greedy = manual.act(obs, explore=False)  # numpy, on the hand-written path's parameters
    np.testing.assert_array_equal(greedy, auto.act(obs, explore=False))  # torch
    torch_q = AutogradQFunction(manual.online, None).act_q_values(obs)  # same weights, torch
    np.testing.assert_allclose(manual.online_q.act_q_values(obs), torch_q, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(greedy, torch_q.argmax(axis=1))
