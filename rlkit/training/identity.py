"""A run directory that knows itself: which checkpoints belong to it.

A run's identity is its experiment less the keys `--resume --set` may change (the budget: run
length, evaluation and checkpoint cadence, and each family's `budget_keys`): the env, the agent
and the rest of the run settings, seed included. A checkpoint belongs to a run directory when
its config has the identity of the directory's config.toml (every checkpoint also records
its fingerprint, which must agree with its config); `--resume` and `rlkit eval RUN`
refuse, in one line and touching nothing, a newest checkpoint that does not (say, one of
another experiment copied in). Rotation deletes only checkpoints the run wrote itself, listed
in RUN_DIR/checkpoints/written.txt, so a checkpoint dropped into the folder is never removed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rlkit.agent import agent_class
from rlkit.checkpoint import write_atomic
from rlkit.errors import CheckpointError
from rlkit.experiment import Experiment, load_experiment, read_experiment

RESUMABLE_KEYS = frozenset(
    {
        "run.total_steps",
        "run.eval_every",
        "run.eval_episodes",
        "run.final_eval_episodes",
        "run.checkpoint_every",
        "run.keep_checkpoints",
        "run.keep_best",
        "run.log_every",
        "run.progress",
    }
)
"""Keys `--resume --set` may change for every agent; families add theirs (Agent.budget_keys)."""

WRITTEN = "written.txt"
"""The list of checkpoints a run wrote, in its checkpoints folder: the only ones it rotates."""


def resumable_keys(experiment: Experiment) -> frozenset[str]:
    """The keys of `experiment` that a resume may change."""
    return RESUMABLE_KEYS | agent_class(experiment.agent_name).budget_keys


def fingerprint(experiment: Experiment) -> str:
    """A short hash of the experiment's identity (everything but its resumable keys, its name,
    its description and its [expect] table)."""
    data = experiment.to_dict()
    data.pop("name", None)
    data.pop("description", None)
    data.pop("expect", None)
    for key in resumable_keys(experiment):
        section, _, name = key.partition(".")
        data.get(section, {}).pop(name, None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(experiment: Experiment) -> str:
    """'name: agent on env, seed s', for messages."""
    return (
        f"{experiment.name}: {experiment.agent_name} on {experiment.env.id}, "
        f"seed {experiment.run.seed}"
    )


def check_belongs(run_dir: Path, state: dict[str, Any], path: Path) -> None:
    """CheckpointError unless checkpoint `path` (loaded as `state`) has the identity of
    `run_dir`'s config.toml (no config.toml: nothing to check against)."""
    config = run_dir / "config.toml"
    if not config.is_file():
        return
    mine = load_experiment(read_experiment(config))
    theirs = load_experiment(state["config"])
    theirs_print = fingerprint(theirs)
    recorded = state.get("identity", theirs_print)  # older checkpoints record none
    if fingerprint(mine) != theirs_print or recorded != theirs_print:
        raise CheckpointError(
            f"checkpoint {path} belongs to another experiment ({describe(theirs)}) than run "
            f"directory {run_dir} ({describe(mine)}); it was left untouched: move it out of "
            f"{path.parent} to go on with this run, or evaluate it by its own path"
        )


def written(run_dir: Path) -> list[str]:
    """Names of the checkpoints the run wrote itself, oldest first (empty before the first)."""
    path = run_dir / "checkpoints" / WRITTEN
    if not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line]


def record_written(run_dir: Path, names: list[str]) -> None:
    """Replace the list of the run's own checkpoints (atomically)."""
    path = run_dir / "checkpoints" / WRITTEN
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(f"{name}\n" for name in names))
