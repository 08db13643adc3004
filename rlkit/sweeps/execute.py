"""Running a sweep's runs: each one is `python -m rlkit run` in a process of its own (its output in
SWEEP_DIR/logs), `workers` at a time on this machine, or as Ray tasks on a cluster.

A run that fails is recorded with its error (the last line of its log) and the others go on. A
run process dies with the process that started it (Linux's parent-death signal), so a sweep
killed with kill -9 leaves no orphan holding a run's lock, and re-running the command resumes
the interrupted runs from their checkpoints. On Ray each run is a task asking for `cpus_per_run`
CPUs; a task whose worker dies is retried by Ray, and the retry resumes from the run's newest
checkpoint (the task decides start or resume from the run directory when it begins).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rlkit.sweeps.plan import Run
from rlkit.sweeps.results import best_config

POLL_S = 0.2
RAY_RETRIES = 3


@dataclass
class Outcome:
    """How one run ended: exit code 0, or its error line."""

    run: Run
    code: int
    error: str = ""


@dataclass
class Progress:
    """The live view's counts."""

    total: int
    skipped: int = 0
    running: set[str] = field(default_factory=set)
    done: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.done if o.code != 0]


PARENT_ENV = "RLKIT_DIE_WITH_PARENT"
"""Set in a run process's environment to the pid of the sweep (or Ray worker) that started it:
`rlkit` then asks the kernel to kill it when that parent dies (rlkit.cli.die_with_parent)."""


def child_env() -> dict[str, str]:
    """The environment of a run process: this one's, unbuffered, tied to this process."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}


def run_command(run: Run) -> tuple[int, str]:
    """Start or continue `run` in a child process and wait: (exit code, error line). A Ray task
    calls it on its worker."""
    process, log = _start(run)
    with log:
        code = process.wait()
    return code, "" if code == 0 else last_line(run.log)


def last_line(path: Path) -> str:
    """The last non-empty line of a log (a failed run's one-line error)."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1].strip() if lines else f"(empty log {path})"


class LiveView:
    """One status line: runs done / running / failed, elapsed time, the best config so far.
    On a terminal it is redrawn in place; otherwise a line is printed when the counts change."""

    def __init__(self, root: Path, progress: Progress, stream: TextIO | None = None) -> None:
        self.root, self.progress = root, progress
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.perf_counter()
        self.last = ""
        self.best = ""
        """The best-config part of the line, read from the summaries when a run ends."""

    def line(self) -> str:
        p = self.progress
        finished = p.skipped + sum(1 for o in p.done if o.code == 0)
        elapsed = int(time.perf_counter() - self.start)
        text = (
            f"sweep {self.root}: {finished}/{p.total} done, {len(p.running)} running, "
            f"{len(p.failed)} failed, {elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        )
        return text + self.best

    def update(self, force: bool = False) -> None:
        counts = self._counts()
        if counts != self.last or force:  # a run ended: the best config may have changed
            best = best_config(self.root)
            self.best = (
                ""
                if best is None
                else (
                    f"; best so far {best[0]} (final eval {best[1]:.3f}, mean of {best[2]} seed(s))"
                )
            )
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif force or counts != self.last:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
        self.last = counts

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _counts(self) -> str:
        p = self.progress
        return f"{p.skipped},{len(p.running)},{len(p.done)},{len(p.failed)}"


def run_processes(
    runs: Sequence[Run], workers: int, view: LiveView, outcome: Callable[[Outcome], None]
) -> None:
    """Run `runs`, `workers` at a time, each `rlkit run` in its own process."""
    pending = list(runs)
    active: dict[str, tuple[Run, subprocess.Popen[bytes], Any]] = {}
    try:
        while pending or active:
            while pending and len(active) < workers:
                run = pending.pop(0)
                active[run.name] = (run, *_start(run))
                view.progress.running.add(run.name)
            for name, (run, process, log) in list(active.items()):
                code = process.poll()
                if code is None:
                    continue
                log.close()
                del active[name]
                view.progress.running.discard(name)
                outcome(Outcome(run, code, "" if code == 0 else last_line(run.log)))
            view.update()
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        # runs sit in process groups of their own, so a terminal's Ctrl-C reached the sweep
        # alone; one SIGINT each: a run checkpoints and stops (a second would abort it)
        for _, process, _ in active.values():
            process.send_signal(signal.SIGINT)
        for _, process, log in active.values():
            process.wait()
            log.close()
        raise


def _start(run: Run) -> tuple[subprocess.Popen[bytes], Any]:
    run.log.parent.mkdir(parents=True, exist_ok=True)
    command = run.command(sys.executable)
    log = open(run.log, "a")  # noqa: SIM115 - closed when the process ends
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=child_env(), process_group=0
    )
    return process, log


def run_ray(
    runs: Sequence[Run],
    cpus_per_run: float,
    view: LiveView,
    outcome: Callable[[Outcome], None],
) -> None:
    """Run `runs` as Ray tasks of `cpus_per_run` CPUs each on the Ray instance this process
    joined; Ray retries a task whose worker died, and the retry resumes the run."""
    from rlkit.ray_cluster import import_ray

    ray = import_ray("--backend ray", "--backend processes")
    remote = ray.remote(num_cpus=cpus_per_run, max_retries=RAY_RETRIES)(run_command)
    refs = {remote.remote(run): run for run in runs}
    for run in runs:
        view.progress.running.add(run.name)  # queued or running on the cluster
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S * 5)
            for ref in ready:
                run = refs.pop(ref)
                view.progress.running.discard(run.name)
                try:
                    code, error = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries spent
                    text = f"Ray task failed: {type(exc).__name__}: {exc}"
                    code, error = 1, text.splitlines()[0]
                outcome(Outcome(run, code, error))
            view.update()
    except KeyboardInterrupt:  # stop the tasks: their runs die with their workers and resume
        for ref in refs:  # from their newest checkpoints when the sweep is run again
            ray.cancel(ref, force=True)
        raise


