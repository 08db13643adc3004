"""Sum-tree and slot sampler: sums, prefix-sum search and weights, checked against hand values."""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.replay.sumtree import SlotSampler, SumTree, sum_tree_bytes


def _tree(priorities: list[float]) -> SumTree:
    tree = SumTree(len(priorities))
    tree.set(np.arange(len(priorities)), np.array(priorities))
    return tree


# SumTree -------------------------------------------------------------------------------------


def test_four_leaves_sums_by_hand() -> None:
    tree = _tree([1.0, 2.0, 3.0, 4.0])
    # Nodes: root 1 = 10; children 2 = 1 + 2 = 3 and 3 = 3 + 4 = 7; leaves at 4..7.
    assert tree.total == 10.0
    assert tree.nodes[1:].tolist() == [10.0, 3.0, 7.0, 1.0, 2.0, 3.0, 4.0]
    assert tree.get(np.array([0, 3])).tolist() == [1.0, 4.0]


def test_four_leaves_find_by_hand() -> None:
    tree = _tree([1.0, 2.0, 3.0, 4.0])
    # Prefix sums: leaf 0 covers [0, 1), leaf 1 [1, 3), leaf 2 [3, 6), leaf 3 [6, 10).
    values = np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99])
    assert tree.find(values).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_set_recomputes_every_ancestor() -> None:
    tree = _tree([1.0, 2.0, 3.0, 4.0])
    tree.set(np.array([0, 3]), np.array([5.0, 0.5]))
    # Leaves 5, 2, 3, 0.5 -> children 7 and 3.5 -> root 10.5.
    assert tree.nodes[1:4].tolist() == [10.5, 7.0, 3.5]
    assert tree.find(np.array([6.99, 7.0, 10.4])).tolist() == [1, 2, 3]


def test_set_a_scalar_priority_on_many_leaves() -> None:
    tree = SumTree(4)
    tree.set(np.array([1, 2]), 2.5)
    assert tree.leaves().tolist() == [0.0, 2.5, 2.5, 0.0]
    assert tree.total == 5.0


def test_zero_leaves_are_never_found() -> None:
    tree = _tree([1.0, 0.0, 3.0, 0.0])
    # Leaf 1 is empty, so [1, 4) belongs to leaf 2; values at or past the total (rounding) must
    # still land on a leaf with priority, never on the empty last leaf.
    found = tree.find(np.array([0.5, 1.0, 3.99, 4.0, 4.5]))
    assert found.tolist() == [0, 2, 2, 2, 2]


def test_capacity_that_is_not_a_power_of_two() -> None:
    tree = _tree([1.0, 1.0, 1.0, 1.0, 6.0])
    assert tree.first_leaf == 8
    assert tree.total == 10.0
    assert tree.find(np.array([3.5, 4.0, 9.99, 10.0])).tolist() == [3, 4, 4, 4]


def test_capacity_one_is_its_own_root() -> None:
    tree = _tree([2.0])
    assert tree.total == 2.0
    assert tree.find(np.array([0.0, 1.9])).tolist() == [0, 0]


def test_sampling_frequencies_are_proportional() -> None:
    tree = _tree([1.0, 2.0, 3.0, 4.0])
    draws = 100_000
    counts = np.bincount(tree.sample(draws, np.random.default_rng(0)), minlength=4)
    expected = draws * np.array([0.1, 0.2, 0.3, 0.4])
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 16.3  # 99.9% quantile of chi-square with 3 degrees of freedom


def test_rebuild_and_load_leaves_restore_the_sums() -> None:
    tree = _tree([1.0, 2.0, 3.0, 4.0, 5.0])
    copy = SumTree(5)
    copy.load_leaves(tree.leaves())
    np.testing.assert_array_equal(copy.nodes, tree.nodes)
    tree.nodes[1:8] = -1.0
    tree.rebuild()
    np.testing.assert_array_equal(copy.nodes, tree.nodes)


def test_bad_priorities_and_indices_raise() -> None:
    tree = SumTree(4)
    with pytest.raises(ValueError, match="finite and >= 0"):
        tree.set(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="finite and >= 0"):
        tree.set(np.array([0]), np.array([np.nan]))
    with pytest.raises(IndexError):
        tree.set(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="all 0"):
        tree.sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 1"):
        SumTree(0)


def test_indices_outside_the_leaves_raise_on_either_side() -> None:
    tree = SumTree(5)  # leaves are nodes 8..12; 13..15 pad, node 7 is an inner node
    for index in (-1, 5):
        with pytest.raises(IndexError):
            tree.set(np.array([index]), np.array([1.0]))
    assert tree.nodes.tolist() == [0.0] * 16


