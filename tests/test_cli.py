"""The `rlkit` command: run, eval, list, plot, help, `python -m rlkit` and Ctrl-C + --resume."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import small_experiment

from rlkit.cli import main
from rlkit.config import dumps_toml
from rlkit.experiment import bundled_experiments, load_experiment

CHECKPOINT_NAME = re.compile(r"^step-(\d{10})\.pt$")
BUNDLED = {
    "cliffwalking_qlearning",
    "cliffwalking_sarsa",
    "frozenlake_qlearning",
    "gridworld_value_iteration",
    "taxi_qlearning",
}
TOTAL_STEPS = 3_000
SEED = 11


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """main(argv) in-process: (exit code, stdout, stderr); argparse's SystemExit counts too."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # --help and usage errors exit inside argparse
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_cli_captured(*argv: object) -> tuple[int, str, str]:
    """Like run_cli, for module-scoped fixtures (which cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def write_experiment(path: Path, **run: Any) -> Path:
    path.write_text(dumps_toml(small_experiment(**run)))
    return path


@dataclass
class FinishedRun:
    run_dir: Path
    code: int
    out: str
    err: str

    @property
    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.run_dir / "summary.json").read_text())
        return result

    def checkpoints(self) -> list[Path]:
        return sorted((self.run_dir / "checkpoints").glob("step-*.pt"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """`rlkit run FILE --logdir DIR --set ... --seed ...`, once for the module."""
    root = tmp_path_factory.mktemp("cli")
    experiment = write_experiment(root / "small.toml", total_steps=TOTAL_STEPS)
    run_dir = root / "run"
    code, out, err = run_cli_captured(
        "run", experiment, "--logdir", run_dir, "--set", "agent.learning_rate=0.3", "--seed", SEED
    )
    return FinishedRun(run_dir, code, out, err)


# --- rlkit run ------------------------------------------------------------------------------


def test_run_exits_0_with_one_summary_line(finished: FinishedRun) -> None:
    assert finished.code == 0, finished.err
    assert finished.err == ""  # progress = false: nothing on stderr
    lines = finished.out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{finished.run_dir}: {TOTAL_STEPS:,} steps")
    assert "final eval" in lines[0]


def test_run_writes_the_resolved_config_with_overrides(finished: FinishedRun) -> None:
    config = tomllib.loads((finished.run_dir / "config.toml").read_text())
    assert config["name"] == "small"
    # --set and --seed overrides
    assert config["agent"]["learning_rate"] == 0.3
    assert config["run"]["seed"] == SEED
    # values from the file
    assert config["env"]["id"] == "FrozenLake-v1"
    assert config["env"]["num_envs"] == 4
    assert config["env"]["kwargs"] == {"is_slippery": True}
    assert config["agent"]["name"] == "tabular"
    assert config["agent"]["rule"] == "q_learning"
    assert config["agent"]["epsilon"]["kind"] == "linear"
    assert config["run"]["total_steps"] == TOTAL_STEPS
    assert config["run"]["progress"] is False
    # defaults the file left out, resolved
    assert config["env"]["vectorization"] == "sync"
    assert config["agent"]["gamma"] == 0.99
    assert config["agent"]["initial_q"] == 0.0
    assert config["run"]["eval_num_envs"] == 1
    assert config["run"]["keep_checkpoints"] == 3
    # config.toml is itself a valid experiment that resolves to the same tables
    assert load_experiment(finished.run_dir / "config.toml").to_dict() == config


def test_run_writes_events_checkpoints_and_summary(finished: FinishedRun) -> None:
    assert list(finished.run_dir.glob("events.out.tfevents.*"))
    checkpoints = finished.checkpoints()
    assert checkpoints
    assert all(CHECKPOINT_NAME.match(p.name) for p in checkpoints)
    assert checkpoints[-1].name == f"step-{TOTAL_STEPS:010d}.pt"

    summary = finished.summary
    assert {"steps", "episodes", "wall_s", "final_eval"} <= set(summary)
    assert summary["steps"] == TOTAL_STEPS
    assert isinstance(summary["episodes"], int)
    assert summary["episodes"] > 0
    assert summary["wall_s"] > 0
    final = summary["final_eval"]
    assert {"episodes", "mean_return", "std_return"} <= set(final)
    assert final["episodes"] == 20  # eval_episodes of small_experiment
    assert 0.0 <= final["mean_return"] <= 1.0  # FrozenLake returns are 0 or 1
    assert final["std_return"] >= 0.0


def test_tensorboard_has_scalars_and_config_text(finished: FinishedRun) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(finished.run_dir))
    accumulator.Reload()
    tags = accumulator.Tags()
    for tag in (
        "train/episode_return",
        "train/episode_length",
        "train/steps_per_second",
        "eval/mean_return",
        "agent/epsilon",
        "agent/td_error",
    ):
        assert tag in tags["scalars"], tag
    # add_text("config", ...) is stored as a text-plugin tensor
    assert "config/text_summary" in tags["tensors"]
    text = accumulator.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert 'id = "FrozenLake-v1"' in text
    assert "learning_rate = 0.3" in text
    # the last evaluation logged is the final one in summary.json
    last_eval = accumulator.Scalars("eval/mean_return")[-1]
    assert last_eval.step == TOTAL_STEPS
    assert last_eval.value == pytest.approx(finished.summary["final_eval"]["mean_return"])


def test_run_bundled_experiment_by_name(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "gridworld_value_iteration", "--logdir", "gw")
    assert code == 0, err
    assert "Traceback" not in err
    assert out.startswith("gw: ")
    summary = json.loads((in_tmp / "gw" / "summary.json").read_text())
    config = tomllib.loads((in_tmp / "gw" / "config.toml").read_text())
    assert summary["steps"] == config["run"]["total_steps"]
    assert config["agent"]["name"] == "dp"
    assert config["env"]["id"] == "rlkit/GridWorld-v0"


def test_a_run_killed_while_writing_its_config_starts_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 during config.toml's atomic write leaves the lock and the temporary file: the
    directory holds no run, so `rlkit run --logdir` (a sweep's re-run) starts it, not refuses."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text("")
    (run_dir / ".config.toml.tmp").write_text("name = ")
    experiment = write_experiment(tmp_path / "small.toml", total_steps=500)
    code, _, err = run_cli(capsys, "run", experiment, "--logdir", run_dir)
    assert code == 0, err
    assert (run_dir / "summary.json").is_file()
    assert not (run_dir / ".config.toml.tmp").exists()


def test_progress_goes_to_the_current_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = write_experiment(tmp_path / "small.toml", total_steps=2_000, progress=True)
    code, _, err = run_cli(capsys, "run", experiment, "--logdir", tmp_path / "run")
    assert code == 0, err
    assert "100% 2,000/2,000 steps | " in err


def test_the_console_says_what_each_number_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first lines say what runs and when it evaluates; the progress line labels its
    columns; every periodic evaluation is a line; the target's first reaching is named."""
    experiment = write_experiment(
        tmp_path / "small.toml", total_steps=2_000, eval_every=500, progress=True
    )
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        capsys, "run", experiment, "--logdir", run_dir, "--set", "expect.target=0.0"
    )
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == f"small: tabular on FrozenLake-v1, 2,000 steps, seed 7 -> {run_dir}"
    assert lines[1] == (
        "  a greedy evaluation every 500 steps (20 episodes) and at the end (20); "
        "target: return >= 0"
    )
    progress = [line for line in lines if line.startswith("100% 2,000/2,000 steps | ")]
    assert len(progress) == 1
    assert re.search(
        r"\| train return \(last 100 ep\.\) [\d.]+ \| epsilon 0\.100 \| [\d,]+ steps/s",
        progress[0],
    ), progress[0]
    evals = [line for line in lines if line.startswith("eval at step ")]
    assert [line.split(":")[0] for line in evals] == [
        f"eval at step {s:,}" for s in (500, 1_000, 1_500)
    ]
    assert evals[0].endswith("(best so far); target 0 reached")  # the first eval reaches 0
    assert all("target" not in line for line in evals[1:])  # named once
    assert lines[-1].startswith("final eval at step 2,000: return ")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["target"], summary["target_met_at"]) == (0.0, 500)
    assert out.splitlines()[1] == f"{run_dir}: target return >= 0 reached at step 500"


