"""A private copy of the working tree laid out as installed, for tools that rewrite sources.

rlkit is installed editable with setuptools' package-dir mapping (`rlkit.agents` is agents/,
`rlkit.envs` is envs/, `rlkit.experiments` is experiments/), whose finder comes after Python's
path finder. A copy laid out like the repository, first on sys.path, would give the copy's
rlkit/ but the REPOSITORY's agents/ and envs/: a change made to the copy's agents/*.py would
silently never run. The copy made here is laid out as installed instead: those folders become
real folders under rlkit/ (tools that walk rlkit/, such as mutmut, see them), and their old
top-level names link there, so paths such as experiments/cartpole_dqn.toml still resolve.
tests/planted/plant.py and tests/mutation/run_mutants.py use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOVED = {"agents": "rlkit/agents", "envs": "rlkit/envs", "experiments": "rlkit/experiments"}
"""Top-level folders that are subpackages of rlkit once installed (pyproject's package-dir)."""


def repository_files() -> list[str]:
    """Tracked and untracked, not ignored, files of the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    return [name for name in listed if name and (ROOT / name).is_file()]


def installed_path(name: str) -> str:
    """Where a repository path lies in the copy: agents/dqn/agent.py -> rlkit/agents/dqn.py."""
    top, _, rest = name.partition("/")
    return f"{MOVED[top]}/{rest}" if top in MOVED and rest else name


def copy_as_installed(work: Path) -> None:
    """Copy the working tree into `work` (replacing it), laid out as installed."""
    if work.exists():
        shutil.rmtree(work)
    for name in repository_files():
        target = work / installed_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    for top, moved in MOVED.items():
        (work / top).symlink_to(work / moved, target_is_directory=True)


def python_env(work: Path) -> dict[str, str]:
    """The environment that makes Python import rlkit from `work` (and compile afresh)."""
    return {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}


def check_imports(work: Path, modules: Sequence[str]) -> None:
    """Raise unless Python, with `work` first on sys.path, imports every one of `modules` from
    `work` (and not, through the editable install, from the repository)."""
    names = ", ".join(modules)
    probe = f"import {names}; print(*(m.__file__ for m in ({names},)))"
    command = [sys.executable, "-c", probe]
    found = subprocess.run(
        command, cwd=work, env=python_env(work), capture_output=True, text=True, check=True
    )
    outside = [f for f in found.stdout.split() if not f.startswith(str(work))]
    if outside:
        raise RuntimeError(f"the copy is not what Python imports: {outside}")
