"""The runner: train an agent for a step budget with evaluation, logging, checkpoints, resume."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit import checkpoint, envstate
from rlkit.agent import Agent, agent_class
from rlkit.config import dumps_toml
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.errors import ConfigError, RlkitError
from rlkit.evaluation import EvalResult, evaluate
from rlkit.experiment import Experiment, RunConfig, load_experiment
from rlkit.logger import ProgressBar, RunLogger
from rlkit.rollout import RolloutState, rollout

RESUMABLE_KEYS = {
    "run.total_steps",
    "run.eval_every",
    "run.eval_episodes",
    "run.final_eval_episodes",
    "run.checkpoint_every",
    "run.keep_checkpoints",
    "run.log_every",
    "run.progress",
    "agent.generations",  # the GA's budget in generations (rlkit.neuroevolution)
    "agent.iterations",  # AlphaZero's budget (rlkit.alphazero)
    "agent.time_budget_s",
}


class TrainingInterrupted(Exception):  # noqa: N818 - not an error: a requested stop
    """Ctrl-C (or SIGTERM) stopped training after a checkpoint was saved."""

    def __init__(self, run_dir: Path, step: int, saved: Path) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint saved to {saved}")
        self.run_dir, self.step, self.saved = run_dir, step, saved


@dataclass
class Counters:
    """Progress of a run, saved in every checkpoint."""

    step: int = 0
    episodes: int = 0
    evaluations: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    wall_s: float = 0.0
    reached_target: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def derive_seed(seed: int, *tags: int) -> int:
    """A seed for a sub-stream (agent, evaluation k, ...) that does not overlap the others.

    30 bits, so that seed + sub-env index stays below 2**31, the limit of ale-py's seeds.
    """
    return int(np.random.SeedSequence([seed, *tags]).generate_state(1)[0]) >> 2


def train(experiment: Experiment, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Train from scratch into a new run directory; return the summary."""
    target = Path(run_dir) if run_dir else default_run_dir(experiment.name)
    check_run_dir_free(target)
    custom = custom_training_loop(experiment.agent_name)
    if custom is not None:
        return custom(experiment, target, None)
    with Trainer(experiment, target) as trainer:  # bad envs or agents fail before any write
        target.mkdir(parents=True, exist_ok=True)
        toml_text = dumps_toml(experiment.to_dict())
        write_atomic(target / "config.toml", toml_text)
        return trainer.run(toml_text)


