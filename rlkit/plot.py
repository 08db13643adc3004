"""Learning curves from TensorBoard event files, several runs on one figure.

Training curves are smoothed over a trailing window of the x axis (env steps; the Deep GA's
frames; AlphaZero's iterations), weighted by the episodes behind each logged point, so the
curve at x reflects only the episodes that ended in (x - W, x]: never a running mean from the
start. The raw points stay faint behind. Evaluation curves are drawn unsmoothed, with markers
and their spread over the evaluation's episodes.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rlkit.errors import RlkitError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DEFAULT_TAGS = ("train/episode_return", "eval/mean_return")
EVAL_STD = {"eval/mean_return": "eval/std_return"}
"""The spread drawn around an evaluation tag: the std over that evaluation's episodes."""
EPISODE_COUNTS = {
    "train/episode_return": "train/episodes",
    "train/episode_length": "train/episodes",
}
"""The episodes behind each point of a per-window episode mean (the weights of its smoothing)."""
Y_LABELS = {
    "train/episode_return": "episode return (training)",
    "train/episode_length": "episode length (training)",
    "eval/mean_return": "greedy evaluation return",
}
DEFAULT_WINDOW_FRACTION = 0.05
"""The default smoothing window: this fraction of the longest run's step range, made readable."""


def read_run_scalars(
    run_dir: Path, tags: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(steps, values) of each of `tags` in a run directory (empty arrays for a tag it lacks),
    reading its event files once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not run_dir.is_dir():
        raise RlkitError(f"plot: {run_dir} is not a run directory")
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    present = set(accumulator.Tags().get("scalars", []))
    found = {}
    for tag in tags:
        events = accumulator.Scalars(tag) if tag in present else []
        steps = np.array([e.step for e in events], dtype=np.int64)
        values = np.array([e.value for e in events], dtype=np.float64)
        found[tag] = (steps, values)
    return found


def read_scalars(run_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one scalar tag across all event files of a run directory."""
    return read_run_scalars(run_dir, [tag])[tag]


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to `window` values (shorter at the start). Counts logged points, not
    x units or episodes: `window_mean` is what `rlkit plot` smooths with."""
    if window <= 1 or values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    means: np.ndarray = (cumulative[idx] - cumulative[start]) / (idx - start)
    return means


def window_mean(
    steps: np.ndarray, values: np.ndarray, window: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """At each logged point i, the weighted mean of the values logged at steps in
    (steps[i] - window, steps[i]]; `steps` ascending. With weights = the episodes behind each
    per-window mean return, that is the mean return of the episodes that ended in the window,
    whatever the number of logged points there (a point for few episodes weighs little)."""
    if window <= 0:
        raise ValueError(f"window must be positive, got {window}")
    w = np.ones(values.size) if weights is None else np.asarray(weights, dtype=np.float64)
    total = np.concatenate([[0.0], np.cumsum(w * values)])
    count = np.concatenate([[0.0], np.cumsum(w)])
    start = np.searchsorted(steps, steps - window, side="right")
    end = np.searchsorted(steps, steps, side="right")
    means: np.ndarray = (total[end] - total[start]) / (count[end] - count[start])
    return means


def readable(x: float, up: bool = False) -> int:
    """The number of the form 1, 2 or 5 x 10^k nearest to x on a log scale (the smallest one
    >= x with `up`); at least 1."""
    if x <= 1:
        return 1
    candidates = [int(m * 10**k) for k in range(int(math.log10(x)) + 2) for m in (1, 2, 5)]
    if up:
        return min(c for c in candidates if c >= x)
    return min(candidates, key=lambda c: abs(math.log(c / x)))


def default_window(step_arrays: Sequence[np.ndarray]) -> int:
    """About 5% of the longest run's step range, readable, and at least the typical interval
    between logged points (so a window holds more than its own point where the log allows)."""
    span = max((float(s.max() - s.min()) for s in step_arrays if s.size), default=0.0)
    gaps = [np.diff(s)[np.diff(s) > 0] for s in step_arrays]
    interval = max((float(np.median(g)) for g in gaps if g.size), default=1.0)
    return max(readable(DEFAULT_WINDOW_FRACTION * span), readable(interval, up=True))


@dataclass(frozen=True)
class Series:
    """One run's curve of one tag, in step order."""

    run: str
    steps: np.ndarray
    values: np.ndarray
    weights: np.ndarray | None
    """Episodes behind each point (None: each point counts once)."""
    spread: np.ndarray | None
    """Std over the evaluation's episodes at each point (NaN where not logged; None: never)."""


def _values_at(
    steps: np.ndarray, other: tuple[np.ndarray, np.ndarray], missing: float
) -> np.ndarray | None:
    """A companion tag's values at `steps` (its last one per step), `missing` where it logged
    none; None if it logged none at any of them."""
    by_step = dict(zip(other[0].tolist(), other[1].tolist(), strict=True))
    if not any(s in by_step for s in steps.tolist()):
        return None
    return np.array([by_step.get(s, missing) for s in steps.tolist()], dtype=np.float64)


def read_series(run_dir: Path, tag: str) -> Series:
    """A run's `tag` with its weights (train/episodes; 1 where missing) or spread
    (eval/std_return; NaN where missing: the Deep GA and AlphaZero log it at the final one only).
    Evaluation points keep the last one per step: the final evaluation is logged at the step of
    the last periodic one when the run ended on an evaluation, and the line must not double back."""
    companion = EPISODE_COUNTS.get(tag) or EVAL_STD.get(tag)
    scalars = read_run_scalars(run_dir, [tag] + ([companion] if companion else []))
    steps, values = scalars[tag]
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    if tag.startswith("eval/") and steps.size:
        last = np.append(steps[1:] != steps[:-1], True)
        steps, values = steps[last], values[last]
    if companion is None:
        return Series(run_dir.name, steps, values, None, None)
    if tag in EPISODE_COUNTS:
        return Series(run_dir.name, steps, values, _values_at(steps, scalars[companion], 1), None)
    spread = _values_at(steps, scalars[companion], math.nan)
    return Series(run_dir.name, steps, values, None, spread)


def x_axis(run_dir: Path) -> tuple[str, str]:
    """(axis label, unit of a window) of a run's TensorBoard steps, from its config.toml's agent:
    the Deep GA counts emulator frames, AlphaZero iterations, every other loop env steps."""
    try:
        config = tomllib.loads((run_dir / "config.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        config = {}
    agent, env = config.get("agent", {}), config.get("env", {})
    if agent.get("name") == "alphazero":
        return "training iterations (self-play, training, arena)", "iterations"
    if agent.get("name") == "ga":
        from rlkit.envs.atari import AtariOptions, is_atari_id

        if is_atari_id(str(env.get("id", ""))):
            skip = env.get("kwargs", {}).get("frame_skip", AtariOptions.frame_skip)
            return f"emulator frames (env steps × frame skip {skip})", "frames"
    return "environment steps", "env steps"


def _window_text(tag: str, window: int, unit: str) -> str:
    if tag in EPISODE_COUNTS:
        return f"mean over episodes ending in the last {window:,} {unit}"
    return f"mean of the logged values in the last {window:,} {unit}"


def _draw_smoothed(ax: Axes, tag: str, series: list[Series], window: int, unit: str) -> None:
    """Each run's window mean, its raw points faint behind in the same colour."""
    for s in series:
        marker = "o" if s.steps.size == 1 else None  # a lone point draws no line
        if window:
            smoothed = window_mean(s.steps, s.values, window, s.weights)
            (line,) = ax.plot(s.steps, smoothed, label=s.run, linewidth=1.6, marker=marker)
            ax.plot(s.steps, s.values, color=line.get_color(), alpha=0.25, linewidth=0.8, zorder=1)
        else:
            ax.plot(s.steps, s.values, label=s.run, linewidth=1.0, marker=marker)
    raw = "each point: the mean of its log window's episodes" if tag in EPISODE_COUNTS else ""
    if window:
        note = _window_text(tag, window, unit) + "; faint: the logged points"
    else:
        note = raw or "the logged values, unsmoothed"
    ax.set_title(f"{tag}\n{note}", fontsize=10)


def _draw_evaluations(ax: Axes, tag: str, series: list[Series]) -> None:
    """Each run's evaluations as markers on a line, with a band of ± their episodes' std."""
    for s in series:
        (line,) = ax.plot(s.steps, s.values, marker="o", markersize=4, label=s.run)
        if s.spread is not None:
            ax.fill_between(
                s.steps,
                s.values - s.spread,
                s.values + s.spread,
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
    if any(s.spread is not None for s in series):
        note = "markers: evaluations; band: ± std over each evaluation's episodes"
    else:
        note = "markers: evaluations (no spread logged)"
    ax.set_title(f"{tag}\n{note}", fontsize=10)


def draw_runs(run_dirs: Sequence[Path], tags: Sequence[str], smooth: int | None = None) -> Figure:
    """One panel per tag, one line per run. smooth: the window in x units (None: the default
    window of each panel, 0: no smoothing). Raises if no run has any of the tags."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_of = {d: x_axis(d) for d in run_dirs}
    labels = sorted({label for label, _ in axes_of.values()})
    units = {unit for _, unit in axes_of.values()}
    unit = units.pop() if len(units) == 1 else "x-axis steps"
    fig, axes = plt.subplots(1, len(tags), figsize=(6.5 * len(tags), 4.5), squeeze=False)
    plotted = 0
    for ax, tag in zip(axes[0], tags, strict=True):
        series = [s for s in (read_series(d, tag) for d in run_dirs) if s.steps.size]
        plotted += len(series)
        if tag.startswith("eval/"):
            _draw_evaluations(ax, tag, series)
        else:
            window = default_window([s.steps for s in series]) if smooth is None else smooth
            _draw_smoothed(ax, tag, series, window, unit)
        ax.set_xlabel("; ".join(labels))
        ax.set_ylabel(Y_LABELS.get(tag, tag))
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, f"no run logged {tag}", ha="center", transform=ax.transAxes)
    if not plotted:
        plt.close(fig)
        raise RlkitError(
            f"plot: none of {', '.join(map(str, run_dirs))} has the tags {', '.join(tags)}"
        )
    fig.tight_layout()
    return fig


def plot_runs(
    run_dirs: Sequence[Path],
    out: Path,
    tags: Sequence[str] = DEFAULT_TAGS,
    smooth: int | None = None,
) -> Path:
    """Draw one panel per tag with one line per run (see `draw_runs`); write a PNG to `out`."""
    if smooth is not None and smooth < 0:
        raise RlkitError(f"plot: --smooth must be >= 0 (a window in env steps), got {smooth}")
    fig = draw_runs(run_dirs, tags, smooth)
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
