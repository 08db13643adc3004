"""Blackjack with Monte Carlo (Sutton & Barto examples 5.1 and 5.3), read from finished runs.

`values RUN`: the state values that MC prediction learned (blackjack_mc_prediction: the policy
"stick on 20 or 21"), drawn as the book's two panels, usable ace and no usable ace, player sum
12-21 by dealer card A-10, as heatmaps in a PNG.

`policy RUN`: how close MC control's greedy policy (blackjack_mc_control) is to the optimal one,
computed independently by value iteration (rlkit's dp) on Blackjack's exact infinite-deck model
(rlkit.envs.blackjack): agreement over the book's 200 player states (states whose two optimal
action values differ by less than --tie are left out, and counted), then the mean return of
both policies over --games games on the run's evaluation envs and seed (the same seeds for
both; the learned policy's figure equals the run's final evaluation when --games matches it).
With --out, a PNG of both policies.

    rlkit run blackjack_mc_prediction --logdir runs/bj_prediction
    python experiments/benchmarks/blackjack_mc.py values runs/bj_prediction --out values.png
    rlkit run blackjack_mc_control --logdir runs/bj_control
    python experiments/benchmarks/blackjack_mc.py policy runs/bj_control --out policy.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit import checkpoint
from rlkit.agents.dp import policy_evaluation, q_from_v, value_iteration
from rlkit.envs import blackjack as bj
from rlkit.envs.factory import make_vector_env
from rlkit.evaluation import evaluate
from rlkit.experiment import load_experiment
from rlkit.seeding import derive_seed
from rlkit.tabular_model import TabularModel

SUMS = range(12, 22)
CARDS = range(1, 11)


class TablePolicy:
    """Acts by a (S,) table of actions: what rlkit's evaluation needs of an agent."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = actions

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return np.asarray(self.actions[np.asarray(obs, dtype=np.int64).reshape(-1)])


def agent_state(run: Path) -> dict[str, Any]:
    """The agent entries of the run's newest checkpoint."""
    state: dict[str, Any] = checkpoint.load(checkpoint.latest(run))["agent"]
    return state


def grid(table: np.ndarray, usable: int) -> np.ndarray:
    """(10, 10) entries of a (S,) table: rows player sum 12-21, columns dealer card A-10."""
    return np.array([[table[bj.flat_state(p, d, usable)] for d in CARDS] for p in SUMS])


def model() -> TabularModel:
    """Blackjack's exact infinite-deck model."""
    exact = TabularModel.from_env(gym.make("rlkit/Blackjack-v0"))
    assert exact is not None
    return exact


def optimal_q() -> np.ndarray:
    """(S, 2) optimal action values: value iteration on the exact model."""
    return q_from_v(model(), value_iteration(model(), gamma=1.0, theta=1e-12).values, 1.0)


def draw(panels: list[tuple[str, np.ndarray]], out: Path, fmt: str, cmap: str) -> None:
    """Heatmaps side by side, each cell labelled, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6))
    for ax, (title, values) in zip(np.atleast_1d(axes), panels, strict=True):
        image = ax.imshow(values, origin="lower", cmap=cmap, vmin=-1, vmax=1)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, format(v, fmt) if fmt else "SH"[int(v > 0)], ha="center",
                    va="center", fontsize=7)  # fmt: skip
        ax.set(title=title, xlabel="dealer showing", ylabel="player sum")
        ax.set_xticks(range(10), ["A", *map(str, range(2, 11))])
        ax.set_yticks(range(10), [str(s) for s in SUMS])
        if fmt:  # values; a policy's two colours need no scale
            fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def show_values(run: Path, out: Path) -> None:
    values = np.asarray(agent_state(run)["values"], dtype=np.float64)
    panels = [(f"{name}: v(s), stick on 20 or 21", grid(values, u))
              for name, u in (("usable ace", 1), ("no usable ace", 0))]  # fmt: skip
    for title, values_grid in panels:
        print(title)
        for p, row in zip(SUMS, values_grid, strict=True):
            print(f"  {p:2d} " + " ".join(f"{v:+.2f}" for v in row))
    exact = policy_evaluation(model(), bj.stick_on_20_or_21(bj.NUM_STATES, 2), 1.0, 1e-12)
    ordinary = [bj.flat_state(*st) for st in bj.player_states() if st[0] != 21 or not st[2]]
    gap = np.abs(values - exact)[ordinary]
    worst = [int(x) for x in bj.unflatten(ordinary[int(gap.argmax())])]
    print(f"difference from the exact model's values over the 190 states besides 21 with a "
          f"usable ace (mostly naturals): mean {gap.mean():.3f}, largest {gap.max():.3f} at "
          f"player {worst[0]}, dealer {worst[1]}, usable ace {worst[2]}")  # fmt: skip
    draw(panels, out, "+.2f", "RdYlGn")


def compare_policy(run: Path, games: int, tie: float, out: Path | None) -> None:
    q = np.asarray(agent_state(run)["values"], dtype=np.float64)
    best = optimal_q()
    learned, optimal = q.argmax(axis=1), best.argmax(axis=1)
    states = [bj.flat_state(*st) for st in bj.player_states()]
    clear = [s for s in states if abs(best[s, 0] - best[s, 1]) >= tie]
    agree = sum(learned[s] == optimal[s] for s in clear)
    left_out = len(states) - len(clear)
    print(f"agreement: {agree}/{len(clear)} = {agree / len(clear):.1%} of the player states "
          f"({left_out} of 200 left out: optimal action values within {tie})")  # fmt: skip
    for s in clear:
        if learned[s] != optimal[s]:
            gap = abs(best[s, 0] - best[s, 1])
            player, dealer, usable = (int(x) for x in bj.unflatten(s))
            print(f"  differs at player {player}, dealer {dealer}, usable ace {usable} "
                  f"(optimal gap {gap:.3f})")  # fmt: skip
    experiment = load_experiment(run / "config.toml")
    seed = derive_seed(experiment.run.seed, 1, 0)  # the run's final evaluation seed
    for name, actions in (("learned", learned), ("optimal", optimal)):
        envs = make_vector_env(experiment.env, experiment.run.eval_num_envs, training=False)
        start = time.perf_counter()
        result = evaluate(TablePolicy(actions), envs, games, seed)  # type: ignore[arg-type]
        print(f"{name} policy: mean return {result.mean_return:+.4f} ± "
              f"{result.std_return / np.sqrt(games):.4f} (s.e.) over {games:,} games, "
              f"seed {seed}, {time.perf_counter() - start:.0f} s")  # fmt: skip
    if out is not None:
        panels = [(f"{who}, {name}", grid(np.where(acts == bj.HIT, 1.0, -1.0), u))
                  for who, acts in (("MC control", learned), ("optimal", optimal))
                  for name, u in (("usable ace", 1), ("no usable ace", 0))]  # fmt: skip
        draw(panels, out, "", "coolwarm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    values = sub.add_parser("values", help="heatmaps of a prediction run's state values")
    values.add_argument("run", type=Path)
    values.add_argument("--out", type=Path, default=Path("blackjack_values.png"))
    policy = sub.add_parser("policy", help="a control run's greedy policy against the optimum")
    policy.add_argument("run", type=Path)
    policy.add_argument("--games", type=int, default=100_000)
    policy.add_argument("--tie", type=float, default=0.01)
    policy.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "values":
        show_values(args.run, args.out)
    else:
        compare_policy(args.run, args.games, args.tie, args.out)


if __name__ == "__main__":
    main()
