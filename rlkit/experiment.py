"""Experiment files: `[env]`, `[agent]` and `[run]` tables resolved into typed configs."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rlkit.agent import agent_class
from rlkit.config import apply_override, from_dict, parse_override, to_dict
from rlkit.envs.factory import EnvConfig
from rlkit.errors import ConfigError, one_of, suggest

MAX_SEED = 2**30


@dataclass
class RunConfig:
    """The `[run]` table: budget, seed, evaluation, checkpoints and logging."""

    total_steps: int = 100_000
    """Training budget in environment steps (summed over vector sub-envs)."""
    seed: int = 0
    """Seeds the agent, the training envs and (derived) the evaluation envs."""
    eval_every: int = 10_000
    """Steps between greedy evaluations on a separate env (0: only the final one)."""
    eval_episodes: int = 10
    """Episodes per periodic evaluation."""
    final_eval_episodes: int | None = None
    """Episodes of the final evaluation in summary.json (default: eval_episodes)."""
    eval_num_envs: int = 1
    """Sub-envs of the evaluation vector env."""
    torch_threads: int = 1
    """torch intra-op CPU threads (0: torch's default). 1 avoids the oversubscription that
    slows small networks many-fold on a busy machine and keeps CPU results reproducible."""
    flush_denormal: bool = True
    """Treat denormal floats as zero in CPU arithmetic (torch.set_flush_denormal). Adam's
    moment estimates for units with zero gradient decay through the denormal range, where the
    CPU is many times slower: a CartPole DQN's Adam step took 0.85 ms with them, 0.09 without."""
    target_return: float | None = None
    """Stop early once a periodic evaluation's mean return reaches this (None: never)."""
    checkpoint_every: int = 0
    """Steps between checkpoints (0: only at the end); Ctrl-C also saves one."""
    keep_checkpoints: int = 3
    """Newest checkpoints kept in RUN_DIR/checkpoints."""
    keep_best: bool = True
    """Keep the agent of the best evaluation (the periodic ones, then the final one) as
    RUN_DIR/checkpoints/best.pt (never rotated; `rlkit eval RUN` evaluates it by default).
    Only runs with periodic evaluations keep one."""
    log_every: int = 1_000
    """Steps between TensorBoard writes of averaged agent metrics and steps/s."""
    progress: bool = True
    """Show a progress bar (a line every 10% when stderr is not a terminal)."""

    def __post_init__(self) -> None:
        _positive(
            total_steps=self.total_steps,
            eval_episodes=self.eval_episodes,
            eval_num_envs=self.eval_num_envs,
            keep_checkpoints=self.keep_checkpoints,
            log_every=self.log_every,
        )
        _non_negative(
            eval_every=self.eval_every,
            checkpoint_every=self.checkpoint_every,
            torch_threads=self.torch_threads,
        )
        if not 0 <= self.seed < MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}) (ale-py's range), got {self.seed}")
        if self.final_eval_episodes is not None:
            _positive(final_eval_episodes=self.final_eval_episodes)


@dataclass
class Expectation:
    """The `[expect]` table: what a run of the experiment should reach and how long it takes.
    It informs people (`rlkit list`, the run's first and last lines) and changes no training,
    so it is not part of a run's identity."""

    target: float | None = None
    """The greedy mean return a run should reach; the run says whether and when an evaluation
    reached it (default: run.target_return, the early-stopping threshold, when that is set)."""
    goal: str = ""
    """The target in words, where it is not a return (a board-game match, a trap)."""
    cpu_minutes: float | None = None
    """Wall time of the whole run as shipped on 2 CPU cores (AMD EPYC): measured, or for
    the long ones extrapolated from a measured speed (experiments/benchmarks/
    RESULTS_cpu_times.md says which)."""
    gpu_minutes: float | None = None
    """The same on one GPU (an H200), estimated from a speed measured there."""

    def time_text(self, compact: bool = False) -> str:
        """How long the experiment takes as shipped, in words ('' when not measured):
        "~11 h on 2 CPU cores, ~58 min on a GPU", or `compact` "~11 h, GPU ~58 min"."""
        if self.cpu_minutes is None:
            return ""
        cpu = f"~{duration(self.cpu_minutes * 60)}"
        gpu = None if self.gpu_minutes is None else f"~{duration(self.gpu_minutes * 60)}"
        if compact:
            return cpu + ("" if gpu is None else f", GPU {gpu}")
        return f"{cpu} on 2 CPU cores" + ("" if gpu is None else f", {gpu} on a GPU")

    def __post_init__(self) -> None:
        for name in ("cpu_minutes", "gpu_minutes"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")


@dataclass
class Experiment:
    """A whole experiment: what to run, on what, for how long."""

    name: str
    env: EnvConfig
    agent_name: str
    agent: Any
    """The agent's config dataclass instance."""
    run: RunConfig = field(default_factory=RunConfig)
    description: str = ""
    expect: Expectation = field(default_factory=Expectation)

    @property
    def target(self) -> float | None:
        """The return a run should reach: expect.target, else run.target_return (an early
        stop), unless expect.goal states the aim in words (the deceptive maze's plain GA is
        meant to be trapped, short of the return at which it would stop)."""
        if self.expect.target is not None or self.expect.goal:
            return self.expect.target
        return self.run.target_return

    def to_dict(self) -> dict[str, Any]:
        """The resolved experiment as TOML-ready tables (what config.toml holds)."""
        return {
            "name": self.name,
            "description": self.description,
            "env": to_dict(self.env),
            "agent": {"name": self.agent_name, **to_dict(self.agent)},
            "run": to_dict(self.run),
            "expect": to_dict(self.expect),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> Experiment:
        """Build and check an experiment from raw tables."""
        allowed = {"name", "description", "env", "agent", "run", "expect"}
        for key in data:
            if key not in allowed:
                raise ConfigError(
                    f"{where}{key}: unknown top-level key{suggest(key, allowed)}; "
                    f"valid: {one_of(allowed)}"
                )
        for table in ("env", "agent"):
            if not isinstance(data.get(table), dict):
                raise ConfigError(f"{where}missing [{table}] table")
        agent_table = dict(data["agent"])
        if "name" not in agent_table:
            raise ConfigError(f"{where}agent.name: missing; `rlkit list` shows the agents")
        agent_name = agent_table.pop("name")
        cls_ = agent_class(str(agent_name))
        return cls(
            name=str(data.get("name", agent_name)),
            description=str(data.get("description", "")),
            env=from_dict(EnvConfig, data["env"], "env"),
            agent_name=str(agent_name),
            agent=from_dict(cls_.config_class, agent_table, "agent"),
            run=from_dict(RunConfig, data.get("run", {}), "run"),
            expect=from_dict(Expectation, data.get("expect", {}), "expect"),
        )


def bundled_experiments() -> dict[str, resources.abc.Traversable]:
    """Experiment files shipped in rlkit.experiments, by name."""
    folder = resources.files("rlkit.experiments")
    return {p.name.removesuffix(".toml"): p for p in folder.iterdir() if p.name.endswith(".toml")}


def read_experiment(source: str | Path) -> dict[str, Any]:
    """Raw tables of an experiment given as a path or as a bundled experiment's name."""
    path = Path(source)
    bundled = bundled_experiments()
    if path.is_file():
        text, origin = _read_text(path), str(path)
    elif str(source).removesuffix(".toml") in bundled:
        entry = bundled[str(source).removesuffix(".toml")]
        text, origin = entry.read_text(), entry.name
    else:
        raise ConfigError(
            f"unknown experiment {str(source)!r}{suggest(path.stem, bundled)}: not a file and not "
            f"a bundled experiment; bundled: {one_of(bundled)}"
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None


def _read_text(path: Path) -> str:
    """The experiment file's text; ConfigError for one that is not UTF-8 text or unreadable."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); an experiment is a TOML text file saved as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def load_experiment(
    source: str | Path | dict[str, Any], overrides: Sequence[str] = ()
) -> Experiment:
    """Read an experiment (path, bundled name or raw dict) and apply `--set` overrides."""
    data = copy.deepcopy(source) if isinstance(source, dict) else read_experiment(source)
    for text in overrides:
        path, value = parse_override(text)
        apply_override(data, path, value)
    return Experiment.from_dict(data)


def parse_seeds(text: str) -> list[int]:
    """A list of seeds from '0-4' (a range, both ends included), '0,3,7', or a mix of both."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ConfigError(f"seeds {text!r}: expected e.g. '0-4' or '0,3,7'") from None
        if not 0 <= first <= last < MAX_SEED:
            raise ConfigError(f"seeds {text!r}: each range must go up, within [0, {MAX_SEED})")
        seeds.extend(range(first, last + 1))
    return seeds


def _positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def duration(seconds: float) -> str:
    """A short human duration: 42 s, 3 min, 1.5 h, 2.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 10 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.1f} days"
