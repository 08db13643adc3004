"""GA evaluation backends: processes and a real local Ray instance equal serial; crashes retry."""

from __future__ import annotations

import builtins
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ga import ga_experiment, without_timing

from rlkit.agents.ga.backends import EvalTask, Fitness, ProcessBackend, SerialBackend
from rlkit.agents.ga.genome import Genome
from rlkit.cli import main
from rlkit.config import dumps_toml
from rlkit.errors import ConfigError
from rlkit.experiment import load_experiment
from rlkit.training.runner import train


def tasks(count: int) -> list[EvalTask]:
    genomes = [Genome(i).child(100 + i, 0.1) for i in range(count)]
    return [EvalTask(i, g, 2, 1_000 + i) for i, g in enumerate(genomes)]


def serial_results(experiment: dict[str, Any], work: list[EvalTask]) -> list[Fitness]:
    backend = SerialBackend(experiment)
    try:
        return backend.evaluate(work, lambda: None)
    finally:
        backend.close()


def same(a: list[Fitness], b: list[Fitness]) -> bool:
    return [(f.index, f.returns, f.frames) for f in a] == [
        (f.index, f.returns, f.frames) for f in b
    ]


@pytest.fixture(scope="module")
def experiment() -> dict[str, Any]:
    return load_experiment(ga_experiment()).to_dict()


def test_processes_equal_serial_and_survive_a_killed_worker(
    experiment: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    work = tasks(12)
    expected = serial_results(experiment, work)
    backend = ProcessBackend(experiment, workers=2)
    try:
        assert same(backend.evaluate(work, lambda: None), expected)
        killed: list[int] = []

        def kill_a_busy_worker() -> None:
            busy = [w for w in backend.workers if w.task is not None]
            if not killed and busy:
                killed.append(busy[0].task.index)  # type: ignore[union-attr]
                os.kill(busy[0].process.pid, signal.SIGKILL)

        assert same(backend.evaluate(work, kill_a_busy_worker), expected)
        assert killed
    finally:
        backend.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "retrying it on a fresh worker" in err


def test_processes_backend_trains_like_serial(tmp_path: Path) -> None:
    serial = train(load_experiment(ga_experiment()), tmp_path / "serial")
    exp = load_experiment(ga_experiment(backend="processes", workers=2))
    processes = train(exp, tmp_path / "processes")
    assert without_timing(processes) == without_timing(serial)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A real local Ray instance with 2 CPUs, shared by the Ray tests of this module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_trains_like_serial_and_retries_a_killed_actor(
    tmp_path: Path,
    local_ray: Any,
    experiment: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rlkit.agents.ga.ray import RayBackend

    serial = train(load_experiment(ga_experiment()), tmp_path / "serial")
    started = time.perf_counter()
    exp = load_experiment(ga_experiment(backend="ray", workers=2))
    through_ray = train(exp, tmp_path / "ray")
    assert without_timing(through_ray) == without_timing(serial)
    assert local_ray.is_initialized()  # the trainer joined the running instance, left it up
    print(f"ray training took {time.perf_counter() - started:.1f} s")

    work = tasks(8)
    backend = RayBackend(experiment, workers=2, address=None)
    try:
        killed: list[int] = []

        def kill_an_actor() -> None:
            if not killed:
                killed.append(1)
                local_ray.kill(backend.actors[1], no_restart=True)

        assert same(backend.evaluate(work, kill_an_actor), serial_results(experiment, work))
    finally:
        backend.close()
    err = capsys.readouterr().err
    assert "Ray actor died" in err, err
    assert "retrying it on a fresh worker" in err


def test_unreachable_ray_address_fails_fast_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ray address where nothing listens is one line and exit 2, decided before ray.init
    (which would wait long for a cluster)."""
    ray = pytest.importorskip("ray")
    inits: list[Any] = []
    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: inits.append(args))
    path = tmp_path / "ga.toml"
    path.write_text(dumps_toml(ga_experiment(backend="ray", ray_address="127.0.0.1:9")))
    code = main(["run", str(path), "--logdir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert inits == []
    assert err.count("\n") == 1, err
    assert "no Ray cluster answers at 127.0.0.1:9" in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_a_listener_that_never_answers_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listener that accepts but never answers is reported, and every wait on it (connect,
    send, receive) was bounded by the probe's timeout."""
    from rlkit.ray_cluster import check_reachable

    opened: list[socket.socket] = []
    connect = socket.create_connection

    def recording_connect(*args: Any, **kwargs: Any) -> socket.socket:
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(socket, "create_connection", recording_connect)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ConfigError, match=f"no Ray cluster answers at {address}"):
            check_reachable(address, timeout=0.5)
    assert [conn.gettimeout() for conn in opened] == [0.5]


def test_bad_ray_address_format_is_a_config_error() -> None:
    from rlkit.ray_cluster import check_reachable

    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        check_reachable("my-cluster")


def test_missing_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlkit.ray_cluster import import_ray

    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"pip install rlkit\[ray\]"):
        import_ray()


def test_batched_serial_evaluation_equals_one_task_at_a_time() -> None:
    from rlkit.agents.ga.backends import BATCH_SLOTS, GenomeEvaluator

    data = ga_experiment(novelty={"mode": "ns", "behaviour": "final_obs"})
    evaluator = GenomeEvaluator(load_experiment(data).to_dict())
    root = Genome(11)
    genomes = [root.child(100 + i, 0.5) for i in range(BATCH_SLOTS + 9)]
    tasks = [EvalTask(i, g, episodes=1 + i % 3, seed=1_000 + 7 * i) for i, g in enumerate(genomes)]
    polls: list[int] = []
    batched = evaluator.evaluate_many(tasks, lambda: polls.append(1))
    alone = [evaluator.evaluate(task) for task in tasks]
    evaluator.close()
    assert len(polls) == len(tasks)
    assert [f.index for f in batched] == list(range(len(tasks)))
    for b, a in zip(batched, alone, strict=True):
        assert (b.mean_return, b.returns, b.frames) == (a.mean_return, a.returns, a.frames)
        assert b.behaviour is not None
        assert a.behaviour is not None
        assert b.behaviour.tolist() == a.behaviour.tolist()
    assert len({f.returns for f in batched}) > 5  # the genomes really differ
