"""Learning curves from TensorBoard event files, several runs on one figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlkit.errors import RlkitError

DEFAULT_TAGS = ("train/episode_return", "eval/mean_return")


def read_scalars(run_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one scalar tag across all event files of a run directory."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not run_dir.is_dir():
        raise RlkitError(f"plot: {run_dir} is not a run directory")
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    if tag not in accumulator.Tags().get("scalars", []):
        return np.empty(0), np.empty(0)
    events = accumulator.Scalars(tag)
    steps = np.array([e.step for e in events], dtype=np.int64)
    values = np.array([e.value for e in events], dtype=np.float64)
    return steps, values


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to `window` values (shorter at the start)."""
    if window <= 1 or values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    means: np.ndarray = (cumulative[idx] - cumulative[start]) / (idx - start)
    return means


def plot_runs(
    run_dirs: Sequence[Path], out: Path, tags: Sequence[str] = DEFAULT_TAGS, smooth: int = 50
) -> Path:
    """Draw one panel per tag with one line per run; write a PNG to `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tags), figsize=(6 * len(tags), 4), squeeze=False)
    plotted = 0
    for ax, tag in zip(axes[0], tags, strict=True):
        for run_dir in run_dirs:
            steps, values = read_scalars(run_dir, tag)
            if steps.size:
                window = smooth if tag.startswith("train/") else 1
                ax.plot(steps, moving_average(values, window), label=run_dir.name)
                plotted += 1
        ax.set_title(tag + (f" (moving average {smooth})" if tag.startswith("train/") else ""))
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if not plotted:
        plt.close(fig)
        raise RlkitError(
            f"plot: none of {', '.join(map(str, run_dirs))} has the tags {', '.join(tags)}"
        )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
