"""The evolution-strategies trainer: one iteration's wiring on hand-made fitness, processes
equal serial, exact resume after Ctrl-C, and a short CartPole learning test across seeds."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from across_seeds import Outcome, at_least_k_of
from helpers import assert_bit_identical, ga_loop

from rlkit import checkpoint
from rlkit.agents.ga.backends import EvalTask, Fitness, Poll
from rlkit.agents.ga.es import es_gradient, noise
from rlkit.agents.ga.es_train import ESLoop
from rlkit.experiment import load_experiment
from rlkit.training.runner import TrainingInterrupted, resume, train
from rlkit.training.session import StopFlag


def es_experiment(mode: str = "es", **agent: Any) -> dict[str, Any]:
    """A seconds-long ES run: CartPole (episodes cut at 100 steps) for ES, the maze for NS."""
    env = {"id": "CartPole-v1", "max_episode_steps": 100}
    if mode != "es":
        env = {"id": "rlkit/DeceptiveMaze-v0"}
    return {
        "name": f"es_small_{mode}",
        "env": env,
        "agent": {
            "name": "es",
            "mode": mode,
            "hidden": [8],
            "pairs": 4,
            "centre_episodes": 2,
            "iterations": 4,
            **agent,
        },
        "run": {"seed": 3, "eval_episodes": 2, "progress": False},
    }


def results(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("wall_s", "steps_per_second")}


class HandMadeReturns:
    """A backend whose return is the task's index (pairs: 2i for +, 2i + 1 for -)."""

    def __init__(self) -> None:
        self.shared: list[Any] = []
        self.calls: list[list[EvalTask]] = []

    def share(self, payload: Any) -> None:
        self.shared.append(payload)

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        self.calls.append(list(tasks))
        return [Fitness(t.index, float(t.index), (float(t.index),), 10, None) for t in tasks]

    def close(self) -> None:
        pass


def test_one_iteration_perturbs_in_pairs_and_steps_adam_with_weight_decay(
    tmp_path: Path,
) -> None:
    exp = load_experiment(es_experiment(pairs=3, learning_rate=0.05, l2=0.5, sigma=0.25))
    backend = HandMadeReturns()
    with ga_loop(exp, tmp_path, backend) as trainer:
        centre = trainer.centres[0].copy()
        stats = trainer._iteration(StopFlag())
    perturbations, centre_eval = backend.calls
    assert backend.shared[0][0].tobytes() == centre.tobytes()  # the centre travels once
    for i in range(3):
        plus, minus = perturbations[2 * i], perturbations[2 * i + 1]
        assert plus.genome.init_seed == minus.genome.init_seed == 0  # shared centre 0
        (seed_p, sigma_p), (seed_m, sigma_m) = plus.genome.mutations[0], minus.genome.mutations[0]
        assert seed_p == seed_m
        assert sigma_p == -sigma_m == 0.25
        assert plus.seed == minus.seed  # both members of a pair play the same env seeds
    seeds = [t.genome.mutations[0][0] for t in perturbations[::2]]
    assert len(set(seeds)) == 3
    # returns 0..5 -> centred ranks -0.5, -0.3, ..., 0.5: each pair's difference is -0.2
    gradient = sum(-0.2 * noise(s, len(centre)).astype(np.float64) for s in seeds) / (2 * 3 * 0.25)
    np.testing.assert_allclose(
        es_gradient([-0.2] * 3, [0.0] * 3, seeds, 0.25, len(centre)), gradient
    )
    direction = gradient - 0.5 * centre
    first_adam_step = 0.05 * direction / (np.abs(direction) + 1e-8)  # m_hat = g, v_hat = g^2
    np.testing.assert_allclose(stats.centre, centre + first_adam_step, rtol=1e-6, atol=1e-7)
    assert backend.shared[1][0].tobytes() == stats.centre.tobytes()  # then the updated centre
    assert [t.genome.mutations for t in centre_eval] == [(), ()]  # on 2 episodes, unperturbed
    assert stats.evaluation.returns == [0.0, 1.0]


class HandMadeBehaviours(HandMadeReturns):
    """Returns as HandMadeReturns, and behaviour (index, 0): every task is somewhere else."""

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        found = super().evaluate(tasks, poll)
        return [
            Fitness(f.index, f.mean_return, f.returns, f.frames, np.array([f.index, 0.0]))
            for f in found
        ]


