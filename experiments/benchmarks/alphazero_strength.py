"""Strength of a trained AlphaZero run: a match against minimax or UCT with the same budget.

Loads the run's newest checkpoint (its best network), plays `--games` games alternating who
moves first, and prints wins, draws and losses from AlphaZero's view, the score and the time.
`--opponent uct` gives UCT (rlkit.agents.mcts; `--uct-rollout`: decisive rollouts as the arena's
uct:N players, or plain random rollouts) exactly as many simulations per move as AlphaZero
uses (`--simulations`, default: the run's agent.play_simulations, or agent.simulations where
that is 0).

    python experiments/benchmarks/alphazero_strength.py RUN_DIR --opponent minimax --games 50
    python experiments/benchmarks/alphazero_strength.py RUN_DIR --opponent uct --games 50
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import torch

from rlkit import checkpoint
from rlkit.agent import build_agent
from rlkit.agents.alphazero import AlphaZeroAgent
from rlkit.agents.mcts import UCTConfig, UCTPlayer
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.experiment import load_experiment
from rlkit.players import Player, play_match, player_from_spec


def load_agent(run_dir: Path, simulations: int | None) -> AlphaZeroAgent:
    """The run's best network in an agent, optionally with another simulation budget."""
    state = checkpoint.load(checkpoint.latest(run_dir))
    experiment = load_experiment(state["config"])
    if simulations is not None:
        experiment.agent = dataclasses.replace(experiment.agent, play_simulations=simulations)
    envs = make_vector_env(experiment.env, 1, training=False)
    try:
        spec = env_spec(experiment.env, envs)
        agent = build_agent(experiment.agent_name, experiment.agent, spec, experiment.run.seed)
    finally:
        envs.close()
    agent.load_state_dict(state["agent"])
    assert isinstance(agent, AlphaZeroAgent)
    return agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--opponent", choices=["minimax", "uct", "random"], default="uct")
    parser.add_argument("--games", type=int, default=50)
    parser.add_argument("--simulations", type=int, help="AlphaZero's (and UCT's) budget per move")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--uct-rollout",
        choices=["random", "decisive"],
        default="decisive",
        help="UCT's rollouts: decisive (take a win, else block one; the uct:N players) or random",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent = load_agent(args.run_dir, args.simulations)
    game = load_experiment(checkpoint.load(checkpoint.latest(args.run_dir))["config"]).env.id
    sims = agent.config.play_simulations or agent.config.simulations
    spec = f"uct:{sims}" if args.opponent == "uct" else args.opponent
    if args.opponent == "uct":
        config = UCTConfig(simulations=sims, rollout=args.uct_rollout)
        opponent: Player = UCTPlayer(config, args.seed + 1)
        spec += f" ({args.uct_rollout} rollouts)"
    else:
        opponent = player_from_spec(spec, game, args.seed + 1)
    start = time.perf_counter()
    result = play_match(game, agent.as_player(), opponent, args.games, args.seed)
    seconds = time.perf_counter() - start
    score = (result.wins + 0.5 * result.draws) / result.games
    print(
        f"{game}: alphazero({sims} simulations) vs {spec}: {result.wins} wins, "
        f"{result.draws} draws, {result.losses} losses over {result.games} games "
        f"(first player alternating); win rate {result.wins / result.games:.2f}, "
        f"score {score:.2f}; {seconds:.1f} s; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