def test_find_takes_a_scalar() -> None:
    assert _tree([1.0, 2.0, 3.0, 4.0]).find(2.5).tolist() == [1]


def test_sum_tree_bytes_matches_the_allocation() -> None:
    for capacity in (1, 4, 5, 1000):
        assert sum_tree_bytes(capacity) == SumTree(capacity).nbytes
    assert sum_tree_bytes(5) == 2 * 8 * 8


# SlotSampler ---------------------------------------------------------------------------------


def test_uniform_sampler_draws_only_valid_slots() -> None:
    sampler = SlotSampler(8, prioritized=False, alpha=0.6, eps=1e-6)
    sampler.validate(np.array([1, 2, 6]))
    sampler.invalidate(np.array([2, 3]))
    assert sampler.num_valid == 2
    # Two streams of 4 slots, both full.
    index, weight = sampler.sample(500, np.random.default_rng(0), 0.5, np.array([4, 4]), 4)
    assert set(index.tolist()) == {1, 6}
    assert weight.tolist() == [1.0] * 500


def test_uniform_sampler_only_looks_at_written_slots() -> None:
    sampler = SlotSampler(8, prioritized=False, alpha=0.6, eps=1e-6)
    sampler.validate(np.array([0, 4, 5]))
    # Stream 0 holds 1 slot, stream 1 holds 2: exactly slots 0, 4, 5, uniformly.
    index, _ = sampler.sample(30_000, np.random.default_rng(1), 1.0, np.array([1, 2]), 4)
    counts = np.bincount(index, minlength=8)
    assert counts[[1, 2, 3, 6, 7]].sum() == 0
    np.testing.assert_allclose(counts[[0, 4, 5]] / 30_000, 1 / 3, atol=0.02)


def test_uniform_sampler_falls_back_when_valid_slots_are_rare() -> None:
    sampler = SlotSampler(10_000, prioritized=False, alpha=0.6, eps=1e-6)
    sampler.validate(np.array([9_999]))
    index, _ = sampler.sample(64, np.random.default_rng(0), 1.0, np.array([10_000]), 10_000)
    assert index.tolist() == [9_999] * 64


def test_uniform_fallback_draws_the_rare_valid_slots_independently() -> None:
    sampler = SlotSampler(1_000, prioritized=False, alpha=0.6, eps=1e-6)
    sampler.validate(np.array([3, 700]))  # 2 valid slots of 1,000 written: rejection rarely hits
    index, _ = sampler.sample(2_000, np.random.default_rng(0), 1.0, np.array([1_000]), 1_000)
    counts = np.bincount(index, minlength=1_000)
    assert counts[3] + counts[700] == 2_000
    assert 850 < counts[3] < 1_150  # binomial(2000, 1/2): 1,000 +- 22


def test_sampler_refuses_to_sample_nothing() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=0.6, eps=1e-6)
    with pytest.raises(ValueError, match="no complete transition"):
        sampler.sample(1, np.random.default_rng(0), 1.0, np.array([0]), 4)


def test_new_slots_get_the_largest_priority_seen() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=0.5, eps=0.0)
    sampler.validate(np.array([0, 1]))
    assert sampler.tree is not None
    assert sampler.tree.leaves().tolist() == [1.0, 1.0, 0.0, 0.0]  # max starts at 1
    sampler.update(np.array([0, 1]), np.array([16.0, 4.0]))
    assert sampler.tree.leaves().tolist() == [4.0, 2.0, 0.0, 0.0]  # p ** 0.5
    sampler.validate(np.array([2]))
    assert sampler.tree.leaves()[2] == 4.0  # max p = 16 -> 16 ** 0.5
    sampler.update(np.array([2]), np.array([1.0]))
    sampler.validate(np.array([3]))
    assert sampler.tree.leaves()[3] == 4.0  # the max is the largest ever seen


def test_update_adds_eps_and_skips_invalid_slots() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=1.0, eps=0.25)
    sampler.validate(np.array([0, 1]))
    sampler.update(np.array([0, 2]), np.array([-0.75, 9.0]))  # |td| + eps; slot 2 is invalid
    assert sampler.tree is not None
    assert sampler.tree.leaves().tolist() == [1.0, 1.0, 0.0, 0.0]
    assert sampler.max_priority == 1.0
    with pytest.raises(ValueError, match="finite"):
        sampler.update(np.array([0]), np.array([np.inf]))


