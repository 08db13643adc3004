"""Observation and reward normalisation as Stable-Baselines3's `VecNormalize` does it.

Three pieces, pure numpy, for the agents to use around their vector envs:

- `RunningMeanStd`: running mean and variance of a stream of batches, merged with the parallel
  algorithm of Chan et al. (1979), exactly as SB3's `common.running_mean_std.RunningMeanStd`:
  the statistics start as a pseudo-batch of mean 0, variance 1 and count `epsilon` (1e-4), which
  keeps the first normalisation finite and barely moves the estimates after that.
- `ObservationNormalizer`: `clip((obs - mean) / sqrt(var + epsilon), -clip, clip)` as float32,
  SB3 `VecNormalize(norm_obs=True, clip_obs=10.0, epsilon=1e-8)`.
- `RewardScaler`: rewards divided by the standard deviation of a discounted return, not of the
  reward itself, and not centred (SB3 `VecNormalize(norm_reward=True, clip_reward=10.0)`, after
  the OpenAI baselines normaliser): each env keeps `returns = returns * gamma + reward`, the
  running statistics see those returns, and an env's accumulator restarts at 0 once its episode
  ends, after the step's update, as SB3's `step_wait` orders it.

The statistics are float64 throughout. The one deliberate difference from SB3: a batch is
converted to float64 before its own mean and variance are taken, where SB3 takes them in the
batch's dtype (float32 observations give float32 batch moments); for float64 batches the results
are identical to the last bit. `frozen` on the two normalisers plays SB3's `training=False`:
evaluation and `rlkit eval` normalise with the statistics as trained, without moving them.

`state_dict()` holds only numpy arrays and floats, so the rlkit checkpoint format
(`rlkit.checkpoint`, loaded with `weights_only=True`) carries it. Statistics of shape () are
stored as floats, because the checkpoint's array encoding turns 0-d arrays into shape (1,). The
`frozen` flag is not part of the state: it says how the statistics are used, and whoever loads
them chooses it (evaluation freezes them, resumed training does not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ObservationNormalizer", "RewardScaler", "RunningMeanStd"]


class RunningMeanStd:
    """Running mean and variance of batches of shape (n, *shape), SB3's `RunningMeanStd`.

    `count` starts at `epsilon` with mean 0 and variance 1, a pseudo-batch that the first real
    batch outweighs at once; after batches x_1..x_N (all rows together) the statistics are those
    of the pseudo-batch and the rows merged: mean = sum(x) / (epsilon + N) and
    var = (epsilon * (1 + mean**2) + sum((x - mean)**2)) / (epsilon + N).
    """

    def __init__(self, shape: int | tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        _check_positive("epsilon", epsilon)
        self.shape: tuple[int, ...] = (shape,) if isinstance(shape, int) else tuple(shape)
        self.mean: np.ndarray = np.zeros(self.shape, dtype=np.float64)
        self.var: np.ndarray = np.ones(self.shape, dtype=np.float64)
        self.count: float = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch of shape (n, *shape); an empty batch (n = 0) changes nothing.

        Refuses NaN and infinite values: one of them would poison the statistics for good.
        """
        x = np.asarray(batch, dtype=np.float64)
        if x.shape[1:] != self.shape or x.ndim != len(self.shape) + 1:
            raise ValueError(
                f"a batch for running statistics of shape {self.shape} must have shape "
                f"(n, *{self.shape}), got {np.shape(batch)}"
            )
        if x.shape[0] == 0:
            return
        if not np.all(np.isfinite(x)):
            raise ValueError("cannot update running statistics with NaN or infinite values")
        self.update_from_moments(x.mean(axis=0), x.var(axis=0), x.shape[0])

    def update_from_moments(
        self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: float
    ) -> None:
        """Merge a batch given by its mean, (population) variance and size: Chan et al.'s update.

        The expressions and their order are SB3's, so the float64 results agree to the bit.
        """
        delta = batch_mean - self.mean
        tot_count = self.count + batch_count
        new_mean = self.mean + delta * batch_count / tot_count
        m_a = self.var * self.count
        m_b = batch_var * batch_count
        m_2 = m_a + m_b + np.square(delta) * self.count * batch_count / tot_count
        self.mean = np.asarray(new_mean, dtype=np.float64)
        self.var = np.asarray(m_2 / tot_count, dtype=np.float64)
        self.count = float(batch_count + self.count)

    def state_dict(self) -> dict[str, Any]:
        """Copies of mean and var (floats when the shape is ()) and the count."""
        return {"mean": _export(self.mean), "var": _export(self.var), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned; the shape must be this object's."""
        mean = _import("mean", state["mean"], self.shape)
        var = _import("var", state["var"], self.shape)
        count = float(state["count"])
        if not np.all(var >= 0):
            raise ValueError("saved running variance has negative entries")
        _check_positive("saved running count", count)
        self.mean, self.var, self.count = mean, var, count


class ObservationNormalizer:
    """Observations standardised by running statistics and clipped, SB3 `VecNormalize`'s obs half.

    Per step: `update(obs_batch)` with the envs' observations (and the reset observations at the
    start), then `normalize(obs)`, as SB3 does in `step_wait` and `reset`. `epsilon` keeps the
    division finite for a feature that never varies; `clip` bounds the outliers.
    """

    def __init__(
        self, shape: int | tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8
    ) -> None:
        _check_positive("clip", clip, allow_inf=True)
        _check_positive("epsilon", epsilon)
        self.rms = RunningMeanStd(shape)
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self.frozen = False
        """When true, `update` does nothing (evaluation; SB3's `training=False`)."""

    @property
    def shape(self) -> tuple[int, ...]:
        return self.rms.shape

    def update(self, obs_batch: np.ndarray) -> None:
        """Merge a batch of observations, shape (n, *shape), into the statistics unless frozen."""
        if not self.frozen:
            self.rms.update(obs_batch)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """clip((obs - mean) / sqrt(var + epsilon), -clip, clip) as float32; obs is one
        observation or a batch of them (any leading dimensions). Does not update."""
        x = np.asarray(obs)
        if x.shape[x.ndim - len(self.shape) :] != self.shape:
            raise ValueError(
                f"observations for a normaliser of shape {self.shape} must end in that shape, "
                f"got {x.shape}"
            )
        scaled = (x - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon)
        clipped: np.ndarray = np.clip(scaled, -self.clip, self.clip).astype(np.float32)
        return clipped

    def state_dict(self) -> dict[str, Any]:
        """The running statistics (mean, var, count); not `frozen`, which the loader chooses."""
        return self.rms.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rms.load_state_dict(state)


class RewardScaler:
    """Rewards divided by the running std of each env's discounted return, SB3 `VecNormalize`'s
    reward half.

    Scaling by the return's spread rather than the reward's keeps the size of value targets
    (which are returns) near 1, whatever gamma; the rewards are not centred, so their signs and
    the relative value of doing nothing survive. Per step: `update(rewards, terminated,
    truncated)`, then `normalize(rewards)`; `update` accumulates, updates the statistics and only
    then restarts the accumulators of the envs whose episode ended, as SB3's `step_wait` does.
    """

    def __init__(
        self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        _check_positive("clip", clip, allow_inf=True)
        _check_positive("epsilon", epsilon)
        self.num_envs = int(num_envs)
        self.gamma = float(gamma)
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self.rms = RunningMeanStd(())
        self.returns: np.ndarray = np.zeros(self.num_envs, dtype=np.float64)
        """Each env's discounted return so far in its current episode."""
        self.frozen = False
        """When true, `update` moves neither the accumulators nor the statistics (evaluation)."""

    def update(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """One vector step: returns = returns * gamma + rewards, the statistics see the new
        returns, then the accumulators restart at 0 where terminated or truncated.

        Frozen, only the restart happens (SB3 with `training=False` does the same).
        """
        r = self._per_env("rewards", rewards, np.float64)
        ended = self._per_env("terminated", terminated, np.bool_) | self._per_env(
            "truncated", truncated, np.bool_
        )
        if not self.frozen:
            if not np.all(np.isfinite(r)):
                raise ValueError("cannot scale NaN or infinite rewards")
            self.returns = self.returns * self.gamma + r
            self.rms.update(self.returns)
        self.returns[ended] = 0.0

    def normalize(self, rewards: np.ndarray) -> np.ndarray:
        """clip(rewards / sqrt(var + epsilon), -clip, clip) as float32. Does not update."""
        scaled = np.asarray(rewards) / np.sqrt(self.rms.var + self.epsilon)
        clipped: np.ndarray = np.clip(scaled, -self.clip, self.clip).astype(np.float32)
        return clipped

    def reset(self) -> None:
        """Restart every accumulator (all envs reset; SB3's `VecNormalize.reset`)."""
        self.returns = np.zeros(self.num_envs, dtype=np.float64)

    def state_dict(self) -> dict[str, Any]:
        """The accumulators and the return statistics; not `frozen`, which the loader chooses."""
        return {"returns": self.returns.copy(), "return_stats": self.rms.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        returns = _import("returns", state["returns"], (self.num_envs,))
        self.rms.load_state_dict(state["return_stats"])
        self.returns = returns

    def _per_env(self, name: str, values: np.ndarray, dtype: type) -> np.ndarray:
        x: np.ndarray = np.asarray(values, dtype=dtype)
        if x.shape != (self.num_envs,):
            raise ValueError(f"{name} must have shape ({self.num_envs},), got {x.shape}")
        return x


def _check_positive(name: str, value: float, allow_inf: bool = False) -> None:
    """Raise ValueError unless value > 0 (and finite, unless allow_inf); NaN fails too."""
    if not (value > 0 and (allow_inf or math.isfinite(value))):
        bound = "> 0" if allow_inf else "finite and > 0"
        raise ValueError(f"{name} must be {bound}, got {value}")


def _export(array: np.ndarray) -> np.ndarray | float:
    return float(array) if array.ndim == 0 else array.copy()


def _import(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.array(value, dtype=np.float64)  # a copy: the caller's state stays its own
    if array.shape != shape:
        raise ValueError(f"saved {name} has shape {array.shape}; this normaliser has {shape}")
    return array
