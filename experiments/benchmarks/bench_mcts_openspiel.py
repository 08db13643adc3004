"""rlkit UCT vs OpenSpiel's MCTSBot: simulations per second and strength head to head.

Both sides run the same algorithm with the same budget: UCB1 with the same c, one random rollout
per expansion to the end of the game, MCTS-Solver on (OpenSpiel's `solve=True`), a fresh tree per
move (rlkit's reuse_tree off), the most visited move played. Speed: searches from the same
positions (the start and positions reached by random moves), simulations actually run divided by
wall time. Strength: games between the two, alternating who starts. Needs `pip install open_spiel`.

    python experiments/benchmarks/bench_mcts_openspiel.py [--games 50] [--simulations 1000]
    python experiments/benchmarks/bench_mcts_openspiel.py --atari boxing  # UCT vs random only
"""

from __future__ import annotations

import argparse
import math
import random
import time
from typing import Any

import numpy as np
import pyspiel
import torch
from open_spiel.python.algorithms import mcts

from rlkit.agents.mcts import UCTConfig, UCTSearch
from rlkit.envs.boardgames import BoardGame
from rlkit.players import make_game

GAMES = {"tictactoe": "tic_tac_toe", "connect_four": "connect_four"}


def openspiel_bot(game: Any, simulations: int, c: float, seed: int) -> mcts.MCTSBot:
    rng = np.random.RandomState(seed)
    evaluator = mcts.RandomRolloutEvaluator(n_rollouts=1, random_state=rng)
    return mcts.MCTSBot(game, c, simulations, evaluator, solve=True, random_state=rng)


def rlkit_search(simulations: int, c: float, seed: int) -> UCTSearch:
    config = UCTConfig(c=c, simulations=simulations, reuse_tree=False, rollout="random")
    return UCTSearch(config, seed)


def positions(name: str, count: int, seed: int) -> list[list[int]]:
    """Move sequences: the start, then positions after random moves that do not end the game."""
    rng = random.Random(seed)
    result: list[list[int]] = [[]]
    game = make_game(name)
    while len(result) < count:
        game.reset(seed=0)
        moves: list[int] = []
        for _ in range(rng.randrange(1, 7)):
            move = rng.choice(list(game.legal_moves()))
            _, done = game.play(move)
            if done:
                break
            moves.append(move)
        if moves:
            result.append(moves)
    return result


def speed(name: str, simulations: int, c: float, count: int) -> tuple[float, float]:
    """Simulations per second of rlkit and OpenSpiel over the same positions."""
    spiel_game = pyspiel.load_game(GAMES[name])
    bot = openspiel_bot(spiel_game, simulations, c, 0)
    search = rlkit_search(simulations, c, 0)
    ours = theirs = 0
    our_time = their_time = 0.0
    for moves in positions(name, count, 1):
        game, state = make_game(name), spiel_game.new_initial_state()
        game.reset(seed=0)
        for move in moves:
            game.play(move)
            state.apply_action(move)
        start = time.perf_counter()
        search.choose(game)
        our_time += time.perf_counter() - start
        ours += search.simulations_done
        start = time.perf_counter()
        root = bot.mcts_search(state)
        their_time += time.perf_counter() - start
        theirs += root.explore_count
    return ours / our_time, theirs / their_time


def head_to_head(name: str, simulations: int, c: float, games: int) -> tuple[int, int, int]:
    """(rlkit wins, draws, losses) over `games` games, alternating who starts."""
    spiel_game = pyspiel.load_game(GAMES[name])
    counts = [0, 0, 0]
    for g in range(games):
        bot = openspiel_bot(spiel_game, simulations, c, 1000 + g)
        search = rlkit_search(simulations, c, 2000 + g)
        game, state = make_game(name), spiel_game.new_initial_state()
        game.reset(seed=g)
        rlkit_player = g % 2
        outcome = _play(game, state, bot, search, rlkit_player)
        counts[{1: 0, 0: 1, -1: 2}[outcome]] += 1
    return counts[0], counts[1], counts[2]


def _play(
    game: BoardGame, state: Any, bot: mcts.MCTSBot, search: UCTSearch, rlkit_player: int
) -> int:
    """Play one game; return +1 if rlkit won, 0 for a draw, -1 if it lost."""
    while True:
        mover = game.to_play()
        move = search.choose(game) if mover == rlkit_player else int(bot.step(state))
        state.apply_action(move)
        reward, done = game.play(move)
        if done:
            if reward == 0:
                return 0
            return 1 if mover == rlkit_player else -1


def atari_scores(game: str, episodes: int, cap: int) -> tuple[list[float], list[float]]:
    """Scores of UCT (the boxing_uct experiment's budget) and of random play over `cap` steps."""
    import gymnasium as gym

    from rlkit.envs.factory import known_env_ids
    from rlkit.search_model import find_model

    known_env_ids()  # registers rlkit's envs
    env = gym.make("rlkit/AtariModel-v0", game=game, max_episode_steps=cap)
    model = find_model(env)
    config = UCTConfig(c=1.0, simulations=16, rollout_depth=10, discount=0.99)
    scores: dict[str, list[float]] = {"uct": [], "random": []}
    for episode in range(episodes):
        for kind in scores:
            search, rng = UCTSearch(config, episode), random.Random(episode)
            env.reset(seed=episode)
            total, done = 0.0, False
            while not done:
                n = model.legal_actions().size
                action = search.choose(model) if kind == "uct" else rng.randrange(n)
                _, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            scores[kind].append(total)
    return scores["uct"], scores["random"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=50, help="head-to-head games per game")
    parser.add_argument("--simulations", type=int, default=1000, help="simulations per move")
    parser.add_argument("--c", type=float, default=math.sqrt(2.0), help="UCB1 constant")
    parser.add_argument("--positions", type=int, default=20, help="positions timed per game")
    parser.add_argument("--only", choices=sorted(GAMES), help="benchmark one game only")
    parser.add_argument("--atari", metavar="GAME", help="only: UCT vs random on this Atari game")
    parser.add_argument("--episodes", type=int, default=3, help="Atari episodes per player")
    parser.add_argument("--cap", type=int, default=300, help="Atari episode cap in agent steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.atari:
        uct, rand = atari_scores(args.atari, args.episodes, args.cap)
        print(
            f"{args.atari}: UCT (16 simulations, depth 10, c=1, discount 0.99) {np.mean(uct):.1f} "
            f"{uct}; random {np.mean(rand):.1f} {rand}; {args.episodes} episodes of "
            f"{args.cap} steps (frameskip 4, no sticky actions)"
        )
        return
    for name in [args.only] if args.only else list(GAMES):
        ours, theirs = speed(name, args.simulations, args.c, args.positions)
        print(
            f"{name}: simulations/s rlkit {ours:,.0f}  OpenSpiel {theirs:,.0f}  "
            f"ratio {ours / theirs:.2f}x  ({args.simulations} per search, {args.positions} "
            f"positions)",
            flush=True,
        )
        start = time.perf_counter()
        wins, draws, losses = head_to_head(name, args.simulations, args.c, args.games)
        print(
            f"{name}: rlkit UCT vs OpenSpiel MCTS, {args.games} games, {args.simulations} "
            f"simulations: {wins} wins, {draws} draws, {losses} losses for rlkit "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
