"""The rlkit-vs-SB3 learning benchmarks cannot rot: each runs its --quick smoke case end to end
(both libraries, a few thousand steps) and writes its CSV and PNG."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks"


def run_quick(script: str, out_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--out-dir", str(out_dir), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_atari_learning_benchmark_runs_both_libraries(tmp_path: Path) -> None:
    """A2C, rlkit on a paired env whose two halves log into one score log."""
    out = run_quick(
        "bench_atari_learning.py", tmp_path, "--algos", "a2c", "--vectorization", "paired"
    )
    assert "SB3/rlkit time" in out
    games = rows(tmp_path / "games.csv")
    assert {row["lib"] for row in games} == {"rlkit", "sb3"}
    assert all(float(row["score"]) >= 0 for row in games)  # true Breakout scores
    steps = [int(row["step"]) for row in games if row["lib"] == "rlkit"]
    assert len(steps) > 5
    assert all(step % 16 == 0 for step in steps)  # each half counts all 16 envs' steps
    assert {row["lib"] for row in rows(tmp_path / "curves.csv")} == {"rlkit", "sb3"}
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_minatar_learning_benchmark_runs_both_libraries(tmp_path: Path) -> None:
    pytest.importorskip("minatar")
    run_quick("bench_minatar_learning.py", tmp_path, "--games", "Breakout", "--algos", "ppo")
    curves = rows(tmp_path / "curves.csv")
    assert {row["lib"] for row in curves} == {"rlkit", "sb3"}
    assert max(int(row["step"]) for row in curves) == 3_072
    assert (tmp_path / "curves.png").stat().st_size > 0
