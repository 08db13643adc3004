"""Plant known RL bugs one at a time and check that the fast (non-slow) tests catch each one.

Each `tests/planted/*.toml` file lists bugs as `[[bug]]` tables: `name`, `file` (relative to the
repository root), `old` (text that occurs exactly once in that file), `new` (the buggy text) and
`tests` (pytest arguments that select where the bug should be caught; default: the whole fast
suite). The bugs are planted in a private copy of the working tree (so nothing here is ever
left modified), laid out as installed (`rlkit/agents` links to `agents/`, ...) so that Python
imports it ahead of the editable install. For each bug the
file is rewritten, the selected tests run with `-m "not slow" -x`, and the file is restored. A
bug is caught when a test fails (pytest exit code 1); a collection error (exit code 2) means the
planted text itself is broken, and is reported so.

    python tests/planted/plant.py            # every bug; exit 1 if any survives
    python tests/planted/plant.py --only ucb # the bugs whose name contains "ucb"
    python tests/planted/plant.py --list
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@dataclass
class Bug:
    """A text replacement that plants one bug."""

    name: str
    file: str
    old: str
    new: str
    tests: list[str] = field(default_factory=lambda: ["tests"])
    why: str = ""


def load_bugs() -> list[Bug]:
    """Every bug of every TOML file beside this script, in file order."""
    bugs: list[Bug] = []
    for path in sorted(HERE.glob("*.toml")):
        for table in tomllib.loads(path.read_text())["bug"]:
            bugs.append(Bug(**table))
    return bugs


def private_copy(top: Path) -> tuple[Path, dict[str, str]]:
    """Copy the working tree into top/work, laid out as installed; (work dir, environment)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    work = top / "work"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
    for package in ("agents", "envs", "experiments"):  # rlkit.agents is agents/, ...
        (work / "rlkit" / package).symlink_to(work / package)
    # The copy's root comes first on sys.path (python -m puts the working directory there).
    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    probe = "import rlkit.agents, rlkit.envs; print(rlkit.agents.__file__, rlkit.envs.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=work, env=env, capture_output=True, text=True
    )
    if not all(f.startswith(str(top)) for f in found.stdout.split()):
        raise RuntimeError(f"the private copy is not what Python imports: {found.stdout}")
    return work, env


def pytest(tests: list[str], work: Path, env: dict[str, str]) -> tuple[int, str]:
    """Exit code and the first failure (or the last line) of a fast-suite run over `tests`."""
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow"]
    command += ["-p", "no:cacheprovider", *tests]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, (lines[0] if lines else done.stdout.strip().splitlines()[-1])


def plant(bug: Bug, work: Path, env: dict[str, str]) -> tuple[str, str]:
    """Run the tests with `bug` planted; ('caught' | 'SURVIVED' | 'BROKEN', detail)."""
    path = work / bug.file
    original = path.read_text()
    count = original.count(bug.old)
    if count != 1:
        return "BROKEN", f"`old` occurs {count} times in {bug.file}, expected exactly once"
    try:
        path.write_text(original.replace(bug.old, bug.new))
        code, detail = pytest(bug.tests, work, env)
    finally:
        path.write_text(original)
    if code == 1:
        return "caught", detail
    if code == 0:
        return "SURVIVED", detail
    return "BROKEN", f"pytest exit code {code}: {detail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the bugs whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the bugs and exit")
    args = parser.parse_args()
    bugs = [b for b in load_bugs() if args.only in b.name]
    if args.list:
        for bug in bugs:
            print(f"{bug.name:40} {bug.file}  {bug.why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="rlkit-planted-") as top:
        work, env = private_copy(Path(top))
        for tests in {tuple(b.tests) for b in bugs}:  # the unplanted code must pass first
            code, detail = pytest(list(tests), work, env)
            if code != 0:
                print(f"the tests {' '.join(tests)} fail without a planted bug: {detail}")
                return 2
        survived = 0
        for bug in bugs:
            start = time.perf_counter()
            verdict, detail = plant(bug, work, env)
            survived += verdict != "caught"
            print(
                f"{verdict:8} {bug.name:40} {time.perf_counter() - start:5.1f}s  {detail}",
                flush=True,
            )
    print(f"{len(bugs) - survived}/{len(bugs)} planted bugs caught by the fast tests")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
