"""AlphaZero's search pieces by hand: priors, backups, terminal leaves, move choice, targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlkit.agents.alphazero import puct, selfplay
from rlkit.envs.boardgames import TicTacToeEnv


def node(to_play: int, actions: list[int]) -> puct.PUCTNode:
    """A bare node for `to_play` with edges for `actions`."""
    return puct.PUCTNode(None, np.zeros(1), to_play, 0.0, False, actions)


def with_visits(visits: list[float]) -> puct.PUCTNode:
    """A root whose edges have these visit counts."""
    root = node(0, list(range(len(visits))))
    root.n = np.array(visits, dtype=float)
    return root


def test_priors_are_the_softmax_of_the_legal_logits_even_when_huge() -> None:
    root = node(0, [0, 2])
    puct.expand(root, np.array([1000.0, 5.0, 999.0]))  # action 1 is illegal
    e = math.exp(-1.0)
    assert root.prior is not None
    np.testing.assert_allclose(root.prior, [1 / (1 + e), e / (1 + e)])


def test_backup_keeps_the_sign_when_the_same_player_moves_again() -> None:
    root, child = node(0, [0]), node(0, [0])  # player 0 moves twice in a row
    puct.backup([(root, 0)], child, 0.5)
    assert root.w.tolist() == [0.5]


def test_a_terminal_leaf_backs_up_only_the_reward_of_its_move() -> None:
    game = TicTacToeEnv()
    game.reset(seed=0)
    for action in (0, 1, 2, 4, 3, 5, 7, 6):  # X's last move, at 8, draws
        game.step(action)
    root = puct.root_node(game)

    def evaluate(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(obs), 9)), np.full(len(obs), 0.5)

    puct.search([root], [game], evaluate, 3, 1.0)
    assert root.n.tolist() == [3.0]
    assert root.q.tolist() == [0.0]  # a draw: no value beyond the end of the game


def test_choose_greedily_takes_the_most_visited_edge() -> None:
    root = with_visits([1, 5, 2])
    assert puct.choose(root, 1.0, None) == 1
    assert puct.choose(root, 0.0, np.random.default_rng(0)) == 1  # temperature 0


@pytest.mark.parametrize(("temperature", "expected"), [(1.0, 0.75), (0.5, 0.9)])
def test_choose_samples_visits_to_the_power_1_over_temperature(
    temperature: float, expected: float
) -> None:
    root, rng = with_visits([1, 3]), np.random.default_rng(0)
    picks = [puct.choose(root, temperature, rng) for _ in range(4_000)]
    # n ** (1 / T): 1 and 3 (T = 1), 1 and 9 (T = 0.5); binomial std <= 0.007
    assert np.mean(picks) == pytest.approx(expected, abs=0.03)


def test_choose_at_a_low_temperature_does_not_overflow() -> None:
    root = with_visits([500, 1000])  # 1000 ** 100 overflows a double; (1/2) ** 100 does not
    assert puct.choose(root, 0.01, np.random.default_rng(0)) == 1


def test_visit_distribution_is_float32_and_sums_to_1_over_legal_actions() -> None:
    root = node(0, [2, 5])
    root.n = np.array([0.0, 1.0])
    pi = puct.visit_distribution(root, 7)
    assert pi.dtype == np.float32
    assert pi.tolist() == [0, 0, 0, 0, 0, 1, 0]


def test_targets_are_float32_outcomes_for_the_player_to_move() -> None:
    record = selfplay.GameRecord(to_play=[0, 1, 0], outcome=1.0, last_mover=0)
    targets = record.targets()
    assert targets.dtype == np.float32
    assert targets.tolist() == [1.0, -1.0, 1.0]