def test_a_target_not_reached_names_the_best_evaluation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = write_experiment(tmp_path / "small.toml", total_steps=1_500)
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        capsys, "run", experiment, "--logdir", run_dir, "--set", "expect.target=2"
    )
    assert code == 0, err
    best = json.loads((run_dir / "summary.json").read_text())["best_eval"]
    assert out.splitlines()[1] == (
        f"{run_dir}: target return >= 2 not reached: best eval {best['mean_return']:.3f} "
        f"(step {best['step']:,})"
    )


def test_target_met_is_recovered_from_an_older_checkpoints_history() -> None:
    """Checkpoints written before Counters.target_met existed resume knowing when the target
    was first reached (else a later evaluation would announce it again, at the wrong step)."""
    from rlkit.training.session import Counters, target_met

    history = [(500, 0.1), (1_000, 0.6), (1_500, 0.7)]
    counters = Counters(history=[{"step": s, "mean_return": r} for s, r in history])
    assert target_met(counters, 0.5) == 1_000
    assert target_met(counters, 0.9) is None
    assert target_met(counters, None) is None
    counters.target_met = 1_500
    assert target_met(counters, 0.5) == 1_500  # the record, where there is one


WARM_UP_CASES = [
    # DQN: replay holds 100 transitions at step 100, then 10 more steps: first update at 109
    ("cartpole_dqn", ["agent.learning_starts=100", "agent.train_frequency=10"], 108, True),
    ("cartpole_dqn", ["agent.learning_starts=100", "agent.train_frequency=10"], 109, False),
    # PPO: one rollout of 32 steps x 8 envs; a budget of 249 runs to step 256, so it learns
    ("cartpole_ppo", [], 248, True),
    ("cartpole_ppo", [], 249, False),
]


