"""rlkit's built-in agent families; importing this package registers their agents by name.

One module or package per family: tabular (Q-learning, Sarsa, Expected Sarsa, double Q; with
montecarlo, MC control, and prediction, MC and TD(0) prediction), dp (value and policy
iteration), mcts (UCT), dqn (DQN, Double, Dueling), pg (REINFORCE, A2C), alphazero (PUCT and
self-play), ga (the Deep GA and novelty search). Families import the core (rlkit.*), never one
another.
"""

if __name__ != "rlkit.agents":  # pragma: no cover - guard against `import agents`
    raise ImportError("import rlkit.agents, not the top-level 'agents' directory")

from rlkit.agents import alphazero, dp, dqn, ga, mcts, montecarlo, pg, prediction, tabular

__all__ = [
    "alphazero",
    "dp",
    "dqn",
    "ga",
    "mcts",
    "montecarlo",
    "pg",
    "prediction",
    "tabular",
]
