"""A training loop that works in rounds on a GA backend: the Deep GA's generations, ES's
iterations. A run ends after `limit` rounds when the agent sets them, else after
run.total_steps frames, and on reaching run.target_return either way. A stop requested while
a round's evaluations run saves the state of the round's start."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from rlkit.agents.ga.backends import Backend, EvalTask, Fitness
from rlkit.training.session import StopFlag, TrainingLoop


class _Stopped(Exception):  # noqa: N818 - control flow: Ctrl-C during a round's evaluations
    """Raised from a backend's poll when a stop was requested."""


class RoundsLoop(TrainingLoop):
    """A TrainingLoop whose budget, progress and resume check are counted in rounds (named
    by `noun`, limited by the agent setting `setting`) or, without a limit, in frames."""

    noun = "round"
    setting = "agent.rounds"
    backend: Backend | None = None
    """Where the round's evaluations run (made by the subclass's make_agent)."""

    @abc.abstractmethod
    def rounds_limit(self) -> int | None:
        """The agent's round budget (None: run.total_steps frames)."""

    @abc.abstractmethod
    def rounds_done(self) -> int:
        """Rounds completed so far."""

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def evaluate_tasks(self, tasks: Sequence[EvalTask], stop: StopFlag) -> list[Fitness]:
        """The backend's results for `tasks`; on a stop request, checkpoint the state of the
        round's start instead (the loop's state changes only once a round is done)."""
        assert self.backend is not None

        def poll() -> None:
            if stop.requested:
                raise _Stopped

        try:
            return self.backend.evaluate(tasks, poll)
        except _Stopped:
            self.session.interrupt()

    def finished(self) -> bool:
        """True once the budget (rounds, else run.total_steps frames) or target is met."""
        counters, limit = self.session.counters, self.rounds_limit()
        if counters.reached_target is not None:
            return True
        if limit is not None:
            return self.rounds_done() >= limit
        return counters.step >= self.experiment.run.total_steps

    def resume_error(self) -> str | None:
        if not self.finished():
            return None
        return (
            f"run {self.session.run_dir} already finished its budget ({self.noun} "
            f"{self.rounds_done()}, {self.session.counters.step} frames); extend it with "
            f"--set {self.setting}=<more> or --set run.total_steps=<more frames>"
        )

    def budget(self) -> int:
        return self.rounds_limit() or self.experiment.run.total_steps

    def progress(self) -> int:
        return self.rounds_done() if self.rounds_limit() else self.session.counters.step

    def unit(self) -> str:
        return f"{self.noun}s" if self.rounds_limit() else "frames"
