"""The `rlkit` command: run, eval, list, plot."""

from __future__ import annotations

import argparse
import json
import os
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
    parser = _Parser(prog="rlkit", description="Train and evaluate reinforcement-learning agents.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="train an agent from an experiment file")
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
        help="which checkpoint of RUN_DIR: best (the best periodic evaluation's agent, the "
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

    sub.add_parser("list", help="list agents, environments and bundled experiments")

    plot = sub.add_parser("plot", help="plot learning curves of one or more runs")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    plot.add_argument("--out", required=True, help="PNG file to write")
    plot.add_argument("--tag", action="append", help="scalar tag(s) to plot (repeatable)")
    plot.add_argument(
        "--smooth", type=int, default=50, help="moving-average window for train/ tags"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input, 3 when the run directory cannot be
    written, 130 when interrupted)."""
    args = build_parser().parse_args(argv)
    from rlkit.training.runner import TrainingInterrupted

    try:
        handler = {"run": _run, "eval": _eval, "list": _list, "plot": _plot}[args.command]
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
        f"{run_dir}: {summary['steps']} steps, {summary['episodes']} episodes in "
        f"{summary['wall_s']:.1f} s; final eval {final['mean_return']:.3f} "
        f"± {final['std_return']:.3f} over {final['episodes']} episodes"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rlkit.experiment import MAX_SEED
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
    result = evaluate_checkpoint(
        args.target, args.episodes, args.seed, args.video, args.max_frames, args.checkpoint
    )
    path = choose_checkpoint(Path(args.target), args.checkpoint)
    which = describe_checkpoint(Path(args.target), path)
    print(which, file=sys.stderr if args.json else sys.stdout)  # stdout: one JSON object
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(
            f"{args.target}: mean return {result.mean_return:.3f} ± {result.std_return:.3f} "
            f"over {result.episodes} episodes (mean length {result.mean_length:.1f})"
        )
    if args.video:  # on stderr under --json, which keeps stdout one JSON object
        print(f"wrote {args.video}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _match(args: argparse.Namespace) -> int:
    """`rlkit eval --game G --player1 A --player2 B`: wins, draws and losses of player1."""
    from rlkit.players import game_id, play_match, player_from_spec

    if args.target is not None or args.video:
        raise RlkitError("eval: a match (--game) takes no RUN_DIR or --video")
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
    from rlkit.agent import registered_agents
    from rlkit.envs.factory import describe_env, known_env_ids
    from rlkit.experiment import bundled_experiments, read_experiment

    for name, cls in sorted(registered_agents().items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"agent       {name:<28} {doc}")
    for env_id in known_env_ids():
        print(f"env         {env_id:<28} {describe_env(env_id)}")
    for name in sorted(bundled_experiments()):
        description = read_experiment(name).get("description", "")
        print(f"experiment  {name:<28} {description}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from rlkit.plot import DEFAULT_TAGS, plot_runs

    out = plot_runs(
        [Path(d) for d in args.run_dirs], Path(args.out), args.tag or DEFAULT_TAGS, args.smooth
    )
    print(f"wrote {out}")
    return 0
