"""The runner's entry points: train, resume and evaluate a run directory.

Each training run is one `Session` (rlkit.training.session) driving the agent family's training
loop: the runner's own step loop (rlkit.training.steps) unless the agent class names another.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rlkit import checkpoint
from rlkit import video as videos
from rlkit.agent import agent_class, build_agent
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.errors import CheckpointError, ConfigError, RlkitError, StorageError
from rlkit.evaluation import EvalResult, evaluate
from rlkit.experiment import Experiment, load_experiment
from rlkit.seeding import derive_seed
from rlkit.training.identity import RESUMABLE_KEYS, check_belongs, resumable_keys
from rlkit.training.lock import LOCK_NAME, RunLock
from rlkit.training.logger import n_episodes
from rlkit.training.session import (
    Session,
    TrainingInterrupted,
    TrainingLoop,
    check_run_dir_free,
    default_run_dir,
    load_agent_state,
)
from rlkit.training.steps import StepLoop


def training_loop_class(agent_name: str) -> type[TrainingLoop]:
    """The agent family's own training loop (Agent.training_loop), else the runner's step loop."""
    return agent_class(agent_name).training_loop or StepLoop


def open_session(
    experiment: Experiment, run_dir: Path, state: dict[str, Any] | None = None, **options: Any
) -> Session:
    """A run session over `run_dir` with the experiment's training loop (`options` go to it)."""
    loop = training_loop_class(experiment.agent_name)
    return Session(experiment, run_dir, state, loop, **options)


STORAGE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.ENOENT,
        errno.EIO,
        errno.EFBIG,
        errno.ENAMETOOLONG,
    }
)
"""The OSErrors that mean a run directory could not be written (its storage, not rlkit)."""


@contextlib.contextmanager
def storage_faults(run_dir: Path) -> Iterator[None]:
    """Turn a failed write under `run_dir` into one StorageError line: which path, why, that
    what was saved is intact (checkpoints are atomic), and how to go on once it is fixed."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        name = errno.errorcode.get(exc.errno or 0, "?")
        then = (
            f"continue with: rlkit run --resume {run_dir}"
            if (run_dir / "config.toml").is_file()
            else "start the run again"
        )
        raise StorageError(
            f"cannot write {exc.filename or run_dir}: {exc.strerror or exc} ({name}); what was "
            f"saved before is intact; once that is fixed, {then}"
        ) from None


def train(experiment: Experiment, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Train from scratch into a new run directory; return the summary."""
    target = Path(run_dir) if run_dir else default_run_dir(experiment.name)
    with storage_faults(target):
        return _train(experiment, target)


def _train(experiment: Experiment, target: Path) -> dict[str, Any]:
    if target.exists() and (not target.is_dir() or not (target / LOCK_NAME).exists()):
        check_run_dir_free(target)  # a file, or a directory no rlkit writer can be holding
    with RunLock(target, announce=False) as lock:  # one writer: the next is refused, named
        # a run killed while writing its config.toml left only its lock and that temporary
        # (a sweep re-runs it from scratch): temporaries are no run's files
        checkpoint.remove_temporaries(target)
        check_run_dir_free(target)  # a finished run: refused, nothing written
        with open_session(experiment, target) as session:  # bad envs or agents fail before
            return session.run(lock.announce)  # any write (the lock takes its directory away)