def resume(run_dir: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Continue a run from its newest checkpoint; only `run.*` budget keys may change."""
    target = Path(run_dir)
    if not target.is_dir():
        raise RlkitError(f"--resume {target}: no such run directory")
    state = checkpoint.load(checkpoint.latest(target))
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key not in RESUMABLE_KEYS:
            raise ConfigError(
                f"--set {key}: cannot change when resuming; "
                f"allowed: {', '.join(sorted(RESUMABLE_KEYS))}"
            )
    experiment = load_experiment(state["config"], overrides)
    custom = custom_training_loop(experiment.agent_name)
    if custom is not None:
        return custom(experiment, target, state)
    if state["counters"].get("reached_target") is not None:
        raise RlkitError(
            f"run {target} stopped at step {state['counters']['reached_target']} on reaching "
            f"run.target_return; nothing to resume"
        )
    if state["counters"]["step"] >= experiment.run.total_steps:
        raise RlkitError(
            f"run {target} already reached run.total_steps={experiment.run.total_steps}; "
            "extend it with --set run.total_steps=<more>"
        )
    with Trainer(experiment, target, state) as trainer:
        write_atomic(target / "config.toml", dumps_toml(experiment.to_dict()))
        return trainer.run(None)


def custom_training_loop(agent_name: str) -> Callable[..., dict[str, Any]] | None:
    """The agent's own training loop (see Agent.training_loop), or None for the runner's."""
    spec = agent_class(agent_name).training_loop
    if spec is None:
        return None
    module, _, function = spec.partition(":")
    loop: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module), function)
    return loop


def default_run_dir(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{name}-{stamp}"
    suffix = 2
    while path.exists():
        path = Path("runs") / f"{name}-{stamp}-{suffix}"
        suffix += 1
    return path


def check_run_dir_free(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RlkitError(
            f"run directory {path} already exists; choose another --logdir, "
            f"or continue that run with --resume {path}"
        )


def configure_torch(run: RunConfig) -> None:
    """Apply the run's process-wide torch settings: CPU threads and denormal flushing."""
    if run.torch_threads:
        torch.set_num_threads(run.torch_threads)
    torch.set_flush_denormal(run.flush_denormal)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Trainer:
    """One training session over a run directory (fresh, or restored from a checkpoint)."""

    def __init__(self, experiment: Experiment, run_dir: Path, state: dict[str, Any] | None = None):
        self.exp, self.run_dir, self.resumed = experiment, run_dir, state is not None
        seed = experiment.run.seed
        configure_torch(experiment.run)
        torch.manual_seed(seed)
        self.envs = make_vector_env(experiment.env)
        try:
            self.eval_envs = make_vector_env(
                experiment.env, experiment.run.eval_num_envs, training=False
            )
        except BaseException:
            self.envs.close()
            raise
        try:
            self.agent = build_agent(experiment, env_spec(experiment.env, self.envs), seed)
            self.counters = Counters(
                next_eval=experiment.run.eval_every,
                next_checkpoint=experiment.run.checkpoint_every,
            )
            self.rollout_state = RolloutState.reset(self.envs, seed)
            if state is not None:
                self._restore(state)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.envs.close()
        self.eval_envs.close()

    def run(self, toml_text: str | None) -> dict[str, Any]:
        """Train to the budget, then evaluate, checkpoint and write summary.json."""
        run = self.exp.run
        logger = RunLogger(self.run_dir, purge_step=self.counters.step if self.resumed else None)
        bar = ProgressBar(run.total_steps, run.progress)
        if toml_text is not None:
            logger.config(toml_text)
        try:
            with stop_on_signal() as stop:
                self._loop(logger, bar, stop)
            self._save()
            result = self._evaluate(run.final_eval_episodes or run.eval_episodes, final=True)
            logger.evaluation(result.mean_return, result.std_return, self.counters.step)
            bar.update(self.counters.step, f"final eval {result.mean_return:.3f}", force=True)
        finally:
            bar.close()
            logger.close()
        return self._write_summary(result)

    def _loop(self, logger: RunLogger, bar: ProgressBar, stop: StopFlag) -> None:
        run, c, n = self.exp.run, self.counters, self.envs.num_envs
        clock = window_start = time.perf_counter()
        wall_start, window_step, next_log = c.wall_s, c.step, c.step + run.log_every
        for transition, episodes in rollout(self.envs, self.agent, self.rollout_state, True):
            self.agent.observe(transition)
            logger.metrics(self.agent.update())
            logger.episodes(episodes)
            c.step += n
            c.episodes += len(episodes)
            c.wall_s = wall_start + time.perf_counter() - clock
            if c.step >= next_log or c.step >= run.total_steps:
                now = time.perf_counter()
                sps = (c.step - window_step) / max(now - window_start, 1e-9)
                logger.flush(c.step, sps)
                bar.update(c.step, f"return {logger.mean_recent_return():.3f} | {sps:,.0f} steps/s")
                window_start, window_step, next_log = now, c.step, c.step + run.log_every
            if c.step >= run.total_steps:
                return
            if run.eval_every and c.step >= c.next_eval:
                result = self._evaluate(run.eval_episodes, final=False)
                logger.evaluation(result.mean_return, result.std_return, c.step)
                if run.target_return is not None and result.mean_return >= run.target_return:
                    c.reached_target = c.step
                    return
                c.next_eval += run.eval_every * math.ceil(
                    (c.step - c.next_eval + 1) / run.eval_every
                )
            if run.checkpoint_every and c.step >= c.next_checkpoint:
                self._save()
                c.next_checkpoint = c.step + run.checkpoint_every
            if stop.requested:
                raise TrainingInterrupted(self.run_dir, c.step, self._save())

    def _evaluate(self, episodes: int, final: bool) -> EvalResult:
        c = self.counters
        tag = (1, 0) if final else (2, c.evaluations)
        result = evaluate(
            self.agent, self.eval_envs, episodes, derive_seed(self.exp.run.seed, *tag)
        )
        self.agent.attach(self.envs)  # evaluation attached the eval envs; planners resume here
        if not final:
            c.evaluations += 1
        c.history.append(
            {"step": c.step, "mean_return": result.mean_return, "std_return": result.std_return}
        )
        return result

    def _save(self) -> Path:
        path = checkpoint.checkpoint_path(self.run_dir, self.counters.step)
        checkpoint.save(
            path,
            {
                "config": self.exp.to_dict(),
                "agent": self.agent.state_dict(),
                "counters": asdict(self.counters),
                "rollout": self.rollout_state.state_dict(),
                "envs": envstate.capture(self.envs),
                "torch_rng": torch.get_rng_state(),
            },
        )
        checkpoint.prune(self.run_dir, self.exp.run.keep_checkpoints)
        return path

    def _restore(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.counters = Counters(**state["counters"])
        torch.set_rng_state(state["torch_rng"])
        if state["envs"] is None:  # native or out-of-process envs: restart their episodes
            seed = derive_seed(self.exp.run.seed, 3, self.counters.step)
            self.rollout_state = RolloutState.reset(self.envs, seed)
            print(f"note: {self.exp.env.id} state cannot be saved; episodes restart on resume")
        else:
            envstate.restore(self.envs, state["envs"])
            self.rollout_state = RolloutState.from_state_dict(state["rollout"])

    def _write_summary(self, result: EvalResult) -> dict[str, Any]:
        c = self.counters
        return write_summary(
            self.run_dir,
            self.exp,
            result,
            steps=c.step,
            episodes=c.episodes,
            wall_s=c.wall_s,
            reached_target_at=c.reached_target,
            evaluations=c.history,
        )


def write_summary(
    run_dir: Path,
    experiment: Experiment,
    result: EvalResult,
    *,
    steps: int,
    episodes: int,
    wall_s: float,
    **extra: Any,
) -> dict[str, Any]:
    """Write RUN_DIR/summary.json (the keys users script against, then `extra`); return it."""
    summary = {
        "name": experiment.name,
        "agent": experiment.agent_name,
        "env": experiment.env.id,
        "seed": experiment.run.seed,
        "steps": steps,
        "episodes": episodes,
        "wall_s": round(wall_s, 3),
        "steps_per_second": round(steps / max(wall_s, 1e-9), 1),
        "final_eval": result.as_dict(),
        **extra,
    }
    write_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _for_evaluation(experiment: Experiment, state: dict[str, Any]) -> Experiment:
    """Acting needs no replay memory: give agents that have one a small one, skip the saved one."""
    agent_config = experiment.agent
    replay = getattr(agent_config, "replay", None)
    if replay is not None and hasattr(replay, "capacity"):
        small = dataclasses.replace(replay, capacity=min(replay.capacity, 4_096))
        experiment.agent = dataclasses.replace(agent_config, replay=small)
        state["agent"].pop("replay", None)
    return experiment


def build_agent(experiment: Experiment, spec: Any, seed: int) -> Agent[Any]:
    """Check the agent can handle the env's spaces, then construct it."""
    cls = agent_class(experiment.agent_name)
    cls.check_spaces(spec)
    return cls(experiment.agent, spec, derive_seed(seed, 0))


class StopFlag:
    requested = False


@contextlib.contextmanager
def stop_on_signal() -> Iterator[StopFlag]:
    """First Ctrl-C/SIGTERM asks the loop to checkpoint and stop; a second aborts at once."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def evaluate_checkpoint(
    target: str | Path,
    episodes: int | None = None,
    seed: int | None = None,
    video: str | Path | None = None,
    max_frames: int = 5_000,
) -> EvalResult:
    """Greedy evaluation of a run directory's newest checkpoint (or a checkpoint file).

    With the defaults it replays the run's final evaluation, so it reproduces summary.json.
    With `video` (a .gif, or .mp4 where imageio has ffmpeg) it plays `episodes` (default 1)
    episodes back to back on a rendering env, at most `max_frames` frames, into that file.
    """
    from rlkit import video as videos

    video_path = videos.check_video_path(video) if video is not None else None
    state = checkpoint.load(checkpoint.latest(Path(target)))
    experiment = _for_evaluation(load_experiment(state["config"]), state)
    run = experiment.run
    eval_seed = derive_seed(run.seed, 1, 0) if seed is None else seed
    if video_path is None:
        envs, fps = make_vector_env(experiment.env, run.eval_num_envs, training=False), 0.0
    else:
        envs, fps = videos.make_render_env(experiment.env)
    try:
        agent = build_agent(experiment, env_spec(experiment.env, envs), run.seed)
        agent.load_state_dict(state["agent"])
        if video_path is not None:
            return videos.record(agent, envs, video_path, episodes or 1, eval_seed, fps, max_frames)
        count = episodes or run.final_eval_episodes or run.eval_episodes
        return evaluate(agent, envs, count, eval_seed)
    finally:
        envs.close()