@pytest.mark.parametrize(("name", "settings", "total", "warned"), WARM_UP_CASES)
def test_a_run_that_cannot_learn_is_warned_once(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    settings: list[str],
    total: int,
    warned: bool,
) -> None:
    """The warning comes exactly when no learning update happens (no agent/ metric logged),
    once, even with the progress line off, naming the settings."""
    from rlkit.plot import read_scalars

    overrides = [*settings, f"run.total_steps={total}", "run.progress=false", "run.eval_every=0"]
    run_dir = tmp_path / "run"
    sets = [arg for value in overrides for arg in ("--set", value)]
    code, _, err = run_cli(capsys, "run", name, "--logdir", run_dir, *sets)
    assert code == 0, err
    learned = any(read_scalars(run_dir, tag)[0].size for tag in ("agent/loss", "agent/entropy"))
    assert learned != warned
    if not warned:
        assert err == ""
        return
    [line] = err.splitlines()
    assert line.startswith("rlkit: warning: the agent learns nothing in this run: its first ")
    first = {"cartpole_dqn": "109", "cartpole_ppo": "256"}[name]
    assert f"comes at env step {first} at the earliest" in line
    assert f"after run.total_steps = {total}; raise --set run.total_steps" in line
    assert ("agent.learning_starts = 100" if name == "cartpole_dqn" else "agent.n_steps") in line


# --- rlkit eval -----------------------------------------------------------------------------


def test_eval_json_replays_the_final_evaluation(
    finished: FinishedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "eval", finished.run_dir, "--checkpoint", "final", "--json")
    assert code == 0, err
    newest = finished.checkpoints()[-1].name
    which = f"{finished.run_dir}: evaluating checkpoints/{newest}, the agent as training left it"
    assert err == which + "\n"  # on stderr: stdout stays one JSON object
    assert len(out.splitlines()) == 1
    assert json.loads(out) == finished.summary["final_eval"]  # exactly, not approximately