def resume(run_dir: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Continue a run from its newest checkpoint; only budget keys may change."""
    target = Path(run_dir)
    if not target.is_dir():
        raise RlkitError(f"--resume {target}: no such run directory")
    with (
        storage_faults(target),
        RunLock(target, announce=False) as lock,
    ):  # before reading: the last writer's state
        if not checkpoint.list_checkpoints(target):
            return _restart(target, overrides, lock)
        newest = checkpoint.latest(target)
        state = checkpoint.load(newest)
        check_belongs(target, state, newest)
        checked = _checked_overrides(load_experiment(state["config"]), overrides)
        experiment = load_experiment(state["config"], checked)
        with open_session(experiment, target, state) as session:
            return session.run(lock.announce)


def _restart(target: Path, overrides: Sequence[str], lock: RunLock) -> dict[str, Any]:
    """`--resume` of a run that saved no checkpoint (killed early, or stopped by a non-finite
    loss before its first): start it again from step 0 with its own config.toml, saying so."""
    config = target / "config.toml"
    if not config.is_file():
        raise RlkitError(
            f"--resume {target}: it has no checkpoint and no config.toml to start again from; "
            f"start it afresh with: rlkit run EXPERIMENT --logdir {target}"
        )
    experiment = load_experiment(config, _checked_overrides(load_experiment(config), overrides))
    print(
        f"rlkit: {target} has no checkpoint yet: starting it again from step 0 with its "
        "config.toml",
        file=sys.stderr,
    )
    with open_session(experiment, target) as session:
        session.restarted = True
        return session.run(lock.announce)


def _checked_overrides(experiment: Experiment, overrides: Sequence[str]) -> Sequence[str]:
    """`overrides` if each sets a key `--resume --set` may change, else ConfigError."""
    allowed = resumable_keys(experiment)
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key not in allowed:
            raise ConfigError(
                f"--set {key}: cannot change when resuming; allowed: {', '.join(sorted(allowed))}"
            )
    return overrides


def _for_acting(experiment: Experiment, state: dict[str, Any]) -> Experiment:
    """The experiment with the agent's acting-only config (Agent.for_acting may trim `state`)."""
    cls = agent_class(experiment.agent_name)
    return dataclasses.replace(experiment, agent=cls.for_acting(experiment.agent, state["agent"]))


def choose_checkpoint(target: Path, which: str | None = None) -> Path:
    """The checkpoint that `rlkit eval` plays: `target` itself when it is a checkpoint file;
    for a run directory, by `which`: "best" (checkpoints/best.pt, the agent of the best
    evaluation), "final" (the newest checkpoints/step-*.pt: the agent as training left
    it, which summary.json's final_eval measured), a checkpoint file's path, or None (the
    default): best.pt when the run kept one, else the newest checkpoint."""
    if target.is_file():
        if which is not None:
            raise RlkitError(
                f"--checkpoint takes a RUN_DIR; {target} is a checkpoint file, evaluated as it is"
            )
        return target
    if not target.is_dir():
        raise CheckpointError(f"{target} is neither a run directory nor a checkpoint file")
    best = checkpoint.best_path(target)
    if which is None:
        return best if best.is_file() else checkpoint.latest(target)
    if which == "best":
        if not best.is_file():
            raise CheckpointError(
                f"run directory {target} has no checkpoints/{checkpoint.BEST} (it ran without "
                "periodic evaluations, or with run.keep_best = false); use --checkpoint final"
            )
        return best
    if which == "final":
        return checkpoint.latest(target)
    path = Path(which)
    if not path.is_file():
        raise RlkitError(
            f"--checkpoint {which}: no such file; give best, final or a checkpoint file's path"
        )
    return path


def describe_checkpoint(target: Path, path: Path) -> str:
    """One line naming the checkpoint `rlkit eval` plays (from `choose_checkpoint`)."""
    if path == checkpoint.best_path(target):
        record = checkpoint.load(path).get("counters", {}).get("best") or {}
        episodes = record.get("episodes")
        over = n_episodes(episodes) if isinstance(episodes, int) else "? episodes"
        return (
            f"{target}: evaluating checkpoints/{checkpoint.BEST}, the agent of the best "
            f"evaluation (step {_count(record.get('step'))}: mean return "
            f"{record.get('mean_return', float('nan')):.3f} over {over}); "
            "--checkpoint final evaluates the agent as training left it"
        )
    if target.is_dir() and path == checkpoint.latest(target):
        return f"{target}: evaluating checkpoints/{path.name}, the agent as training left it"
    return f"{target}: evaluating {path}"


def _count(value: object) -> str:
    """A step count as the console prints them (12,500), or "?" when unknown."""
    return f"{value:,}" if isinstance(value, int) else "?"


def evaluate_checkpoint(
    target: str | Path,
    episodes: int | None = None,
    seed: int | None = None,
    video: str | Path | None = None,
    max_frames: int = 5_000,
    which: str | None = None,
) -> EvalResult:
    """Greedy evaluation of a run directory's checkpoint (`choose_checkpoint(target, which)`:
    by default its best.pt when it kept one, else its newest) or of a checkpoint file.

    With the defaults on the newest checkpoint (`which="final"`) it replays the run's final
    evaluation, so it reproduces summary.json's final_eval; on best.pt it plays the same seeded
    episodes with the best agent. With `video` (a .gif, or .mp4 where imageio has ffmpeg) it
    plays `episodes` (default 1) episodes back to back on a rendering env, at most `max_frames`
    frames, into that file.
    """
    video_path = videos.check_video_path(video) if video is not None else None
    path = choose_checkpoint(Path(target), which)
    state = checkpoint.load(path)
    if Path(target).is_dir():
        check_belongs(Path(target), state, path)
    experiment = _for_acting(load_experiment(state["config"]), state)
    run = experiment.run
    eval_seed = derive_seed(run.seed, 1, 0) if seed is None else seed
    if video_path is None:
        envs, fps = make_vector_env(experiment.env, run.eval_num_envs, training=False), 0.0
    else:
        envs, fps = videos.make_render_env(experiment.env)
    try:
        agent = build_agent(
            experiment.agent_name, experiment.agent, env_spec(experiment.env, envs), run.seed
        )
        load_agent_state(agent, state)
        if video_path is not None:
            return videos.record(agent, envs, video_path, episodes or 1, eval_seed, fps, max_frames)
        count = episodes or run.final_eval_episodes or run.eval_episodes
        return evaluate(agent, envs, count, eval_seed)
    finally:
        envs.close()


__all__ = [
    "RESUMABLE_KEYS",
    "TrainingInterrupted",
    "choose_checkpoint",
    "default_run_dir",
    "describe_checkpoint",
    "evaluate_checkpoint",
    "open_session",
    "resume",
    "train",
    "training_loop_class",
]
