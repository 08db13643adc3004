"""The Deep GA trainer: selection and elitism, reproducibility, resume, logging, eval, learning."""

from __future__ import annotations

import json
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from across_seeds import Outcome, at_least_k_of
from helpers import HandMadeFitness, ga_experiment, ga_loop

from rlkit import checkpoint
from rlkit.agents.ga.backends import EvalTask, Fitness, GenomeEvaluator
from rlkit.agents.ga.genome import Genome
from rlkit.cli import main
from rlkit.experiment import load_experiment
from rlkit.plot import read_scalars
from rlkit.training.runner import TrainingInterrupted, resume, train


def without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("wall_s", "steps_per_second")}


def test_truncation_selection_and_elitism_on_hand_made_fitness(tmp_path: Path) -> None:
    exp = load_experiment(
        ga_experiment(population=6, truncation=2, elite_candidates=3, elite_episodes=4)
    )
    backend = HandMadeFitness(fitness=[3, 1, 5, 2, 4, 0], elite_means=[7, 9, 8], episodes=4)
    with ga_loop(exp, tmp_path, backend) as trainer:
        population = list(trainer.population)
        stats = trainer._generation(_no_stop())
        children = trainer.population
    fitness_call, elite_call = backend.calls
    assert [t.genome for t in fitness_call] == population
    # candidates: the top 3 by return (indices 2, 4, 0), each on the same 4 extra episodes
    assert [t.genome for t in elite_call[::4]] == [population[i] for i in (2, 4, 0)]
    assert len({t.seed for t in elite_call}) == 4
    assert stats.elite == population[4]
    assert stats.elite_return == 9
    assert stats.elite_fitness == 4
    assert children[0] == population[4]  # the elite is kept unchanged
    parents = {population[2], population[4]}  # truncation: the top 2 by fitness
    for child in children[1:]:
        assert child.parent() in parents
        assert child.mutations[-1][1] == pytest.approx(0.1)


@pytest.mark.parametrize("mode", ["ns", "nsr"])
def test_novelty_search_breeds_from_the_most_novel_even_with_the_lowest_returns(
    tmp_path: Path, mode: str
) -> None:
    """With novelty search, the parents are the top `truncation` by novelty (NS) or by the
    NSR score, here the two loners with the lowest returns, not the top two by return."""
    novelty = {"mode": mode, "behaviour": "final_obs", "k": 1, "reward_weight": 0.25}
    exp = load_experiment(ga_experiment(population=6, truncation=2, novelty=novelty))
    # novelty (k = 1): 0.1 for the crowd at 0..0.3, 9.7 and 10 for the loners at 10 and 20;
    # NSR: 0.25 * return rank + 0.75 * novelty rank puts the loners first as well
    backend = HandMadeFitness(
        fitness=[5, 4, 3, 2, 1, 0],
        elite_means=[0, 0],
        episodes=2,
        behaviours=[0.0, 0.1, 0.2, 0.3, 10.0, 20.0],
    )
    with ga_loop(exp, tmp_path, backend) as trainer:
        population = list(trainer.population)
        stats = trainer._generation(_no_stop())
        children = trainer.population
    assert stats.elite == population[0]  # the elite is still chosen by return
    assert {child.parent() for child in children[1:]} <= {population[4], population[5]}


def test_previous_elite_is_always_a_candidate(tmp_path: Path) -> None:
    exp = load_experiment(ga_experiment(population=6, truncation=2, elite_candidates=1))
    backend = HandMadeFitness(fitness=[0, 1, 5, 2, 4, 3], elite_means=[1, 2], episodes=2)
    with ga_loop(exp, tmp_path, backend) as trainer:
        trainer._generation(_no_stop())
        trainer.generation = 1
        population = list(trainer.population)
        backend.fitness = [0, 1, 2, 3, 4, 5]  # the elite (index 0) now ranks last
        stats = trainer._generation(_no_stop())
        elite_tasks = backend.calls[-1]
    # the top candidate (index 5) and the previous elite (index 0), 2 episodes each
    assert [t.genome for t in elite_tasks] == [population[5]] * 2 + [population[0]] * 2
    assert stats.elite == population[0]
    assert stats.elite_return == 2
    assert stats.elite_fitness == 0


def _no_stop() -> Any:
    from rlkit.training.session import StopFlag

    return StopFlag()


def test_same_seed_same_result(tmp_path: Path) -> None:
    a = train(load_experiment(ga_experiment()), tmp_path / "a")
    b = train(load_experiment(ga_experiment()), tmp_path / "b")
    assert without_timing(a) == without_timing(b)
    assert a["generations"] == 3
    assert a["elite_genome_length"] >= 1
    assert a["steps"] > 0
    assert a["final_eval"]["episodes"] == 3
    c = train(load_experiment(ga_experiment(), ["run.seed=4"]), tmp_path / "c")
    assert c["evaluations"] != a["evaluations"]


def test_an_interrupted_run_saves_a_few_seeds_then_finishes_and_extends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = GenomeEvaluator.evaluate_many
    calls = {"n": 0}

    def evaluate_many(self: GenomeEvaluator, tasks: Sequence[EvalTask], poll: Any) -> list[Fitness]:
        def counting_poll() -> None:
            calls["n"] += 1
            if calls["n"] == 20:  # inside the second generation's fitness evaluations
                signal.raise_signal(signal.SIGINT)
            poll()

        return original(self, tasks, counting_poll)

    monkeypatch.setattr(GenomeEvaluator, "evaluate_many", evaluate_many)
    run_dir = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted):
        train(load_experiment(ga_experiment()), run_dir)
    saved = checkpoint.load(checkpoint.latest(run_dir))
    assert saved["generation"] == 1
    assert sum(a.nbytes for a in saved["population"]) < 200  # a population is a few seeds
    monkeypatch.setattr(GenomeEvaluator, "evaluate", original)
    resume(run_dir)  # equal to the uninterrupted run: tests/test_resume.py
    with pytest.raises(Exception, match="already finished"):
        resume(run_dir)
    extended = resume(run_dir, ["agent.generations=4"])
    assert extended["generations"] == 4