def test_update_takes_one_slot_as_scalars() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=1.0, eps=0.0)
    sampler.validate(np.array([0, 1]))
    sampler.update(np.array(1), np.array(3.0))  # 0-d arrays
    assert sampler.tree is not None
    assert sampler.tree.leaves().tolist() == [1.0, 3.0, 0.0, 0.0]


def test_update_computes_priorities_in_float64() -> None:
    # torch's TD errors are float32: float32(1 + 1e-6) = 1.00000095, off in the 7th digit.
    sampler = SlotSampler(2, prioritized=True, alpha=0.5, eps=1e-6)
    sampler.validate(np.array([0]))
    sampler.update(np.array([0]), np.array([1.0], dtype=np.float32))
    assert sampler.tree is not None
    assert sampler.tree.get(np.array([0]))[0] == pytest.approx((1 + 1e-6) ** 0.5, rel=1e-12)
    assert sampler.max_priority == pytest.approx(1 + 1e-6, rel=1e-12)


def test_update_needs_one_finite_td_error_per_index() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=1.0, eps=0.0)
    sampler.validate(np.array([0, 1]))
    with pytest.raises(ValueError, match="one per index"):
        sampler.update(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        sampler.update(np.array([0]), np.array([np.nan]))


def test_repeated_slots_count_once() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=1.0, eps=0.0)
    sampler.validate(np.array([2, 2]))
    assert sampler.num_valid == 1
    sampler.validate(np.array([0, 2, 0]))
    assert sampler.num_valid == 2
    sampler.invalidate(np.array([2, 2]))
    assert sampler.num_valid == 1
    assert sampler.tree is not None
    assert sampler.tree.total == 1.0


def test_invalidated_slots_lose_their_priority() -> None:
    sampler = SlotSampler(4, prioritized=True, alpha=1.0, eps=0.0)
    sampler.validate(np.array([0, 1, 2]))
    sampler.invalidate(np.array([1]))
    assert sampler.tree is not None
    assert sampler.tree.total == 2.0
    assert sampler.num_valid == 2
    index, _ = sampler.sample(200, np.random.default_rng(0), 1.0, np.array([4]), 4)
    assert set(index.tolist()) == {0, 2}


def test_importance_weights_by_hand() -> None:
    sampler = SlotSampler(2, prioritized=True, alpha=1.0, eps=0.0)
    sampler.validate(np.array([0, 1]))
    sampler.update(np.array([0, 1]), np.array([1.0, 3.0]))
    # P = [1/4, 3/4], N = 2: w = (N P) ** -beta = [2, 2/3] (beta 1), normalised by the max 2.
    index, weight = sampler.sample(100, np.random.default_rng(0), 1.0, np.array([2]), 2)
    assert set(index.tolist()) == {0, 1}
    np.testing.assert_allclose(weight[index == 0], 1.0)
    np.testing.assert_allclose(weight[index == 1], 1 / 3, rtol=1e-6)
    # beta 0.5: w = [sqrt(2), sqrt(2/3)] -> [1, sqrt(1/3)].
    index, weight = sampler.sample(100, np.random.default_rng(0), 0.5, np.array([2]), 2)
    np.testing.assert_allclose(weight[index == 1], np.sqrt(1 / 3), rtol=1e-6)


def test_importance_weights_are_normalised_by_the_batch_max() -> None:
    sampler = SlotSampler(2, prioritized=True, alpha=1.0, eps=0.0)
    sampler.validate(np.array([0, 1]))
    sampler.update(np.array([0, 1]), np.array([1.0, 3.0]))
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, weight = sampler.sample(1, rng, 1.0, np.array([2]), 2)
        assert weight.tolist() == [1.0]  # a batch of one is its own max


def test_sampler_state_round_trip() -> None:
    sampler = SlotSampler(6, prioritized=True, alpha=0.7, eps=0.1)
    sampler.validate(np.array([0, 2, 3, 5]))
    sampler.update(np.array([2, 5]), np.array([3.0, 0.2]))
    copy = SlotSampler(6, prioritized=True, alpha=0.7, eps=0.1)
    copy.load_state_dict(sampler.state_dict())
    assert copy.num_valid == 4
    assert copy.max_priority == sampler.max_priority
    assert copy.tree is not None
    assert sampler.tree is not None
    np.testing.assert_array_equal(copy.tree.nodes, sampler.tree.nodes)
    a = sampler.sample(50, np.random.default_rng(3), 0.4, np.array([6]), 6)
    b = copy.sample(50, np.random.default_rng(3), 0.4, np.array([6]), 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
