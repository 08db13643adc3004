"""The README's custom agent, run exactly as printed there."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_agent_code() -> str:
    text = README.read_text()
    block = re.search(
        r"<!-- custom-agent:start -->\s*```python\n(.*?)```\s*<!-- custom-agent:end -->", text, re.S
    )
    assert block, "README lost its custom-agent block"
    return block.group(1)


def test_readme_custom_agent_is_short_and_learns(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = readme_agent_code()
    written = [line for line in code.splitlines() if line.strip()]
    assert len(written) < 40  # agent, config and the run: under 40 lines
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip().splitlines()[-1] == "-13.0"
    assert (in_tmp / "runs" / "tiny_q" / "summary.json").is_file()


def test_readme_opens_with_the_two_setup_commands() -> None:
    lines = README.read_text().splitlines()
    first_block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert first_block[0].startswith("make run")
    assert first_block[1].startswith("make test")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
