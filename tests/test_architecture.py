"""The architecture's contracts (pyproject.toml's import-linter section) hold, and break when
someone plants a violation: the core importing a family, one family importing another, a cycle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from installed_copy import ROOT, copy_as_installed

LINT = ROOT / ".ci" / "lint-imports"


def lint(tree: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the contracts over the repository (or over `tree`, a copy laid out as installed)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", str(LINT), *([str(tree)] if tree else [])]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def test_the_repository_keeps_every_contract() -> None:
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("rlkit/replay/base.py", "import rlkit.agents.dqn.agent", "Layers"),
        ("rlkit/training/session.py", "import rlkit.agents.ga.train", "Layers"),
        ("rlkit/agents/pg/a2c.py", "import rlkit.agents.dqn.agent", "do not import one another"),
        ("rlkit/agents/ga/backends.py", "import rlkit.agents.ga.ray", "No import cycles"),
    ],
    ids=["core-imports-a-family", "session-imports-a-loop", "family-imports-family", "cycle"],
)
def test_a_planted_violation_fails_the_check(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    copy_as_installed(tmp_path / "tree")
    target = tmp_path / "tree" / module
    target.write_text(target.read_text() + f"\n{planted}  # planted\n")
    result = lint(tmp_path / "tree")
    assert result.returncode != 0, result.stdout
    assert f"{broken}" in result.stdout.split("Broken contracts")[-1], result.stdout
