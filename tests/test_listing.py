"""`rlkit list` for people: experiments by family with targets and times, agents, installed
environments by kind, and filters."""

from __future__ import annotations

import re

import pytest

from rlkit.envs.catalog import KINDS, atari_games, kinds_of
from rlkit.envs.factory import known_env_ids
from rlkit.errors import RlkitError
from rlkit.experiment import bundled_experiments
from rlkit.listing import experiment_rows, listing


def test_experiments_are_grouped_by_family_with_aligned_columns() -> None:
    lines = listing("experiments", None, width=120)
    assert lines[0].startswith("EXPERIMENTS: rlkit run NAME")
    families = [line for line in lines[1:] if not line.startswith(" ")]
    assert families[-5:] == [
        "tabular and dynamic programming:",
        "deep Q-learning:",
        "policy gradient:",
        "planning:",
        "neuroevolution:",
    ]
    header = next(line for line in lines if line.strip().startswith("target"))
    rows = [line for line in lines if line.startswith("  ") and line[2] != " "]
    assert len(rows) == len(bundled_experiments())  # one line each, cut to the width
    assert all(len(line) <= 120 for line in rows)
    target_at, time_at = header.index("target"), header.index("time")
    dqn = next(line for line in rows if line.split()[0] == "cartpole_dqn")
    assert dqn[target_at:].startswith(">= 475 ")  # the columns line up under the header
    assert dqn[time_at:].startswith("~")  # a measured time
    assert header.index("description") == dqn.index("DQN on CartPole-v1")


def test_every_bundled_experiment_has_a_time_and_the_targets_match_the_runs() -> None:
    rows = {row.name: row for row in experiment_rows()}
    assert set(rows) == set(bundled_experiments())
    missing = [name for name, row in rows.items() if not row.time]
    assert missing == []
    assert rows["taxi_qlearning"].target == ">= 7"
    assert rows["maze_ga"].target == "trapped (< 5.5)"  # its goal, not the early stop at 5.5
    assert "GPU" in rows["pong_a2c"].time  # measured on an H200


def test_a_pattern_filters_and_shows_descriptions_whole() -> None:
    lines = listing("experiments", "PONG", width=80)
    names = [line.split()[0] for line in lines if line.startswith("  ") and line[2] != " "]
    assert names
    assert all("pong" in name for name in names)
    text = "\n".join(lines)
    assert "..." not in text  # whole, wrapped
    assert all(len(line) <= 80 for line in lines)


def test_agents_name_their_family() -> None:
    lines = listing("agents", "ppo", width=100)
    assert lines[0].startswith("AGENTS")
    assert re.match(r"  ppo\s+policy gradient\s+Proximal policy optimisation", lines[1])


def test_envs_are_grouped_by_kind_and_only_installed_kinds_are_listed() -> None:
    lines = listing("envs", None, width=100)
    text = "\n".join(lines)
    assert "  toy text (" in text
    assert "  classic control (" in text
    assert "atari (" in text
    assert "Pong," in text
    assert "Reacher-v5" not in text
    assert "LunarLander" not in text
    assert "not installed: " in text
    assert "mujoco: pip install 'gymnasium[mujoco]'" in text
    grouped = kinds_of(known_env_ids())
    for kind in KINDS:
        if not kind.installed():
            assert grouped[kind] == [] or kind.label not in text.split("not installed")[0]


def test_atari_ids_are_listed_once_per_game() -> None:
    games = atari_games(known_env_ids())
    assert {"Pong", "Breakout", "Frostbite"} <= set(games)
    assert len(games) == len(set(games))


def test_an_env_pattern_lists_the_matching_ids() -> None:
    lines = listing("envs", "pong", width=100)
    assert "ALE/Pong-v5" in "\n".join(lines)
    assert "Frostbite" not in "\n".join(lines)


def test_nothing_matching_is_one_clear_error() -> None:
    with pytest.raises(RlkitError, match="no experiments match 'zzz'"):
        listing("experiments", "zzz")
    with pytest.raises(RlkitError, match="unknown section 'things'"):
        listing("things", None)
