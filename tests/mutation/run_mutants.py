"""Mutation testing of rlkit's maths and agent updates: mutmut in a private copy, scored per module.

`make mutants` runs this (it is not part of `make test`: a full run takes tens of minutes).
`scope.toml` beside this file says which functions of which modules are mutated and which fast
tests are selected; `equivalent.toml` lists the surviving mutants argued equivalent, with why.

mutmut copies the sources into `mutants/` and puts that folder first on sys.path. rlkit is
installed editable with a package-dir mapping (`rlkit.agents` is agents/, ...), whose finder
comes after the path finder, so a copy laid out like the repository would give the mutated
rlkit/ but the ORIGINAL agents/: mutants of agents/*.py would silently never run. The copy made
here is laid out as installed instead (tests/installed_copy.py: agents/ becomes rlkit/agents/,
envs/ rlkit/envs/, experiments/ rlkit/experiments/, real folders that mutmut walks and copies);
the run stops if Python would import a scoped module from anywhere else, and fails if a scoped
module's mutants are never reached by a test. The repository itself is only read.

    python tests/mutation/run_mutants.py                 # every module of scope.toml
    python tests/mutation/run_mutants.py --only dqn,mcts # modules whose name contains dqn or mcts
    python tests/mutation/run_mutants.py --report        # score the last run again, no run

The copy, mutmut's results, `survivors.txt` (the diff of every survivor equivalent.toml does not
explain, with an entry to fill in) and `equivalent.md` (the survivors it does explain, as a table)
stay in `.mutants/` (git-ignored); `cd .mutants/work && ../../.venv/bin/mutmut show NAME` shows one.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for installed_copy
from installed_copy import ROOT, check_imports, copy_as_installed, installed_path

HERE = Path(__file__).resolve().parent
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS |= {36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
"""mutmut's exit codes (mutmut.stats.status_by_exit_code); anything else counts as suspicious."""
DETECTED = ("killed", "timeout")
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
        return installed_path(self.file)

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


@dataclass
class Scope:
    """scope.toml: the modules, the tests left out and the lines never mutated."""

    modules: list[Module]
    deselect: list[str]
    skip_lines: list[str]


def load_scope() -> Scope:
    """What scope.toml says."""
    scope = tomllib.loads((HERE / "scope.toml").read_text())
    modules = [Module(**m) for m in scope["module"]]
    return Scope(modules, scope.get("deselect", []), scope.get("skip_lines", []))


@dataclass(frozen=True)
class Equivalent:
    """An entry of equivalent.toml: a surviving mutant argued equivalent."""

    mutant: str
    old: str
    new: str
    why: str

    def matches(self, key: str, diff: str) -> bool:
        """Whether survivor `key` with this diff is this mutant (same function, same change)."""
        same_function = key.partition("__mutmut_")[0] == self.mutant.partition("__mutmut_")[0]
        return same_function and change(diff) == (self.old, self.new)


def load_equivalent() -> list[Equivalent]:
    """The entries of equivalent.toml."""
    path = HERE / "equivalent.toml"
    if not path.exists():
        return []
    return [Equivalent(**e) for e in tomllib.loads(path.read_text()).get("equivalent", [])]


def change(diff: str) -> tuple[str, str]:
    """The lines a mutant's diff removes and adds, each stripped, joined by newlines."""
    body = diff.splitlines()[2:]  # after the ---/+++ header
    old = [line[1:].strip() for line in body if line.startswith("-")]
    new = [line[1:].strip() for line in body if line.startswith("+")]
    return "\n".join(old), "\n".join(new)


def make_copy(work: Path, scope: Scope, modules: list[Module]) -> None:
    """Copy the working tree into `work` laid out as installed, with mutmut's settings."""
    copy_as_installed(work)
    for module in modules:
        undecorate(work / module.installed)
    settings = {
        "source_paths": ["rlkit"],
        "only_mutate": sorted({m.installed for m in modules}),
        "do_not_mutate_patterns": scope.skip_lines,
        "pytest_add_cli_args": [
            *("-m", "not slow", "-p", "no:cacheprovider"),
            *(arg for test in scope.deselect for arg in ("--deselect", test)),
        ],
        "pytest_add_cli_args_test_selection": sorted(
            {t for m in modules for t in m.tests if (ROOT / t).exists()}
        ),
        "use_git_change_detection": False,  # the copy lies inside the repository's work tree
    }
    check_imports(work, [m.dotted for m in modules])
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


