"""Safe mutations (SM-G-SUM): the sensitivity against a hand-computed two-layer net, the floor
and normalisation, the decoder's exact rebuilds (also on worker processes), `off` unchanged,
and that SM-G evens out how much each layer's mutation moves the outputs."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_ga import ga_experiment, without_timing
from torch import nn

from rlkit.agent import EnvSpec
from rlkit.agents.ga.agent import GAAgent
from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.genome import Genome, initial_vector
from rlkit.agents.ga.safe_mutation import (
    OutputSensitivity,
    SafeMutation,
    mutation_factors,
    reference_states,
    round_significant,
)
from rlkit.experiment import load_experiment
from rlkit.nn.flat import FlatParameters
from rlkit.training.runner import train

MAZE_SPEC = EnvSpec(
    "rlkit/DeceptiveMaze-v0", gym.spaces.Box(-1.0, 1.0, (8,), np.float32), gym.spaces.Discrete(8), 1
)


def two_layer_net() -> tuple[nn.Module, np.ndarray]:
    """Linear(2, 2) -> ReLU -> Linear(2, 2) with hand-set weights, and its flat vector."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, -1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.5]))
        net[2].weight.copy_(torch.tensor([[2.0, -1.0], [0.0, 3.0]]))
        net[2].bias.copy_(torch.tensor([0.1, -0.2]))
    vector = FlatParameters.of(net, grads=False).numpy().copy()
    return net, vector


def test_sum_sensitivity_of_a_two_layer_net_by_hand() -> None:
    """States x1 = (1, 2), x2 = (2, 1). Pre-activations W1 x + b1: x1 -> (1, -0.5), so hidden
    unit 1 is off; x2 -> (2, 1.5). h(x1) = (1, 0), h(x2) = (2, 1.5), sum h = (3, 1.5).
    d y_k / d W2[k, j] = h_j, d y_k / d b2[k] = 1 (summed: 2 states), d y_k / d W1[j, i] =
    W2[k, j] * on_j * x_i, d y_k / d b1[j] = W2[k, j] * on_j. Summed over the batch:
        W1_00 W1_01 W1_10 W1_11 b1_0 b1_1 W2_00 W2_01 W2_10 W2_11 b2_0 b2_1
    y0:   6     6    -2    -1    4   -1    3    1.5    0     0     2    0
    y1:   0     0     6     3    0    3    0     0     3    1.5    0    2
    s = sqrt(g0^2 + g1^2)."""
    net, vector = two_layer_net()
    states = np.array([[1.0, 2.0], [2.0, 1.0]], dtype=np.float32)
    s = OutputSensitivity(net, states)(vector)
    root = np.sqrt
    expected = [6, 6, root(40), root(10), 4, root(10), 3, 1.5, 3, 1.5, 2, 2]
    np.testing.assert_allclose(s, expected, rtol=1e-12)


def test_the_floor_and_the_normalisation_by_hand() -> None:
    """s = (0, 1, 2, 5): mean 2, floor 0.25 -> 0.5; 1/s = (2, 1, 0.5, 0.2), root mean square
    sqrt(5.29 / 4) = 1.15; factors = (2, 1, 0.5, 0.2) / 1.15, rounded to 8 significant bits."""
    factors = mutation_factors(np.array([0.0, 1.0, 2.0, 5.0]), floor=0.25)
    assert factors.dtype == np.float32
    np.testing.assert_allclose(factors, np.array([2, 1, 0.5, 0.2]) / 1.15, rtol=2.0**-8)
    # a parameter no output depends on moves 1/floor times as far as one of mean sensitivity
    assert factors[0] / factors[2] == 4.0
    assert np.isfinite(factors).all()
    np.testing.assert_array_equal(mutation_factors(np.zeros(3), 0.01), np.ones(3, np.float32))


def test_factors_keep_eight_significant_bits() -> None:
    values = np.array([1.0, 1.0 + 2.0**-10, 3.14159, 1e-7, 123456.0])
    rounded = round_significant(values)
    mantissa, _ = np.frexp(rounded)
    assert (mantissa * 2**8 == np.rint(mantissa * 2**8)).all()
    assert rounded[1] == 1.0
    np.testing.assert_allclose(rounded, values, rtol=2.0**-8)


def test_reference_states_are_seeded_and_inside_the_space() -> None:
    box = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    states = reference_states(box, 5)
    np.testing.assert_array_equal(states, reference_states(box, 5))
    frames = reference_states(gym.spaces.Box(0, 255, (4, 2, 2), np.uint8), 7)
    assert frames.dtype == np.uint8
    assert frames.shape == (7, 4, 2, 2)
    assert MAZE_SPEC.observation_space.contains(reference_states(MAZE_SPEC.observation_space, 1)[0])


