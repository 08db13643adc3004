"""UCT: UCB1, negamax backup, tree reuse, budgets, state left unchanged, strength, Atari model."""

from __future__ import annotations

import math
import random
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlkit.envs  # noqa: F401 - registers the games
from rlkit.agent import EnvSpec
from rlkit.agents import mcts
from rlkit.agents.mcts import UCTAgent, UCTConfig, UCTNode, UCTPlayer, UCTSearch, _backup, ucb1
from rlkit.envs.boardgames import BoardGame, ConnectFourEnv, TicTacToeEnv
from rlkit.errors import ConfigError, SpaceError
from rlkit.experiment import load_experiment
from rlkit.players import MinimaxPlayer, play_match, player_from_spec
from rlkit.search_model import find_model


def test_ucb1_on_a_hand_built_node() -> None:
    parent = UCTNode(None, 0.0, False, 0, [])
    parent.visits = 10
    for action, (visits, value) in enumerate([(6, 3.0), (3, 2.5), (1, 0.0)]):
        child = UCTNode(None, 0.0, False, 1, [])
        child.visits, child.value = visits, value
        parent.children[action] = child
    c = 1.5
    expected = [0.5 + c * math.sqrt(math.log(10) / 6), 2.5 / 3 + c * math.sqrt(math.log(10) / 3)]
    expected.append(0.0 + c * math.sqrt(math.log(10) / 1))
    for action, child in parent.children.items():
        assert ucb1(10, child.visits, child.value, c) == pytest.approx(expected[action])
    assert parent.ucb_child(c)[0] == int(np.argmax(expected)) == 2
    assert parent.ucb_child(0.0)[0] == 1  # pure exploitation: best mean


def expanded_root(game: BoardGame) -> UCTNode:
    """A root for the game's position with one child per legal move, each with untried moves."""
    state = game.clone_state()
    root = UCTNode(state, 0.0, False, game.to_play(), [])
    for move in game.legal_moves():
        reward, over = game.play(move)
        root.children[move] = UCTNode(
            game.clone_state(), reward, over, game.to_play(), list(game.legal_moves())
        )
        game.restore_state(state)
    return root


def test_search_descends_into_the_child_of_highest_ucb1() -> None:
    """Over random visit counts, values and c, a simulation descends into the root's child of
    highest mean + c * sqrt(ln N / n), as ucb1() scores it."""
    rng = np.random.default_rng(0)
    game = TicTacToeEnv()
    game.reset(seed=0)
    checked = 0
    for trial in range(300):
        root = expanded_root(game)
        c = float(rng.uniform(0.1, 3.0))
        for child in root.children.values():
            child.visits = int(rng.integers(1, 60))
            child.value = float(rng.uniform(-1.0, 1.0)) * child.visits
        root.visits = sum(child.visits for child in root.children.values())
        scores = {a: ucb1(root.visits, ch.visits, ch.value, c) for a, ch in root.children.items()}
        first, second = sorted(scores.values())[-2:][::-1]
        if first - second < 1e-9:
            continue  # a tie: either child is right
        before = {a: child.visits for a, child in root.children.items()}
        search = UCTSearch(UCTConfig(c=c, simulations=1), trial)
        search.root = root  # the kept tree of this very position
        search.choose(game)
        grown = [a for a, child in root.children.items() if child.visits > before[a]]
        assert grown == [max(scores, key=scores.__getitem__)], (trial, c, before)
        checked += 1
    assert checked > 250


def test_negamax_backup_flips_the_sign_per_player() -> None:
    # root (player 0 to move) -> a (player 1 to move) -> b (player 0 to move, leaf)
    root, a, b = (
        UCTNode(0, 0.0, False, 0, []),
        UCTNode(1, 0.0, False, 1, []),
        UCTNode(2, 0.0, False, 0, []),
    )
    _backup([root, a, b], 1.0, 1.0)  # the leaf's player to move (0) gets +1 from the rollout
    # b was entered by player 1, for whom that outcome is -1; a by player 0: +1
    assert (b.value, a.value, root.visits) == (-1.0, 1.0, 1)
    # a win on the move into b (reward 1 to player 1), terminal: no rollout value
    b.reward = 1.0
    _backup([root, a, b], 0.0, 1.0)
    assert (b.value, a.value) == (0.0, 0.0)


def test_backup_one_player_discounts_rewards() -> None:
    root, a, b = (
        UCTNode(0, 0.0, False, 0, []),
        UCTNode(1, 1.0, False, 0, []),
        UCTNode(2, 2.0, False, 0, []),
    )
    _backup([root, a, b], 4.0, 0.5)
    assert b.value == 2.0 + 0.5 * 4.0
    assert a.value == 1.0 + 0.5 * 4.0