def sweep(
    experiment: str,
    seeds: Sequence[int],
    overrides: Sequence[str],
    grid_options: Sequence[str],
    root: Path,
    workers: int,
    backend: str = "processes",
    address: str | None = None,
    cpus_per_run: float = 1.0,
    stream: TextIO | None = None,
) -> int:
    """Plan the sweep (every configuration checked first), then run what is not finished;
    0 when every run finished, 1 naming the failed runs."""
    from rlkit.errors import ConfigError
    from rlkit.sweeps.plan import parse_grid, plan_sweep, write_plan

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if cpus_per_run <= 0:
        raise ConfigError(f"--cpus-per-run must be > 0, got {cpus_per_run}")
    if address is not None and backend != "ray":
        raise ConfigError("--ray-address needs --backend ray")
    root = root.resolve()  # Ray workers do not share this process's working directory
    plan = plan_sweep(experiment, seeds, overrides, parse_grid(grid_options), root)
    if backend == "ray":
        from rlkit.ray_cluster import import_ray, init_ray

        ray = import_ray("--backend ray", "--backend processes")
        owns_ray = init_ray(address, workers, "--ray-address")  # before anything is written
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        if cpus_per_run > cpus:
            if owns_ray:
                ray.shutdown()
            raise ConfigError(
                f"--cpus-per-run {cpus_per_run:g}: the Ray cluster has {cpus:g} CPUs, so no "
                "run could start; give at most that (a local instance has --workers CPUs)"
            )
    try:
        write_plan(plan, experiment, overrides)
        return _execute(plan, root, workers, backend, cpus_per_run, stream)
    finally:
        if backend == "ray" and owns_ray:
            ray.shutdown()


def _execute(
    plan: Any, root: Path, workers: int, backend: str, cpus_per_run: float, stream: TextIO | None
) -> int:
    out = stream or sys.stderr
    todo = [run for run in plan.runs if run.state() != "done"]
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM stop the sweep (KeyboardInterrupt), also where SIGINT came in
        # ignored (a sweep started in the background by a non-interactive shell)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    progress = Progress(total=len(plan.runs), skipped=len(plan.runs) - len(todo))
    view = LiveView(root, progress, out)
    view.update(force=True)

    def record(outcome: Outcome) -> None:
        progress.done.append(outcome)
        if outcome.code != 0:
            view.close() if view.tty else None
            out.write(
                f"sweep: {outcome.run.name} failed: {outcome.error} (log: {outcome.run.log})\n"
            )

    try:
        if backend == "ray":
            run_ray(todo, cpus_per_run, view, record)
        else:
            run_processes(todo, workers, view, record)
    except KeyboardInterrupt:
        view.close()
        out.write(
            f"sweep: interrupted; the running runs stopped at their checkpoints; run the same "
            f"command again to continue {root}\n"
        )
        return 130
    finally:
        view.update(force=True)
        view.close()
    failed = progress.failed
    if failed:
        names = ", ".join(o.run.name for o in failed)
        out.write(
            f"sweep: {len(failed)} of {len(plan.runs)} runs failed: {names}; their logs are in "
            f"{root / 'logs'}; re-run the same command to retry them\n"
        )
        return 1
    return 0
