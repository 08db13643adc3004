"""`rlkit sweep` (processes and a real local Ray instance), `rlkit report` and `rlkit plot` of a
sweep directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import small_experiment

from rlkit.cli import main
from rlkit.config import dumps_toml

TIMING = ("wall_s", "steps_per_second")
GRID = "agent.learning_rate=0.1,0.5"
CONFIGS = ("agent.learning_rate=0.1", "agent.learning_rate=0.5")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exp") / "small.toml"
    path.write_text(dumps_toml(small_experiment(progress=False)))
    return path


def sweep_cli(*argv: object) -> subprocess.CompletedProcess[str]:
    """`python -m rlkit ARGV` in a fresh process (the sweep's own runs are processes too)."""
    return subprocess.run(
        [sys.executable, "-m", "rlkit", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def results(root: Path) -> dict[str, dict[str, Any]]:
    """Every run's summary.json less its timing, by 'config/seed-s'."""
    found = {}
    for path in sorted(root.glob("*/seed-*/summary.json")):
        summary = json.loads(path.read_text())
        found[f"{path.parent.parent.name}/{path.parent.name}"] = {
            k: v for k, v in summary.items() if k not in TIMING
        }
    return found


@pytest.fixture(scope="module")
def swept(experiment: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 learning rates x 2 seeds, uninterrupted, 2 at a time."""
    root = tmp_path_factory.mktemp("sweeps") / "straight"
    done = sweep_cli("sweep", experiment, "--seeds", "0-1", "--grid", GRID, "--workers", 2,
                     "--logdir", root)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


def test_each_run_is_an_ordinary_run_directory(
    swept: Path, experiment: Path, tmp_path: Path
) -> None:
    assert sorted(results(swept)) == [f"{c}/seed-{s}" for c in CONFIGS for s in (0, 1)]
    # the same settings through `rlkit run` give the same run
    single = tmp_path / "single"
    assert main(["run", str(experiment), "--set", "agent.learning_rate=0.5", "--seed", "1",
                 "--logdir", str(single)]) == 0  # fmt: skip
    alone = json.loads((single / "summary.json").read_text())
    assert results(swept)["agent.learning_rate=0.5/seed-1"] == {
        k: v for k, v in alone.items() if k not in TIMING
    }
    assert main(["eval", str(swept / CONFIGS[0] / "seed-0"), "--episodes", "3"]) == 0


def test_the_live_view_and_a_rerun_skips_finished_runs(swept: Path, experiment: Path) -> None:
    logs = {p: p.read_text() for p in (swept / "logs").iterdir()}
    before = {p: p.stat().st_mtime_ns for p in swept.glob("*/seed-*/summary.json")}
    again = sweep_cli("sweep", experiment, "--seeds", "0-1", "--grid", GRID, "--logdir", swept)
    assert again.returncode == 0, again.stderr
    assert f"sweep {swept}: 4/4 done, 0 running, 0 failed" in again.stderr
    assert "best so far agent.learning_rate=" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in swept.glob("*/seed-*/summary.json")} == before
    assert {p: p.read_text() for p in (swept / "logs").iterdir()} == logs  # nothing ran


def test_kill_9_mid_sweep_then_rerun_equals_an_uninterrupted_sweep(
    swept: Path, experiment: Path, tmp_path: Path
) -> None:
    root = tmp_path / "killed"
    command = [sys.executable, "-m", "rlkit", "sweep", str(experiment), "--seeds", "0-1",
               "--grid", GRID, "--workers", "2", "--logdir", str(root)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(root.glob("*/seed-*/checkpoints/step-*.pt")):
        assert time.monotonic() < deadline, "no run checkpointed within 2 minutes"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(results(root)) < 4  # killed mid-way
    rerun = sweep_cli(*command[3:])
    assert rerun.returncode == 0, rerun.stderr  # no orphan holds a run's lock
    assert results(root) == results(swept)
    resumed = [p for p in (root / "logs").iterdir() if "--resume" in p.read_text()]
    assert resumed, "an interrupted run was resumed from its checkpoints"


def test_ctrl_c_stops_each_run_at_a_checkpoint_and_a_rerun_finishes(
    swept: Path, experiment: Path, tmp_path: Path
) -> None:
    """SIGINT to the sweep alone (a terminal's Ctrl-C: the runs sit in process groups of their
    own): each running run gets one SIGINT, checkpoints and stops; the re-run resumes them."""
    root = tmp_path / "ctrl-c"
    command = [sys.executable, "-m", "rlkit", "sweep", str(experiment), "--seeds", "0-1",
               "--grid", GRID, "--workers", "2", "--logdir", str(root)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(root.glob("*/seed-*/checkpoints/step-*.pt")):
        assert time.monotonic() < deadline, "no run checkpointed within 2 minutes"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "sweep: interrupted; the running runs stopped at their checkpoints" in err
    stopped = [p for p in (root / "logs").iterdir() if "checkpoint saved to" in p.read_text()]
    assert stopped, "a running run was stopped with a checkpoint (not aborted)"
    assert all("Traceback" not in p.read_text() for p in (root / "logs").iterdir())
    rerun = sweep_cli(*command[3:])
    assert rerun.returncode == 0, rerun.stderr
    assert results(root) == results(swept)


def test_a_failing_run_is_reported_and_the_others_finish(experiment: Path, tmp_path: Path) -> None:
    root = tmp_path / "failing"
    grid = "env.kwargs={is_slippery=true},{is_slippery=true,no_such_kwarg=1}"
    done = sweep_cli("sweep", experiment, "--seeds", "0", "--grid", grid, "--logdir", root)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "failed:" in line]
    assert len(lines) == 2, done.stderr  # the run's error, then the sweep's summary
    assert "no_such_kwarg" in lines[0]
    assert lines[1].startswith("sweep: 1 of 2 runs failed: ")
    assert "seed-0" in lines[1]
    assert len(results(root)) == 1  # the other run finished


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--seeds", "0-1", "--set", "agent.no_such_key=1"), "no_such_key"),
        (("--seeds", "3-1"), "seeds '3-1'"),
        (("--seeds", "0", "--grid", "agent.learning_rate"), "--grid 'agent.learning_rate'"),
        (("--seeds", "0", "--grid", "agent.learning_rate=0.1,"), "value1,value2"),
        (("--seeds", "0", "--grid", "agent.no_such_key=1,2"), "no_such_key"),
        (("--seeds", "0", "--set", "run.seed=3"), "use --seeds"),
        (("--seeds", "0", "--workers", "0"), "--workers must be >= 1"),
        (("--seeds", "0", "--ray-address", "127.0.0.1:9"), "--ray-address needs --backend ray"),
        (
            ("--seeds", "0", "--backend", "ray", "--ray-address", "127.0.0.1:9"),
            "--ray-address: no Ray cluster answers at 127.0.0.1:9",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    experiment: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    root = tmp_path / "sweep"
    started = time.monotonic()
    capsys.readouterr()
    code = main(["sweep", str(experiment), *argv, "--logdir", str(root)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert message in err
    assert not root.exists()
    assert time.monotonic() - started < 10  # an unreachable cluster is not waited for


def test_a_sweep_directory_of_another_sweep_is_refused(
    swept: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(dumps_toml(small_experiment(total_steps=2_000, progress=False)))
    before = sorted(p.name for p in swept.iterdir())
    code = main(["sweep", str(other), "--seeds", "0", "--logdir", str(swept)])
    assert code == 2
    assert "holds a sweep of another experiment" in capsys.readouterr().err
    assert sorted(p.name for p in swept.iterdir()) == before


# --- rlkit report and rlkit plot on a sweep --------------------------------------------------


def fake_sweep(root: Path, finals: dict[str, list[float]]) -> Path:
    """A sweep directory whose runs' summaries hold the given final evaluation means."""
    (root / "sweep.toml").parent.mkdir(parents=True)
    (root / "sweep.toml").write_text('overrides = []\n[experiment]\nname = "x"\n')
    for config, values in finals.items():
        (root / config).mkdir()
        (root / config / "experiment.toml").write_text(dumps_toml(small_experiment()))
        for seed, value in enumerate(values):
            run = root / config / f"seed-{seed}"
            run.mkdir()
            summary = {
                "final_eval": {"mean_return": value},
                "best_eval": {"mean_return": value + 1.0},
            }
            (run / "summary.json").write_text(json.dumps(summary))
    return root


def test_report_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_sweep(tmp_path / "s", {"a": [1, 2, 3, 4, 100, 0, 2, 3], "b": [2, 2, 2, 2]})
    capsys.readouterr()
    assert main(["report", str(root), "--json", "--target", "3", "--reps", "2000"]) == 0
    data = json.loads(capsys.readouterr().out)
    a, b = data["configs"]["a"], data["configs"]["b"]
    assert a["iqm"]["value"] == 2.5  # sorted 0 1 2 2 3 3 4 100: the middle four 2 2 3 3
    assert b["iqm"]["value"] == 2.0
    assert a["iqm"]["ci95"][0] <= 2.5 <= a["iqm"]["ci95"][1]
    assert a["final"]["mean"] == pytest.approx(115 / 8)
    assert a["best"]["mean"] == pytest.approx(115 / 8 + 1)
    # optimality gap at 3: mean(min(x, 3)) = (1 + 2 + 3 + 3 + 3 + 0 + 2 + 3) / 8
    assert a["optimality_gap"]["value"] == pytest.approx(3 - 17 / 8)
    profile = {p["tau"]: p["fraction_above"] for p in a["performance_profile"]}
    assert profile == {0.75: 7 / 8, 1.5: 6 / 8, 2.25: 4 / 8, 3.0: 2 / 8}
    # P(a > b): a's 8 runs against b's four 2s: above 2: 3, 4, 100, 3 (4 runs); equal: 2 of them
    [pair] = data["probability_of_improvement"]
    assert (pair["x"], pair["y"]) == ("a", "b")
    assert pair["p_x_over_y"] == pytest.approx((4 + 0.5 * 2) / 8)
    assert main(["report", str(root)]) == 0
    text = capsys.readouterr().out
    assert "a: 8/8 runs finished" in text
    assert "IQM 2.500 [" in text
    assert "P(a > b) = 0.625 [" in text


def test_profile_thresholds_run_from_the_lowest_score_to_a_negative_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fake_sweep(tmp_path / "s", {"a": [-300, -200, -100, -50]})
    capsys.readouterr()
    assert main(["report", str(root), "--json", "--target", "-100", "--reps", "500"]) == 0
    row = json.loads(capsys.readouterr().out)["configs"]["a"]
    profile = {p["tau"]: p["fraction_above"] for p in row["performance_profile"]}
    assert profile == {-250.0: 0.75, -200.0: 0.5, -150.0: 0.5, -100.0: 0.25}
    # optimality gap at -100: -100 - mean(-300, -200, -100, -100)
    assert row["optimality_gap"]["value"] == pytest.approx(-100 + 175)


def test_report_and_plot_of_a_real_sweep(swept: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", str(swept), "--json", "--reps", "1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["configs"]) == set(CONFIGS)
    assert all(row["finished"] == 2 for row in data["configs"].values())
    out = swept / "sweep.png"
    assert main(["plot", str(swept), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert main(["report", str(swept / CONFIGS[0])]) == 2  # not a sweep directory


# --- the Ray backend against a real local Ray instance ---------------------------------------


RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
"""Ray >= 2.59 starts local clusters with token authentication: the head and the sweep agree."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ray start --head` on loopback (2 CPUs), stopped after the module."""
    pytest.importorskip("ray")
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = RAY_ENV
    start = [ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}"]  # fmt: skip
    subprocess.run(start, check=True, capture_output=True, env=env, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_ray_backend_equals_processes_and_retries_a_crashed_worker(
    ray_head: str, swept: Path, experiment: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ray"
    command = [sys.executable, "-m", "rlkit", "sweep", str(experiment), "--seeds", "0-1",
               "--grid", GRID, "--backend", "ray", "--ray-address", ray_head,
               "--logdir", str(root)]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=RAY_ENV
    )
    # kill -9 the Ray worker of the first run to checkpoint: its run dies with it
    deadline = time.monotonic() + 180
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, "no run checkpointed on Ray within 3 minutes"
        for run_dir in root.glob("*/seed-*"):
            if (
                list(run_dir.glob("checkpoints/step-*.pt"))
                and not (run_dir / "summary.json").exists()
            ):
                victim = run_dir
                break
        time.sleep(0.05)
    pid = int(json.loads((victim / ".lock").read_text())["pid"])
    worker = int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])
    os.kill(worker, signal.SIGKILL)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert results(root) == results(swept)
    log = (root / "logs" / f"{victim.parent.name}.seed-{victim.name[5:]}.log").read_text()
    assert f"--resume {victim}" in log  # Ray's retry resumed the run from its checkpoint
