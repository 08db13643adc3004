"""Compact genomes: serialisation, bit-for-bit rebuilds (also in another process), the cache."""

from __future__ import annotations

import hashlib
import multiprocessing as mp

import numpy as np
import pytest
import torch
from torch import nn

from rlkit.agents.ga.genome import Genome, GenomeDecoder, add_mutation, init_bounds
from rlkit.nn.flat import FlatParameters


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Conv1d(1, 2, 3), nn.Linear(8, 2))


def lineage(length: int, sigma: float = 0.05) -> Genome:
    genome = Genome(123)
    for i in range(length):
        genome = genome.child(1_000 + i, sigma)
    return genome


def digest(genome_bytes: bytes) -> str:
    """Rebuild a genome from its bytes (in whatever process runs this) and hash the vector."""
    decoder = GenomeDecoder(init_bounds(small_net()), cache_size=4)
    vector = decoder.build(Genome.from_bytes(genome_bytes))
    return hashlib.sha256(vector.tobytes()).hexdigest()


def test_bytes_round_trip_and_size() -> None:
    genome = lineage(100, sigma=0.002)
    data = genome.to_bytes()
    assert len(data) == genome.nbytes == 8 + 100 * 8
    back = Genome.from_bytes(data)
    assert back == genome
    assert Genome.from_array(genome.to_array()) == genome
    assert back.mutations[0] == (1_000, float(np.float32(0.002)))  # sigma kept as float32
    with pytest.raises(ValueError, match="expected 100 mutations"):
        Genome.from_bytes(data[:-1])


def test_lineage_helpers() -> None:
    genome = lineage(3)
    assert len(genome) == 3
    assert genome.parent() == lineage(2)
    assert genome.prefix(0) == Genome(123)
    with pytest.raises(ValueError, match="no parent"):
        Genome(1).parent()
    with pytest.raises(ValueError, match="2\\*\\*32"):
        Genome(2**32)


def test_rebuild_is_parent_plus_sigma_times_seeded_noise() -> None:
    bounds = init_bounds(small_net())
    decoder = GenomeDecoder(bounds, cache_size=2)
    parent, child = lineage(2), lineage(3)
    expected = decoder.build(parent).copy()
    noise = np.random.default_rng(1_002).standard_normal(len(bounds), dtype=np.float32)
    expected += np.float32(0.05) * noise
    np.testing.assert_array_equal(decoder.build(child), expected)


def test_initial_vector_has_default_init_scale() -> None:
    net = small_net()
    bounds = init_bounds(net)
    first = net[0]
    assert isinstance(first, nn.Linear)
    assert len(bounds) == sum(p.numel() for p in net.parameters())
    np.testing.assert_allclose(bounds[:36], 0.5)  # Linear(4, 8): 1/sqrt(4), weight and bias
    vector = GenomeDecoder(bounds, 1).build(Genome(7))
    assert np.all(np.abs(vector) <= bounds)
    assert vector.std() > 0.1
    assert not np.array_equal(vector, GenomeDecoder(bounds, 1).build(Genome(8)))


def test_rebuild_is_bit_for_bit_in_another_process() -> None:
    data = lineage(20).to_bytes()
    here = digest(data)
    assert here == digest(data)
    with mp.get_context("spawn").Pool(1) as pool:
        there = pool.apply(digest, (data,))
    assert there == here


def test_a_child_of_a_cached_parent_costs_one_mutation() -> None:
    decoder = GenomeDecoder(init_bounds(small_net()), cache_size=3)
    parent = lineage(5)
    first = decoder.build(parent.child(1, 0.1))
    assert decoder.mutations_applied == 6  # the parent from scratch (5), then the child (1)
    decoder.build(parent.child(2, 0.1))
    assert decoder.mutations_applied == 7
    grandchild = parent.child(1, 0.1).child(3, 0.1)
    decoder.build(grandchild)  # its parent is parent + 1 more: one draw for it, one for itself
    assert decoder.mutations_applied == 9
    np.testing.assert_array_equal(decoder.cached(parent.child(1, 0.1)), first)


def test_cache_evicts_least_recently_used() -> None:
    decoder = GenomeDecoder(init_bounds(small_net()), cache_size=1)
    a, b = Genome(1).child(5, 0.1), Genome(2).child(6, 0.1)
    decoder.cached(a)
    decoder.cached(b)  # evicts a
    before = decoder.mutations_applied
    decoder.cached(a)
    assert decoder.mutations_applied == before + 1


def test_flat_parameters_load_into_the_module() -> None:
    net = small_net()
    flat = FlatParameters.of(net, grads=False)
    vector = np.arange(flat.size, dtype=np.float32)
    flat.load(vector)
    joined = torch.cat([p.detach().flatten() for p in net.parameters()]).numpy()
    np.testing.assert_array_equal(joined, vector)


def test_add_mutation_is_in_place_and_seeded() -> None:
    a = np.zeros(1_000, dtype=np.float32)
    b = np.zeros(1_000, dtype=np.float32)
    scratch = np.empty_like(a)
    add_mutation(a, 9, 0.5, scratch)
    add_mutation(b, 9, 0.5, scratch)
    np.testing.assert_array_equal(a, b)
    assert 0.4 < a.std() < 0.6
