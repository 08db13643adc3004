"""Every shell command in the README runs: in order, in a fresh directory, as a newcomer types it.

The commands come from the README's ```bash blocks. Most run exactly as written; the few that
cannot in a test are in ADAPTED, each with the command that runs instead and why (a budget cut
to seconds, a server started only to be asked its version), or in NOT_RUN with why (the
commands that set up the machine, which CI runs itself, and the interactive game). A command
missing from both runs as written, so a new README command is tested the day it is written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

NOT_RUN = {
    "make run": "the main job (set-up, then the training run, plot and GIF of the tour's first "
    "commands, which this test runs): run by hand on a fresh clone, as CI runs make test",
    "make test": "CI itself (.ci/run)",
    "source .venv/bin/activate": "the test puts the venv's bin first on PATH instead",
    "rlkit eval --game connect_four --player1 human --player2 uct:0.5s": (
        "interactive: it asks a person for moves"
    ),
}
"""README commands the test does not run, and why."""

_SHORT_AZ = (
    "--set agent.iterations=1 --set agent.games_per_iteration=2 --set agent.concurrent_games=2 "
    "--set agent.train_steps=2 --set agent.arena_games=2 --set agent.simulations=8 "
    "--set run.eval_episodes=2"
)
ADAPTED = {
    "tensorboard --logdir runs": (
        "tensorboard --version",
        "a server that runs until stopped: the test checks it is on PATH",
    ),
    "rlkit run tictactoe_alphazero --logdir runs/ttt-az": (
        f"rlkit run tictactoe_alphazero --logdir runs/ttt-az {_SHORT_AZ}",
        "about 2 minutes: one short iteration makes the run directory the next commands use",
    ),
    "rlkit eval --game tictactoe --player1 runs/ttt-az --player2 minimax --games 50": (
        "rlkit eval --game tictactoe --player1 runs/ttt-az --player2 minimax --games 2",
        "50 games of an AlphaZero player: 2 show the command works",
    ),
    "rlkit run connect_four_alphazero --logdir runs/c4-az": (
        f"rlkit run connect_four_alphazero --logdir runs/c4-az {_SHORT_AZ}",
        "27 minutes: one short iteration",
    ),
    "rlkit eval --game connect_four --player1 runs/c4-az --player2 uct:200 --games 50 --json": (
        "rlkit eval --game connect_four --player1 runs/c4-az --player2 uct:200 --games 2 --json",
        "50 games: 2",
    ),
    "rlkit sweep cliffwalking_sarsa --seeds 0-4 --grid agent.learning_rate=0.1,0.5 "
    "--logdir runs/sw": (
        "rlkit sweep cliffwalking_sarsa --seeds 0-4 --grid agent.learning_rate=0.1,0.5 "
        "--logdir runs/sw --set run.total_steps=3000",
        "10 runs of 30,000 steps (a minute or two on 2 cores): 3,000 steps each make the same "
        "sweep directory for the report and plot that follow",
    ),
    "rlkit run blackjack_mc_prediction --logdir runs/bj_prediction": (
        "rlkit run blackjack_mc_prediction --logdir runs/bj_prediction "
        "--set run.total_steps=20000 --set run.eval_episodes=100",
        "a minute of 500,000 games: 20,000 steps make the run the figure script reads",
    ),
    "rlkit run blackjack_mc_control --logdir runs/bj_control": (
        "rlkit run blackjack_mc_control --logdir runs/bj_control "
        "--set run.total_steps=20000 --set run.eval_episodes=100",
        "a minute of 500,000 games and 100,000 evaluation games: 20,000 steps and 100",
    ),
    "rlkit run blackjack_value_iteration": (
        "rlkit run blackjack_value_iteration --set run.eval_episodes=100",
        "100,000 evaluation games: 100",
    ),
    "rlkit run maze_nses && rlkit run maze_nsres": (
        "rlkit run maze_nses --set agent.iterations=10 && "
        "rlkit run maze_nsres --set agent.iterations=10",
        "150 iterations each (40 s together): 10 show both modes run",
    ),
    "rlkit run maze_nses --set agent.mode=es": (
        "rlkit run maze_nses --set agent.mode=es --set agent.iterations=10",
        "150 iterations: 10",
    ),
    "rlkit run boxing_uct": (
        "rlkit run boxing_uct --set env.max_episode_steps=20 --set run.eval_episodes=1",
        "minutes of emulator search: one evaluation episode of 20 steps",
    ),
    "rlkit run frostbite_ga --set agent.population=50 --set agent.generations=5": (
        "rlkit run frostbite_ga --set agent.population=4 --set agent.generations=1 "
        "--set agent.truncation=2 --set agent.elite_candidates=1 --set agent.elite_episodes=1 "
        "--set agent.backend=serial --set env.max_episode_steps=200 --set run.eval_episodes=1",
        "minutes of Atari episodes: one generation of 4 short ones",
    ),
}
"""README command -> (the command the test runs instead, why)."""


def readme_commands(text: str) -> list[str]:
    """The command lines of the ```bash blocks, in order: comments and prompts removed,
    backslash continuations joined, blank lines dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(" ".join(command.split()))
    return commands


def test_readme_commands_are_found() -> None:
    commands = readme_commands(README.read_text())
    assert commands[:2] == ["make run", "make test"]
    assert "rlkit list" in commands
    assert len(commands) > 20
    stale = (set(NOT_RUN) | set(ADAPTED)) - set(commands)
    assert not stale, f"no longer in the README: {sorted(stale)}"


def test_comments_continuations_and_blank_lines() -> None:
    text = "```bash\nrlkit list   # all\n\n# a note\nrlkit run a \\\n  --seed 1\n```\n"
    assert readme_commands(text) == ["rlkit list", "rlkit run a --seed 1"]


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path: Path) -> None:
    """In a fresh directory with the repository's experiments/ beside it, each command in
    turn exits 0 without a traceback (in order: later commands use earlier runs)."""
    (tmp_path / "experiments").symlink_to(REPO / "experiments")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("RLKIT_QUIET", None)
    for command in readme_commands(README.read_text()):
        if command in NOT_RUN:
            continue
        actual = ADAPTED.get(command, (command, ""))[0]
        proc = subprocess.run(
            ["bash", "-c", actual],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"{actual}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, f"{actual}\n{proc.stderr[-2000:]}"