def test_eval_defaults_to_the_best_checkpoint(
    finished: FinishedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    best = finished.summary["best_eval"]
    evaluations = finished.summary["evaluations"]  # the periodic ones, then the final one
    first_best = max(evaluations, key=lambda e: e["mean_return"])  # max keeps the first of ties
    assert best["step"] == first_best["step"]
    assert best["mean_return"] == first_best["mean_return"]
    code, out, err = run_cli(capsys, "eval", finished.run_dir, "--json")
    assert code == 0, err
    assert "evaluating checkpoints/best.pt, the agent of the best evaluation" in err
    assert f"(step {best['step']:,}: mean return {best['mean_return']:.3f}" in err
    again = run_cli(capsys, "eval", finished.run_dir, "--checkpoint", "best", "--json")
    assert again[1] == out  # the default is best.pt
    oldest = finished.checkpoints()[0]
    by_path = run_cli(capsys, "eval", finished.run_dir, "--checkpoint", oldest)
    assert by_path[1].splitlines()[0] == f"{finished.run_dir}: evaluating {oldest}"


def test_eval_episodes_and_seed(finished: FinishedRun, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("eval", finished.run_dir, "--episodes", 5, "--seed", 1, "--json")
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    result = json.loads(out)
    assert result["episodes"] == 5
    assert {"mean_return", "std_return"} <= set(result)
    assert json.loads(run_cli(capsys, *argv)[1]) == result  # seeded: reproducible


def test_eval_checkpoint_file(finished: FinishedRun, capsys: pytest.CaptureFixture[str]) -> None:
    newest, oldest = finished.checkpoints()[-1], finished.checkpoints()[0]
    code, out, err = run_cli(capsys, "eval", newest, "--json")
    assert code == 0, err
    assert json.loads(out) == finished.summary["final_eval"]

    code, out, err = run_cli(capsys, "eval", oldest, "--json")
    assert code == 0, err
    assert json.loads(out)["episodes"] == finished.summary["final_eval"]["episodes"]


def test_eval_without_json_prints_one_human_line(
    finished: FinishedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "eval", finished.run_dir, "--checkpoint", "final")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2  # which checkpoint, then its result
    final = finished.summary["final_eval"]
    assert lines[0].startswith(f"{finished.run_dir}: evaluating checkpoints/step-")
    assert lines[1].startswith(str(finished.run_dir))
    assert f"mean return {final['mean_return']:.3f}" in lines[1]
    assert f"over {final['episodes']} episodes" in lines[1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


# --- rlkit list, plot, help, python -m rlkit -------------------------------------------------


def _check_list_output(out: str) -> None:
    """Experiments first (every bundled one), then agents, then environments."""
    heads = [line.split(":")[0] for line in out.splitlines() if line.isupper() or ":" in line]
    order = [h for h in heads if h in ("EXPERIMENTS", "AGENTS", "ENVIRONMENTS")]
    assert order == ["EXPERIMENTS", "AGENTS", "ENVIRONMENTS"]
    names = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert set(bundled_experiments()) <= names
    assert names >= BUNDLED
    assert {"tabular", "dp", "dqn", "ppo", "ga", "uct", "alphazero"} <= names
    assert "CartPole-v1," in out
    assert "rlkit/GridWorld-v0," in out
    assert "Pong," in out


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "list")
    assert code == 0, err
    assert err == ""
    _check_list_output(out)


def test_python_m_rlkit_list(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rlkit", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    _check_list_output(proc.stdout)


def test_plot_two_runs_writes_a_png(
    finished: FinishedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import matplotlib.image

    experiment = write_experiment(tmp_path / "small.toml", total_steps=2_000, checkpoint_every=0)
    other = tmp_path / "other-seed"
    code, _, err = run_cli(capsys, "run", experiment, "--logdir", other, "--seed", SEED + 1)
    assert code == 0, err
    png = tmp_path / "plots" / "curves.png"
    code, out, err = run_cli(capsys, "plot", finished.run_dir, other, "--out", png)
    assert code == 0, err
    assert out.strip() == f"wrote {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.ndim == 3
    assert image.shape[0] > 0
    assert image.shape[1] > 0


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("run", "eval", "list", "plot"):
        assert command in out
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0
    for option in ("--set", "--seed", "--logdir", "--resume"):
        assert option in out


# --- Ctrl-C and --resume ----------------------------------------------------------------------


def _wait_for(
    folder: Path, pattern: str, proc: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while not any(folder.glob(pattern)):
        if proc.poll() is not None:
            pytest.fail(f"rlkit exited early ({proc.returncode}): {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {folder / pattern} within {timeout} s")
        time.sleep(0.05)


def test_ctrl_c_checkpoints_and_resume_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = write_experiment(
        tmp_path / "long.toml", total_steps=2_000_000, checkpoint_every=0, eval_every=0
    )
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlkit", "run", str(experiment), "--logdir", str(run_dir)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(run_dir, "config.toml", proc)
        # the event file is created just before the Ctrl-C handler is installed (a Ctrl-C
        # earlier than that is a plain KeyboardInterrupt: see rlkit/training/session.py)
        _wait_for(run_dir, "events.out.tfevents.*", proc)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "--resume" in stderr
    assert str(run_dir) in stderr
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*.pt"))
    assert len(checkpoints) == 1  # checkpoint_every = 0: only the one Ctrl-C saved
    assert checkpoints[0].name in stderr
    match = CHECKPOINT_NAME.match(checkpoints[0].name)
    assert match
    step = int(match.group(1))
    assert 0 < step < 2_000_000
    assert not (run_dir / "summary.json").exists()

    total = step + 2_000
    code, out, err = run_cli(
        capsys, "run", "--resume", run_dir, "--set", f"run.total_steps={total}"
    )
    assert code == 0, err
    assert out.startswith(f"{run_dir}: {total:,} steps")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == total
