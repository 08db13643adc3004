"""Mutation testing of rlkit's maths and agent updates: mutmut in a private copy, scored per module.

`make mutants` runs this (it is not part of `make test`: a full run takes tens of minutes).
`scope.toml` beside this file says which functions of which modules are mutated and which fast
tests are selected; `equivalent.toml` lists the surviving mutants argued equivalent, with why.

mutmut copies the sources into `mutants/` and puts that folder first on sys.path. rlkit is
installed editable with a package-dir mapping (`rlkit.agents` is agents/, ...), whose finder
comes after the path finder, so a copy laid out like the repository would give the mutated
rlkit/ but the ORIGINAL agents/: mutants of agents/*.py would silently never run. The copy made
here is laid out as installed instead (agents/ becomes rlkit/agents/, envs/ rlkit/envs/,
experiments/ rlkit/experiments/, real folders that mutmut walks and copies), and the run fails
if a scoped module's mutants are never reached by a test. The repository itself is only read.

    python tests/mutation/run_mutants.py                 # every module of scope.toml
    python tests/mutation/run_mutants.py --only returns  # modules whose name contains "returns"
    python tests/mutation/run_mutants.py --report        # score the last run again, no run

The copy, mutmut's results and `survivors.txt` (the diff of every surviving mutant) stay in
`.mutants/` (git-ignored); `cd .mutants/work && ../../.venv/bin/mutmut show NAME` shows one.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MOVED = {"agents": "rlkit/agents", "envs": "rlkit/envs", "experiments": "rlkit/experiments"}
"""Top-level folders that are subpackages of rlkit once installed (pyproject's package-dir)."""
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS |= {36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
"""mutmut's exit codes (mutmut.stats.status_by_exit_code); anything else counts as suspicious."""
SEPARATOR = "ǁ"  # mutmut's separator of class and method in a mutant's name


@dataclass
class Module:
    """One entry of scope.toml."""

    name: str
    file: str
    functions: list[str]
    tests: list[str]
    excluded: str

    @property
    def installed(self) -> str:
        """Its path in the copy laid out as installed (agents/x.py -> rlkit/agents/x.py)."""
        top, _, rest = self.file.partition("/")
        return f"{MOVED[top]}/{rest}" if top in MOVED else self.file

    @property
    def dotted(self) -> str:
        """The module's import name."""
        return self.installed.removesuffix(".py").replace("/", ".")

    def mangled(self) -> list[str]:
        """mutmut's names of the scoped functions (x_f, xǁClassǁmethod); ["*"] for all."""
        names = []
        for f in self.functions:
            cls, _, method = f.rpartition(".")
            mangled = f"x{SEPARATOR}{cls}{SEPARATOR}{method}" if cls else f"x_{f}"
            names.append("*" if f == "*" else mangled)
        return names

    def globs(self) -> list[str]:
        """Patterns for `mutmut run` (each must match a function's name and its mutants')."""
        return [f"{self.dotted}.{m}" if m == "*" else f"{self.dotted}.{m}*" for m in self.mangled()]

    def in_scope(self, key: str) -> bool:
        """Whether mutant `key` (module.function__mutmut_N) belongs to a scoped function."""
        module, _, name = key.partition("__mutmut_")[0].rpartition(".")
        return module == self.dotted and any(m in ("*", name) for m in self.mangled())


def load_scope() -> list[Module]:
    """The modules of scope.toml."""
    return [Module(**m) for m in tomllib.loads((HERE / "scope.toml").read_text())["module"]]


def load_equivalent() -> dict[str, str]:
    """Mutant name -> why it is equivalent, from equivalent.toml."""
    path = HERE / "equivalent.toml"
    if not path.exists():
        return {}
    return {e["mutant"]: e["why"] for e in tomllib.loads(path.read_text()).get("equivalent", [])}


def repository_files() -> list[str]:
    """Tracked and untracked, not ignored, files of the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    return [name for name in listed if name and (ROOT / name).is_file()]


def make_copy(work: Path, modules: list[Module], tests: list[str]) -> None:
    """Copy the working tree into `work` laid out as installed, with mutmut's settings."""
    if work.exists():
        shutil.rmtree(work)
    for name in repository_files():
        top, _, rest = name.partition("/")
        target = work / (f"{MOVED[top]}/{rest}" if top in MOVED and rest else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    for module in modules:
        undecorate(work / module.installed)
    settings = {
        "source_paths": ["rlkit"],
        "only_mutate": sorted({m.installed for m in modules}),
        "pytest_add_cli_args": ["-m", "not slow", "-p", "no:cacheprovider"],
        "pytest_add_cli_args_test_selection": tests,
        "use_git_change_detection": False,  # the copy lies inside the repository's work tree
    }
    with (work / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mutmut]\n")
        f.writelines(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())


def undecorate(path: Path) -> None:
    """Rewrite `@torch.no_grad()` methods as a wrapping assignment after the def.

    mutmut never mutates a decorated function (other than static and class methods); the
    assignment `f = torch.no_grad()(f)` is what the decorator does, and leaves `f` mutable.
    """
    lines = path.read_text().splitlines(keepends=True)
    edits = []
    for node in ast.walk(ast.parse("".join(lines))):
        if isinstance(node, ast.FunctionDef) and [ast.unparse(d) for d in node.decorator_list] == [
            "torch.no_grad()"
        ]:
            edits.append((node.decorator_list[0].lineno, node.end_lineno, node))
    for decorator_line, end_line, node in sorted(edits, key=lambda e: e[0], reverse=True):
        indent = " " * node.col_offset
        assert end_line is not None
        assert lines[decorator_line - 1].strip() == "@torch.no_grad()"
        lines.insert(end_line, f"{indent}{node.name} = torch.no_grad()({node.name})\n")
        del lines[decorator_line - 1]
    path.write_text("".join(lines))


def run_mutmut(work: Path, modules: list[Module], children: int) -> int:
    """`mutmut run` over the scoped functions of `modules`, in `work`; its exit code.

    mutmut's output goes to work/../mutmut.log and to the terminal, less the per-mutant list
    that it prints at the end (the table that follows says the same per module).
    """
    globs = [g for m in modules for g in m.globs()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # torch + fork
    env.pop("PYTHONPATH", None)
    command = [mutmut(), "run", "--max-children", str(children), *globs]
    echo = True
    with (work.parent / "mutmut.log").open("wb") as log:
        done = subprocess.Popen(
            command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert done.stdout is not None
        while chunk := os.read(done.stdout.fileno(), 4096):
            log.write(chunk)
            echo = echo and b"Mutant results" not in chunk
            if echo:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
        return done.wait()


def mutmut() -> str:
    """The mutmut command of this interpreter's environment."""
    return str(Path(sys.executable).parent / "mutmut")


def results(work: Path, module: Module) -> dict[str, str]:
    """Status of every scoped mutant of `module` in the last run."""
    meta = work / "mutants" / f"{module.installed}.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {
        key: "not checked" if code is None else STATUS.get(code, "suspicious")
        for key, code in codes.items()
        if module.in_scope(key)
    }


def diffs(work: Path, keys: list[str]) -> str:
    """mutmut's diffs of mutants `keys` (what `mutmut show KEY` prints), in one process."""
    script = (
        "import sys\n"
        "from mutmut.mutation.diff_apply import get_diff_for_mutant\n"
        "for key in sys.stdin.read().split():\n"
        "    print(f'# {key}', get_diff_for_mutant(key), '', sep='\\n')\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, cwd=work, input=" ".join(keys), capture_output=True, text=True)
    return done.stdout + done.stderr


def report(work: Path, modules: list[Module]) -> bool:
    """Print the per-module table, write survivors.txt; False if a module is not fully tested."""
    equivalent = load_equivalent()
    rows, survivors, healthy = [], [], True
    header = "| module | mutants | killed | survived | timeout | no tests | equivalent | score |"
    print(f"\n{header}\n|{' --- |' * 8}")
    for module in modules:
        status = results(work, module)
        counts = Counter(status.values())
        equal = [k for k, s in status.items() if k in equivalent and s == "survived"]
        stale = [k for k in equivalent if module.in_scope(k) and status.get(k) != "survived"]
        live = [k for k, s in status.items() if s not in ("killed", "timeout") and k not in equal]
        survivors += live
        total = len(status)
        score = (counts["killed"] + counts["timeout"]) / max(total - len(equal), 1)
        rows.append(
            f"| {module.name} | {total} | {counts['killed']} | {counts['survived']} | "
            f"{counts['timeout']} | {counts['no tests']} | {len(equal)} | {100 * score:.1f}% |"
        )
        print(rows[-1])
        if total and counts["no tests"] == total:
            print(f"  {module.name}: no test reached any mutant: is the copy imported?")
            healthy = False
        if not total:
            print(f"  {module.name}: no mutants were run")
            healthy = False
        for key in stale:
            print(f"  equivalent.toml lists {key}, which is not a survivor now ({status.get(key)})")
        other = {s: n for s, n in counts.items() if s not in ("killed", "survived", "timeout")}
        if other:
            print(f"  {module.name}: {other}")
    (work.parent / "survivors.txt").write_text(diffs(work, survivors))
    print(f"\n{len(survivors)} mutants survive that equivalent.toml does not explain; "
          f"their diffs: {work.parent / 'survivors.txt'}")  # fmt: skip
    return healthy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="the modules whose name contains this")
    parser.add_argument("--report", action="store_true", help="only score the last run")
    parser.add_argument("--dir", type=Path, default=ROOT / ".mutants", help="where to work")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    modules = [m for m in load_scope() if args.only in m.name]
    work = args.dir.resolve() / "work"
    if not args.report:
        tests = sorted({t for m in modules for t in m.tests if (ROOT / t).exists()})
        start = time.perf_counter()
        make_copy(work, modules, tests)
        code = run_mutmut(work, modules, args.children)
        print(f"mutmut exited {code} after {time.perf_counter() - start:.0f} s")
        if code != 0:
            return code
    return 0 if report(work, modules) else 1


if __name__ == "__main__":
    sys.exit(main())