@pytest.mark.parametrize("elite", [True, False])
def test_ns_reports_the_best_perturbation_when_it_beats_the_updated_centre(
    tmp_path: Path, elite: bool
) -> None:
    """NS: the perturbation of highest return (the last task, the minus member of the last pair)
    is re-evaluated beside the updated centre on the same env seeds; it scores higher (task
    indices 2, 3 vs 0, 1), so it is the iteration's evaluated policy and the agent plays it,
    while the chosen centre still takes its novelty step and gives the archive its behaviour."""
    exp = load_experiment(es_experiment("ns", pairs=3, sigma=0.25, elite=elite))
    backend = HandMadeBehaviours()
    with ga_loop(exp, tmp_path, backend) as trainer:
        stats = trainer._iteration(StopFlag())
        before = trainer.centres[stats.chosen].copy()
        trainer._count = lambda stats: None  # type: ignore[method-assign]  # no logger here
        trainer._commit(stats)
        acting = trainer.agent.centre.copy()
    initial, perturbations, last = backend.calls
    assert len(initial) == 3 * 2  # the three initial centres on two episodes each
    assert len(last) == (4 if elite else 2)  # the updated centre (and the elite), 2 episodes
    if elite:
        assert [t.seed for t in last[:2]] == [t.seed for t in last[2:]]  # the same env seeds
    assert not np.array_equal(stats.centre, before)  # the centre moved by its step
    np.testing.assert_array_equal(trainer.centres[stats.chosen], stats.centre)
    assert stats.evaluation.returns == [0.0, 1.0]  # the updated centre's own evaluation
    if not elite:
        assert not stats.elite
        assert stats.reported is stats.evaluation
        np.testing.assert_array_equal(acting, stats.centre)
        return
    assert stats.elite
    assert stats.reported.returns == [2.0, 3.0]
    seed, sigma = perturbations[-1].genome.mutations[0]
    assert sigma == -0.25  # the minus member of the last pair
    expected = backend.shared[1][0] + np.float32(sigma) * noise(seed, len(before))
    np.testing.assert_allclose(acting, expected, rtol=1e-6)  # the agent plays the elite
    assert backend.shared[2][1].tobytes() == acting.tobytes()  # exactly what was evaluated
    assert trainer.centre_returns[stats.chosen] == 0.5  # the centre keeps its own return
    np.testing.assert_array_equal(trainer.archive.behaviours[-1], [0.5, 0.0])  # and behaviour


def test_processes_backend_trains_like_serial(tmp_path: Path) -> None:
    serial = train(load_experiment(es_experiment("nsr")), tmp_path / "serial")
    processes = train(
        load_experiment(es_experiment("nsr", backend="processes", workers=2)), tmp_path / "proc"
    )
    assert results(processes) == results(serial)
    assert serial["archive_size"] == 3 + 4  # the 3 initial centres, then one per iteration


def test_ray_backend_trains_like_serial(tmp_path: Path) -> None:
    """The GA's Ray backend with shared centres: a real local Ray instance, 2 actors."""
    ray = pytest.importorskip("ray")
    serial = train(load_experiment(es_experiment("nsr")), tmp_path / "serial")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        exp = load_experiment(es_experiment("nsr", backend="ray", workers=2))
        through_ray = train(exp, tmp_path / "ray")
    finally:
        ray.shutdown()
    assert results(through_ray) == results(serial)


@pytest.mark.parametrize(("mode", "stop_call"), [("es", 3), ("nsr", 4)])
def test_resume_after_ctrl_c_equals_the_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, stop_call: int
) -> None:
    """Ctrl-C during an iteration's centre evaluation (ES: the third iteration; NSR: the
    third, after the initial centres' evaluation), then `--resume`."""
    experiment = es_experiment(mode)
    straight = train(load_experiment(experiment), tmp_path / "straight")
    original, count = ESLoop._evaluate_centres, {"n": 0}

    def wrapped(self: ESLoop, *args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] == stop_call:
            signal.raise_signal(signal.SIGINT)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(ESLoop, "_evaluate_centres", wrapped)
        with pytest.raises(TrainingInterrupted):
            train(load_experiment(experiment), tmp_path / "resumed")
    resumed = resume(tmp_path / "resumed")
    assert results(resumed) == results(straight)
    ends = [checkpoint.load(checkpoint.latest(tmp_path / r)) for r in ("straight", "resumed")]
    assert_bit_identical(ends[0]["agent"], ends[1]["agent"], "agent")
    assert_bit_identical(ends[0]["centres"], ends[1]["centres"], "centres")
    assert_bit_identical(ends[0]["optimisers"], ends[1]["optimisers"], "optimisers")
    assert (tmp_path / "straight" / "checkpoints" / "best.pt").is_file()


def test_es_learns_cartpole_across_seeds(tmp_path: Path) -> None:
    """Within 20 small iterations the centre's greedy CartPole return climbs from ~10-40 to
    >= 100 (measured: 18 of seeds 0-19; a centre whose every perturbation scores the same
    never moves, seed 4); 3 of 7 fails by chance about once in 5,000 runs."""

    def claim(seed: int) -> Outcome:
        exp = load_experiment(
            es_experiment(pairs=10, iterations=20, centre_episodes=3, learning_rate=0.1),
            [f"run.seed={seed}", "run.target_return=100", "env.max_episode_steps=200"],
        )
        summary = train(exp, tmp_path / str(seed))
        best = max(h["mean_return"] for h in summary["evaluations"])
        return best >= 100, f"best centre return {best:.1f} in {summary['iterations']} iterations"

    at_least_k_of(claim, range(7), k=3, name="es cartpole")
