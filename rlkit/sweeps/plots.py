"""`rlkit plot SWEEP_DIR`: per configuration, the mean evaluation curve over seeds with its 95%
bootstrap confidence band, one PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlkit import stats
from rlkit.errors import RlkitError
from rlkit.plot import x_axis
from rlkit.sweeps.plan import sweep_runs
from rlkit.sweeps.results import eval_curves

GENERIC_X_LABEL = "steps of the runs' logs (env steps; Deep GA: frames; AlphaZero: iterations)"


def sweep_x_label(root: Path) -> str:
    """The x label of the sweep's runs (from their config.toml); the generic one when its
    configurations log different kinds of step, or no run has written its config yet."""
    configured = [
        next((r for r in runs if (r / "config.toml").is_file()), None)
        for runs in sweep_runs(root).values()
    ]
    labels = {x_axis(run)[0] for run in configured if run is not None}
    return labels.pop() if len(labels) == 1 else GENERIC_X_LABEL


def plot_sweep(root: Path, out: Path) -> Path:
    """Draw each configuration's mean eval/mean_return over its runs (thin lines: each run) and
    the bootstrap band of that mean; write a PNG to `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = eval_curves(root)
    if not curves:
        raise RlkitError(f"plot: no run of sweep {root} has logged an evaluation yet")
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (steps, matrix) in curves.items():
        complete = ~np.isnan(matrix).any(axis=0)  # from the step every run has reached
        steps, matrix = steps[complete], matrix[:, complete]
        centre, low, high = stats.mean_band(matrix)
        (line,) = ax.plot(steps, centre, label=f"{name} (mean of {matrix.shape[0]} runs)")
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        for run in matrix:
            ax.plot(steps, run, color=line.get_color(), alpha=0.15, linewidth=0.8)
    ax.set_title(
        f"{root.name}: evaluation return, mean over seeds (band: its 95% bootstrap confidence "
        "interval)\nthin lines: the runs; a run that stopped early holds its last evaluation",
        fontsize=10,
    )
    ax.set_xlabel(sweep_x_label(root))
    ax.set_ylabel("greedy evaluation return (mean over episodes)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
