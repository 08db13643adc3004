"""Evolution strategies' maths against hand-computed values: centred ranks, the antithetic
gradient estimate, Adam with weight decay, novelty against the archive, NS/NSR selection."""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.agents.ga.es import (
    Adam,
    ascent_direction,
    centred_ranks,
    es_gradient,
    noise,
    selection_probabilities,
    shaped_fitness,
)
from rlkit.agents.ga.es_config import ESConfig
from rlkit.agents.ga.genome import add_mutation
from rlkit.agents.ga.novelty import knn_novelty


def test_centred_ranks_by_hand() -> None:
    assert centred_ranks(np.array([3.0, 1.0, 2.0])).tolist() == [0.5, -0.5, 0.0]
    # ties share their mean rank: ranks 0.5, 0.5, 2 of 0..2 -> 0.25, 0.25, 1 -> centred
    assert centred_ranks(np.array([1.0, 1.0, 2.0])).tolist() == [-0.25, -0.25, 0.5]
    assert centred_ranks(np.array([7.0, 7.0])).tolist() == [0.0, 0.0]


def test_shaped_fitness_of_each_mode_by_hand() -> None:
    returns, novelty = np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    assert shaped_fitness("es", returns, None).tolist() == [0.5, -0.5, 0.0]
    assert shaped_fitness("ns", returns, novelty).tolist() == [-0.5, 0.0, 0.5]
    # NSR: the mean of [0.5, -0.5, 0] and [-0.5, 0, 0.5]
    assert shaped_fitness("nsr", returns, novelty).tolist() == [0.0, -0.25, 0.25]
    assert shaped_fitness("nsr", returns, novelty, reward_weight=1.0).tolist() == [0.5, -0.5, 0.0]


def test_noise_is_the_genome_mutation_draw() -> None:
    """A perturbation evaluated by a worker (add_mutation) uses the very eps of the estimate."""
    vector, scratch = np.zeros(37, np.float32), np.empty(37, np.float32)
    add_mutation(vector, 12345, 1.0, scratch)
    assert vector.tobytes() == noise(12345, 37).tobytes()


def test_gradient_estimate_by_hand_on_one_pair() -> None:
    """g = (plus - minus) eps / (2 n sigma) for n = 1."""
    eps = noise(7, 4).astype(np.float64)
    gradient = es_gradient(np.array([0.5]), np.array([-0.5]), [7], 0.1, 4)
    np.testing.assert_allclose(gradient, eps / 0.2, rtol=1e-12)


def test_antithetic_pairs_cancel_a_constant_fitness_offset_exactly() -> None:
    rng = np.random.default_rng(0)
    plus, minus = rng.integers(-50, 50, 8).astype(float), rng.integers(-50, 50, 8).astype(float)
    seeds = [int(s) for s in rng.integers(0, 2**32, 8)]
    base = es_gradient(plus, minus, seeds, 0.05, 30)
    assert es_gradient(plus + 1000.0, minus + 1000.0, seeds, 0.05, 30).tobytes() == base.tobytes()
    # an offset per pair (e.g. an easier env seed, which both members play) cancels too
    offsets = rng.integers(-500, 500, 8).astype(float)
    shifted = es_gradient(plus + offsets, minus + offsets, seeds, 0.05, 30)
    assert shifted.tobytes() == base.tobytes()
    # equal fitness everywhere: no direction at all, shaped (tied ranks) or not
    flat = np.full(8, 3.0)
    assert not es_gradient(flat, flat, seeds, 0.05, 30).any()
    shaped = centred_ranks(np.concatenate([flat, flat]))
    assert not es_gradient(shaped[:8], shaped[8:], seeds, 0.05, 30).any()


@pytest.mark.parametrize("shaping", [False, True])
def test_gradient_on_a_quadratic_points_to_the_optimum(shaping: bool) -> None:
    """f(x) = -|x - x*|^2: cos(g, -2 (x - x*)) > 0.7 for every one of 100 seeds (measured: at
    least 0.80 over 300 seeds, median 0.92-0.93, with 50 pairs in 10 dimensions)."""
    dim, pairs, sigma = 10, 50, 0.1
    for seed in range(100):
        rng = np.random.default_rng(seed)
        x, optimum = rng.standard_normal(dim).astype(np.float32), rng.standard_normal(dim)
        seeds = [int(s) for s in rng.integers(0, 2**32, pairs)]

        def f(y: np.ndarray, optimum: np.ndarray = optimum) -> float:
            return -float(np.sum((y - optimum) ** 2))

        plus = np.array([f(x + sigma * noise(s, dim)) for s in seeds])
        minus = np.array([f(x - sigma * noise(s, dim)) for s in seeds])
        if shaping:
            shaped = shaped_fitness("es", np.concatenate([plus, minus]), None)
            plus, minus = shaped[:pairs], shaped[pairs:]
        gradient = es_gradient(plus, minus, seeds, sigma, dim)
        true = -2.0 * (x - optimum)
        cosine = gradient @ true / (np.linalg.norm(gradient) * np.linalg.norm(true))
        assert cosine > 0.7, (seed, cosine)


