"""What a sweep runs: the cross product of grid values and seeds, each an ordinary run directory.

SWEEP_DIR/sweep.toml records the sweep's experiment and --set overrides (a re-run must give the
same; its grid and seeds may grow);
SWEEP_DIR/<config>/experiment.toml is each configuration's resolved experiment, and
SWEEP_DIR/<config>/seed-<s> its runs, made and resumed by `rlkit run` itself. A run's state is
read from its directory alone, so re-running the sweep continues it: finished runs (with a
summary.json) are skipped, started ones resumed from their checkpoints.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlkit.checkpoint import write_atomic
from rlkit.config import dumps_toml, parse_override
from rlkit.errors import ConfigError
from rlkit.experiment import Experiment, load_experiment, read_experiment

PLAN = "sweep.toml"
LOGS = "logs"
DEFAULT_CONFIG = "default"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclass(frozen=True)
class Run:
    """One run of the sweep: a configuration and a seed."""

    config: str
    seed: int
    experiment: Path
    """The configuration's resolved experiment file."""
    run_dir: Path
    log: Path

    @property
    def name(self) -> str:
        return f"{self.config}/seed-{self.seed}"

    def state(self) -> str:
        """ "done" (summary.json written), "started" (a directory `rlkit run --resume` continues)
        or "new"."""
        if (self.run_dir / "summary.json").is_file():
            return "done"
        return "started" if (self.run_dir / "config.toml").is_file() else "new"

    def command(self, python: str) -> list[str]:
        """The `rlkit run` command that starts or continues this run."""
        if self.state() == "started":
            return [python, "-m", "rlkit", "run", "--resume", str(self.run_dir)]
        if self.run_dir.is_dir() and not any(self.run_dir.iterdir()):
            self.run_dir.rmdir()  # an empty directory left by a run killed at its start
        return [
            python,
            "-m",
            "rlkit",
            "run",
            str(self.experiment),
            "--seed",
            str(self.seed),
            "--logdir",
            str(self.run_dir),
        ]


def parse_grid(texts: Sequence[str]) -> list[tuple[str, list[str]]]:
    """`--grid key=v1,v2` options as (key, values); a value is TOML text (commas inside
    brackets, braces or quotes do not split)."""
    grid: list[tuple[str, list[str]]] = []
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        values = _split_values(raw)
        if not sep or not key or not values or any(not v for v in values):
            raise ConfigError(
                f"--grid {text!r}: expected section.key=value1,value2,... "
                "e.g. agent.learning_rate=1e-3,3e-4"
            )
        if key in (k for k, _ in grid):
            raise ConfigError(f"--grid {key}: given twice; list all its values in one --grid")
        grid.append((key, values))
    return grid


def _split_values(raw: str) -> list[str]:
    values, depth, quote, current = [], 0, "", ""
    for char in raw:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    values.append(current.strip())
    return values if raw.strip() else []


def config_name(assignments: Sequence[tuple[str, str]]) -> str:
    """A directory name for one grid point, e.g. 'agent.learning_rate=0.001,run.seed=...'."""
    if not assignments:
        return DEFAULT_CONFIG
    return _UNSAFE.sub("_", ",".join(f"{key}={value}" for key, value in assignments))


@dataclass(frozen=True)
class Sweep:
    """A sweep's plan: its runs, in the order they start (seed by seed across configs)."""

    root: Path
    configs: dict[str, list[str]]
    """Each configuration's overrides (the --set ones, then its grid values)."""
    runs: list[Run]


def plan_sweep(
    experiment: str,
    seeds: Sequence[int],
    overrides: Sequence[str],
    grid: Sequence[tuple[str, list[str]]],
    root: Path,
) -> Sweep:
    """Check every configuration builds (one ConfigError line otherwise, before anything is
    written) and lay the sweep out under `root`."""
    seeds = list(dict.fromkeys(seeds))  # '0-2,1' runs seed 1 once
    if not seeds:
        raise ConfigError("--seeds: give at least one seed, e.g. 0-9")
    if any(parse_override(text)[0] == ["run", "seed"] for text in overrides):
        raise ConfigError("--set run.seed: the sweep sets each run's seed; use --seeds")
    if any(key == "run.seed" for key, _ in grid):
        raise ConfigError("--grid run.seed: use --seeds for seeds")
    configs: dict[str, list[str]] = {}
    keys = [key for key, _ in grid]
    for values in itertools.product(*(vals for _, vals in grid)):
        assignments = list(zip(keys, values, strict=True))
        name = config_name(assignments)
        if name in configs:
            raise ConfigError(
                f"--grid: two grid points share the name {name!r}; give distinct values"
            )
        configs[name] = [*overrides, *(f"{k}={v}" for k, v in assignments)]
        load_experiment(experiment, configs[name])  # bad keys or values: one line, now
    runs = [
        Run(
            name,
            seed,
            root / name / "experiment.toml",
            root / name / f"seed-{seed}",
            root / LOGS / f"{name}.seed-{seed}.log",
        )
        for seed in seeds
        for name in configs
    ]
    return Sweep(root, configs, runs)


def write_plan(sweep: Sweep, experiment: str, overrides: Sequence[str]) -> None:
    """Record the sweep in SWEEP_DIR/sweep.toml and each configuration's resolved experiment;
    a SWEEP_DIR of another experiment or other --set overrides is refused, touching nothing."""
    plan_path = sweep.root / PLAN
    recorded = {"experiment": read_experiment(experiment), "overrides": list(overrides)}
    if plan_path.is_file():
        earlier = tomllib.loads(plan_path.read_text())
        if {k: earlier.get(k) for k in recorded} != recorded:
            raise ConfigError(
                f"{sweep.root} holds a sweep of another experiment or other --set overrides "
                f"(see {plan_path}); re-run that sweep's command to continue it, or choose "
                "another --logdir"
            )
    elif sweep.root.exists() and any(sweep.root.iterdir()):
        raise ConfigError(
            f"{sweep.root} exists and is not a sweep directory (no {PLAN}); choose another --logdir"
        )
    sweep.root.mkdir(parents=True, exist_ok=True)
    (sweep.root / LOGS).mkdir(exist_ok=True)
    write_atomic(plan_path, dumps_toml(recorded))
    for name, config_overrides in sweep.configs.items():
        resolved = load_experiment(experiment, config_overrides)
        path = sweep.root / name / "experiment.toml"
        path.parent.mkdir(exist_ok=True)
        text = dumps_toml(resolved.to_dict())
        if not path.is_file() or path.read_text() != text:
            write_atomic(path, text)


def is_sweep(path: Path) -> bool:
    """Whether `path` is a sweep directory (it holds sweep.toml)."""
    return (path / PLAN).is_file()


def sweep_runs(root: Path) -> dict[str, list[Path]]:
    """The run directories of a sweep directory, by configuration (seed order)."""
    found: dict[str, list[Path]] = {}
    for config in sorted(p for p in root.iterdir() if (p / "experiment.toml").is_file()):
        seeds = [
            p
            for p in config.iterdir()
            if p.is_dir() and p.name.startswith("seed-") and p.name[5:].isdigit()
        ]
        found[config.name] = sorted(seeds, key=lambda p: int(p.name.removeprefix("seed-")))
    return found


def target_of(root: Path) -> float | None:
    """The sweep's target return (run.target_return of its first configuration), if any."""
    for config in sorted(p for p in root.iterdir() if (p / "experiment.toml").is_file()):
        experiment: Experiment = load_experiment(config / "experiment.toml")
        target: Any = experiment.run.target_return
        return None if target is None else float(target)
    return None
