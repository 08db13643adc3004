"""Plant known RL bugs one at a time and check that the fast (non-slow) tests catch each one.

Each `tests/planted/*.toml` file lists bugs as `[[bug]]` tables: `name`, `file` (relative to the
repository root), `old` (text that occurs exactly once in that file), `new` (the buggy text) and
`tests` (pytest arguments that select where the bug should be caught; default: the whole fast
suite). The bugs are planted in a private copy of the working tree (so nothing here is ever
left modified), laid out as installed (tests/installed_copy.py) so that Python imports it ahead
of the editable install. For each bug the
file is rewritten, the selected tests run with `-m "not slow" -x`, and the file is restored. A
bug is caught when a test fails (pytest exit code 1); a collection error (exit code 2) means the
planted text itself is broken, and is reported so.

    python tests/planted/plant.py            # every bug; exit 1 if any survives
    python tests/planted/plant.py --only ucb # the bugs whose name contains "ucb"
    python tests/planted/plant.py --list
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for installed_copy
from installed_copy import check_imports, copy_as_installed, installed_path, python_env

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


def pytest(tests: list[str], work: Path, env: dict[str, str]) -> tuple[int, str]:
    """Exit code and the first failure (or the last line) of a fast-suite run over `tests`."""
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow"]
    command += ["-p", "no:cacheprovider", *tests]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, (lines[0] if lines else done.stdout.strip().splitlines()[-1])


def plant(bug: Bug, work: Path, env: dict[str, str]) -> tuple[str, str]:
    """Run the tests with `bug` planted; ('caught' | 'SURVIVED' | 'BROKEN', detail)."""
    path = work / installed_path(bug.file)
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
        work = Path(top) / "work"
        copy_as_installed(work)
        check_imports(work, ["rlkit.agents", "rlkit.envs"])
        env = python_env(work)
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