def test_adam_steps_by_hand() -> None:
    adam = Adam(learning_rate=0.1)
    # step 1: m_hat = g, v_hat = g^2, so the step is lr * sign(g) (up to eps)
    np.testing.assert_allclose(adam.step(np.array([1.0, -2.0])), [0.1, -0.1], rtol=1e-7)
    # step 2: m = 0.9 [0.1, -0.2] + 0.1 [0.5, 0] = [0.14, -0.18]; v = 0.999 [0.001, 0.004]
    # + 0.001 [0.25, 0] = [0.001249, 0.003996]; step = 0.1 (m / 0.19) / sqrt(v / 0.001999)
    step = adam.step(np.array([0.5, 0.0]))
    expected = (
        0.1 * (np.array([0.14, -0.18]) / 0.19) / np.sqrt([0.001249 / 0.001999, 0.003996 / 0.001999])
    )
    np.testing.assert_allclose(step, expected, rtol=1e-6)
    np.testing.assert_allclose(step, [0.093218, -0.067006], atol=1e-6)
    state = adam.state_dict()
    again = Adam(learning_rate=0.1)
    again.load_state_dict(state)
    assert again.t == 2
    assert again.step(np.ones(2)).tobytes() == adam.step(np.ones(2)).tobytes()


def test_weight_decay_subtracts_l2_times_the_centre() -> None:
    direction = ascent_direction(np.array([1.0, 1.0]), np.array([2.0, -4.0], np.float32), 0.5)
    assert direction.tolist() == [0.0, 3.0]


def test_novelty_is_the_mean_distance_to_the_k_nearest_archive_members() -> None:
    archive = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    behaviours = np.array([[0.0, 0.0], [3.0, 4.0]])
    only_archive = {"with_batch": False}  # Conti et al.'s N(theta, A)
    assert knn_novelty(behaviours, archive, k=2, **only_archive).tolist() == [2.5, 2.5]
    assert knn_novelty(behaviours, archive, k=5, **only_archive).tolist() == [5.0, 10.0 / 3.0]
    assert knn_novelty(behaviours, np.zeros((0, 2)), k=2, **only_archive).tolist() == [0.0, 0.0]


def test_population_novelty_counts_the_other_perturbations_and_breaks_the_archive_tie() -> None:
    twins_and_one = np.array([[0.0, 0.0], [0.0, 0.0], [6.0, 8.0]])
    archive = np.array([[3.0, 4.0]])
    # against the archive alone all three are 5 away from (3, 4): a three-way tie
    assert knn_novelty(twins_and_one, archive, k=1, with_batch=False).tolist() == [5.0] * 3
    # with the batch, each twin's nearest is the other twin (0); never itself
    assert knn_novelty(twins_and_one, archive, k=1).tolist() == [0.0, 0.0, 5.0]
    # k = 2: twin -> (0 + 5) / 2; the lone one -> (5 + 10) / 2 (its batch-mates at distance 10)
    assert knn_novelty(twins_and_one, archive, k=2).tolist() == [2.5, 2.5, 7.5]
    # a lone behaviour with an empty archive has no neighbour: novelty 0
    assert knn_novelty(twins_and_one[:1], np.zeros((0, 2)), k=3).tolist() == [0.0]


def test_meta_population_selection_probabilities_by_hand() -> None:
    novelty, returns = np.array([3.0, 1.0, 2.0]), np.array([0.0, 10.0, 5.0])
    # NS-ES: proportional to novelty
    np.testing.assert_allclose(selection_probabilities("ns", novelty, returns), [0.5, 1 / 6, 1 / 3])
    # NSR-ES: ranks (from 1) of novelty [3, 1, 2] and of returns [1, 3, 2] average to 2 each
    np.testing.assert_allclose(selection_probabilities("nsr", novelty, returns), [1 / 3] * 3)
    # ... and with returns ordered like novelty: ranks [3, 1, 2] -> [3, 1, 2] / 6
    same_order = np.array([10.0, 0.0, 5.0])
    np.testing.assert_allclose(
        selection_probabilities("nsr", novelty, same_order), [0.5, 1 / 6, 1 / 3]
    )
    np.testing.assert_allclose(selection_probabilities("ns", np.zeros(4), np.ones(4)), [0.25] * 4)
    assert selection_probabilities("es", np.zeros(1), np.zeros(1)).tolist() == [1.0]


def test_config_rejects_bad_values_and_derives_the_evaluators_novelty() -> None:
    with pytest.raises(ValueError, match="pairs"):
        ESConfig(pairs=0)
    with pytest.raises(ValueError, match="sigma"):
        ESConfig(sigma=0.0)
    with pytest.raises(ValueError, match="beta2"):
        ESConfig(beta2=1.0)
    assert ESConfig(mode="es").novelty.mode == "off"
    assert ESConfig(mode="es").centres == 1
    nsr = ESConfig(mode="nsr", meta_population=5, k=4)
    assert (nsr.novelty.mode, nsr.novelty.k, nsr.novelty.archive_probability) == ("nsr", 4, 1.0)
    assert nsr.centres == 5
