"""TensorBoard logging and the terminal progress bar of a training run."""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import defaultdict, deque
from collections.abc import Sequence
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

    def recent_text(self) -> Part:
        """The progress line's mean training return, labelled (long and short)."""
        if not self.recent_returns:
            return ("train return: no episode finished yet", "no episode yet")
        n, mean = len(self.recent_returns), _number(self.mean_recent_return())
        return (f"train return (last {n} ep.) {mean}", f"return ({n} ep.) {mean}")

    def close(self) -> None:
        self.writer.close()


Part = tuple[str, str]
"""One column of the progress line, labelled in full and shortly (for a narrow terminal)."""

EXPLORATION = (
    ("agent/epsilon", "epsilon", "eps"),
    ("agent/entropy", "policy entropy", "entropy"),
)
"""Agent metrics the progress line shows, with their labels: how much the agent explores."""


def progress_text(
    recent: Part, metrics: dict[str, float], steps_per_second: float, left: float | None
) -> list[Part]:
    """The step loop's progress columns after the bar: the training return (`recent`, from
    RunLogger.recent_text), the agent's exploration now (epsilon, policy entropy: from
    RunLogger.latest), the speed and the time left at that speed."""
    parts = [recent]
    parts += [
        (f"{label} {metrics[tag]:.3f}", f"{short} {metrics[tag]:.2f}")
        for tag, label, short in EXPLORATION
        if tag in metrics
    ]
    parts.append((f"{steps_per_second:,.0f} steps/s", f"{steps_per_second:,.0f}/s"))
    if left is not None and math.isfinite(left):
        parts.append((f"{duration(left)} left",) * 2)
    return parts


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

    def update(self, step: int, text: str | Sequence[Part], force: bool = False) -> None:
        """Show progress at `step` with `text`: a string, or columns labelled in full and
        shortly; a terminal's line takes the full labels when they fit, else the short ones."""
        if not self.enabled:
            return
        fraction = min(step / self.total, 1.0)
        where = f"{fraction:4.0%} {step:,}/{self.total:,} {self.unit}"
        parts = [(text, text)] if isinstance(text, str) else list(text)
        full = " | ".join([where, *(long for long, _ in parts)])
        if self.tty:
            now = time.monotonic()
            if force or now - self._last_draw > 0.25:
                self._last_draw = now
                bar = "[" + f"{'#' * int(fraction * 24):<24}" + "] "
                short = " | ".join([where, *(brief for _, brief in parts)])
                self._line = "\r" + fit(bar, (full, short)) + "\033[K"
                self.stream.write(self._line)
                self.stream.flush()
        elif int(fraction * 10) > self._last_decile or force:
            self._last_decile = int(fraction * 10)
            self.stream.write(full + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def fit(bar: str, lines: Sequence[str]) -> str:
    """The first of `lines` (full labels first) that fits the terminal's width after the bar,
    then without the bar; else the last, cut: a line longer than the terminal wraps, and \r
    would then redraw only its last screen line."""
    width = shutil.get_terminal_size().columns - 1
    for line in lines:
        if len(bar) + len(line) <= width:
            return bar + line
    for line in lines:
        if len(line) <= width:
            return line
    return lines[-1][: max(width - 3, 0)] + "..."
