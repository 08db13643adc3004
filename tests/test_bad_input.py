"""Bad input: one `rlkit: error:` line on stderr, exit code 2, and nothing saved is touched."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
from helpers import small_experiment

from rlkit.cli import main
from rlkit.config import dumps_toml

TOTAL_STEPS = 4_000
NEWEST = f"step-{TOTAL_STEPS:010d}.pt"

Snapshot = dict[str, tuple[bytes, int]]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """main(argv) in-process: (exit code, stdout, stderr); argparse's SystemExit counts too."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # usage errors exit inside argparse
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code: int, out: str, err: str, *words: str) -> str:
    """Exit 2, nothing on stdout, one stderr line without a traceback that has all `words`."""
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def assert_one_error_line(code: int, out: str, err: str, *words: str) -> str:
    """assert_usage_error, and the line starts with 'rlkit: error:'."""
    line = assert_usage_error(code, out, err, *words)
    assert line.startswith("rlkit: error:"), line
    return line


def snapshot(root: Path) -> Snapshot:
    """Bytes and mtime of every file under `root`."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_untouched(before: Snapshot, root: Path) -> None:
    """Every file of `before` is still there with the same bytes and mtime."""
    after = snapshot(root)
    for name, (data, mtime) in before.items():
        assert name in after, f"{name} was removed"
        assert after[name][0] == data, f"{name} was modified"
        assert after[name][1] == mtime, f"{name} was rewritten"


def assert_same_tree(before: Snapshot, root: Path) -> None:
    """Nothing under `root` was changed, removed or added."""
    assert_untouched(before, root)
    assert set(snapshot(root)) == set(before), "files were added"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run (checkpoints at 2000, 3000 and 4000 steps), shared by the module."""
    root = tmp_path_factory.mktemp("finished")
    experiment = root / "small.toml"
    experiment.write_text(dumps_toml(small_experiment(total_steps=TOTAL_STEPS)))
    run_dir = root / "run"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(experiment), "--logdir", str(run_dir)]) == 0
    assert len(list((run_dir / "checkpoints").glob("step-*.pt"))) == 3
    return run_dir


@pytest.fixture
def run_copy(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run, free to damage."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(os.urandom(len(data)))


# --- bad experiment files and --set -------------------------------------------------------------


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *tables, key = dotted.split(".")
        node = data
        for table in tables:
            node = node[table]
        node[key] = value

    return edit


BAD_EXPERIMENTS = [
    pytest.param(
        _set("agent.name", "tabulr"),
        [],
        ["agent.name", "'tabulr'", "did you mean 'tabular'", "registered agents: ", "dp, "],
        id="unknown-agent",
    ),
    pytest.param(
        _set("env.id", "FrozenLake-v9"),
        [],
        ["env.id", "'FrozenLake-v9'", "did you mean 'FrozenLake-v1'", "rlkit list"],
        id="unknown-env-version",
    ),
    pytest.param(
        _set("env", {"id": "CartPol-v1"}),
        [],
        ["env.id", "'CartPol-v1'", "'CartPole-v1'"],
        id="unknown-env-typo",
    ),
    pytest.param(
        _set("agent.learning_rat", 0.1),
        [],
        ["agent.learning_rat", "unknown key", "did you mean 'learning_rate'", "valid keys:"],
        id="key-typo-in-file",
    ),
    pytest.param(
        None,
        ["--set", "run.total_step=5"],
        ["run.total_step", "unknown key", "did you mean 'total_steps'", "valid keys:"],
        id="key-typo-in-set",
    ),
    pytest.param(
        None,
        ["--set", 'run.total_steps="ten"'],
        ["run.total_steps", "'ten'", "expected an integer"],
        id="wrong-type",
    ),
    pytest.param(
        None,
        ["--set", 'agent.epsilon.kind="linaer"'],
        ["agent.epsilon.kind", "'linaer'", "did you mean 'linear'", "'constant'", "'exponential'"],
        id="bad-choice",
    ),
    pytest.param(
        _set("run.total_steps", 0),
        [],
        ["total_steps", "must be >= 1", "got 0"],
        id="out-of-range-in-file",
    ),
    pytest.param(
        None,
        ["--set", "run.total_steps=0"],
        ["total_steps", "must be >= 1", "got 0"],
        id="out-of-range-in-set",
    ),
    pytest.param(
        None,
        ["--set", "run.total_steps"],
        ["--set", "'run.total_steps'", "expected section.key=value"],
        id="set-without-equals",
    ),
    pytest.param(
        _set("env", {"id": "CartPole-v1"}),
        [],
        ["'tabular'", "CartPole-v1", "Discrete observations"],
        id="tabular-on-cartpole",
    ),
    pytest.param(
        lambda data: (
            _set("env", {"id": "CartPole-v1"})(data),
            _set("agent", {"name": "dp"})(data),
        ),
        [],
        ["'dp'", "CartPole-v1", "known transition table", "FrozenLake-v1"],
        id="dp-on-cartpole",
    ),
    pytest.param(
        _set("env.kwargs", {"map_nam": "4x4"}),
        [],
        ["env.kwargs.map_nam", "FrozenLake-v1", "did you mean 'map_name'", "is_slippery"],
        id="bad-env-kwarg",
    ),
]


def _write_bad_experiment(path: Path, edit: Callable[[dict[str, Any]], Any] | None) -> None:
    data = small_experiment(total_steps=2_000)
    if edit is not None:
        edit(data)
    path.write_text(dumps_toml(data))


@pytest.mark.parametrize(("edit", "extra", "words"), BAD_EXPERIMENTS)
def test_bad_experiment(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict[str, Any]], Any] | None,
    extra: list[str],
    words: list[str],
) -> None:
    experiment = in_tmp / "bad.toml"
    _write_bad_experiment(experiment, edit)
    before = snapshot(in_tmp)
    code, out, err = run_cli(capsys, "run", experiment, "--logdir", "out", *extra)
    assert_one_error_line(code, out, err, *words)
    assert_untouched(before, in_tmp)
    assert not (in_tmp / "out" / "checkpoints").exists()
    assert not (in_tmp / "out" / "summary.json").exists()


