"""Epsilon (and other) schedules: plain callables of the step, as the sources use them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class Constant:
    """Always `value`."""

    value: float

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class Linear:
    """Hold `start` for `delay` steps, then move linearly to `end` over `steps` steps."""

    start: float
    end: float
    steps: int
    delay: int = 0

    def __call__(self, step: int) -> float:
        if self.steps <= 0:
            return self.end if step >= self.delay else self.start
        fraction = min(max(step - self.delay, 0) / self.steps, 1.0)
        return self.start + fraction * (self.end - self.start)


@dataclass(frozen=True)
class Exponential:
    """`end + (start - end) * exp(-decay * step)`, the sources' per-step decay."""

    start: float
    end: float
    decay: float

    def __call__(self, step: int) -> float:
        return self.end + (self.start - self.end) * math.exp(-self.decay * step)


@dataclass(frozen=True)
class Piecewise:
    """Linear interpolation between (step, value) points; flat outside them."""

    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        steps = [s for s, _ in self.points]
        if not self.points or steps != sorted(steps):
            raise ValueError(
                "piecewise points must be a non-empty list of [step, value] in step order"
            )

    def __call__(self, step: int) -> float:
        (s0, v0) = self.points[0]
        if step <= s0:
            return v0
        for s1, v1 in self.points[1:]:  # step > s0 here, so step < s1 means s1 > s0
            if step < s1:
                return v0 + (step - s0) / (s1 - s0) * (v1 - v0)
            if step == s1:
                return v1  # exactly, not v0 + (v1 - v0), which can miss it by a few ulps
            s0, v0 = s1, v1
        return v0


@dataclass
class ScheduleConfig:
    """A schedule as written in an experiment file: {kind = "linear", start = 1.0, end = 0.05}."""

    kind: Literal["constant", "linear", "exponential", "piecewise"] = "linear"
    """Shape of the schedule."""
    start: float = 1.0
    """Value at step 0 (constant uses this value)."""
    end: float = 0.05
    """Final value (the floor, for exponential)."""
    steps: int = 10_000
    """linear: number of steps from start to end."""
    delay: int = 0
    """linear: steps to hold start before decaying."""
    decay: float = 1e-3
    """exponential: the rate lambda in exp(-lambda * step)."""
    points: list[list[float]] = field(default_factory=list)
    """piecewise: [[step, value], ...] in step order."""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.delay < 0 or self.decay < 0:
            raise ValueError("steps, delay and decay must be >= 0")
        if self.kind == "piecewise":
            build_schedule(self)


def build_schedule(config: ScheduleConfig) -> Schedule:
    """Turn a ScheduleConfig into its callable."""
    if config.kind == "constant":
        return Constant(config.start)
    if config.kind == "linear":
        return Linear(config.start, config.end, config.steps, config.delay)
    if config.kind == "exponential":
        return Exponential(config.start, config.end, config.decay)
    return Piecewise(tuple((int(p[0]), float(p[1])) for p in _pairs(config.points)))


def _pairs(points: Sequence[Sequence[float]]) -> Sequence[Sequence[float]]:
    if any(len(p) != 2 for p in points):
        raise ValueError("piecewise points must be [step, value] pairs")
    return points
