"""Epsilon schedules against hand-computed values."""

import math

import pytest

from rlkit.config import from_dict
from rlkit.errors import ConfigError
from rlkit.schedules import (
    Constant,
    Exponential,
    Linear,
    Piecewise,
    ScheduleConfig,
    build_schedule,
)


def test_constant() -> None:
    assert Constant(0.1)(0) == 0.1
    assert Constant(0.1)(10**9) == 0.1


def test_linear_with_delay() -> None:
    s = Linear(start=1.0, end=0.01, steps=5_000, delay=300)  # the dueling post's schedule
    assert s(0) == 1.0
    assert s(300) == 1.0
    assert s(300 + 2_500) == pytest.approx(1.0 - 0.5 * 0.99)  # halfway: 0.505
    assert s(5_300) == pytest.approx(0.01)
    assert s(10**7) == pytest.approx(0.01)


def test_linear_zero_steps_jumps_after_delay() -> None:
    s = Linear(1.0, 0.0, steps=0, delay=10)
    assert (s(9), s(10)) == (1.0, 0.0)


def test_linear_over_one_step() -> None:
    s = Linear(1.0, 0.0, steps=1, delay=5)
    assert (s(5), s(6)) == (1.0, 0.0)


def test_exponential_matches_sources() -> None:
    s = Exponential(start=1.0, end=0.01, decay=0.0005)  # eps = 0.01 + 0.99 exp(-0.0005 t)
    assert s(0) == pytest.approx(1.0)
    assert s(2_000) == pytest.approx(0.01 + 0.99 * math.exp(-1.0))  # 0.374201
    assert s(10**6) == pytest.approx(0.01)


def test_piecewise_interpolates_and_clamps() -> None:
    s = Piecewise(((0, 1.0), (100, 0.1), (300, 0.01)))
    assert s(-5) == 1.0
    assert s(50) == pytest.approx(0.55)
    assert s(200) == pytest.approx(0.055)
    assert s(1_000) == pytest.approx(0.01)


def test_piecewise_jumps_after_a_repeated_step() -> None:
    # Two points at one step: the earlier value holds at that step, the later one after it.
    inside = Piecewise(((0, 1.0), (10, 1.0), (10, 0.1), (20, 0.1)))
    assert (inside(10), inside(11)) == (1.0, 0.1)
    first = Piecewise(((0, 1.0), (0, 0.5), (10, 0.5)))
    assert (first(0), first(1)) == (1.0, 0.5)


def test_schedule_config_builds_each_kind() -> None:
    assert build_schedule(ScheduleConfig(kind="constant", start=0.3))(99) == 0.3
    lin = build_schedule(from_dict(ScheduleConfig, {"start": 1, "end": 0, "steps": 10}, "eps"))
    assert lin(5) == pytest.approx(0.5)
    delayed = build_schedule(ScheduleConfig(kind="linear", start=1, end=0, steps=10, delay=5))
    assert (delayed(5), delayed(10)) == (1.0, pytest.approx(0.5))
    exp = build_schedule(ScheduleConfig(kind="exponential", start=1.0, end=0.0, decay=1.0))
    assert exp(1) == pytest.approx(math.exp(-1))
    pw = build_schedule(ScheduleConfig(kind="piecewise", points=[[0, 1.0], [10, 0.0]]))
    assert pw(5) == pytest.approx(0.5)


def test_schedule_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="'linaer' is not valid.*did you mean 'linear'"):
        from_dict(ScheduleConfig, {"kind": "linaer"}, "agent.epsilon")
    with pytest.raises(ConfigError, match="piecewise points"):
        from_dict(ScheduleConfig, {"kind": "piecewise", "points": [[10, 1.0], [0, 0.0]]}, "e")
    with pytest.raises(ConfigError, match="must be >= 0"):
        from_dict(ScheduleConfig, {"steps": -1}, "e")


def test_piecewise_is_exact_at_its_points() -> None:
    """At a breakpoint the value is the point's own, not v0 + (v1 - v0) rounded."""
    s = Piecewise(((0, 1.0), (100, 0.01), (300, 0.0)))
    assert [s(0), s(100), s(300)] == [1.0, 0.01, 0.0]
