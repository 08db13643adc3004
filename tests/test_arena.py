"""The arena and `rlkit eval --game`: players, matches, the human player, bad input, UCT runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rlkit.cli import main
from rlkit.envs.boardgames import TicTacToeEnv
from rlkit.errors import ConfigError
from rlkit.players import (
    HumanPlayer,
    MinimaxPlayer,
    RandomPlayer,
    make_game,
    negamax_value,
    play_match,
    player_from_spec,
)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_negamax_values_by_hand() -> None:
    game = TicTacToeEnv()
    game.reset(seed=0)
    assert negamax_value(game) == 0.0  # tic-tac-toe is a draw
    for move in (0, 1):  # X corner, O adjacent edge: X wins
        game.step(move)
    assert negamax_value(game) == 1.0
    state = game.clone_state()
    MinimaxPlayer(0).choose(game)
    assert game.clone_state() == state


def test_minimax_beats_random_and_draws_itself() -> None:
    assert play_match("tictactoe", MinimaxPlayer(0), MinimaxPlayer(1), 6, seed=0).draws == 6
    result = play_match("tictactoe", MinimaxPlayer(0), RandomPlayer(1), 20, seed=0)
    assert result.losses == 0
    assert result.wins >= 15


def test_uct_beats_random_at_connect_four() -> None:
    uct = player_from_spec("uct:100", "connect_four", 0)
    result = play_match("connect4", uct, RandomPlayer(1), 4, seed=0)
    assert result.wins == 4


def test_human_asks_again_on_illegal_and_unparsable_moves() -> None:
    answers = iter(["9", "four", "4", "4", "0"])
    shown: list[str] = []
    player = HumanPlayer(ask=lambda _: next(answers), show=shown.append)
    game = make_game("tictactoe")
    game.reset(seed=0)
    assert player.choose(game) == 4
    game.step(4)
    assert player.choose(game) == 0
    assert sum("illegal move" in s for s in shown) == 3  # '9', 'four', then '4' (taken)


def test_bad_specs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown player 'alphabeta'"):
        player_from_spec("alphabeta", "tictactoe", 0)
    with pytest.raises(ConfigError, match="budget is zero"):
        player_from_spec("uct:0s", "tictactoe", 0)
    for spec in ("uct:abc", "uct:nans", "uct:1.5", "uct:-1s"):
        with pytest.raises(ConfigError, match="whole simulations .* or seconds"):
            player_from_spec(spec, "tictactoe", 0)
    with pytest.raises(ConfigError, match="minimax.*tic-tac-toe only"):
        player_from_spec("minimax", "connect_four", 0)
    with pytest.raises(ConfigError, match="unknown game 'go'"):
        make_game("go")


def test_cli_pits_two_players(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "eval", "--game", "tictactoe", "--player1", "uct:300", "--player2", "random",
        "--games", "4", "--seed", "3", "--json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["games"] == 4
    assert result["losses"] == 0
    code, out, _ = run_cli(
        capsys, "eval", "--game", "tictactoe", "--player1", "minimax", "--player2", "minimax",
        "--games", "2",
    )  # fmt: skip
    assert code == 0
    assert "0 wins, 2 draws, 0 losses for player1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--game", "chess", "--player1", "random", "--player2", "random"], "unknown game"),
        (["--game", "tictactoe", "--player1", "uct:0", "--player2", "random"], "budget is zero"),
        (["--game", "tictactoe", "--player1", "bogus", "--player2", "random"], "unknown player"),
        (["--game", "tictactoe", "--player1", "random"], "needs --game, --player1 and --player2"),
        (["--game", "tictactoe", "--player1", "random", "--player2", "random", "--games", "0"],
         "--games must be >= 1"),
    ],
)  # fmt: skip
def test_cli_bad_match_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "eval", *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_human_player_reads_stdin_and_asks_again(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = "\n".join(["4", "9", "4", "x"] + [str(m) for m in range(9)] * 2) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(moves))
    code, out, _ = run_cli(
        capsys, "eval", "--game", "tictactoe", "--player1", "human", "--player2", "minimax",
        "--games", "1",
    )  # fmt: skip
    assert code == 0
    assert "illegal move '9'" in out
    assert "illegal move '4'" in out
    assert "illegal move 'x'" in out
    assert "1 games: 0 wins" in out


def test_uct_experiment_runs_and_evaluates(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "run", "tictactoe_uct", "--logdir", "ttt",
        "--set", "run.total_steps=3", "--set", "run.eval_episodes=4", "--set", "run.progress=false",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((in_tmp / "ttt" / "summary.json").read_text())
    assert summary["final_eval"]["episodes"] == 4
    assert summary["final_eval"]["mean_return"] == 0.0  # draws against perfect play, both sides
    code, out, _ = run_cli(capsys, "eval", "ttt", "--json")
    assert code == 0
    assert json.loads(out)["mean_return"] == 0.0
    code, out, _ = run_cli(
        capsys, "eval", "--game", "tictactoe", "--player1", "ttt", "--player2", "random",
        "--games", "2", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["losses"] == 0
    code, _, err = run_cli(
        capsys, "eval", "--game", "connect4", "--player1", "ttt", "--player2", "random",
    )  # fmt: skip
    assert code == 2
    assert "trained on rlkit/TicTacToe-v0; it cannot play rlkit/ConnectFour-v0" in err