def test_uct_takes_a_win_and_blocks_a_loss() -> None:
    game = TicTacToeEnv()
    game.reset(seed=0)
    for move in (0, 3, 1, 4):  # X to move can win at 2
        game.step(move)
    assert UCTSearch(UCTConfig(simulations=300), 0).choose(game) == 2
    game.reset(seed=0)
    for move in (0, 4, 1):  # X threatens 2: O must block
        game.step(move)
    assert UCTSearch(UCTConfig(simulations=300), 1).choose(game) == 2


def winning_moves(game: BoardGame) -> list[int]:
    """The moves that win at once for the player to move."""
    state, wins = game.clone_state(), []
    for move in game.legal_moves():
        if game.play(move)[0] == 1.0:
            wins.append(move)
        game.restore_state(state)
    return wins


def safe_moves(game: BoardGame) -> list[int]:
    """The moves after which the opponent has no immediate win."""
    state, safe = game.clone_state(), []
    for move in game.legal_moves():
        over = game.play(move)[1]
        if over or not winning_moves(game):
            safe.append(move)
        game.restore_state(state)
    return safe


def tactical_positions(game: BoardGame, kind: str, count: int) -> list[tuple[int, ...]]:
    """Snapshots from seeded random games: the first position where the player to move can
    win at once ("win"), or has no win and exactly one move that does not lose at once
    ("block")."""
    rng, found = random.Random(0), list[tuple[int, ...]]()
    while len(found) < count:
        game.reset()
        while not game.terminal():
            wins = winning_moves(game)
            if (kind == "win" and wins) or (
                kind == "block" and not wins and len(safe_moves(game)) == 1
            ):
                found.append(game.clone_state())
                break
            game.play(rng.choice(game.legal_moves()))
    return found


@pytest.mark.parametrize("kind", ["win", "block"])
@pytest.mark.parametrize(
    ("game_class", "simulations"),
    [(TicTacToeEnv, 100), (ConnectFourEnv, 200)],
    ids=["tictactoe", "connect_four"],
)
def test_uct_plays_mate_in_one_and_blocks_it(
    kind: str, game_class: type[BoardGame], simulations: int
) -> None:
    """From positions where the player to move can win at once, UCT plays a winning move; where
    the opponent threatens to win, it plays the only move that stops it (several search seeds)."""
    game = game_class()
    positions = tactical_positions(game, kind, 8)
    assert len(set(positions)) >= 6  # distinct positions, not one repeated
    for state in positions:
        game.restore_state(state)
        good = winning_moves(game) if kind == "win" else safe_moves(game)
        assert kind == "win" or len(game.legal_moves()) > len(good) == 1
        for seed in range(3):
            move = UCTSearch(UCTConfig(simulations=simulations), seed).choose(game)
            assert move in good, (game.board_text(), seed, move, good)


def test_search_leaves_the_state_unchanged() -> None:
    game = ConnectFourEnv()
    game.reset(seed=0)
    for move in (3, 3, 2):
        game.step(move)
    before, obs = game.clone_state(), game.observation()
    UCTSearch(UCTConfig(simulations=200), 0).choose(game)
    assert game.clone_state() == before
    np.testing.assert_array_equal(game.observation(), obs)


def test_tree_reuse_keeps_the_subtree_visits() -> None:
    game = ConnectFourEnv()
    game.reset(seed=0)
    search = UCTSearch(UCTConfig(simulations=500), 0)
    move = search.choose(game)
    root = search.root
    assert root is not None
    game.step(move)
    reply = max(root.children[move].children.items(), key=lambda kv: kv[1].visits)
    game.step(reply[0])
    kept = reply[1].visits
    assert kept > 0
    search.choose(game)
    assert search.root is reply[1]
    assert search.root.visits == kept + 500
    fresh = UCTSearch(UCTConfig(simulations=500, reuse_tree=False), 0)
    fresh.choose(game)
    assert fresh.root is None


