"""The budget of a training loop that works in rounds: the Deep GA's generations, ES's
iterations. A run ends after `limit` rounds when the agent sets them, else after
run.total_steps frames, and on reaching run.target_return either way."""

from __future__ import annotations

import abc

from rlkit.training.session import TrainingLoop


class RoundsLoop(TrainingLoop):
    """A TrainingLoop whose budget, progress and resume check are counted in rounds (named
    by `noun`, limited by the agent setting `setting`) or, without a limit, in frames."""

    noun = "round"
    setting = "agent.rounds"

    @abc.abstractmethod
    def rounds_limit(self) -> int | None:
        """The agent's round budget (None: run.total_steps frames)."""

    @abc.abstractmethod
    def rounds_done(self) -> int:
        """Rounds completed so far."""

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
