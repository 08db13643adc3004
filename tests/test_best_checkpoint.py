"""run.keep_best: the agent of the best periodic evaluation kept as checkpoints/best.pt, its record
in summary.json's best_eval, kept across resume, in the step loop, the Deep GA and AlphaZero."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import (
    assert_bit_identical,
    cli,
    ga_experiment,
    interrupt_after,
    small_experiment,
    tiny_experiment,
)

from rlkit import checkpoint
from rlkit.agents.tabular import TabularAgent
from rlkit.cli import main
from rlkit.evaluation import EvalResult
from rlkit.experiment import load_experiment
from rlkit.training import steps
from rlkit.training.runner import TrainingInterrupted, evaluate_checkpoint, resume, train

RUN = {"total_steps": 6_000, "eval_every": 1_000, "checkpoint_every": 1_000}


def periodic(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The periodic evaluations of a step-loop run (the last entry is the final evaluation)."""
    return list(summary["evaluations"][:-1])


def first_best(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The first evaluation with the highest mean return (a tie does not replace the best)."""
    return max(evaluations, key=lambda e: e["mean_return"])


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A FrozenLake Q-learning run with 5 periodic evaluations, every checkpoint kept."""
    run_dir = tmp_path_factory.mktemp("best") / "run"
    summary = train(load_experiment(small_experiment(**RUN, keep_checkpoints=100)), run_dir)
    return run_dir, summary


def test_summary_records_the_best_evaluation(lake: tuple[Path, dict[str, Any]]) -> None:
    _, summary = lake
    evaluations = periodic(summary)
    assert [e["step"] for e in evaluations] == [1_000, 2_000, 3_000, 4_000, 5_000]
    best = first_best(summary["evaluations"])  # the periodic ones, then the final one
    assert len({e["mean_return"] for e in evaluations}) > 1  # the choice is not trivial
    assert summary["best_eval"] == {
        "step": best["step"],
        "mean_return": best["mean_return"],
        "std_return": best["std_return"],
        "episodes": 20,
    }


def test_best_pt_holds_the_agent_of_that_evaluation(lake: tuple[Path, dict[str, Any]]) -> None:
    run_dir, summary = lake
    step = summary["best_eval"]["step"]
    best = torch.load(checkpoint.best_path(run_dir), map_location="cpu", weights_only=True)
    assert best["format"] == checkpoint.FORMAT
    at_that_step = checkpoint.load(checkpoint.checkpoint_path(run_dir, step))
    saved = checkpoint.load(checkpoint.best_path(run_dir))
    # the periodic checkpoint at the same step was saved right after that evaluation
    assert_bit_identical(saved["agent"], at_that_step["agent"])
    assert saved["counters"]["best"] == summary["best_eval"]


@pytest.mark.parametrize(("final", "best_step"), [(5.0, 6_000), (0.5, 2_000), (3.0, 2_000)])
def test_the_final_evaluation_competes_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, final: float, best_step: int
) -> None:
    """Scripted evaluations 1, 3, 2, 3, 0 at steps 1,000-5,000, then the final one: it becomes
    the best only by beating 3 (a tie keeps the earlier)."""
    scripted = iter([1.0, 3.0, 2.0, 3.0, 0.0, final])

    def evaluate(agent: Any, envs: Any, episodes: int, seed: int) -> EvalResult:
        return EvalResult(episodes, next(scripted), 0.0, 1.0)

    monkeypatch.setattr(steps, "evaluate", evaluate)
    summary = train(load_experiment(small_experiment(**RUN, keep_checkpoints=100)), tmp_path)
    assert summary["best_eval"]["step"] == best_step
    saved = checkpoint.load(checkpoint.best_path(tmp_path))
    at_that_step = checkpoint.load(checkpoint.checkpoint_path(tmp_path, best_step))
    assert_bit_identical(saved["agent"], at_that_step["agent"])


def test_rotation_never_removes_best_pt(tmp_path: Path) -> None:
    summary = train(load_experiment(small_experiment(**RUN, keep_checkpoints=1)), tmp_path)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step-0000006000.pt"]
    assert checkpoint.best_path(tmp_path).is_file()
    assert summary["best_eval"]["step"] < 6_000
    assert (
        checkpoint.load(checkpoint.best_path(tmp_path))["counters"]["step"]
        == summary["best_eval"]["step"]
    )


def test_eval_plays_best_pt_by_default_and_final_on_request(
    lake: tuple[Path, dict[str, Any]],
) -> None:
    run_dir, summary = lake
    final = evaluate_checkpoint(run_dir, which="final")
    assert final.as_dict() == summary["final_eval"]
    by_default = evaluate_checkpoint(run_dir)
    assert by_default == evaluate_checkpoint(run_dir, which="best")
    assert by_default == evaluate_checkpoint(checkpoint.best_path(run_dir))


def test_without_keep_best_or_periodic_evaluations_there_is_no_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, run in (
        ("off", {**RUN, "keep_best": False}),
        ("no-evals", {**RUN, "eval_every": 0}),
    ):
        summary = train(load_experiment(small_experiment(**run)), tmp_path / name)
        assert summary["best_eval"] is None
        assert not checkpoint.best_path(tmp_path / name).exists()
        code, err = cli(capsys, "eval", tmp_path / name, "--checkpoint", "best")
        assert code == 2
        assert err.count("\n") == 1
        assert "has no checkpoints/best.pt" in err
        assert "use --checkpoint final" in err
        capsys.readouterr()
        assert main(["eval", str(tmp_path / name)]) == 0  # the default falls back to the newest
        newest = "evaluating checkpoints/step-0000006000.pt, the agent as training left it"
        assert newest in capsys.readouterr().out


