"""Blackjack's exact model (rlkit/Blackjack-v0) and what MC control learns on it; MC and TD(0)
prediction on the book's gridworld. Tabular code is exact: these hold on every CPU kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlkit.envs  # noqa: F401 - registers rlkit/Blackjack-v0
from rlkit import checkpoint
from rlkit.agents.dp import q_from_v, value_iteration
from rlkit.envs import blackjack as bj
from rlkit.experiment import load_experiment
from rlkit.tabular_model import TabularModel
from rlkit.training.runner import train

# Sutton & Barto figure 5.2: the optimal policy, rows player sum 21 down to 12, columns dealer
# card A, 2, ..., 10; S stick, H hit.
BOOK_OPTIMAL = {
    1: ["SSSSSSSSSS", "SSSSSSSSSS", "SSSSSSSSSS", "HSSSSSSSHH"] + ["HHHHHHHHHH"] * 6,
    0: ["SSSSSSSSSS"] * 5 + ["HSSSSSHHHH"] * 4 + ["HHHSSSHHHH"],
}
# Sutton & Barto figure 4.1: the equiprobable random policy's values on the 4x4 gridworld
BOOK_RANDOM_VALUES = np.array(
    [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]
)


@pytest.fixture(scope="module")
def optimal_q() -> np.ndarray:
    """(S, 2) optimal action values by value iteration on the exact infinite-deck model."""
    model = TabularModel.from_env(gym.make("rlkit/Blackjack-v0"))
    assert model is not None
    return q_from_v(model, value_iteration(model, gamma=1.0, theta=1e-12).values, 1.0)


def decisions(q: np.ndarray) -> dict[tuple[int, int, int], str]:
    """Stick (S, on ties too) or hit (H) in each of the book's 200 player states."""
    return {st: "SH"[int(q[bj.flat_state(*st)].argmax())] for st in bj.player_states()}


def test_dealer_outcomes_match_the_published_infinite_deck_table() -> None:
    # dealer shows a ten, stands on all 17s, no peek: 17, 18, 19, 20, 21, bust
    outcomes = bj.dealer_final(10)
    expected = [0.1114, 0.1114, 0.1114, 0.3422, 0.1114, 0.2121]
    assert [round(outcomes[k], 4) for k in (17, 18, 19, 20, 21, bj.BUST)] == expected
    for card in range(1, 11):
        assert sum(bj.dealer_final(card).values()) == pytest.approx(1.0)


def test_hit_outcomes_by_hand() -> None:
    assert sorted(bj.hit_outcomes(20, 0))[-1] == (4 / 13, 30, 0)  # a ten busts hard 20
    assert (1 / 13, 21, 0) in bj.hit_outcomes(20, 0)  # an ace makes hard 21
    soft = {card_sum: (p, u) for p, card_sum, u in bj.hit_outcomes(12, 1)}  # A, A
    assert soft[21] == (1 / 13, 1)
    assert soft[12] == (4 / 13, 0)
    hard = {card_sum: u for _, card_sum, u in bj.hit_outcomes(6, 0)}
    assert hard[17] == 1  # an ace on hard 6 is usable


def test_model_agrees_with_gymnasiums_simulator() -> None:
    env = gym.make("rlkit/Blackjack-v0", sab=True)
    base: Any = env.unwrapped
    env.reset(seed=0)
    for player, showing in (([10, 8], 10), ([10, 6], 6), ([1, 8], 1)):
        rewards = []
        for _ in range(6_000):
            env.reset()
            base.player, base.dealer = list(player), [showing, base.dealer[1]]
            rewards.append(env.step(bj.STICK)[1])
        total, _ = bj._hand_total(sum(player), 1 in player)
        assert np.mean(rewards) == pytest.approx(bj.stick_reward(total, showing), abs=0.04)
    deals = [int(env.reset()[0]) for _ in range(20_000)]
    frequency = np.bincount(deals, minlength=bj.NUM_STATES) / len(deals)
    assert np.abs(frequency - bj.initial_distribution()).sum() < 0.2  # total variation < 0.1


def test_value_iteration_finds_the_books_optimal_policy(optimal_q: np.ndarray) -> None:
    table = decisions(optimal_q)
    for usable, rows in BOOK_OPTIMAL.items():
        for player, row in zip(range(21, 11, -1), rows, strict=True):
            assert "".join(table[(player, d, usable)] for d in range(1, 11)) == row


def test_flat_observations_are_blackjacks_tuple() -> None:
    env = gym.make("rlkit/Blackjack-v0")
    obs, _ = env.reset(seed=3)
    base: Any = env.unwrapped
    total, usable = bj._hand_total(sum(base.player), 1 in base.player)
    assert env.observation_space.contains(obs)
    assert bj.unflatten(obs) == (total, base.dealer[0], usable)
    assert bj.flat_state(*bj.unflatten(obs)) == obs


def trained_agent(tmp_path: Path, name: str, *overrides: str) -> dict[str, Any]:
    """Run a bundled experiment (with overrides) and return its final agent state."""
    run_dir = tmp_path / name
    train(load_experiment(name, ["run.eval_episodes=16", *overrides]), run_dir)
    state: dict[str, Any] = checkpoint.load(checkpoint.latest(run_dir))["agent"]
    return state


@pytest.mark.parametrize("seed", [0, 1])
def test_mc_prediction_converges_to_the_books_gridworld_values(tmp_path: Path, seed: int) -> None:
    # 50,000 steps (~2,800 episodes): largest error 0.85 (seed 0), 0.73 (1), 0.74 (2)
    state = trained_agent(
        tmp_path, "gridworld_mc_prediction", "run.total_steps=50_000", f"run.seed={seed}"
    )
    errors = np.abs(np.asarray(state["values"]) - BOOK_RANDOM_VALUES.ravel())
    assert errors.max() < 1.0


def test_td0_prediction_converges_to_the_books_gridworld_values(tmp_path: Path) -> None:
    # alpha 0.01, 200,000 steps: largest error 1.30 (seed 0), 1.14 (1), 1.16 (2): constant-alpha
    # TD(0) jitters around v_pi by about sqrt(alpha) times the spread of its targets
    state = trained_agent(
        tmp_path, "gridworld_td0_prediction", "run.total_steps=200_000", "agent.step_size=0.01"
    )
    errors = np.abs(np.asarray(state["values"]) - BOOK_RANDOM_VALUES.ravel())
    assert errors.max() < 1.5
    assert errors.mean() < 0.6


def test_mc_control_with_exploring_starts_approaches_the_optimal_policy(
    tmp_path: Path, optimal_q: np.ndarray
) -> None:
    # 35,000 steps (~25,000 games): 172, 170, 167 of the 198 clear states agree (seeds 0-2);
    # the full experiment (500,000 games) agrees in 194 (RESULTS_blackjack.md)
    state = trained_agent(tmp_path, "blackjack_mc_control", "run.total_steps=35_000")
    learned, optimal = decisions(np.asarray(state["values"])), decisions(optimal_q)
    gaps = {st: abs(np.subtract(*optimal_q[bj.flat_state(*st)])) for st in bj.player_states()}
    clear = [st for st in bj.player_states() if gaps[st] >= 0.01]
    assert len(clear) == 198  # (12, 4, no ace) and (16, 10, no ace) are within 0.01
    assert sum(learned[st] == optimal[st] for st in clear) >= 0.8 * len(clear)
