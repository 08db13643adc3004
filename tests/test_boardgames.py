"""Tic-tac-toe and Connect Four: env checker, rules, snapshots, opponent wrapper, protocol."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401 - registers the games
from rlkit.envs.boardgames import ConnectFourEnv, TicTacToeEnv
from rlkit.errors import SpaceError
from rlkit.players import VersusOpponent
from rlkit.search_model import find_model, missing_model_methods


def play_all(env: TicTacToeEnv | ConnectFourEnv, moves: list[int]) -> tuple[float, bool, dict]:
    env.reset(seed=0)
    reward, done, info = 0.0, False, {}
    for move in moves:
        assert not done, "game ended before the last move"
        _, reward, done, _, info = env.step(move)
    return float(reward), done, info


@pytest.mark.parametrize("env_id", ["rlkit/TicTacToe-v0", "rlkit/ConnectFour-v0"])
def test_env_checker_passes(env_id: str) -> None:
    env = gym.make(env_id, disable_env_checker=True)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert obs.shape == env.observation_space.shape
    assert obs.dtype == np.float32
    assert info["action_mask"].all()


def test_tictactoe_wins_rows_columns_diagonals() -> None:
    env = TicTacToeEnv()
    # X: 0 1 2 (top row) against O: 3 4
    assert play_all(env, [0, 3, 1, 4, 2])[:2] == (1.0, True)
    # O wins the middle column 1 4 7 while X wanders
    assert play_all(env, [0, 1, 2, 4, 6, 7])[:2] == (1.0, True)
    assert env.to_play() == 0  # X would move next: O (player 1) moved last
    # anti-diagonal 2 4 6 for X
    assert play_all(env, [2, 0, 4, 1, 6])[:2] == (1.0, True)


def test_tictactoe_draw_on_full_board() -> None:
    env = TicTacToeEnv()
    # X O X / X O O / O X X: nobody has three in a row
    reward, done, _ = play_all(env, [0, 1, 2, 4, 3, 5, 7, 6, 8])
    assert (reward, done) == (0.0, True)
    assert env.legal_actions().size == 0


def test_connect_four_wins_in_every_direction() -> None:
    env = ConnectFourEnv()
    assert play_all(env, [0, 1, 0, 1, 0, 1, 0])[:2] == (1.0, True)  # vertical
    assert play_all(env, [0, 0, 1, 1, 2, 2, 3])[:2] == (1.0, True)  # horizontal
    # rising diagonal for the first player: (0,0) (1,1) (2,2) (3,3)
    moves = [0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3]
    assert play_all(env, moves)[:2] == (1.0, True)
    # falling diagonal: (3,0) (2,1) (1,2) (0,3)
    moves = [3, 2, 2, 1, 1, 0, 1, 0, 0, 6, 0]
    assert play_all(env, moves)[:2] == (1.0, True)
    # three in a row with a gap is not a win
    assert play_all(env, [0, 6, 1, 6, 3, 5])[:2] == (0.0, False)


def test_connect_four_full_column_is_illegal_and_board_fills_to_a_draw() -> None:
    env = ConnectFourEnv()
    _, done, _ = play_all(env, [0] * 6)
    assert not done
    assert 0 not in env.legal_moves()
    _, reward, done, _, info = env.step(0)
    assert (reward, done, info["illegal"]) == (-1.0, True, True)
    # fill columns in an order that never makes four: pairs of columns, shifted by one row
    moves = []
    for a, b in ((0, 1), (2, 3), (4, 5)):
        moves += [a, b, a, b, a, b, b, a, b, a, b, a]
    moves += [6] * 6
    reward, done, _ = play_all(env, moves)
    assert (reward, done, env.ply) == (0.0, True, 42)


def test_observation_is_from_the_movers_view_and_mask_matches() -> None:
    env = ConnectFourEnv()
    env.reset(seed=0)
    obs, _, _, _, info = env.step(3)
    assert obs[1, 5, 3] == 1.0
    assert obs[0].sum() == 0
    obs, _, _, _, info = env.step(3)
    assert obs[0, 5, 3] == 1.0
    assert obs[1, 4, 3] == 1.0
    assert info["action_mask"].tolist() == [True] * 7


def test_clone_restore_round_trip() -> None:
    env = TicTacToeEnv()
    env.reset(seed=0)
    env.step(4)
    snap = env.clone_state()
    obs_before = env.observation()
    env.step(0)
    env.step(8)
    assert env.clone_state() != snap
    env.restore_state(snap)
    assert env.clone_state() == snap
    assert hash(env.clone_state()) == hash(snap)
    np.testing.assert_array_equal(env.observation(), obs_before)
    assert env.to_play() == 1
    assert 4 not in env.legal_moves()


def test_illegal_move_ends_the_game_with_minus_one() -> None:
    env = TicTacToeEnv()
    env.reset(seed=0)
    env.step(4)
    _, reward, done, _, info = env.step(4)
    assert (reward, done, info["illegal"]) == (-1.0, True, True)


def test_opponent_wrapper_is_single_agent_and_hides_the_protocol() -> None:
    env = gym.make("rlkit/TicTacToe-v0", opponent="minimax", agent_player="second")
    assert isinstance(env.unwrapped, TicTacToeEnv)
    assert missing_model_methods(env)
    assert isinstance(find_model(env), TicTacToeEnv)
    obs, _ = env.reset(seed=3)
    assert obs[1].sum() == 1.0  # minimax has moved first
    total, done = 0.0, False
    rng = np.random.default_rng(0)
    while not done:
        mask = env.unwrapped.action_mask()
        _, reward, done, _, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
        total += reward
    assert total in (-1.0, 0.0)  # a random agent never beats perfect play


def test_opponent_alternates_sides() -> None:
    game = TicTacToeEnv()
    env = VersusOpponent(game, "random", "alternate", "rlkit/TicTacToe-v0")
    firsts = [env.reset(seed=s)[0].sum() for s in range(4)]
    assert firsts == [0.0, 1.0, 0.0, 1.0]


def test_find_model_names_what_is_missing() -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(SpaceError, match="CartPole-v1.*legal_actions, to_play, num_players"):
        find_model(env)
    assert "clone_state" in missing_model_methods(env)


def test_decisive_move_wins_first_then_blocks() -> None:
    env = TicTacToeEnv()
    play_all(env, [0, 3, 1])  # O to move: X threatens 2, O has no win yet
    assert env.decisive_move() == 2
    play_all(env, [0, 3, 1, 4, 8])  # O to move: O wins at 5 (beats blocking X's 2)
    assert env.decisive_move() == 5
    c4 = ConnectFourEnv()
    play_all(c4, [0, 6])
    assert c4.decisive_move() is None
    play_all(c4, [0, 6, 0, 6, 0])  # second player must block column 0
    assert c4.decisive_move() == 0
