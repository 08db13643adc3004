"""What a sweep measured: per configuration, its finished runs' final and best evaluations, the
aggregate statistics of rlkit.stats over seeds (`rlkit report`), and the mean evaluation curve
with its bootstrap band (`rlkit plot SWEEP_DIR`).
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlkit import stats
from rlkit.errors import RlkitError
from rlkit.plot import read_scalars

REPS = 50_000
"""Bootstrap replicates of the report's intervals (rliable's default)."""
PROFILE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
"""The thresholds of the performance profile: these fractions of the way from the sweep's
lowest score to the target (so they work for negative targets, e.g. Acrobot's -100); from 0
when every run met the target."""


@dataclass(frozen=True)
class ConfigRuns:
    """The finished runs of one configuration: their final and best evaluation means."""

    name: str
    seeds: list[int]
    runs: int
    """Run directories, finished or not."""
    final: np.ndarray
    best: np.ndarray
    """Best evaluation (periodic or final) per finished run (NaN where it kept none)."""


def collect(root: Path) -> list[ConfigRuns]:
    """The configurations of sweep directory `root` with their finished runs' scores."""
    from rlkit.sweeps.plan import sweep_runs

    configs = []
    for name, run_dirs in sweep_runs(root).items():
        finished = [
            (int(d.name.removeprefix("seed-")), json.loads((d / "summary.json").read_text()))
            for d in run_dirs
            if (d / "summary.json").is_file()
        ]
        final = np.array([s["final_eval"]["mean_return"] for _, s in finished], dtype=float)
        best = np.array(
            [(s.get("best_eval") or {}).get("mean_return", np.nan) for _, s in finished],
            dtype=float,
        )
        configs.append(ConfigRuns(name, [seed for seed, _ in finished], len(run_dirs), final, best))
    return configs


def best_config(root: Path) -> tuple[str, float, int] | None:
    """The configuration with the highest mean final evaluation so far: (name, mean, seeds)."""
    try:
        configs = [c for c in collect(root) if c.final.size]
    except (OSError, ValueError, KeyError):
        return None  # a summary being written: next time
    if not configs:
        return None
    top = max(configs, key=lambda c: float(np.mean(c.final)))
    return top.name, float(np.mean(top.final)), int(top.final.size)


def report(
    root: Path, target: float | None = None, score: str = "final", reps: int = REPS, seed: int = 0
) -> dict[str, Any]:
    """Per configuration: seeds, final and best evaluation (mean, std over seeds), the IQM of
    `score` ("final" or "best") with its 95% stratified-bootstrap interval, and with a target
    the optimality gap and the performance profile; for each pair of configurations the
    probability of improvement P(X > Y) with its interval. Scores are one per run (the mean
    return of its evaluation), one task."""
    configs = collect(root)
    if not any(c.final.size for c in configs):
        raise RlkitError(f"report: no run of sweep {root} has finished yet (no summary.json)")
    scored = {c.name: (c.final if score == "final" else c.best) for c in configs if c.final.size}
    every = np.concatenate(list(scored.values()))
    lowest = float(np.nanmin(every)) if np.isfinite(every).any() else 0.0
    if target is not None and lowest >= target:  # every run met it: thresholds from 0 (or the
        lowest = min(0.0, target)  # target itself when it is negative)
    rows: dict[str, Any] = {}
    for c in configs:
        row: dict[str, Any] = {"seeds": c.seeds, "runs": c.runs, "finished": int(c.final.size)}
        if c.final.size:
            values = scored[c.name]
            row["final"] = {"mean": float(np.mean(c.final)), "std": float(np.std(c.final))}
            row["best"] = _mean_std(c.best)
            if np.isnan(values).any():
                row["iqm"] = None  # a run kept no best evaluation
            else:
                matrix = stats.as_matrix(values)
                low, high = stats.bootstrap_ci(stats.iqm, matrix, reps=reps, seed=seed)
                row["iqm"] = {"value": float(stats.iqm(matrix)), "ci95": [float(low), float(high)]}
                if target is not None:
                    row.update(_target_rows(matrix, target, lowest, reps, seed))
        rows[c.name] = row
    pairs = []
    for x, y in itertools.permutations(scored, 2):
        if x >= y or np.isnan(scored[x]).any() or np.isnan(scored[y]).any():
            continue
        a, b = stats.as_matrix(scored[x]), stats.as_matrix(scored[y])
        low, high = stats.bootstrap_ci(stats.probability_of_improvement, a, b, reps=reps, seed=seed)
        value = float(stats.probability_of_improvement(a, b))
        pairs.append({"x": x, "y": y, "p_x_over_y": value, "ci95": [float(low), float(high)]})
    return {
        "sweep": str(root),
        "score": score,
        "target": target,
        "bootstrap_reps": reps,
        "configs": rows,
        "probability_of_improvement": pairs,
    }


def _mean_std(values: np.ndarray) -> dict[str, float] | None:
    kept = values[~np.isnan(values)]
    if not kept.size:
        return None
    return {"mean": float(np.mean(kept)), "std": float(np.std(kept))}


def _target_rows(
    matrix: np.ndarray, target: float, lowest: float, reps: int, seed: int
) -> dict[str, Any]:
    gap = functools.partial(stats.optimality_gap, gamma=target)
    low, high = stats.bootstrap_ci(gap, matrix, reps=reps, seed=seed)
    taus = np.array([lowest + f * (target - lowest) for f in PROFILE_FRACTIONS])
    profile = stats.performance_profile(matrix, taus)
    p_low, p_high = stats.bootstrap_ci(
        lambda s: stats.performance_profile(s, taus), matrix, reps=reps, seed=seed
    )
    return {
        "optimality_gap": {"value": float(gap(matrix)), "ci95": [float(low), float(high)]},
        "performance_profile": [
            {"tau": float(t), "fraction_above": float(v), "ci95": [float(lo), float(hi)]}
            for t, v, lo, hi in zip(taus, profile, p_low, p_high, strict=True)
        ],
    }


def format_report(data: dict[str, Any]) -> str:
    """The report as text: one line per configuration, then the pairwise probabilities."""
    lines = [
        f"sweep {data['sweep']}: statistics of each run's {data['score']} evaluation over seeds "
        f"(IQM and intervals: Agarwal et al. 2021, 95% bootstrap, {data['bootstrap_reps']:,} "
        "replicates)"
    ]
    for name, row in data["configs"].items():
        head = f"{name}: {row['finished']}/{row['runs']} runs finished"
        if not row["finished"]:
            lines.append(head)
            continue
        final, best = row["final"], row["best"]
        text = f"{head} (seeds {_seed_list(row['seeds'])})"
        text += f"; final {final['mean']:.3f} ± {final['std']:.3f}"
        text += f"; best {best['mean']:.3f} ± {best['std']:.3f}" if best else "; best -"
        if row["iqm"] is not None:
            iqm = row["iqm"]
            text += f"; IQM {iqm['value']:.3f} [{iqm['ci95'][0]:.3f}, {iqm['ci95'][1]:.3f}]"
        if "optimality_gap" in row:
            gap = row["optimality_gap"]
            text += (
                f"; optimality gap {gap['value']:.3f} [{gap['ci95'][0]:.3f}, {gap['ci95'][1]:.3f}]"
            )
            profile = ", ".join(
                f">{p['tau']:g}: {p['fraction_above']:.2f}" for p in row["performance_profile"]
            )
            text += f"; runs above {profile}"
        lines.append(text)
    for pair in data["probability_of_improvement"]:
        low, high = pair["ci95"]
        lines.append(
            f"P({pair['x']} > {pair['y']}) = {pair['p_x_over_y']:.3f} [{low:.3f}, {high:.3f}]"
        )
    return "\n".join(lines)


def _seed_list(seeds: list[int]) -> str:
    if len(seeds) > 6 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    shown = ",".join(map(str, seeds[:8]))
    return shown + (f",... ({len(seeds)})" if len(seeds) > 8 else "")


def eval_curves(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per configuration, the evaluation steps and a (runs x steps) matrix of eval/mean_return:
    each run's curve on the union of its configuration's evaluation steps, a run that stopped
    early (its target reached, or not finished) holding its last value."""
    from rlkit.sweeps.plan import sweep_runs

    curves = {}
    for name, run_dirs in sweep_runs(root).items():
        read = [read_scalars(d, "eval/mean_return") for d in run_dirs]
        read = [(s, v) for s, v in read if s.size]
        if not read:
            continue
        steps = np.unique(np.concatenate([s for s, _ in read]))
        matrix = np.stack([_hold_last(s, v, steps) for s, v in read])
        curves[name] = (steps, matrix)
    return curves


def _hold_last(steps: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    index = np.searchsorted(steps, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)