def diffs(work: Path, keys: list[str]) -> dict[str, str]:
    """mutmut's diffs of mutants `keys` (what `mutmut show KEY` prints), in one process."""
    script = (
        "import json, sys\n"
        "from mutmut.mutation.diff_apply import get_diff_for_mutant\n"
        "print(json.dumps({k: get_diff_for_mutant(k) for k in json.load(sys.stdin)}))\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(
        command, cwd=work, input=json.dumps(keys), capture_output=True, text=True, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


def report(work: Path, modules: list[Module]) -> bool:
    """Print the per-module table, write survivors.txt; False if a module is not fully tested."""
    status = {m.name: results(work, m) for m in modules}
    alive = [k for m in modules for k, s in status[m.name].items() if s not in DETECTED]
    diff = diffs(work, alive)
    equivalents = load_equivalent()
    explained = {k for k in alive for e in equivalents if e.matches(k, diff[k])}
    header = "| module | mutants | killed | survived | timeout | no tests | equivalent | score |"
    print(f"\n{header}\n|{' --- |' * 8}")
    healthy = True
    for module in modules:
        counts = Counter(status[module.name].values())
        total, equal = len(status[module.name]), len(explained & set(status[module.name]))
        score = (counts["killed"] + counts["timeout"]) / max(total - equal, 1)
        print(
            f"| {module.name} | {total} | {counts['killed']} | {counts['survived']} | "
            f"{counts['timeout']} | {counts['no tests']} | {equal} | {100 * score:.1f}% |"
        )
        if not total or counts["no tests"] == total:
            print(f"  {module.name}: no test reached a mutant: does Python import the copy?")
            healthy = False
        other = {s: n for s, n in counts.items() if s not in (*DETECTED, "survived")}
        if other:
            print(f"  {module.name}: {other}")
    for e in equivalents:
        in_run = any(m.in_scope(e.mutant) for m in modules)
        if in_run and not any(e.matches(k, diff[k]) for k in alive):
            print(f"  equivalent.toml: {e.mutant} ({e.old} -> {e.new}) did not survive this run")
    matched = [(k, e) for k in alive for e in equivalents if e.matches(k, diff[k])]
    (work.parent / "equivalent.md").write_text(equivalent_table(matched))
    unexplained = [k for k in alive if k not in explained]
    text = "".join(survivor(k, status_of(status, k), diff[k]) for k in unexplained)
    (work.parent / "survivors.txt").write_text(text)
    print(f"\n{len(unexplained)} mutants survive that equivalent.toml does not explain; "
          f"their diffs: {work.parent / 'survivors.txt'}")  # fmt: skip
    return healthy


def equivalent_table(matched: list[tuple[str, Equivalent]]) -> str:
    """A markdown table of the survivors argued equivalent in this run."""
    rows = ["| mutant | change | why equivalent |", "| --- | --- | --- |"]
    for key, e in matched:
        name = key.replace("xǁ", "").replace("ǁ", ".").replace(".x_", ".")
        name = name.replace("__mutmut_", " #")
        old, new = (f"`{text}`".replace("|", "\\|") for text in (e.old, e.new))
        rows.append(f"| `{name}` | {old} → {new} | {e.why.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def survivor(key: str, status: str, diff: str) -> str:
    """A survivor's diff and an equivalent.toml entry to fill in if it is equivalent."""
    old, new = (json.dumps(text, ensure_ascii=False) for text in change(diff))
    entry = f'[[equivalent]]\nmutant = "{key}"\nold = {old}\nnew = {new}\nwhy = ""\n'
    return f"# {key}: {status}\n{diff}\n\n{entry}\n"


def status_of(status: dict[str, dict[str, str]], key: str) -> str:
    """The status of mutant `key` in any module."""
    return next(s[key] for s in status.values() if key in s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="modules whose name contains one of a,b,...")
    parser.add_argument("--report", action="store_true", help="only score the last run")
    parser.add_argument("--dir", type=Path, default=ROOT / ".mutants", help="where to work")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    scope = load_scope()
    modules = [m for m in scope.modules if any(part in m.name for part in args.only.split(","))]
    work = args.dir.resolve() / "work"
    if not args.report:
        start = time.perf_counter()
        make_copy(work, scope, modules)
        code = run_mutmut(work, modules, args.children)
        print(f"mutmut exited {code} after {time.perf_counter() - start:.0f} s")
        if code != 0:
            return code
    return 0 if report(work, modules) else 1


if __name__ == "__main__":
    sys.exit(main())
