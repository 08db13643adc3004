"""experiments/benchmarks/gpu_check.py: its dry run measures every part on the CPU, a failing part
is recorded and the rest still run, and without CUDA a real run stops at once with exit code 2."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks" / "gpu_check.py"
HEADLINES = {
    "dqn": [
        "sampled.rlkit_steps_per_s",
        "sampled.sb3_steps_per_s",
        "sampled.ratio_rlkit_over_sb3",
        "compute.rlkit_steps_per_s",
        "compute.sb3_steps_per_s",
        "compute.ratio_rlkit_over_sb3",
    ],
    "ppo": ["steps", "episodes", "steps_per_s", "train_wall_s"],
    "alphazero": ["selfplay_games_per_s", "train_steps_per_s", "iteration_s", "positions"],
    "ga": [
        "workers_1.evaluations_per_s",
        "workers_1.frames_per_s",
        "workers_2.evaluations_per_s",
        "workers_2.frames_per_s",
        "workers_2.scaling_efficiency",
    ],
}
"""Per part, results (dotted paths) that must be positive finite numbers."""
RETURNS = ["best_mean_return_100", "last_mean_return_100", "final_eval_return"]
"""PPO's returns: finite numbers of any sign."""


@pytest.fixture
def gpu_check(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """gpu_check.py as a module (experiments/benchmarks is not a package), registered in
    sys.modules for the test (its dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def lookup(results: dict[str, Any], path: str) -> Any:
    """results["a"]["b"] for path "a.b"."""
    value: Any = results
    for key in path.split("."):
        value = value[key]
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_dry_run_measures_every_part_on_the_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=150,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds < 90, f"the dry run took {seconds:.0f} s"
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] is True
    assert report["device"] == "cpu"
    assert report["failed"] == []
    assert report["commit"]
    assert report["machine"]["cpu_count"] >= 1
    assert report["machine"]["torch"]
    assert list(report["parts"]) == list(HEADLINES)
    for part, paths in HEADLINES.items():
        entry = report["parts"][part]
        assert entry["ok"], entry.get("traceback")
        assert "error" not in entry
        for path in paths:
            value = lookup(entry["results"], path)
            assert is_number(value), (part, path, value)
            assert value > 0, (part, path, value)
    ppo = report["parts"]["ppo"]["results"]
    for key in RETURNS:
        assert is_number(ppo[key]), (key, ppo[key])
    assert len(ppo["curve"]["step"]) >= 1
    assert ppo["tensorboard_episode_return"]["step"]
    dqn = report["parts"]["dqn"]["results"]
    assert dqn["rlkit_parameters"] == dqn["sb3_parameters"]  # the same network on both sides
    assert dqn["batch"] == [32, 4, 84, 84]
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.startswith("# rlkit GPU check")
    for row in ("| machine | gpu |", "| machine | cpu_count |", "| machine | torch |"):
        assert row in table
    for part in HEADLINES:
        assert f"| {part} | ok | True |" in table


def test_a_failing_part_is_recorded_and_exits_1(gpu_check: ModuleType, tmp_path: Path) -> None:
    argv = ["--out", str(tmp_path), "--dry-run", "--parts", "alphazero,dqn", "--az-workers", "0"]
    argv += ["--dqn-replay", "0"]  # both fail while loading their experiments: no run starts
    assert gpu_check.main(argv) == 1
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["failed"] == ["alphazero", "dqn"]
    for part, words in (("alphazero", "workers"), ("dqn", "capacity")):
        entry = report["parts"][part]
        assert entry["ok"] is False
        assert words in entry["error"]
        assert f"| {part} | error |" in (tmp_path / "gpu_check.md").read_text()


def test_without_cuda_a_real_run_exits_2_naming_the_dry_run(
    gpu_check: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "GPU" in lines[0]
    assert "--dry-run" in lines[0]
    assert not (tmp_path / "out").exists()
