"""Compact genomes for the Deep GA: an initial seed plus (mutation seed, sigma) pairs.

A network's parameters are one flat float32 vector, rebuilt from its genome bit for bit in any
process or machine: the initial vector is U(-1, 1) * 1/sqrt(fan_in) per element (the scale of
PyTorch's default Linear/Conv init), each mutation adds sigma * N(0, 1) noise. Both draws come
from numpy's PCG64 generator seeded per draw (numpy guarantees the stream across platforms;
torch's CPU normal sampler has vectorised code paths that may differ between CPUs). sigma is
stored as float32, the precision it is applied in, so a serialised genome rebuilds exactly.
With safe mutations (`rlkit.agents.ga.safe_mutation`) each mutation's noise is also multiplied
by per-parameter factors that are a function of the parent's vector alone, so a child is still
(parent, seed, sigma) and rebuilds the same way.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

_HEADER = struct.Struct("<II")  # initial seed, number of mutations
_MUTATION = struct.Struct("<If")  # mutation seed, sigma
SEED_LIMIT = 2**32
_INIT_TAG = 0x1A17  # keeps initial draws apart from mutation draws with the same seed
Scale = Callable[[np.ndarray], np.ndarray]
"""Per-parameter factors (float32) on a mutation's noise, a function of the parent's vector
(safe mutations); a decoder without one mutates with plain Gaussian noise."""


@dataclass(frozen=True)
class Genome:
    """An initial seed and the (seed, sigma) of every mutation since, oldest first."""

    init_seed: int
    mutations: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.init_seed < SEED_LIMIT:
            raise ValueError(f"init_seed must be in [0, 2**32), got {self.init_seed}")

    def __len__(self) -> int:
        return len(self.mutations)

    def child(self, seed: int, sigma: float) -> Genome:
        """This genome plus one mutation (sigma rounded to float32, the precision it acts in)."""
        if not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"mutation seed must be in [0, 2**32), got {seed}")
        return Genome(self.init_seed, (*self.mutations, (seed, float(np.float32(sigma)))))

    def prefix(self, length: int) -> Genome:
        """The ancestor with the first `length` mutations."""
        return Genome(self.init_seed, self.mutations[:length])

    def parent(self) -> Genome:
        """The genome this one was mutated from (itself without its last mutation)."""
        if not self.mutations:
            raise ValueError("an initial genome has no parent")
        return self.prefix(len(self) - 1)

    def to_bytes(self) -> bytes:
        """Little-endian: init seed and count (uint32 each), then (uint32 seed, float32 sigma)s."""
        body = b"".join(_MUTATION.pack(seed, sigma) for seed, sigma in self.mutations)
        return _HEADER.pack(self.init_seed, len(self)) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Genome:
        """Inverse of to_bytes."""
        init_seed, count = _HEADER.unpack_from(data)
        if len(data) != _HEADER.size + count * _MUTATION.size:
            raise ValueError(f"genome bytes: expected {count} mutations, got {len(data)} bytes")
        mutations = tuple(_MUTATION.iter_unpack(data[_HEADER.size :]))
        return cls(init_seed, tuple((int(s), float(sigma)) for s, sigma in mutations))

    @property
    def nbytes(self) -> int:
        """Size of the serialised genome in bytes."""
        return _HEADER.size + len(self) * _MUTATION.size

    def to_array(self) -> np.ndarray:
        """The serialised genome as a uint8 array (how checkpoints store it)."""
        return np.frombuffer(self.to_bytes(), dtype=np.uint8).copy()

    @classmethod
    def from_array(cls, array: Any) -> Genome:
        """Inverse of to_array."""
        return cls.from_bytes(np.asarray(array, dtype=np.uint8).tobytes())


def initial_vector(seed: int, bounds: np.ndarray) -> np.ndarray:
    """U(-bound, bound) per element, drawn from the generator seeded by `seed`."""
    uniform = np.random.default_rng([_INIT_TAG, seed]).random(len(bounds), dtype=np.float32)
    uniform *= np.float32(2.0)
    uniform -= np.float32(1.0)
    uniform *= bounds
    return uniform


def add_mutation(
    vector: np.ndarray,
    seed: int,
    sigma: float,
    scratch: np.ndarray,
    factors: np.ndarray | None = None,
) -> None:
    """vector += sigma * N(0, 1) noise from the generator seeded by `seed` (times `factors`, per
    parameter, when given), in place."""
    np.random.default_rng(seed).standard_normal(len(vector), dtype=np.float32, out=scratch)
    scratch *= np.float32(sigma)
    if factors is not None:
        scratch *= factors
    vector += scratch


def init_bounds(module: nn.Module) -> np.ndarray:
    """1/sqrt(fan_in) for every parameter element of `module`, in `parameters()` order."""
    bounds = {}
    for sub in module.modules():
        weight = getattr(sub, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
            bound = 1.0 / float(np.sqrt(weight[0].numel()))
            for param in sub.parameters(recurse=False):
                bounds[id(param)] = bound
    parts = []
    for name, param in module.named_parameters():
        if id(param) not in bounds:
            raise TypeError(f"parameter {name}: only Linear/Conv layers can be evolved")
        parts.append(np.full(param.numel(), bounds[id(param)], dtype=np.float32))
    return np.concatenate(parts)


class GenomeDecoder:
    """Rebuilds parameter vectors from genomes, caching rebuilt parents (LRU by genome).

    `build(genome)` takes the genome's parent from the cache (rebuilding it from its longest
    cached prefix on a miss) and applies the last mutation: a child of a cached parent costs
    one mutation. `mutations_applied` counts the noise draws, for tests and benchmarks.
    With a `scale` (safe mutations), each parent's noise factors are cached too (its children
    share them); `scales_computed` counts the calls to `scale`.
    """

    def __init__(self, bounds: np.ndarray, cache_size: int, scale: Scale | None = None) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.bounds = bounds
        self.cache_size = cache_size
        self.scale = scale
        self._cache: OrderedDict[Genome, np.ndarray] = OrderedDict()
        self._factors: OrderedDict[Genome, np.ndarray] = OrderedDict()
        self._scratch = np.empty(len(bounds), dtype=np.float32)
        self.mutations_applied = 0
        self.scales_computed = 0

    def build(self, genome: Genome) -> np.ndarray:
        """The parameter vector of `genome` (a fresh array the caller may keep)."""
        if not genome.mutations:
            return initial_vector(genome.init_seed, self.bounds)
        parent = genome.parent()
        vector = self.cached(parent).copy()
        self._mutate(vector, parent, *genome.mutations[-1])
        return vector

    def cached(self, genome: Genome) -> np.ndarray:
        """The vector of `genome`, kept in the cache (read-only: do not modify it)."""
        start, base = self._longest_cached_prefix(genome)
        if start == len(genome) and base is not None:
            return base
        vector = initial_vector(genome.init_seed, self.bounds) if base is None else base.copy()
        for length in range(start, len(genome)):
            self._mutate(vector, genome.prefix(length), *genome.mutations[length])
        vector.flags.writeable = False
        _remember(self._cache, genome, vector, self.cache_size)
        return vector

    def _longest_cached_prefix(self, genome: Genome) -> tuple[int, np.ndarray | None]:
        """(k, vector of the first k mutations) for the longest cached prefix, or (0, None)."""
        for length in range(len(genome), -1, -1):
            key = genome.prefix(length)
            if key in self._cache:
                self._cache.move_to_end(key)
                return length, self._cache[key]
        return 0, None

    def _mutate(self, vector: np.ndarray, parent: Genome, seed: int, sigma: float) -> None:
        """Apply one mutation to `vector`, the vector of `parent`."""
        add_mutation(vector, seed, sigma, self._scratch, self._parent_factors(parent, vector))
        self.mutations_applied += 1

    def _parent_factors(self, parent: Genome, vector: np.ndarray) -> np.ndarray | None:
        """The scale's noise factors for `parent` (whose vector is `vector`), cached; None
        without a scale."""
        if self.scale is None:
            return None
        factors = self._factors.get(parent)
        if factors is None:
            factors = self.scale(vector)
            self.scales_computed += 1
        _remember(self._factors, parent, factors, self.cache_size)
        return factors


def _remember(
    cache: OrderedDict[Genome, np.ndarray], key: Genome, value: np.ndarray, size: int
) -> None:
    """Put `key` in the LRU `cache` as most recent, evicting the oldest beyond `size`."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
