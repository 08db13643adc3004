"""rlkit's built-in agents; importing this package registers them by name."""

if __name__ != "rlkit.agents":  # pragma: no cover - guard against `import agents`
    raise ImportError("import rlkit.agents, not the top-level 'agents' directory")

from rlkit.agents import a2c, alphazero, dp, dqn, ga, mcts, reinforce, tabular

__all__ = ["a2c", "alphazero", "dp", "dqn", "ga", "mcts", "reinforce", "tabular"]