class FakeClock:
    """A clock (the `time` module as mcts reads it) that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("simulations", "seconds", "cost", "done"),
    [
        (0, 0.5, 0.0625, 8),  # each simulation takes 1/16 s: 8 fit in half a second
        (1000, 0.5, 0.0625, 8),  # the seconds budget ends first
        (5, 0.5, 0.0625, 5),  # the simulation budget ends first
        (0, 0.5, 2.0, 1),  # one simulation overruns the budget: it still completes
    ],
)
def test_seconds_budget_stops_the_search_when_spent(
    monkeypatch: pytest.MonkeyPatch, simulations: int, seconds: float, cost: float, done: int
) -> None:
    """With simulations that take `cost` seconds each on a fake clock, the search stops after
    the first simulation that ends past the seconds budget (or at the simulation budget)."""
    clock = FakeClock()
    monkeypatch.setattr(mcts, "time", clock)
    simulate = UCTSearch._simulate

    def slow_simulate(self: UCTSearch, root: UCTNode, sim: Any) -> None:
        simulate(self, root, sim)
        clock.now += cost

    monkeypatch.setattr(UCTSearch, "_simulate", slow_simulate)
    game = ConnectFourEnv()
    game.reset(seed=0)
    search = UCTSearch(UCTConfig(simulations=simulations, seconds=seconds), 0)
    search.choose(game)
    assert search.simulations_done == done
    assert search.root is not None
    assert search.root.visits == done


def test_seconds_budget_with_the_real_clock_searches() -> None:
    """A seconds-only budget on the real clock searches and returns a legal move."""
    game = ConnectFourEnv()
    game.reset(seed=0)
    search = UCTSearch(UCTConfig(simulations=0, seconds=0.01), 0)
    assert search.choose(game) in game.legal_moves()
    assert search.simulations_done >= 1


def test_zero_budget_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="budget is zero"):
        UCTConfig(simulations=0, seconds=0.0)
    with pytest.raises(ConfigError, match="budget is zero"):
        load_experiment("tictactoe_uct", ["agent.simulations=0"])
    with pytest.raises(ConfigError, match="budget is zero"):
        player_from_spec("uct:0", "tictactoe", 0)
    with pytest.raises(ValueError, match="finite"):
        UCTConfig(simulations=0, seconds=math.inf)
    with pytest.raises(ValueError, match="finite"):
        UCTConfig(seconds=math.nan)
    with pytest.raises(ValueError, match="finite"):
        UCTConfig(c=math.inf)


def spec_of(env_id: str, env: gym.Env) -> EnvSpec:  # type: ignore[type-arg]
    return EnvSpec(env_id, env.observation_space, env.action_space, 1)


def test_env_without_the_protocol_is_a_space_error_naming_what_is_missing() -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(SpaceError, match="CartPole-v1.*clone_state, restore_state"):
        UCTAgent(UCTConfig(), spec_of("CartPole-v1", env), 0)
    agent = UCTAgent(UCTConfig(), spec_of("rlkit/TicTacToe-v0", TicTacToeEnv()), 0)
    vec = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(SpaceError, match="legal_actions, to_play"):
        agent.attach(vec)


def test_agent_plays_through_the_vector_env() -> None:
    vec = gym.vector.SyncVectorEnv([lambda: gym.make("rlkit/TicTacToe-v0", opponent="random")] * 2)
    agent = UCTAgent(UCTConfig(simulations=200), spec_of("rlkit/TicTacToe-v0", TicTacToeEnv()), 0)
    obs, _ = vec.reset(seed=0)
    agent.attach(vec)
    actions = agent.act(obs, explore=False)
    assert actions.shape == (2,)
    assert all(obs[i, 0].sum() == 0 for i in range(2))
    _, reward, _, _, _ = vec.step(actions)
    assert (reward == 0).all()
    state = agent.state_dict()
    other = UCTAgent(UCTConfig(simulations=200), agent.spec, 5)
    other.load_state_dict(state)
    assert other.searches[1].rng.random() == agent.searches[1].rng.random()


@pytest.mark.slow
@pytest.mark.parametrize("uct_first", [True, False])
def test_uct_1000_never_loses_tictactoe_to_minimax(uct_first: bool) -> None:
    uct = UCTPlayer(UCTConfig(simulations=1000, rollout="decisive"), 7)
    minimax = MinimaxPlayer(8)
    first, second = (uct, minimax) if uct_first else (minimax, uct)
    result = play_match("tictactoe", first, second, 50, seed=100, swap=False)
    losses = result.losses if uct_first else result.wins
    assert losses == 0, result


def test_atari_model_clone_restore_replays_identically() -> None:
    env = gym.make("rlkit/AtariModel-v0", game="boxing", disable_env_checker=True)
    model = find_model(env)
    assert model.num_players == 1
    assert model.to_play() == 0
    env.reset(seed=0)
    for _ in range(5):
        env.step(1)
    snap = model.clone_state()
    actions = np.random.default_rng(0).integers(0, model.legal_actions().size, 40)

    def replay() -> tuple[list[float], np.ndarray]:
        model.restore_state(snap)
        rewards, obs = [], np.empty(0)
        for a in actions:
            obs, r, _, _, _ = env.step(int(a))
            rewards.append(float(r))
        return rewards, obs

    first, second = replay(), replay()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    model.restore_state(snap)
    assert model.clone_state() == snap


def test_uct_on_the_atari_model_runs_and_leaves_the_emulator_in_place() -> None:
    env = gym.make("rlkit/AtariModel-v0", game="boxing", disable_env_checker=True)
    env.reset(seed=0)
    model = find_model(env)
    search = UCTSearch(UCTConfig(simulations=4, rollout_depth=3, c=1.0), 0)
    for _ in range(3):
        snap = model.clone_state()
        action = search.choose(model)
        assert model.clone_state() == snap
        assert 0 <= action < model.legal_actions().size
        env.step(action)


def test_decisive_rollouts_need_a_board_game() -> None:
    env = gym.make("rlkit/AtariModel-v0", game="boxing", disable_env_checker=True)
    env.reset(seed=0)
    search = UCTSearch(UCTConfig(simulations=2, rollout="decisive"), 0)
    with pytest.raises(SpaceError, match="decisive_move"):
        search.choose(find_model(env))
