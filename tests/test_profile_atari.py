"""experiments/benchmarks/profile_atari.py: its timers charge each part only its own time, and a
quick A2C run splits a real training iteration into parts that add up and compares the variants."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks" / "profile_atari.py"


@pytest.fixture(scope="module")
def profile_atari() -> ModuleType:
    spec = importlib.util.spec_from_file_location("profile_atari", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_part_is_charged_its_own_time_not_that_of_parts_inside_it(
    profile_atari: ModuleType,
) -> None:
    profile = profile_atari.Profile()
    inner = profile.wrap(lambda: time.sleep(0.05), "inner")

    def outer_work() -> None:
        time.sleep(0.02)
        inner()

    outer = profile.wrap(outer_work, "outer")
    outer()  # inactive: nothing counted
    assert dict(profile.seconds) == {}
    profile.active = True
    outer()
    assert profile.seconds["inner"] == pytest.approx(0.05, abs=0.02)
    assert profile.seconds["outer"] == pytest.approx(0.02, abs=0.015)


def test_quick_a2c_profile_splits_an_iteration_and_compares_the_variants() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--compare", "--algos", "a2c"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    named = r"^(env step|CNN backward|CNN forward, acting)\s+([\d,]+)"
    parts = dict(re.findall(named, out, re.M))
    assert set(parts) == {"env step", "CNN backward", "CNN forward, acting"}
    assert all(int(v.replace(",", "")) > 0 for v in parts.values())
    shares = [float(s) for s in re.findall(r"^\D+[\d,]+\s+([\d.]+)%$", out, re.M)]
    assert sum(shares) == pytest.approx(100, abs=1)  # the parts add up to the total
    total = re.search(r"^total\s+([\d,]+)\s+= ([\d,]+) env steps/s", out, re.M)
    assert total is not None
    assert re.search(r"^CNN floor: [\d,]+ µs/step .* rlkit takes [\d.]+x the floor$", out, re.M)
    for name in ("no-channels-last", "no-value-reuse", "no-kept-graphs", "none"):
        assert re.search(rf"^now vs {name}: .* speed-up [\d.]+x", out, re.M), out
    assert re.search(r"^paired vs now: .* speed-up [\d.]+x", out, re.M), out
