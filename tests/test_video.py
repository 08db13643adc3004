"""`rlkit eval --video`: animated GIFs of greedy play (CartPole, Pong) and its bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import rlkit
from rlkit.cli import main
from rlkit.video import mp4_available, palette_image

CARTPOLE: dict[str, Any] = {
    "name": "cartpole_video",
    "env": {"id": "CartPole-v1"},
    "agent": {
        "name": "dqn",
        "hidden": [16],
        "learning_starts": 50,
        "batch_size": 16,
        "replay": {"capacity": 1_000},
        "device": "cpu",
    },
    "run": {"total_steps": 300, "eval_every": 0, "eval_episodes": 1, "progress": False},
}
PONG_OVERRIDES = [
    "run.total_steps=200",
    "agent.learning_starts=100",
    "agent.replay.capacity=1000",
    "agent.batch_size=8",
    "agent.device='cpu'",
    "run.eval_every=0",
    "run.final_eval_episodes=1",
    "env.max_episode_steps=150",
    "run.progress=false",
]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """main(argv) in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def gif_frames(path: Path) -> tuple[Image.Image, list[np.ndarray], list[int]]:
    """The opened GIF, its frames as RGB arrays and their durations in ms."""
    image = Image.open(path)
    frames, durations = [], []
    for i in range(image.n_frames):
        image.seek(i)
        frames.append(np.asarray(image.convert("RGB")))
        durations.append(image.info["duration"])
    return image, frames, durations


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("video") / "cartpole"
    rlkit.train(rlkit.load_experiment(CARTPOLE), run_dir)
    return run_dir


def test_cartpole_video_is_an_animated_gif_of_the_evaluated_play(
    cartpole_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clips" / "cartpole.gif"  # the folder is created
    code, stdout, stderr = run_cli(capsys, "eval", cartpole_run, "--video", out, "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["episodes"] == 1
    assert stderr.splitlines() == [
        f"{cartpole_run}: evaluating checkpoints/step-0000000300.pt, the agent as training left it",
        f"wrote {out}",
    ]
    image, frames, durations = gif_frames(out)
    assert image.format == "GIF"
    assert image.is_animated
    assert image.info["loop"] == 0
    assert image.size == (600, 400)  # CartPole's screen, width x height
    # One frame at reset and one after each step but the last (SAME_STEP autoreset has already
    # reset the env after it); Pillow merges identical consecutive frames, adding durations.
    assert 1 < len(frames) <= result["mean_length"]
    assert sum(durations) == 20 * result["mean_length"]  # render_fps 50
    # The recorded episode is the one `rlkit eval` scores with the same (default) seed.
    code, stdout, _ = run_cli(capsys, "eval", cartpole_run, "--episodes", 1, "--json")
    assert json.loads(stdout) == result


def test_episodes_play_back_to_back_and_max_frames_caps_the_video(
    cartpole_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "three.gif"
    code, stdout, _ = run_cli(
        capsys, "eval", cartpole_run, "--video", out, "--episodes", 3, "--json"
    )
    assert code == 0
    three = json.loads(stdout)
    assert three["episodes"] == 3
    assert sum(gif_frames(out)[2]) == 20 * round(3 * three["mean_length"])

    code, stdout, stderr = run_cli(
        capsys, "eval", cartpole_run, "--video", out, "--episodes", 3, "--max-frames", 4
    )
    assert code == 0
    assert "over 1 episode (mean length 4.0)" in stdout  # the cut episode, counted so far
    assert "--max-frames 4" in stderr
    assert sum(gif_frames(out)[2]) == 20 * 4


def test_bad_video_file_names_are_one_line_errors(
    cartpole_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("play.avi", "play"):
        code, stdout, stderr = run_cli(capsys, "eval", cartpole_run, "--video", tmp_path / name)
        assert code == 2
        assert stdout == ""
        assert stderr.count("\n") == 1
        assert ".gif" in stderr
        assert "unknown video format" in stderr
        assert (".mp4" in stderr) == mp4_available()
    if not mp4_available():
        code, _, stderr = run_cli(capsys, "eval", cartpole_run, "--video", tmp_path / "p.mp4")
        assert code == 2
        assert stderr.count("\n") == 1
        assert "imageio" in stderr
        assert ".gif" in stderr
    code, _, stderr = run_cli(
        capsys, "eval", cartpole_run, "--video", tmp_path / "p.gif", "--max-frames", 0
    )
    assert code == 2
    assert "--max-frames must be >= 1" in stderr
    assert list(tmp_path.iterdir()) == []


def test_env_that_cannot_render_rgb_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = {
        "env": {"id": "rlkit/GridWorld-v0"},
        "agent": {"name": "tabular"},
        "run": {"total_steps": 200, "eval_every": 0, "eval_episodes": 1, "progress": False},
    }
    rlkit.train(rlkit.load_experiment(experiment), tmp_path / "grid")
    out = tmp_path / "grid.gif"
    code, stdout, stderr = run_cli(capsys, "eval", tmp_path / "grid", "--video", out)
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert "rlkit/GridWorld-v0 cannot render RGB frames" in stderr
    assert "ansi" in stderr
    assert not out.exists()


def test_palette_frames_are_exact_up_to_256_colours() -> None:
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    frame = colours[rng.integers(0, 200, (30, 40))]
    image = palette_image(frame)
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), frame)
    noisy = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)  # ~1,200 colours: quantised
    assert palette_image(noisy).mode == "P"


def test_atari_video_shows_the_emulator_screen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "pong"
    rlkit.train(rlkit.load_experiment("pong_dqn", PONG_OVERRIDES), run_dir)
    out = tmp_path / "pong.gif"
    code, stdout, stderr = run_cli(capsys, "eval", run_dir, "--video", out, "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["mean_length"] == 150  # env.max_episode_steps
    image, frames, durations = gif_frames(out)
    assert image.size == (160, 210)
    assert len(frames) > 10
    assert {frame.shape for frame in frames} == {(210, 160, 3)}
    assert set(durations) <= {70 * k for k in range(1, 151)}  # 15 agent steps/s (frame skip 4)
    assert len(np.unique(frames[-1].reshape(-1, 3), axis=0)) > 2  # a game screen, not blank
    # The wrapper build that renders plays what the native build evaluates.
    code, stdout, _ = run_cli(capsys, "eval", run_dir, "--episodes", 1, "--json")
    assert json.loads(stdout) == result
