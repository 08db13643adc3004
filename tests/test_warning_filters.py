"""pyproject.toml's warning filters: a warning from rlkit's own code fails the test that caused
it (a clean `pytest -q` stays clean), while third-party warnings are only reported."""

from __future__ import annotations

import warnings

import pytest


def warn_from(module: str) -> list[warnings.WarningMessage]:
    """Warn from code whose module is named `module`, under the filters pytest set from
    pyproject.toml; the warnings that were shown rather than raised."""
    with warnings.catch_warnings(record=True) as shown:  # keeps the filters, records the rest
        exec("import warnings; warnings.warn('noise', UserWarning)", {"__name__": module})
    return shown


@pytest.mark.parametrize("module", ["rlkit", "rlkit.agents.dqn.agent", "rlkit.envs.atari"])
def test_a_warning_from_rlkit_code_fails_the_test(module: str) -> None:
    with pytest.raises(UserWarning, match="noise"):
        warn_from(module)


@pytest.mark.parametrize("module", ["torch.serialization", "rlkitten", "tests.helpers"])
def test_a_warning_from_other_code_is_only_reported(module: str) -> None:
    assert [str(w.message) for w in warn_from(module)] == ["noise"]
