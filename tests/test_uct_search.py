"""UCT's pieces by hand: UCB1 selection, rollouts on a chain model, move preference, solver."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlkit.agents.mcts import UCTConfig, UCTNode, UCTSearch, _preference, _Sim
from rlkit.envs.boardgames import TicTacToeEnv


class Chain:
    """A one-player model: `length` moves, each move a in 0..width-1 earns 1 + a; with
    `always_legal` the moves stay legal after the end, as an Atari model's do."""

    num_players = 1

    def __init__(self, length: int, width: int = 1, always_legal: bool = False) -> None:
        self.length, self.width, self.t = length, width, 0
        self.always_legal = always_legal

    def clone_state(self) -> int:
        return self.t

    def restore_state(self, state: int) -> None:
        self.t = state

    def to_play(self) -> int:
        return 0

    def legal_actions(self) -> list[int]:
        return list(range(self.width)) if self.t < self.length or self.always_legal else []

    def step(self, action: int) -> tuple[None, float, bool, bool, dict[str, Any]]:
        self.t += 1
        return None, 1.0 + action, self.t >= self.length, False, {}


def rollout(model: Chain, seed: int = 0, **config: Any) -> float:
    """The return of one rollout of a fresh search from the model's state."""
    return UCTSearch(UCTConfig(**config), seed)._rollout(_Sim(model), 0)  # type: ignore[arg-type]


def test_rollouts_play_to_the_end_and_discount_each_reward() -> None:
    assert rollout(Chain(3), discount=0.5) == 1 + 0.5 + 0.25
    assert rollout(Chain(3), discount=0.5, rollout_depth=2) == 1 + 0.5  # cut after 2 moves
    assert rollout(Chain(0)) == 0.0  # no move left


def test_rollout_moves_are_uniformly_random() -> None:
    returns = [rollout(Chain(1, width=2), seed) for seed in range(400)]  # 1 or 2
    assert set(returns) == {1.0, 2.0}
    assert np.mean(returns) == pytest.approx(1.5, abs=0.08)


def test_a_rollout_policy_sees_the_model() -> None:
    def last_move_while_early(model: Any, moves: Any, rng: Any) -> int:
        return int(moves[-1] if model.t < 2 else moves[0])

    search = UCTSearch(UCTConfig(), 0, rollout_policy=last_move_while_early)
    assert search._rollout(_Sim(Chain(3, width=2)), 0) == 2 + 2 + 1  # type: ignore[arg-type]


def child(value: float, visits: int, proven: float | None = None) -> UCTNode:
    node = UCTNode(None, 0.0, False, 0, [])
    node.value, node.visits, node.proven = value, visits, proven
    return node


def test_ucb_selection_takes_a_proven_child_at_its_exact_value() -> None:
    parent = child(0.0, 20)
    parent.children = {0: child(-5.0, 5, proven=1.0), 1: child(5.0, 10)}  # means -1 and 0.5
    assert parent.ucb_child(0.1)[0] == 0  # 1.0 beats 0.5 + 0.1 * sqrt(ln 20 / 10)


def test_ucb_ties_go_to_the_first_child() -> None:
    parent = child(0.0, 4)
    parent.children = {3: child(1.0, 2), 5: child(1.0, 2)}
    assert parent.ucb_child(1.0)[0] == 3


def test_equal_visits_are_ordered_by_mean() -> None:
    assert _preference(child(3.0, 4)) > _preference(child(1.0, 4))


def tictactoe(*moves: int) -> TicTacToeEnv:
    game = TicTacToeEnv()
    game.reset(seed=0)
    for move in moves:
        game.step(move)
    return game


def searched_root(game: TicTacToeEnv, simulations: int) -> UCTNode:
    search = UCTSearch(UCTConfig(simulations=simulations, reuse_tree=True), 0)
    search.choose(game)
    assert search.root is not None
    return search.root


def test_a_forced_draw_is_proven_and_backs_up_no_value() -> None:
    root = searched_root(tictactoe(0, 1, 2, 4, 3, 5, 7, 6), 5)  # X's only move, 8, draws
    assert root.proven == 0.0
    assert root.children[8].value == 0.0


def test_the_solver_proves_a_win_for_the_second_player() -> None:
    # X 0 1 8, O 3 4: O to move wins at 5, so X, who moved into this position, has lost
    root = searched_root(tictactoe(0, 3, 1, 4, 8), 200)
    assert root.to_play == 1
    assert root.proven == -1.0
    assert root.children[5].proven == 1.0


def test_expansion_picks_an_untried_move_at_random() -> None:
    first = set()
    for seed in range(20):
        search = UCTSearch(UCTConfig(simulations=1, reuse_tree=True), seed)
        search.choose(tictactoe())
        assert search.root is not None
        first |= set(search.root.children)
    assert len(first) > 3  # of 9 moves


def test_every_simulation_visits_the_root_and_one_of_its_children_once() -> None:
    root = searched_root(tictactoe(), 50)
    assert root.visits == 50
    assert sum(c.visits for c in root.children.values()) == 50


def test_the_search_never_expands_a_finished_game() -> None:
    search = UCTSearch(UCTConfig(simulations=20, reuse_tree=True), 0)
    search.choose(Chain(1, width=2, always_legal=True))  # type: ignore[arg-type]
    assert search.root is not None
    assert [c.terminal for c in search.root.children.values()] == [True, True]
    assert all(not c.children and not c.untried for c in search.root.children.values())


class Line:
    """A two-player model along one forced line of moves: `turns[t]` is to move after t moves;
    the last move wins (+1 to its mover). With `stuck`, the last state is not over but has no
    legal move and pays nothing."""

    num_players = 2

    def __init__(self, turns: list[int], stuck: bool = False) -> None:
        self.turns, self.stuck, self.t = turns, stuck, 0

    def clone_state(self) -> int:
        return self.t

    def restore_state(self, state: int) -> None:
        self.t = state

    def to_play(self) -> int:
        return self.turns[self.t]

    def legal_actions(self) -> list[int]:
        return [0] if self.t < len(self.turns) - 1 else []

    def step(self, action: int) -> tuple[None, float, bool, bool, dict[str, Any]]:
        self.t += 1
        over = self.t == len(self.turns) - 1 and not self.stuck
        return None, 1.0 if over else 0.0, over, False, {}


def solved_root(model: Line) -> UCTNode:
    search = UCTSearch(UCTConfig(simulations=10, reuse_tree=True), 0)
    search.choose(model)  # type: ignore[arg-type]
    assert search.root is not None
    return search.root


@pytest.mark.parametrize("after_the_end", [0, 1])
def test_the_solver_follows_who_moves_when_a_player_moves_twice(after_the_end: int) -> None:
    # Player 0 moves, moves again and wins; who is "to move" after the end does not matter.
    root = solved_root(Line([0, 0, after_the_end]))
    assert root.children[0].proven == 1.0  # to player 0, who moved into it: a win
    assert root.proven == -1.0  # to player 1, who (by convention) moved into the root: a loss


def test_a_state_without_legal_moves_ends_the_game() -> None:
    root = solved_root(Line([0, 1, 0], stuck=True))  # after two moves nobody can move
    assert root.proven == 0.0
