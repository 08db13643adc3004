"""Config loading: unknown keys, wrong types, overrides and the TOML round trip."""

import tomllib

import pytest
from helpers import small_experiment

from rlkit.config import apply_override, dumps_toml, parse_override
from rlkit.errors import ConfigError
from rlkit.experiment import Experiment, bundled_experiments, load_experiment, parse_seeds


def test_experiment_resolves_every_table() -> None:
    exp = load_experiment(small_experiment())
    assert exp.env.num_envs == 4
    assert exp.agent.rule == "q_learning"
    assert exp.agent.epsilon.steps == 2_000
    assert exp.run.seed == 7


def test_typo_in_key_names_the_key_and_suggests() -> None:
    data = small_experiment()
    data["agent"]["learning_rat"] = 0.1
    with pytest.raises(
        ConfigError, match=r"agent.learning_rat: unknown key \(did you mean 'learning_rate'"
    ):
        load_experiment(data)
    data = small_experiment(total_step=5)
    with pytest.raises(ConfigError, match=r"run.total_step: unknown key.*'total_steps'"):
        load_experiment(data)


def test_wrong_type_names_key_value_and_type() -> None:
    with pytest.raises(ConfigError, match=r"run.total_steps: expected an integer, got 'many'"):
        load_experiment(small_experiment(total_steps="many"))
    data = small_experiment()
    data["agent"]["learning_rate"] = True
    with pytest.raises(ConfigError, match=r"agent.learning_rate: expected a number, got True"):
        load_experiment(data)


def test_int_is_accepted_for_float() -> None:
    data = small_experiment()
    data["agent"]["learning_rate"] = 1
    assert load_experiment(data).agent.learning_rate == 1.0


def test_out_of_range_values_fail_at_load() -> None:
    with pytest.raises(ConfigError, match="total_steps must be >= 1, got 0"):
        load_experiment(small_experiment(total_steps=0))


def test_unknown_agent_lists_registered() -> None:
    data = small_experiment()
    data["agent"]["name"] = "tabluar"
    with pytest.raises(
        ConfigError,
        match=r"unknown agent 'tabluar' \(did you mean 'tabular'.*registered agents: .*dp",
    ):
        load_experiment(data)


def test_overrides_parse_toml_values() -> None:
    assert parse_override("run.seed=3") == (["run", "seed"], 3)
    assert parse_override("agent.epsilon.kind=constant") == (
        ["agent", "epsilon", "kind"],
        "constant",
    )
    assert parse_override("env.kwargs={is_slippery=false}") == (
        ["env", "kwargs"],
        {"is_slippery": False},
    )
    with pytest.raises(ConfigError, match="expected section.key=value"):
        parse_override("seed")


def test_override_applies_nested_and_checks_type() -> None:
    exp = load_experiment(small_experiment(), ["agent.epsilon.end=0.2", "run.seed=11"])
    assert (exp.agent.epsilon.end, exp.run.seed) == (0.2, 11)
    with pytest.raises(ConfigError, match="run.seed: expected an integer"):
        load_experiment(small_experiment(), ["run.seed=abc"])
    data = {"run": 3}
    with pytest.raises(ConfigError, match="'run' is not a table"):
        apply_override(data, ["run", "seed"], 1)


def test_resolved_config_round_trips_through_toml() -> None:
    exp = load_experiment(small_experiment())
    text = dumps_toml(exp.to_dict())
    again = Experiment.from_dict(tomllib.loads(text))
    assert again == exp


def test_every_bundled_experiment_loads() -> None:
    names = bundled_experiments()
    assert {
        "frozenlake_qlearning",
        "taxi_qlearning",
        "cliffwalking_sarsa",
        "cliffwalking_qlearning",
        "gridworld_value_iteration",
    } <= set(names)
    for name in names:
        load_experiment(name)


def test_unknown_experiment_name_suggests() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown experiment 'taxi_qlearnin'.*did you mean 'taxi_qlearning'"
    ):
        load_experiment("taxi_qlearnin")


def test_parse_seeds_ranges_and_lists() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("7") == [7]
    assert parse_seeds("0,3, 5-6") == [0, 3, 5, 6]
    for bad in ("4-2", "a", "1-", "-1"):
        with pytest.raises(ConfigError, match="seeds"):
            parse_seeds(bad)


def test_the_expect_table_informs_and_is_checked() -> None:
    """[expect]: the target defaults to run.target_return; its keys and values are checked like
    any table's; the time reads as people read it."""
    data = small_experiment(target_return=0.5)
    assert load_experiment(data).target == 0.5
    data["expect"] = {"target": 0.7, "cpu_minutes": 90, "gpu_minutes": 0.5}
    exp = load_experiment(data)
    assert exp.target == 0.7
    assert exp.expect.time_text() == "~1.5 h on 2 CPU cores, ~30 s on a GPU"
    # a goal in words replaces the early stop as the aim (the maze's plain GA: trapped)
    assert load_experiment({**data, "expect": {"goal": "trapped"}}).target is None
    assert load_experiment({**data, "expect": {"goal": "x", "target": 2}}).target == 2
    with pytest.raises(ConfigError, match="expect.cpu_minute: unknown key"):
        load_experiment({**data, "expect": {"cpu_minute": 1}})
    with pytest.raises(ConfigError, match="cpu_minutes must be > 0"):
        load_experiment({**data, "expect": {"cpu_minutes": 0}})


def test_the_expect_table_is_not_part_of_a_runs_identity() -> None:
    """Measuring an experiment's time again must not orphan the runs made before."""
    from rlkit.training.identity import fingerprint

    before = load_experiment(small_experiment())
    after = load_experiment({**small_experiment(), "expect": {"target": 1, "cpu_minutes": 2}})
    assert fingerprint(before) == fingerprint(after)
