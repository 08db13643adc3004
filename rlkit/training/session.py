"""The run session: the one skeleton every training loop runs in.

A session owns what every run has: the run directory and its config.toml, the TensorBoard logger
and the progress bar, Ctrl-C/SIGTERM handling, atomic checkpoints and their rotation, the
counters every checkpoint carries, the final evaluation and summary.json. A `TrainingLoop`
supplies only what differs between agent families: the envs and the agent it trains, its step,
its stop condition and the extra state its checkpoints carry. The runner's act/observe/update
loop (`rlkit.training.steps.StepLoop`) is one; AlphaZero's self-play and the Deep GA's
generations are others, named by their agent class (`Agent.training_loop`);
`rlkit.training.runner.open_session` picks the loop.
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import torch

from rlkit import checkpoint
from rlkit.agent import Agent, EnvSpec, agent_class, build_agent
from rlkit.checkpoint import write_atomic
from rlkit.config import dumps_toml
from rlkit.envs.factory import make_vector_env
from rlkit.errors import CheckpointError, RlkitError
from rlkit.evaluation import EvalResult, evaluate
from rlkit.experiment import Experiment, RunConfig, load_experiment
from rlkit.seeding import derive_seed
from rlkit.training import identity
from rlkit.training.lock import LOCK_NAME
from rlkit.training.logger import ProgressBar, RunLogger, n_episodes


class TrainingInterrupted(Exception):  # noqa: N818 - not an error: a requested stop
    """Ctrl-C (or SIGTERM) stopped training after a checkpoint was saved."""

    def __init__(self, run_dir: Path, step: int, saved: Path) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint saved to {saved}")
        self.run_dir, self.step, self.saved = run_dir, step, saved


@dataclass
class Counters:
    """Progress of a run, saved in every checkpoint. `step` is the loop's unit of experience:
    env steps (runner), self-play moves (AlphaZero), emulator frames (Deep GA)."""

    step: int = 0
    episodes: int = 0
    evaluations: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    wall_s: float = 0.0
    reached_target: int | None = None
    """The step at which the loop stopped on run.target_return (early stopping)."""
    target_met: int | None = None
    """The step of the first evaluation, periodic or final, that reached the experiment's
    target (Experiment.target)."""
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    """The best evaluation so far, periodic or final (step, mean_return, std_return, episodes,
    and the loop's own keys), whose agent checkpoints/best.pt holds (run.keep_best)."""


class StopFlag:
    """Set by the first Ctrl-C/SIGTERM: the loop checkpoints and stops at its next chance."""

    requested = False


class TrainingLoop(abc.ABC):
    """What one agent family's training supplies to the session (see the module docstring).

    Built by the session, which then calls `make_agent` once (before anything is written),
    `load_state_dict` when resuming, `train` inside the signal handler, `final_evaluation`,
    and `summary` for summary.json's extra keys.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.experiment = session.experiment

    @abc.abstractmethod
    def make_agent(self) -> Agent[Any]:
        """Build the envs this loop needs and the agent it trains (`session.build_agent`)."""

    @abc.abstractmethod
    def train(self, stop: StopFlag) -> None:
        """Train until the budget or target is met; `session.save()` when a checkpoint is due,
        `session.interrupt()` once `stop.requested`."""

    def resume_error(self) -> str | None:
        """Why a restored run cannot continue (its budget is met), or None."""
        return None

    def budget(self) -> int:
        """The progress bar's total, in `progress()` units."""
        return self.experiment.run.total_steps

    def unit(self) -> str:
        """What `budget()` counts, for people."""
        return "steps"

    def evaluation_plan(self) -> str:
        """When the loop evaluates, in words (the run's first lines)."""
        run = self.experiment.run
        final = run.final_eval_episodes or run.eval_episodes
        if not run.eval_every:
            return f"one greedy evaluation at the end ({n_episodes(final)})"
        return (
            f"a greedy evaluation every {run.eval_every:,} {self.unit()} "
            f"({n_episodes(run.eval_episodes)}) and at the end ({final})"
        )

    def progress(self) -> int:
        """Work done so far, in `budget()` units."""
        return self.session.counters.step

    def log_step(self) -> int:
        """The TensorBoard x-axis value of the run's current point."""
        return self.session.counters.step

    def final_evaluation(self) -> EvalResult:
        """The greedy evaluation summary.json reports, as `rlkit eval RUN_DIR` replays it."""
        run = self.experiment.run
        episodes = run.final_eval_episodes or run.eval_episodes
        return self.session.evaluate(episodes, derive_seed(run.seed, 1, 0))

    def state_dict(self) -> dict[str, Any]:
        """The loop's own checkpoint entries (beside config, agent and counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore from a checkpoint (the agent and counters are restored already)."""

    def summary(self) -> dict[str, Any]:
        """summary.json keys beyond the common ones."""
        return {}

    def progress_keys(self) -> dict[str, float]:
        """Where the loop is, for a best_eval record beyond its step (the GA's generation,
        AlphaZero's iteration)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the loop's envs and workers."""


class Session:
    """One training session over a run directory, fresh (`state` None) or from a checkpoint."""

    def __init__(
        self,
        experiment: Experiment,
        run_dir: Path,
        state: dict[str, Any] | None,
        loop_class: type[TrainingLoop],
        **loop_options: Any,
    ) -> None:
        self.experiment, self.run_dir, self.resumed = experiment, run_dir, state is not None
        self.restarted = False
        """Set for a fresh start in a directory an earlier attempt logged into (`--resume` of
        a run with no checkpoint): its TensorBoard events are purged from the first step."""
        run = experiment.run
        configure_torch(run)
        torch.manual_seed(run.seed)
        self.counters = Counters(next_eval=run.eval_every, next_checkpoint=run.checkpoint_every)
        self.eval_envs: Any = None
        self.logger: RunLogger | None = None
        self.loop: TrainingLoop = loop_class(self, **loop_options)
        try:
            self.agent = self.loop.make_agent()
            if state is not None:
                load_agent_state(self.agent, state)
                self.counters = restore_counters(state)
                self.counters.target_met = target_met(self.counters, experiment.target)
                self.loop.load_state_dict(state)
                self._adopt_best()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.loop.close()
        if self.eval_envs is not None:
            self.eval_envs.close()
            self.eval_envs = None

    def build_agent(self, spec: EnvSpec) -> Agent[Any]:
        """The experiment's agent for `spec`, seeded from the run's seed."""
        return build_agent(
            self.experiment.agent_name, self.experiment.agent, spec, self.experiment.run.seed
        )

    def evaluation_envs(self) -> Any:
        """The run's evaluation vector env (made on first use, kept for the session)."""
        if self.eval_envs is None:
            run = self.experiment.run
            self.eval_envs = make_vector_env(self.experiment.env, run.eval_num_envs, training=False)
        return self.eval_envs

    def evaluate(self, episodes: int, seed: int) -> EvalResult:
        """Greedy episodes of the agent on the evaluation envs."""
        return evaluate(self.agent, self.evaluation_envs(), episodes, seed)

    def run(self, before_writing: Callable[[], None] | None = None) -> dict[str, Any]:
        """Write config.toml, train to the budget, evaluate, write summary.json; return it.
        `before_writing` runs once the run is known to go ahead, before its first write (the
        run lock's announce)."""
        finishing = False
        if self.resumed and (why := self.loop.resume_error()) is not None:
            if (self.run_dir / "summary.json").is_file():
                raise RlkitError(why)
            finishing = True  # stopped after its last checkpoint, before its summary: finish it
        if before_writing is not None:
            before_writing()
        checkpoint.remove_temporaries(self.run_dir)  # of a writer killed mid-write
        run, loop = self.experiment.run, self.loop
        self.run_dir.mkdir(parents=True, exist_ok=True)
        toml_text = dumps_toml(self.experiment.to_dict())
        write_atomic(self.run_dir / "config.toml", toml_text)
        logger = self.logger = RunLogger(
            self.run_dir,
            purge_step=loop.log_step() if self.resumed else (0 if self.restarted else None),
        )
        self.bar = ProgressBar(loop.budget(), run.progress, unit=loop.unit())
        self._announce()
        if not self.resumed:
            logger.config(toml_text)
        try:
            with stop_on_signal() as stop:
                if not finishing:
                    loop.train(stop)
            result = loop.final_evaluation()
            # in a run with periodic evaluations the agent as training left it is a candidate
            # too: its final evaluation can beat them all (the budget ends between two)
            self.evaluated(
                self.counters.step,
                result.mean_return,
                result.std_return,
                result.episodes,
                label="final eval",
                compete=self.counters.best is not None,
            )
            logger.evaluation(result.mean_return, result.std_return, loop.log_step())
        finally:
            self.bar.close()
            logger.close()
        return self.write_summary(result)

    def save(self) -> Path:
        """Checkpoint the run (atomically) and delete all but the newest run.keep_checkpoints."""
        path = checkpoint.checkpoint_path(self.run_dir, self.counters.step)
        payload = {**self._payload(self.agent.state_dict()), **self.loop.state_dict()}
        own = [name for name in self._own_checkpoints() if name != path.name] + [path.name]
        identity.record_written(self.run_dir, own)  # before the file: a crash leaks nothing
        checkpoint.save(path, payload)
        kept = checkpoint.prune(self.run_dir, self.experiment.run.keep_checkpoints, own)
        identity.record_written(self.run_dir, kept)
        return path

    def _payload(self, agent_state: dict[str, Any]) -> dict[str, Any]:
        """What every checkpoint holds: config, identity, agent state and counters."""
        return {
            "config": self.experiment.to_dict(),
            "identity": identity.fingerprint(self.experiment),
            "agent": agent_state,
            "counters": asdict(self.counters),
        }

    def _announce(self) -> None:
        """The run's first lines: what runs where, its evaluations and target, and how long
        the experiment takes as shipped."""
        exp, loop = self.experiment, self.loop
        if self.resumed:
            head = (
                f"resuming {self.run_dir} at {loop.progress():,} of {loop.budget():,} {loop.unit()}"
            )
        else:
            head = (
                f"{exp.name}: {exp.agent_name} on {exp.env.id}, {loop.budget():,} "
                f"{loop.unit()}, seed {exp.run.seed} -> {self.run_dir}"
            )
        self.bar.note(head)
        plan = [loop.evaluation_plan()]
        if exp.target is not None:
            stops = exp.run.target_return == exp.target
            plan.append(
                f"target: return >= {exp.target:g}" + (" (it stops there)" if stops else "")
            )
        elif exp.expect.goal:
            plan.append(f"goal: {exp.expect.goal}")
        if took := exp.expect.time_text():
            plan.append(f"as shipped it takes {took}")
        self.bar.note("  " + "; ".join(plan))

    def evaluated(
        self,
        step: int,
        mean_return: float,
        std_return: float,
        episodes: int,
        where: str | None = None,
        label: str = "eval",
        compete: bool = True,
    ) -> None:
        """Report an evaluation of the agent as it is now (`label`: "eval", "final eval"...;
        `where`: the loop's position, default the step): a line on the console, the best
        agent kept (when `compete`: consider_best) and the target's first reaching recorded."""
        best = compete and self.consider_best(step, mean_return, std_return, episodes)
        at = f"step {step:,}" if where is None else where
        line = (
            f"{label} at {at}: return {mean_return:.3f} ± {std_return:.3f} over "
            f"{n_episodes(episodes)}"
        )
        if best:
            line += " (best so far)"
        target = self.experiment.target
        if target is not None and self.counters.target_met is None and mean_return >= target:
            self.counters.target_met = step
            line += f"; target {target:g} reached"
        self.bar.note(line)

    def consider_best(
        self, step: int, mean_return: float, std_return: float, episodes: int
    ) -> bool:
        """An evaluation of the agent as it is now: when it beats the best so far (and
        run.keep_best), record it and write the agent to checkpoints/best.pt (atomically, with
        only what acting needs: no replay memory, no loop state). True when it did."""
        best = self.counters.best
        if not self.experiment.run.keep_best or not math.isfinite(mean_return):
            return False
        if best is not None and mean_return <= best["mean_return"]:
            return False
        self.counters.best = {
            "step": step,
            "mean_return": float(mean_return),
            "std_return": float(std_return),
            "episodes": episodes,
            **self.loop.progress_keys(),
        }
        state = self.agent.state_dict()
        agent_class(self.experiment.agent_name).for_acting(self.experiment.agent, state)
        checkpoint.save(checkpoint.best_path(self.run_dir), self._payload(state))
        return True

    def _adopt_best(self) -> None:
        """On resume: a best.pt of this run written after the checkpoint resumed from (by the
        run before it stopped) stays the best if it beats the checkpoint's record; a resumed
        run that does not reach it again must not overwrite it with a worse agent."""
        path = checkpoint.best_path(self.run_dir)
        if not path.is_file():
            return
        try:
            saved = checkpoint.load(path)
        except CheckpointError:
            return  # unreadable: the next best replaces it
        record = saved.get("counters", {}).get("best")
        if saved.get("identity") != identity.fingerprint(self.experiment) or not record:
            return
        best = self.counters.best
        if best is None or record["mean_return"] > best["mean_return"]:
            self.counters.best = dict(record)

    def _own_checkpoints(self) -> list[str]:
        """The checkpoints this run wrote (identity.written), oldest first. A run directory
        from before that list existed adopts the checkpoints of its own experiment once."""
        if (self.run_dir / "checkpoints" / identity.WRITTEN).is_file():
            return identity.written(self.run_dir)
        mine = identity.fingerprint(self.experiment)
        adopted = []
        for path in checkpoint.list_checkpoints(self.run_dir):
            try:
                theirs = load_experiment(checkpoint.load(path)["config"])
            except RlkitError:
                continue  # corrupt or foreign: not ours to delete
            if identity.fingerprint(theirs) == mine:
                adopted.append(path.name)
        return adopted

    def interrupt(self, saved: Path | None = None) -> NoReturn:
        """Stop on request: checkpoint now (or name the checkpoint `saved` already holds)."""
        raise TrainingInterrupted(self.run_dir, self.counters.step, saved or self.save())

    def write_summary(self, result: EvalResult) -> dict[str, Any]:
        """Write RUN_DIR/summary.json (the keys users script against, then the loop's)."""
        counters, exp = self.counters, self.experiment
        summary = {
            "name": exp.name,
            "agent": exp.agent_name,
            "env": exp.env.id,
            "seed": exp.run.seed,
            "steps": counters.step,
            "episodes": counters.episodes,
            "wall_s": round(counters.wall_s, 3),
            "steps_per_second": round(counters.step / max(counters.wall_s, 1e-9), 1),
            "final_eval": result.as_dict(),
            "best_eval": counters.best,
            "target": exp.target,
            "target_met_at": counters.target_met,
            **self.loop.summary(),
        }
        write_atomic(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary


def target_met(counters: Counters, target: float | None) -> int | None:
    """The step of the first evaluation that reached `target`: the counters' record, or for
    a checkpoint of an rlkit before that record, the first such entry of their history."""
    if counters.target_met is not None or target is None:
        return counters.target_met
    for entry in counters.history:
        value = entry.get("mean_return", entry.get("eval/mean_return"))
        if "step" in entry and value is not None and value >= target:
            return int(entry["step"])
    return None


def load_agent_state(agent: Agent[Any], state: dict[str, Any]) -> None:
    """The checkpoint's agent state into `agent`; CheckpointError in one line if it does not
    fit the agent the checkpoint's config builds (missing keys, other shapes)."""
    try:
        agent.load_state_dict(state["agent"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        raise CheckpointError(
            "the checkpoint's agent state does not fit the agent its own config builds "
            f"({type(exc).__name__}: {detail}); it was not written by this rlkit for this config"
        ) from None


def restore_counters(state: dict[str, Any]) -> Counters:
    """The counters a checkpoint carries; CheckpointError for one whose counters are not the
    run session's (a checkpoint of an rlkit before it: it evaluates, but cannot resume)."""
    saved = state.get("counters")
    names = {f.name for f in fields(Counters)}
    if not isinstance(saved, dict) or not set(saved) <= names or "step" not in saved:
        raise CheckpointError(
            "this checkpoint's training state is not in the run session's format (written by an "
            "older rlkit?): `rlkit eval` can still play it, but it cannot be resumed"
        )
    return Counters(**saved)


def configure_torch(run: RunConfig) -> None:
    """Apply the run's process-wide torch settings: CPU threads and denormal flushing."""
    if run.torch_threads:
        torch.set_num_threads(run.torch_threads)
    torch.set_flush_denormal(run.flush_denormal)


def default_run_dir(name: str) -> Path:
    """runs/<name>-<date>-<time>, with a suffix when that exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{name}-{stamp}"
    suffix = 2
    while path.exists():
        path = Path("runs") / f"{name}-{stamp}-{suffix}"
        suffix += 1
    return path


def check_run_dir_free(path: Path) -> None:
    """RlkitError unless `path` is missing or an empty directory (its lock file aside)."""
    if path.exists() and (not path.is_dir() or any(p.name != LOCK_NAME for p in path.iterdir())):
        raise RlkitError(
            f"run directory {path} already exists; choose another --logdir, "
            f"or continue that run with --resume {path}"
        )


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
