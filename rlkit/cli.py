"""The `rlkit` command: run, eval, list, plot, sweep, report."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rlkit.errors import RlkitError, StorageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line, like rlkit's other input errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"rlkit: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rlkit",
        description="Train and evaluate reinforcement-learning agents.",
        epilog="First steps: rlkit list (the bundled experiments, with targets and times); "
        "rlkit run cartpole_dqn --logdir runs/dqn; rlkit plot runs/dqn; rlkit eval runs/dqn "
        "--video runs/dqn/policy.gif. rlkit COMMAND --help for each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="let the libraries print their own messages too (SDL, the ALE banner)",
    )

    run = sub.add_parser("run", help="train an agent from an experiment file", parents=[common])
    run.add_argument("experiment", nargs="?", help="experiment TOML file or bundled name")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (repeatable)",
    )
    run.add_argument("--seed", type=int, help="shortcut for --set run.seed=N")
    run.add_argument("--logdir", help="run directory to create (default runs/<name>-<time>)")
    run.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint"
    )

    ev = sub.add_parser(
        "eval",
        help="greedy evaluation of a trained agent, or a match of two board-game players",
        parents=[common],
        description="rlkit eval RUN_DIR evaluates a run; rlkit eval --game tictactoe --player1 "
        "uct:1000 --player2 minimax pits two players (random, minimax, human, uct:N, uct:Xs, "
        "or a run directory) and reports player1's wins, draws and losses.",
    )
    ev.add_argument("target", nargs="?", metavar="RUN_DIR|CHECKPOINT")
    ev.add_argument("--game", help="board game of a match: tictactoe or connect_four")
    ev.add_argument("--player1", metavar="SPEC", help="first player of a match (see above)")
    ev.add_argument("--player2", metavar="SPEC", help="second player of a match")
    ev.add_argument(
        "--games", type=int, default=10, help="games of a match, alternating who starts"
    )
    ev.add_argument(
        "--checkpoint",
        metavar="best|final|PATH",
        help="which checkpoint of RUN_DIR: best (the agent of the best evaluation, the "
        "default when the run kept one), final (the newest: the agent as training left it) or "
        "a checkpoint file",
    )
    ev.add_argument("--episodes", type=int, help="episodes to play (default: the run's final eval)")
    ev.add_argument("--seed", type=int, help="seed of the evaluation env")
    ev.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ev.add_argument(
        "--video",
        metavar="FILE",
        help="write greedy play to a .gif (or .mp4 with imageio-ffmpeg); --episodes defaults to 1",
    )
    ev.add_argument(
        "--max-frames",
        type=int,
        default=5_000,
        metavar="N",
        help="stop the video after N frames (default 5,000)",
    )

    ls = sub.add_parser(
        "list",
        help="bundled experiments (with targets and times), agents and environments",
        description="rlkit list [experiments|agents|envs] [PATTERN]: the bundled experiments "
        "grouped by family with their targets and CPU times, the agents, and the installed "
        "environments by kind; PATTERN (a substring, any case) filters them.",
    )
    ls.add_argument(
        "words", nargs="*", metavar="experiments|agents|envs [PATTERN]", help="what to list"
    )

    sw = sub.add_parser(
        "sweep",
        help="many runs of one experiment (a grid of settings x seeds), locally or on Ray",
        parents=[common],
        description="Runs the cross product of --grid values and --seeds, each an ordinary run "
        "directory SWEEP_DIR/<config>/seed-<s>. Re-running the same command continues: "
        "finished runs are skipped, interrupted ones resumed from their checkpoints.",
    )
    sw.add_argument("experiment", help="experiment TOML file or bundled name")
    sw.add_argument("--seeds", required=True, help="e.g. 0-9 or 0,3,7")
    sw.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value in every run (repeatable)",
    )
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2",
        help="values to sweep over (repeatable: the cross product)",
    )
    sw.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="runs at a time (--backend ray without --ray-address: the local instance's CPUs)",
    )
    sw.add_argument("--backend", choices=("processes", "ray"), default="processes")
    sw.add_argument("--ray-address", metavar="HOST:PORT", help="a Ray cluster (default: local)")
    sw.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray CPUs per run")
    sw.add_argument("--logdir", required=True, metavar="SWEEP_DIR")

    rep = sub.add_parser(
        "report", help="aggregate statistics of a sweep over seeds (IQM, intervals, P(X > Y))"
    )
    rep.add_argument("sweep_dir", metavar="SWEEP_DIR")
    rep.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rep.add_argument(
        "--target", type=float, help="a return to compare with: optimality gap and profile"
    )
    rep.add_argument(
        "--score",
        choices=("final", "best"),
        default="final",
        help="each run's final evaluation or its best one (periodic or final)",
    )
    rep.add_argument("--reps", type=int, help="bootstrap replicates (default 50,000)")

    plot = sub.add_parser(
        "plot", help="plot learning curves of runs, or of a sweep (mean over seeds, 95%% band)"
    )
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR|SWEEP_DIR")
    plot.add_argument("--out", help="PNG file to write (default: curves.png in the first dir)")
    plot.add_argument("--tag", action="append", help="scalar tag(s) to plot (repeatable)")
    plot.add_argument(
        "--smooth",
        type=int,
        default=None,
        metavar="STEPS",
        help="smooth training curves over the episodes that ended in the last STEPS env steps "
        "(default: about 5%% of the longest run, rounded to 1, 2 or 5 x 10^k); 0: raw points only",
    )
    return parser


def die_with_parent() -> None:
    """A run process of `rlkit sweep` (RLKIT_DIE_WITH_PARENT = the sweep's pid): ask Linux to
    kill it when that parent dies, so a sweep killed with kill -9 leaves no orphan run holding
    its run's lock; exit at once if the parent is already gone."""
    parent = os.environ.pop("RLKIT_DIE_WITH_PARENT", None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):
        os._exit(137)  # the parent died before the signal was armed


def main(argv: Sequence[str] | None = None, held_interrupts: list[int] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input, 3 when the run directory cannot be
    written, 130 when interrupted). `held_interrupts`: `python -m rlkit` holds a Ctrl-C that
    comes during start-up there, for this function to report."""
    die_with_parent()
    args = build_parser().parse_args(argv)
    from rlkit.quiet import silence_libraries

    silence_libraries(verbose=getattr(args, "verbose", False))
    from rlkit.training.runner import TrainingInterrupted

    try:
        if held_interrupts is not None:  # start-up is over: Ctrl-C raises again
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if held_interrupts:
                raise KeyboardInterrupt
        handler = {
            "run": _run,
            "eval": _eval,
            "list": _list,
            "plot": _plot,
            "sweep": _sweep,
            "report": _report,
        }[args.command]
        return handler(args)
    except StorageError as exc:
        print(f"rlkit: error: {exc}", file=sys.stderr)
        return 3
    except RlkitError as exc:
        print(f"rlkit: error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"rlkit: {exc}; continue with: rlkit run --resume {exc.run_dir}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # outside the training loop, e.g. while envs start
        print("rlkit: interrupted; nothing was left half-written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` or `grep -q`: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    from rlkit.experiment import load_experiment
    from rlkit.training.logger import n_episodes
    from rlkit.training.runner import resume, train

    overrides = list(args.overrides) + ([f"run.seed={args.seed}"] if args.seed is not None else [])
    if args.resume:
        if args.experiment or args.logdir:
            raise RlkitError("--resume RUN_DIR takes no EXPERIMENT or --logdir: the run has both")
        summary = resume(args.resume, overrides)
        run_dir = args.resume
    else:
        if not args.experiment:
            raise RlkitError("run: give an EXPERIMENT (file or bundled name) or --resume RUN_DIR")
        experiment = load_experiment(args.experiment, overrides)
        from rlkit.training.runner import default_run_dir

        run_dir = args.logdir or str(default_run_dir(experiment.name))
        summary = train(experiment, run_dir)
    final = summary["final_eval"]
    print(
        f"{run_dir}: {summary['steps']:,} steps, {summary['episodes']:,} episodes in "
        f"{summary['wall_s']:.1f} s; final eval {final['mean_return']:.3f} "
        f"± {final['std_return']:.3f} over {n_episodes(final['episodes'])}"
    )
    if summary.get("target") is not None:
        print(f"{run_dir}: {target_line(summary)}")
    if sys.stderr.isatty():  # people at a terminal: where to look next
        print(
            f"next: rlkit plot {run_dir}  |  rlkit eval {run_dir} --video {run_dir}/policy.gif"
            f"  |  tensorboard --logdir {run_dir}",
            file=sys.stderr,
        )
    return 0


def target_line(summary: dict[str, object]) -> str:
    """Whether and when the run reached its experiment's target (summary.json's keys)."""
    target, met = summary["target"], summary.get("target_met_at")
    if met is not None:
        stopped = " (the run stopped there)" if summary.get("reached_target_at") == met else ""
        return f"target return >= {target:g} reached at step {met:,}{stopped}"
    best = summary.get("best_eval") or summary["final_eval"]
    assert isinstance(best, dict)
    return (
        f"target return >= {target:g} not reached: best eval {best['mean_return']:.3f}"
        f" (step {best.get('step', summary['steps']):,})"
    )


def _eval(args: argparse.Namespace) -> int:
    from rlkit.experiment import MAX_SEED
    from rlkit.training.logger import n_episodes
    from rlkit.training.runner import choose_checkpoint, describe_checkpoint, evaluate_checkpoint

    if args.game or args.player1 or args.player2:
        return _match(args)
    if args.target is None:
        raise RlkitError("eval: give a RUN_DIR, or --game with --player1 and --player2")
    if args.episodes is not None and args.episodes < 1:
        raise RlkitError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed is not None and not 0 <= args.seed < MAX_SEED:
        raise RlkitError(f"--seed must be in [0, {MAX_SEED}), got {args.seed}")
    if args.max_frames < 1:
        raise RlkitError(f"--max-frames must be >= 1, got {args.max_frames}")
    target = Path(args.target)
    path = choose_checkpoint(target, args.checkpoint)  # chosen once: evaluated and named
    result = evaluate_checkpoint(
        target,
        args.episodes,
        args.seed,
        args.video,
        args.max_frames,
        str(path) if target.is_dir() else None,
    )
    which = describe_checkpoint(target, path)
    print(which, file=sys.stderr if args.json else sys.stdout)  # stdout: one JSON object
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(
            f"{args.target}: mean return {result.mean_return:.3f} ± {result.std_return:.3f} "
            f"over {n_episodes(result.episodes)} (mean length {result.mean_length:.1f})"
        )
    if args.video:  # on stderr under --json, which keeps stdout one JSON object
        print(f"wrote {args.video}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _match(args: argparse.Namespace) -> int:
    """`rlkit eval --game G --player1 A --player2 B`: wins, draws and losses of player1."""
    from rlkit.players import game_id, play_match, player_from_spec

    if args.target is not None or args.video or args.checkpoint:
        raise RlkitError(
            "eval: a match (--game) takes no RUN_DIR, --video or --checkpoint (a run directory "
            "as a player plays its newest checkpoint)"
        )
    if not (args.game and args.player1 and args.player2):
        raise RlkitError("eval: a match needs --game, --player1 and --player2")
    if args.games < 1:
        raise RlkitError(f"--games must be >= 1, got {args.games}")
    game = game_id(args.game)
    seed = 0 if args.seed is None else args.seed
    first = player_from_spec(args.player1, game, seed)
    second = player_from_spec(args.player2, game, seed + 1)
    result = play_match(game, first, second, args.games, seed)
    if args.json:
        print(
            json.dumps(
                {
                    "game": game,
                    "player1": args.player1,
                    "player2": args.player2,
                    "games": result.games,
                    **result.as_dict(),
                }
            )
        )
    else:
        print(
            f"{args.player1} vs {args.player2} on {game}, {result.games} games: "
            f"{result.wins} wins, {result.draws} draws, {result.losses} losses for player1"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    from rlkit.listing import SECTIONS, listing

    words = list(args.words)
    section = words.pop(0) if words and words[0] in SECTIONS else None
    if len(words) > 1:
        raise RlkitError(
            f"list: give at most a section ({', '.join(SECTIONS)}) and one PATTERN, "
            f"got {' '.join(args.words)!r}"
        )
    print("\n".join(listing(section, words[0] if words else None)))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from rlkit.plot import DEFAULT_TAGS, plot_runs
    from rlkit.sweeps.plan import is_sweep

    dirs = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else dirs[0] / "curves.png"
    if is_sweep(dirs[0]):
        from rlkit.sweeps.plots import plot_sweep

        if len(dirs) > 1:
            raise RlkitError("plot: give one SWEEP_DIR (its configurations share the figure)")
        out = plot_sweep(dirs[0], out)
    else:
        out = plot_runs(dirs, out, args.tag or DEFAULT_TAGS, args.smooth)
    print(f"wrote {out}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from rlkit.experiment import parse_seeds
    from rlkit.sweeps.execute import sweep

    return sweep(
        args.experiment,
        parse_seeds(args.seeds),
        args.overrides,
        args.grid,
        Path(args.logdir),
        args.workers,
        args.backend,
        args.ray_address,
        args.cpus_per_run,
    )


def _report(args: argparse.Namespace) -> int:
    from rlkit.sweeps.plan import is_sweep, target_of
    from rlkit.sweeps.results import REPS, format_report, report

    root = Path(args.sweep_dir)
    if not is_sweep(root):
        raise RlkitError(
            f"report: {root} is not a sweep directory (no sweep.toml); see rlkit sweep"
        )
    reps = REPS if args.reps is None else args.reps
    if reps < 100:
        raise RlkitError(f"--reps must be >= 100, got {reps}")
    target = args.target if args.target is not None else target_of(root)
    data = report(root, target, args.score, reps)
    print(json.dumps(data) if args.json else format_report(data))
    return 0