def test_tensorboard_scalars_per_generation(tmp_path: Path) -> None:
    summary = train(load_experiment(ga_experiment()), tmp_path)
    tags = [
        "ga/max_fitness",
        "ga/mean_fitness",
        "ga/elite_fitness",
        "eval/mean_return",
        "ga/frames",
        "ga/evaluations_per_second",
        "ga/genome_length",
    ]
    for tag in tags:
        steps, values = read_scalars(tmp_path, tag)
        assert len(values) >= 3, tag  # one per generation (+ the final eval for eval/)
    steps, frames = read_scalars(tmp_path, "ga/frames")
    np.testing.assert_array_equal(steps, frames)
    assert frames[-1] == summary["steps"]
    _, length = read_scalars(tmp_path, "ga/genome_length")
    assert list(length) == sorted(length)
    assert length[-1] >= 1
    assert (tmp_path / "config.toml").read_text().count('name = "ga"') == 1


def test_rlkit_eval_plays_the_elite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = train(load_experiment(ga_experiment()), tmp_path / "run")
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--checkpoint", "final", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == summary["final_eval"]
    state = checkpoint.load(checkpoint.latest(tmp_path / "run"))
    assert Genome.from_array(state["agent"]["genome"]).nbytes == summary["elite_genome_bytes"]
    gif = tmp_path / "elite.gif"
    assert main(["eval", str(tmp_path / "run"), "--video", str(gif), "--max-frames", "50"]) == 0
    assert gif.stat().st_size > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("agent.truncation=9", "agent.truncation must be in [1, population] = [1, 8]"),
        ("agent.sigma=0", "agent.sigma must be > 0"),
        ("agent.sigma=-0.5", "agent.sigma must be > 0"),
        ("agent.sigma=inf", "agent.sigma: inf is not a finite number; give a finite value"),
        ("agent.elite_candidates=0", "agent.elite_candidates must be in"),
        ("agent.backend=gpu", "agent.backend: 'gpu' is not valid"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, message: str
) -> None:
    path = tmp_path / "ga.toml"
    path.write_text(_toml(ga_experiment()))
    code = main(["run", str(path), "--set", override, "--logdir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert message in err, err
    assert not (tmp_path / "r").exists()


def _toml(data: dict[str, Any]) -> str:
    from rlkit.config import dumps_toml

    return dumps_toml(data)


@pytest.mark.slow
def test_cartpole_ga_reaches_500(tmp_path: Path) -> None:
    """Over seeds (tests/across_seeds.py): the bundled GA's elite plays 500 in 10 episodes."""

    def claim(seed: int) -> Outcome:
        exp = load_experiment("cartpole_ga", ["run.progress=false", f"run.seed={seed}"])
        summary = train(exp, tmp_path / f"seed-{seed}")
        assert summary["final_eval"]["episodes"] == 10
        final = summary["final_eval"]["mean_return"]
        return final == 500.0, f"final {final}, evaluations {summary['evaluations']}"

    # 500 in the final 10 episodes on 8 of seeds 0-9 (the same on every emulated CPU kind;
    # RESULTS.md): at that rate 1 of 6 seeds fails by chance once in 4,000 runs.
    at_least_k_of(claim, (1, 2, 3, 4, 5, 6), 1, "cartpole_ga")


def test_novelty_search_selects_on_the_archive_scores(tmp_path: Path) -> None:
    novelty = {"mode": "nsr", "behaviour": "final_obs", "k": 3, "archive_probability": 0.5}
    summary = train(load_experiment(ga_experiment(novelty=novelty)), tmp_path)
    assert summary["generations"] == 3
    state = checkpoint.load(checkpoint.latest(tmp_path))
    archive = state["archive"]["behaviours"]
    assert archive.shape[1] == 4  # CartPole's final observations
    assert 0 < len(archive) <= 3 * 8
    _, sizes = read_scalars(tmp_path, "ga/archive_size")
    assert list(sizes)[-1] == len(archive)


def test_the_atari_ga_runs_a_generation_on_pixels(tmp_path: Path) -> None:
    """A pixel smoke test: frostbite_ga's Nature CNN (~1.7M parameters) on stacked Atari frames,
    one small generation with its elite re-evaluated, then `rlkit eval` on the elite."""
    settings = ["agent.population=3", "agent.truncation=2", "agent.elite_candidates=1",
                "agent.elite_episodes=1", "agent.workers=0", "env.max_episode_steps=40",
                "run.total_steps=100", "run.eval_episodes=1", "run.progress=false"]  # fmt: skip
    summary = train(load_experiment("frostbite_ga", settings), tmp_path / "run")
    assert summary["generations"] >= 1
    # steps count emulator frames: 3 + 1 episodes of at most 40 steps of 4 frames a generation
    assert 100 <= summary["steps"] <= summary["generations"] * 4 * 40 * 4
    assert np.isfinite(summary["final_eval"]["mean_return"])
    assert main(["eval", str(tmp_path / "run"), "--episodes", "1"]) == 0
