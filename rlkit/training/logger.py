"""TensorBoard logging and the terminal progress bar of a training run."""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import TextIO

from torch.utils.tensorboard import SummaryWriter

from rlkit.experiment import duration
from rlkit.rollout import Episode


class RunLogger:
    """Writes episode, agent-metric, speed and evaluation scalars; averages agent metrics."""

    def __init__(self, run_dir: Path, purge_step: int | None) -> None:
        self.writer = SummaryWriter(str(run_dir), purge_step=purge_step)
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self.recent_returns: deque[float] = deque(maxlen=100)
        self.latest: dict[str, float] = {}
        """The newest value of each agent metric, by tag (the progress line's epsilon)."""

    def config(self, toml_text: str) -> None:
        self.writer.add_text("config", "```toml\n" + toml_text + "\n```", 0)

    def episodes(self, episodes: list[Episode]) -> None:
        """Collect finished episodes; `flush` writes the mean return and length of the window."""
        for ep in episodes:
            self._sums["episode_return"] += ep.episode_return
            self._sums["episode_length"] += ep.length
            self._counts["episode_return"] += 1
            self._counts["episode_length"] += 1
            self.recent_returns.append(ep.episode_return)

    def metrics(self, metrics: dict[str, float]) -> None:
        """Accumulate an update's metrics; `flush` writes their means as agent/<key>."""
        for key, value in metrics.items():
            if math.isfinite(value):
                self.latest[f"agent/{key}"] = value
                self._sums[f"agent/{key}"] += value
                self._counts[f"agent/{key}"] += 1

    def flush(self, step: int, steps_per_second: float) -> None:
        """Write the window's means (episodes as train/episode_*) and the speed."""
        for key, total in self._sums.items():
            tag = key if key.startswith("agent/") else f"train/{key}"
            self.writer.add_scalar(tag, total / self._counts[key], step)
            if key == "episode_return":
                self.writer.add_scalar("train/episodes", self._counts[key], step)
        self._sums.clear()
        self._counts.clear()
        self.writer.add_scalar("train/steps_per_second", steps_per_second, step)

    def evaluation(self, mean_return: float, std_return: float, step: int) -> None:
        self.writer.add_scalar("eval/mean_return", mean_return, step)
        self.writer.add_scalar("eval/std_return", std_return, step)

    def mean_recent_return(self) -> float:
        return (
            sum(self.recent_returns) / len(self.recent_returns) if self.recent_returns else math.nan
        )

    def recent_text(self) -> str:
        """The progress line's label and value of the mean training return."""
        if not self.recent_returns:
            return "train return: no episode finished yet"
        n = len(self.recent_returns)
        return f"train return (last {n} ep.) {_number(self.mean_recent_return())}"

    def close(self) -> None:
        self.writer.close()


EXPLORATION = (("agent/epsilon", "epsilon"), ("agent/entropy", "policy entropy"))
"""Agent metrics the progress line shows, with their labels: how much the agent explores."""


def progress_text(
    recent: str, metrics: dict[str, float], steps_per_second: float, left: float | None
) -> str:
    """The step loop's progress line after the bar: the training return (`recent`, from
    RunLogger.recent_text), the agent's exploration now (epsilon, policy entropy: from
    RunLogger.latest), the speed and the time left at that speed."""
    parts = [recent]
    parts += [f"{label} {metrics[tag]:.3f}" for tag, label in EXPLORATION if tag in metrics]
    parts.append(f"{steps_per_second:,.0f} steps/s")
    if left is not None and math.isfinite(left):
        parts.append(f"{duration(left)} left")
    return " | ".join(parts)


def n_episodes(n: int) -> str:
    """'1 episode', '20 episodes'."""
    return f"{n} episode" if n == 1 else f"{n} episodes"


def _number(value: float) -> str:
    """A return as people read it: 3 decimals below 10, 1 above."""
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


class ProgressBar:
    """One updating line on a terminal; a plain line every 10% otherwise (CI logs). Notes
    (evaluations, the target) are printed as lines of their own above it."""

    def __init__(
        self, total: int, enabled: bool, stream: TextIO | None = None, unit: str = "steps"
    ) -> None:
        self.total = total
        self.enabled = enabled
        self.unit = unit
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1
        self._line = ""

    def note(self, line: str) -> None:
        """Print `line` on its own (on a terminal: above the bar, which is drawn again)."""
        if not self.enabled:
            return
        if self.tty:
            self.stream.write(f"\r\033[K{line}\n{self._line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def update(self, step: int, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        fraction = min(step / self.total, 1.0)
        where = f"{fraction:4.0%} {step:,}/{self.total:,} {self.unit} | {text}"
        if self.tty:
            now = time.monotonic()
            if force or now - self._last_draw > 0.25:
                self._last_draw = now
                bar = "#" * int(fraction * 24)
                room = shutil.get_terminal_size().columns - 28  # one screen line: \r redraws it
                where = where if len(where) <= room else where[: max(room - 3, 0)] + "..."
                self._line = f"\r[{bar:<24}] {where}\033[K"
                self.stream.write(self._line)
                self.stream.flush()
        elif int(fraction * 10) > self._last_decile or force:
            self._last_decile = int(fraction * 10)
            self.stream.write(where + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