@pytest.mark.parametrize(
    ("edit", "extra"), [pytest.param(*p.values[:2], id=p.id) for p in BAD_EXPERIMENTS]
)
def test_bad_experiment_leaves_no_run_directory(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict[str, Any]], Any] | None,
    extra: list[str],
) -> None:
    experiment = in_tmp / "bad.toml"
    _write_bad_experiment(experiment, edit)
    before = snapshot(in_tmp)
    code, _, err = run_cli(capsys, "run", experiment, "--logdir", "out", *extra)
    assert code == 2, err
    assert_same_tree(before, in_tmp)
    assert not (in_tmp / "out").exists()


def test_invalid_toml(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = in_tmp / "broken.toml"
    experiment.write_text('name = "broken"\n[env\nid = "FrozenLake-v1"\n')
    before = snapshot(in_tmp)
    code, out, err = run_cli(capsys, "run", experiment, "--logdir", "out")
    assert_one_error_line(code, out, err, "broken.toml", "invalid TOML", "line 2")
    assert_same_tree(before, in_tmp)


def test_unknown_experiment_name(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "taxi_qlearnin")
    assert_one_error_line(
        code, out, err, "unknown experiment 'taxi_qlearnin'", "did you mean 'taxi_qlearning'"
    )
    bundled = err.partition("bundled: ")[2]
    assert "gridworld_value_iteration, " in bundled
    assert "taxi_qlearning" in bundled
    assert list(in_tmp.iterdir()) == []  # no runs/ directory


class _NoTableEnv(gym.Env[Any, Any]):
    """Discrete spaces but no transition table `P`."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Discrete(3)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        return 0, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        return 0, 0.0, True, False, {}


@pytest.fixture
def no_table_env() -> Iterator[str]:
    env_id = "rlkit_test/NoTable-v0"
    gym.register(env_id, entry_point=lambda **kwargs: _NoTableEnv())
    yield env_id
    del gym.registry[env_id]


def test_dp_without_transition_table(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], no_table_env: str
) -> None:
    data = small_experiment(total_steps=2_000)
    data["env"] = {"id": no_table_env}
    data["agent"] = {"name": "dp"}
    (in_tmp / "dp.toml").write_text(dumps_toml(data))
    code, out, err = run_cli(capsys, "run", "dp.toml", "--logdir", "out")
    assert_one_error_line(
        code, out, err, "'dp'", "known transition table", "FrozenLake-v1", no_table_env
    )


def test_bad_env_kwarg_value(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = in_tmp / "bad.toml"
    _write_bad_experiment(experiment, _set("env.kwargs", {"map_name": "5x5"}))
    code, out, err = run_cli(capsys, "run", experiment, "--logdir", "out")
    assert_one_error_line(code, out, err, "env.kwargs", "map_name", "5x5")


# --- rlkit eval -----------------------------------------------------------------------------


def test_eval_missing_directory(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "eval", "does-not-exist")
    assert_one_error_line(
        code, out, err, "does-not-exist", "neither a run directory nor a checkpoint file"
    )
    assert not (in_tmp / "does-not-exist").exists()


def test_eval_run_without_checkpoints(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(run_copy / "checkpoints")
    before = snapshot(run_copy)
    code, out, err = run_cli(capsys, "eval", run_copy)
    assert_one_error_line(code, out, err, str(run_copy), "no checkpoints/step-*.pt")
    assert_same_tree(before, run_copy)


@pytest.mark.parametrize("how", ["truncate", "random"])
@pytest.mark.parametrize("target", ["run-dir", "checkpoint-file"])
def test_eval_corrupt_checkpoint(
    run_copy: Path, capsys: pytest.CaptureFixture[str], how: str, target: str
) -> None:
    newest = run_copy / "checkpoints" / NEWEST
    corrupt(newest, how)
    before = snapshot(run_copy)
    argv = (run_copy, "--checkpoint", "final") if target == "run-dir" else (newest,)
    code, out, err = run_cli(capsys, "eval", *argv)
    assert_one_error_line(
        code, out, err, str(newest), "corrupt or not an rlkit checkpoint", "earlier"
    )
    assert_same_tree(before, run_copy)  # the corrupt file and the others byte-identical


# --- rlkit run into an existing directory, rlkit run --resume ------------------------------


def test_run_into_existing_directory(
    run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = tmp_path / "small.toml"
    experiment.write_text(dumps_toml(small_experiment(total_steps=2_000)))
    before = snapshot(run_copy)
    code, out, err = run_cli(capsys, "run", experiment, "--logdir", run_copy)
    assert_one_error_line(code, out, err, str(run_copy), "already exists", "--resume")
    assert_same_tree(before, run_copy)


def test_resume_corrupt_newest_checkpoint(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt(run_copy / "checkpoints" / NEWEST, "truncate")
    before = snapshot(run_copy)
    code, out, err = run_cli(
        capsys, "run", "--resume", run_copy, "--set", f"run.total_steps={TOTAL_STEPS + 2_000}"
    )
    assert_one_error_line(code, out, err, NEWEST, "corrupt")
    assert_same_tree(before, run_copy)  # summary.json, config.toml, checkpoints, events


def test_resume_finished_run_without_more_steps(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run_copy)
    code, out, err = run_cli(capsys, "run", "--resume", run_copy)
    assert_one_error_line(
        code, out, err, "already reached", f"run.total_steps={TOTAL_STEPS}", "--set"
    )
    assert_same_tree(before, run_copy)


def test_resume_cannot_change_agent_config(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run_copy)
    code, out, err = run_cli(
        capsys,
        "run",
        "--resume",
        run_copy,
        "--set",
        f"run.total_steps={TOTAL_STEPS + 2_000}",
        "--set",
        "agent.learning_rate=0.5",
    )
    assert_one_error_line(
        code, out, err, "agent.learning_rate", "cannot change when resuming", "run.total_steps"
    )
    assert_same_tree(before, run_copy)


def test_resume_missing_directory(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "--resume", "nope")
    assert_one_error_line(code, out, err, "nope", "no such run directory")
    assert list(in_tmp.iterdir()) == []


# --- argparse-level misuse --------------------------------------------------------------------


def test_run_without_experiment(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run")
    assert_one_error_line(code, out, err, "EXPERIMENT", "--resume")
    assert list(in_tmp.iterdir()) == []


def test_eval_zero_episodes(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(finished)
    code, out, err = run_cli(capsys, "eval", finished, "--episodes", 0)
    assert_one_error_line(code, out, err, "--episodes", "must be >= 1", "got 0")
    assert_same_tree(before, finished)


SUBPARSER_MISUSE = [
    pytest.param(("eval",), ["RUN_DIR", "--game", "--player1"], id="eval-no-target"),
    pytest.param(
        ("eval", "RUN", "--episodes", "abc"), ["--episodes", "invalid int", "'abc'"], id="eval-abc"
    ),
    pytest.param(("plot",), ["required", "RUN_DIR|SWEEP_DIR"], id="plot-no-dirs"),
    pytest.param(("sweep", "taxi_qlearning"), ["required", "--seeds"], id="sweep-no-seeds"),
]


@pytest.mark.parametrize(("argv", "words"), SUBPARSER_MISUSE)
def test_subcommand_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: list[str]
) -> None:
    code, out, err = run_cli(capsys, *argv)
    line = assert_usage_error(code, out, err, *words)
    assert line.startswith("rlkit")
    assert ": error: " in line


@pytest.mark.parametrize(("argv", "words"), SUBPARSER_MISUSE)
def test_subcommand_usage_errors_use_the_rlkit_prefix(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: list[str]
) -> None:
    assert_one_error_line(*run_cli(capsys, *argv), *words)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        pytest.param((), ["required", "command"], id="no-command"),
        pytest.param(("bogus",), ["invalid choice", "'bogus'", "'run'"], id="unknown-command"),
        pytest.param(("run", "--bogus"), ["unrecognized arguments", "--bogus"], id="bad-option"),
    ],
)
def test_top_level_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: list[str]
) -> None:
    assert_one_error_line(*run_cli(capsys, *argv), *words)


@pytest.mark.parametrize("agent", ["dqn", "ga"])
def test_nature_cnn_on_vector_observations_is_one_line(
    agent: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(
        capsys,
        "run",
        "cartpole_dqn" if agent == "dqn" else "cartpole_ga",
        "--set",
        'agent.network="nature_cnn"',
        "--logdir",
        tmp_path / "run",
    )
    assert_one_error_line(code, out, err, "nature_cnn", "(4,)", "mlp")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("agent.minibatches=3", ("agent.minibatches", "not a multiple of minibatches = 3")),
        ("agent.clip_range=0", ("clip_range must be > 0",)),
        ("env.id=FrozenLake-v1", ("'ppo'", "Box observations")),
    ],
)
def test_ppo_bad_settings_are_one_line(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], setting: str, words: tuple[str, ...]
) -> None:
    code, out, err = run_cli(capsys, "run", "cartpole_ppo", "--set", setting, "--logdir", "run")
    assert_one_error_line(code, out, err, *words)
    assert not Path("run").exists()


BAD_VALUES = [
    pytest.param(
        "cartpole_dqn", ["--set", "agent.learning_rate=inf"],
        ["agent.learning_rate: inf is not a finite number"], id="inf-learning-rate",
    ),
    pytest.param(
        "cartpole_ppo", ["--set", "run.target_return=nan"],
        ["run.target_return: nan is not a finite number"], id="nan-target",
    ),
    pytest.param(
        "cartpole_dqn", ["--set", "agent.batch_size=100000000"],
        ["agent.batch_size must be <= replay.capacity", "100,000,000"], id="batch-over-replay",
    ),
    pytest.param(
        "breakout_ppo", ["--set", "agent.n_steps=100000000"],
        ["agent.n_steps=100,000,000 x env.num_envs=8", "GB of memory is available"],
        id="rollout-over-memory",
    ),
    pytest.param(
        "cartpole_dqn", ["--set", 'env.kwargs={render_mode="human"}'],
        ["env.kwargs.render_mode: 'human' would draw every env on a screen"], id="human-render",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "extra", "words"), BAD_VALUES)
def test_bad_values_are_refused_before_the_run_starts(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], name: str, extra: list[str], words: list[str]
) -> None:
    before = snapshot(in_tmp)
    code, out, err = run_cli(capsys, "run", name, "--logdir", "out", *extra)
    assert_one_error_line(code, out, err, *words)
    assert_same_tree(before, in_tmp)
    assert not (in_tmp / "out").exists()


def test_an_experiment_file_that_is_not_utf8_text(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = in_tmp / "binary.toml"
    experiment.write_bytes(b'name = "x"\n\xff\xfe\x00\x01')
    before = snapshot(in_tmp)
    code, out, err = run_cli(capsys, "run", experiment, "--logdir", "out")
    assert_one_error_line(code, out, err, "binary.toml: not a UTF-8 text file", "0xff", "11")
    assert_same_tree(before, in_tmp)


@pytest.mark.parametrize(
    ("env_id", "module", "extra"),
    [
        ("LunarLander-v3", "Box2D", "gymnasium[box2d]"),
        ("HalfCheetah-v5", "mujoco", "gymnasium[mujoco]"),
    ],
)
def test_an_env_whose_optional_dependency_is_missing_names_the_extra(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], env_id: str, module: str, extra: str
) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    code, out, err = run_cli(capsys, "run", "cartpole_ppo", "--set", f"env.id={env_id}",
                             "--logdir", "out")  # fmt: skip
    assert_one_error_line(code, out, err, f"env.id: {env_id} needs a package", extra)
    assert not (in_tmp / "out").exists()
