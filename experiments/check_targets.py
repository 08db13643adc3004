"""Do the bundled experiments deliver what their descriptions promise, run exactly as shipped?

Each experiment whose description names a target is run with its default seed
(`rlkit run NAME --logdir DIR`) and judged as a user would judge it: `rlkit eval DIR` with the
default checkpoint choice (best.pt when the run kept one), or, for the board-game players, a
match against the opponent the target names. The cheap ones (toy text, CartPole, the maze,
tic-tac-toe: seconds to minutes each on a 2-core CPU) run by default; --all adds the expensive
ones (Acrobot, Pendulum, Connect Four; their measured figures are in
experiments/benchmarks/RESULTS.md). Prints a table: experiment, target, measured, met, seconds.

    python experiments/check_targets.py                      # the cheap ones
    python experiments/check_targets.py --only cartpole_dqn taxi_qlearning
    python experiments/check_targets.py --all --out-dir runs/targets
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FROZENLAKE_OPTIMUM = 0.7442
"""The value-iteration optimum of FrozenLake 4x4 slippery from the start state (tests/test_dp)."""


@dataclass(frozen=True)
class Target:
    """What an experiment's description promises, and how it is judged."""

    name: str
    promise: str
    threshold: float
    match: tuple[str, ...] = ()
    """For board games: `rlkit eval --game ...` arguments; the measure is player1's losses
    (judged as <= threshold) or its score (wins + draws / 2 per game, >= threshold)."""
    measure: str = "eval"
    """"eval" (the greedy mean return, >= threshold), "losses" or "score" (a match)."""
    cheap: bool = True


TARGETS = (
    Target("taxi_qlearning", "greedy mean return >= 7", 7.0),
    Target("cliffwalking_qlearning", "greedy return -13 (the optimal path)", -13.0),
    Target(
        "frozenlake_qlearning",
        f"greedy success within 0.05 of the optimum {FROZENLAKE_OPTIMUM}",
        FROZENLAKE_OPTIMUM - 0.05,
    ),
    Target("cartpole_dqn", "greedy eval >= 475", 475.0),
    Target("cartpole_double_dqn", "greedy eval >= 475", 475.0),
    Target("cartpole_dueling_dqn", "greedy eval >= 475", 475.0),
    Target("cartpole_dueling_double_dqn", "greedy eval >= 475", 475.0),
    Target("cartpole_reinforce", "greedy eval >= 475", 475.0),
    Target("cartpole_a2c", "greedy eval >= 475", 475.0),
    Target("cartpole_ppo", "greedy return >= 475", 475.0),
    Target("maze_novelty", "reaches the goal (return >= 5.5)", 5.5),
    Target(
        "blackjack_mc_control",
        "greedy mean return within 0.01 of the optimal policy's -0.0443 (100,000 games)",
        -0.0543,
    ),
    Target(
        "tictactoe_alphazero",
        "never loses to minimax (50 games, both sides)",
        0.0,
        ("--game", "tictactoe", "--player2", "minimax", "--games", "50"),
        "losses",
    ),
    Target("acrobot_ppo", "mean greedy return >= -100", -100.0, cheap=False),
    Target("pendulum_ppo", "mean greedy return >= -250", -250.0, cheap=False),
    Target(
        "connect_four_alphazero",
        "beats UCT with the same simulations in >= 70% of games",
        0.7,
        ("--game", "connect_four", "--player2", "uct:40", "--games", "20"),
        "score",
        cheap=False,
    ),
)


def rlkit(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlkit", *argv], capture_output=True, text=True, check=False
    )


def check(target: Target, out_dir: Path) -> tuple[float | None, bool, float, str]:
    """Run the experiment as shipped and judge it: (measured, met, seconds, note)."""
    run_dir = out_dir / target.name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    start = time.perf_counter()
    done = rlkit("run", target.name, "--logdir", str(run_dir))
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        return None, False, seconds, f"run failed: {lines[-1]}"
    if target.match:
        judged = rlkit("eval", "--player1", str(run_dir), *target.match, "--json")
        if judged.returncode != 0:
            return None, False, seconds, f"match failed: {judged.stderr.strip()}"
        result = json.loads(judged.stdout)
        if target.measure == "losses":
            return float(result["losses"]), result["losses"] <= target.threshold, seconds, ""
        score = (result["wins"] + 0.5 * result["draws"]) / result["games"]
        return score, score >= target.threshold, seconds, ""
    judged = rlkit("eval", str(run_dir), "--json")
    if judged.returncode != 0:
        return None, False, seconds, f"eval failed: {judged.stderr.strip()}"
    mean = float(json.loads(judged.stdout)["mean_return"])
    named = [line for line in judged.stderr.splitlines() if ": evaluating " in line]
    which = named[0].split(": evaluating ")[1].split(",")[0] if named else "?"
    return mean, mean >= target.threshold - 1e-9, seconds, which


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also the expensive experiments")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="just these experiments")
    parser.add_argument("--out-dir", type=Path, help="keep the run directories here")
    args = parser.parse_args()
    wanted = set(args.only or ())
    chosen = [t for t in TARGETS if (t.name in wanted if wanted else args.all or t.cheap)]
    unknown = set(args.only or ()) - {t.name for t in TARGETS}
    if unknown:
        parser.error(f"no target known for {', '.join(sorted(unknown))}")
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="rlkit-targets-"))
    print(f"{'experiment':<30} {'target':<52} {'measured':>9}  met  {'seconds':>7}  judged on")
    failed = []
    for target in chosen:
        measured, met, seconds, note = check(target, out_dir)
        shown = "-" if measured is None else f"{measured:.3f}"
        print(
            f"{target.name:<30} {target.promise:<52} {shown:>9}  {'yes' if met else 'NO ':<3}  "
            f"{seconds:>7.0f}  {note}",
            flush=True,
        )
        if not met:
            failed.append(target.name)
    if not args.out_dir:
        shutil.rmtree(out_dir, ignore_errors=True)
    print(
        f"{len(chosen) - len(failed)} of {len(chosen)} met"
        + (f"; not met: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
