"""Safe mutations through output gradients, SM-G-SUM (Lehman et al. 2018), for the Deep GA.

A plain mutation adds sigma * N(0, 1) to every parameter, so a parameter the outputs are very
sensitive to (a first-layer weight of a deep net, a weight feeding a large head) moves the
policy as much as thousands of insensitive ones together. SM-G-SUM measures each parameter's
sensitivity on a batch of states,

    s_i = sqrt( sum_k ( sum_b d y_k(x_b) / d w_i )^2 ),

the gradient of each output summed over the batch, then the norm over the outputs (the paper's
SUM form: one backward pass per output), and divides the parameter's noise by it.

Where rlkit differs from the paper, and why:
- Normalisation. The paper's step is sigma * eps_i / max(s_i, 0.01) (and 1 where s_i == 0),
  so sigma's meaning depends on the batch size and the network. Here the factors 1 / s_i are
  scaled to a root mean square of 1: the step has the plain GA's expected size
  (E |delta|^2 = n sigma^2) and SM-G only moves it from sensitive to insensitive parameters, so
  "equal sigma" compares directions, not step sizes. The batch size then cancels.
- Floor. s_i is floored at `floor` x the mean sensitivity (a relative floor, since s has no
  fixed scale): the largest factor is at most 1 / floor times a typical parameter's. The paper's
  zero-sensitivity special case (factor 1 where s_i == 0, 100 where s_i is just above 0) is a
  discontinuity and is not copied; a batch on which no output depends on any parameter gives
  plain mutation.
- States. The paper uses states the parent visited. A genome must rebuild bit for bit from its
  seeds alone, anywhere, so the batch here is fixed per run and needs no env: `batch` states
  drawn from the observation space by a fixed seed (uniform within finite bounds, N(0, 1)
  clipped where unbounded). The cost: the sensitivity is measured off the parent's own state
  distribution (for the maze's [-1, 1]^8 observations a fair proxy, for Atari frames noise).
- Exactness. The gradients are computed in float64 and each factor is rounded to 8 significant
  bits, so low-bit differences between CPUs, BLAS builds or thread counts do not change the
  factors: a mismatch needs a float64 value within rounding error of a rounding boundary (about
  1e-14 per parameter). They are computed on one torch thread, so within one machine and
  torch version they are exact whatever the process's thread count.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.genome import Scale
from rlkit.nn.flat import FlatParameters

FACTOR_BITS = 8
"""Significant bits kept in each mutation factor (the rounding that makes factors portable)."""
_STATES_SEED = 0x5AFE5EED


def sum_sensitivity(summed_gradients: Iterable[np.ndarray]) -> np.ndarray:
    """s = sqrt(sum_k g_k^2) from g_k = the gradient of output k summed over the batch."""
    total: np.ndarray | None = None
    for row in summed_gradients:
        square = np.square(row, dtype=np.float64)
        total = square if total is None else np.add(total, square, out=total)
    if total is None:
        raise ValueError("a network without outputs has no sensitivity")
    root: np.ndarray = np.sqrt(total)
    return root


def round_significant(values: np.ndarray, bits: int = FACTOR_BITS) -> np.ndarray:
    """`values` rounded to `bits` significant bits (exact float64 operations only)."""
    mantissa, exponent = np.frexp(values)
    rounded: np.ndarray = np.ldexp(np.rint(mantissa * 2.0**bits) / 2.0**bits, exponent)
    return rounded


def mutation_factors(sensitivity: np.ndarray, floor: float) -> np.ndarray:
    """Per-parameter noise factors 1 / max(s_i, floor * mean(s)), scaled to root mean square 1
    and rounded to FACTOR_BITS bits, as float32; all ones if no parameter matters."""
    mean = float(np.mean(sensitivity))
    if not mean > 0.0:
        return np.ones(len(sensitivity), dtype=np.float32)
    factors = 1.0 / np.maximum(sensitivity, floor * mean)
    factors /= np.sqrt(np.mean(np.square(factors)))
    return round_significant(factors).astype(np.float32)


def reference_states(space: gym.Space[Any], count: int, seed: int = _STATES_SEED) -> np.ndarray:
    """`count` observations drawn from `space` by a fixed seed: uniform where bounded (integers
    for integer dtypes, fair coins for booleans), N(0, 1) clipped to the bounds otherwise."""
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"safe mutation needs a Box observation space, got {space}")
    rng = np.random.default_rng(seed)
    shape = (count, *space.shape)
    if space.dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(space.dtype, np.integer):
        return rng.integers(space.low, space.high, shape, endpoint=True).astype(space.dtype)
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    bounded = np.isfinite(low) & np.isfinite(high)
    uniform = np.where(bounded, low, 0.0) + rng.random(shape) * np.where(bounded, high - low, 0.0)
    normal = np.clip(rng.standard_normal(shape), low, high)
    return np.where(bounded, uniform, normal).astype(space.dtype)


def _to_weight_dtype(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: cast a layer's input to its weight's dtype (float32 inputs, as trunks
    make them, become float64 exactly)."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return tuple(a.to(weight.dtype) if isinstance(a, torch.Tensor) else a for a in args)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: the same reduction order in the trainer and in workers (which
    run one thread each), and no thread wake-ups, most of a small net's backward on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class OutputSensitivity:
    """s_i of a network's flat parameter vectors (FlatParameters' order) on a fixed batch,
    computed in float64 on a private copy of the network."""

    def __init__(self, net: nn.Module, states: np.ndarray) -> None:
        self.net = copy.deepcopy(net).double().requires_grad_(True)
        for module in self.net.modules():
            if isinstance(getattr(module, "weight", None), torch.Tensor):
                module.register_forward_pre_hook(_to_weight_dtype)
        self.flat = FlatParameters.of(self.net, grads=True)
        self.states = torch.as_tensor(states)

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        """The sensitivity of every parameter of `vector` (float64)."""
        self.flat.load(torch.from_numpy(np.array(vector, dtype=np.float64)))
        with torch.enable_grad(), _one_torch_thread():
            outputs = self.net(self.states)
            return sum_sensitivity(self._summed_gradients(outputs))

    def _summed_gradients(self, outputs: torch.Tensor) -> Iterable[np.ndarray]:
        """d (sum over the batch of output k) / d parameters, for each output k in turn."""
        assert self.flat.grad is not None
        count = outputs.shape[1]
        for k in range(count):
            self.flat.zero_grad()
            outputs[:, k].sum().backward(retain_graph=k < count - 1)
            yield self.flat.grad.numpy()


class SafeMutation:
    """SM-G-SUM as the genome decoder's Scale: the noise factors of a parent's vector."""

    def __init__(self, net: nn.Module, states: np.ndarray, floor: float) -> None:
        self.sensitivity = OutputSensitivity(net, states)
        self.floor = floor

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        return mutation_factors(self.sensitivity(vector), self.floor)


def safe_mutation_scale(config: GAConfig, net: nn.Module, space: gym.Space[Any]) -> Scale | None:
    """The decoder's Scale that `config.safe_mutation` names (None: plain mutation)."""
    if config.safe_mutation == "off":
        return None
    states = reference_states(space, config.safe_mutation_batch)
    return SafeMutation(net, states, config.safe_mutation_floor)