def test_bad_checkpoint_choice_is_one_line(
    lake: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = lake
    code, err = cli(capsys, "eval", run_dir, "--checkpoint", "bets")
    assert code == 2
    assert err == (
        "rlkit: error: --checkpoint bets: no such file; give best, final or a checkpoint "
        "file's path\n"
    )
    newest = checkpoint.list_checkpoints(run_dir)[-1]
    code, err = cli(capsys, "eval", newest, "--checkpoint", "best")
    assert code == 2
    assert "--checkpoint takes a RUN_DIR" in err


def test_resume_keeps_the_best_so_far(
    tmp_path: Path, lake: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C mid-run, then --resume: the same best_eval and best.pt as the uninterrupted run."""
    straight_dir, straight = lake
    experiment = load_experiment(small_experiment(**RUN, keep_checkpoints=100))
    with monkeypatch.context() as patch:
        interrupt_after(patch, TabularAgent, calls=3_500 // 4)  # 4 envs: update per vector step
        with pytest.raises(TrainingInterrupted):
            train(experiment, tmp_path / "resumed")
    resumed = resume(tmp_path / "resumed")
    assert resumed["best_eval"] == straight["best_eval"]
    assert_bit_identical(
        checkpoint.load(checkpoint.best_path(tmp_path / "resumed"))["agent"],
        checkpoint.load(checkpoint.best_path(straight_dir))["agent"],
    )


def test_resume_does_not_replace_a_better_best_written_after_its_checkpoint(
    tmp_path: Path, lake: tuple[Path, dict[str, Any]]
) -> None:
    """A run stopped after writing best.pt but before its next checkpoint resumes from the older
    checkpoint; where the resumed run does not reach that best again (an env whose state cannot
    be saved replays differently), the best.pt already written stays, record and file."""
    source, summary = lake
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    best = checkpoint.best_path(run_dir)
    state = checkpoint.load(best)
    record = {**summary["best_eval"], "step": 5_500, "mean_return": 2.0}  # beyond any FrozenLake
    state["counters"]["best"] = record
    del state["format"], state["version"]
    checkpoint.save(best, state)
    before = best.read_bytes()
    for step in (4_000, 5_000, 6_000):  # back to the checkpoint at step 3,000
        checkpoint.checkpoint_path(run_dir, step).unlink()
    (run_dir / "summary.json").unlink()
    resumed = resume(run_dir)
    assert resumed["best_eval"] == record
    assert best.read_bytes() == before


def test_dqn_best_pt_carries_no_replay_memory(tmp_path: Path) -> None:
    data = {
        "name": "dqn_best",
        "env": {"id": "CartPole-v1"},
        "agent": {"name": "dqn", "hidden": [16], "learning_starts": 200, "batch_size": 16},
        "run": {"total_steps": 1_000, "eval_every": 500, "eval_episodes": 2, "progress": False},
    }
    summary = train(load_experiment(data), tmp_path)
    newest = checkpoint.load(checkpoint.list_checkpoints(tmp_path)[-1])
    best = checkpoint.load(checkpoint.best_path(tmp_path))
    assert "replay" in newest["agent"]  # the resume point keeps the replay memory
    assert "replay" not in best["agent"]  # acting needs none
    assert summary["best_eval"]["step"] == 500  # the one periodic evaluation
    assert np.isfinite(evaluate_checkpoint(tmp_path).mean_return)


def test_the_ga_keeps_the_best_elite(tmp_path: Path) -> None:
    summary = train(load_experiment(ga_experiment(generations=3)), tmp_path)
    elites = summary["evaluations"]  # one elite re-evaluation per generation
    final = {"generation": 3, "mean_return": summary["final_eval"]["mean_return"]}
    best = first_best([*elites, final])  # the final evaluation competes last
    assert summary["best_eval"]["generation"] == best["generation"]
    assert summary["best_eval"]["mean_return"] == best["mean_return"]
    episodes = 2 if best is not final else summary["final_eval"]["episodes"]  # elite_episodes
    assert summary["best_eval"]["episodes"] == episodes
    saved = checkpoint.load(checkpoint.best_path(tmp_path))
    assert saved["counters"]["best"] == summary["best_eval"]
    assert np.isfinite(evaluate_checkpoint(tmp_path, which="best").mean_return)


def test_alphazero_keeps_its_best_evaluated_network(tmp_path: Path) -> None:
    summary = train(load_experiment(tiny_experiment(iterations=2, eval_every=1)), tmp_path)
    evaluations = [h for h in summary["history"] if "eval/mean_return" in h]
    assert [h["iteration"] for h in evaluations] == [1, 2]
    candidates = [(h["iteration"], h["eval/mean_return"]) for h in evaluations]
    candidates.append((2, summary["final_eval"]["mean_return"]))  # the final one competes last
    iteration, mean = max(candidates, key=lambda c: c[1])  # the first of ties
    assert summary["best_eval"]["iteration"] == iteration
    assert summary["best_eval"]["mean_return"] == mean
    assert checkpoint.best_path(tmp_path).is_file()
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["best_eval"] == summary["best_eval"]