def test_off_leaves_mutation_plain_gaussian_bit_for_bit() -> None:
    agent = GAAgent(GAConfig(hidden=[16, 16]), MAZE_SPEC, seed=0)
    assert agent.decoder.scale is None
    genome = Genome(7).child(11, 0.1).child(12, 0.05)
    agent.set_genome(genome)
    vector = initial_vector(7, agent.decoder.bounds)
    for seed, sigma in genome.mutations:
        noise = np.random.default_rng(seed).standard_normal(len(vector), dtype=np.float32)
        vector = vector + noise * np.float32(sigma)
    np.testing.assert_array_equal(agent.params.numpy(), vector)


def test_sum_multiplies_the_noise_by_the_parents_factors_exactly() -> None:
    agent = GAAgent(GAConfig(hidden=[16, 16], safe_mutation="sum"), MAZE_SPEC, seed=0)
    scale = agent.decoder.scale
    assert isinstance(scale, SafeMutation)
    parent = Genome(7).child(11, 0.1)
    agent.set_genome(parent)
    before = agent.params.numpy().copy()
    factors = scale(before)
    assert np.mean(np.square(factors, dtype=np.float64)) == pytest.approx(1.0, rel=0.01)
    agent.set_genome(parent.child(12, 0.05))
    noise = np.random.default_rng(12).standard_normal(len(before), dtype=np.float32)
    np.testing.assert_array_equal(agent.params.numpy(), before + noise * np.float32(0.05) * factors)
    computed = agent.decoder.scales_computed
    agent.set_genome(parent.child(13, 0.05))  # a sibling reuses the parent's cached factors
    assert agent.decoder.scales_computed == computed
    rebuilt = GAAgent(GAConfig(hidden=[16, 16], safe_mutation="sum"), MAZE_SPEC, seed=0)
    rebuilt.set_genome(Genome.from_bytes(parent.child(13, 0.05).to_bytes()))
    np.testing.assert_array_equal(rebuilt.params.numpy(), agent.params.numpy())


def test_sum_trains_the_same_on_worker_processes_as_serially(tmp_path: Path) -> None:
    """Workers (one torch thread each) rebuild SM-G children exactly as the trainer does."""
    serial = train(load_experiment(ga_experiment(safe_mutation="sum")), tmp_path / "serial")
    exp = load_experiment(ga_experiment(safe_mutation="sum", backend="processes", workers=1))
    assert without_timing(train(exp, tmp_path / "processes")) == without_timing(serial)
    plain = train(load_experiment(ga_experiment()), tmp_path / "plain")
    assert without_timing(plain) != without_timing(serial)


def uneven_net() -> nn.Module:
    """A net whose output layer is 20x too large: the earlier layers' outputs are 20x more
    sensitive to their parameters than plain noise assumes."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 4))
    with torch.no_grad():
        net[4].weight.mul_(20.0)
    return net


def layer_output_changes(net: nn.Module, factors: np.ndarray | None) -> list[float]:
    """RMS output change on the reference states when one layer at a time gets its part of
    0.01 * eps (times `factors`)."""
    flat = FlatParameters.of(net, grads=False)
    base = flat.numpy().copy()
    states = torch.as_tensor(reference_states(MAZE_SPEC.observation_space, 64))
    before = net(states)
    step = 0.01 * np.random.default_rng(0).standard_normal(len(base)).astype(np.float32)
    if factors is not None:
        step *= factors
    changes, offset = [], 0
    for layer in (net[0], net[2], net[4]):
        size = sum(p.numel() for p in layer.parameters())
        moved = base.copy()
        moved[offset : offset + size] += step[offset : offset + size]
        offset += size
        flat.load(moved)
        changes.append(float((net(states) - before).square().mean().sqrt()))
        flat.load(base)
    return changes


def test_sum_moves_the_outputs_more_evenly_across_layers() -> None:
    net = uneven_net()
    vector = FlatParameters.of(net, grads=False).numpy().copy()
    states = reference_states(MAZE_SPEC.observation_space, 64)
    factors = SafeMutation(net, states, floor=0.01)(vector)
    plain, safe = layer_output_changes(net, None), layer_output_changes(net, factors)
    spread_plain, spread_safe = max(plain) / min(plain), max(safe) / min(safe)
    assert spread_plain > 5.0, plain
    assert spread_safe < spread_plain / 2, (plain, safe)  # measured: 22 vs 7


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("safe_mutation", "abs", "'off' or 'sum'"),
        ("safe_mutation_batch", 0, "safe_mutation_batch must be >= 1"),
        ("safe_mutation_floor", 0.0, "safe_mutation_floor must be in"),
    ],
)
def test_bad_safe_mutation_settings_name_the_key(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GAConfig(**{field: value})  # type: ignore[arg-type]
