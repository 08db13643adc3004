"""Quiet success (rlkit.quiet): no ALE banner or SDL complaint on stderr unless verbose.

Each check runs a fresh interpreter: the noise is printed by C libraries (ALE, SDL) straight to
the process's stderr, once per process, and depends on what was set before they started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rlkit
from rlkit import quiet
from rlkit.quiet import QUIET_ENV, silence_libraries

ALE_BANNER = "A.L.E: Arcade Learning Environment"
XDG_ERROR = "XDG_RUNTIME_DIR is invalid"

MAKE_ATARI_ENV = """
import sys
from rlkit.quiet import silence_libraries
if sys.argv[1] != "inherit":  # inherit: a child process of a quiet rlkit (RLKIT_QUIET=1)
    silence_libraries(verbose=sys.argv[1] == "verbose")
from rlkit.envs.atari import AtariOptions, make_atari_vector_env
envs = make_atari_vector_env("pong", 1, AtariOptions(), training=False, native=False)
envs.reset(seed=0)
envs.close()
"""

RECORD_VIDEO = """
import sys
from pathlib import Path
import numpy as np
from rlkit.quiet import silence_libraries
silence_libraries()
from rlkit.envs.factory import EnvConfig
from rlkit.video import make_render_env, record

class FirstAction:
    def act(self, obs, explore):
        return np.zeros(len(obs), dtype=np.int64)

envs, fps = make_render_env(EnvConfig(id=sys.argv[1]))
record(FirstAction(), envs, Path(sys.argv[2]), fps=fps, max_frames=5)
"""


def run_python(*args: str, **env: str) -> str:
    """`python *args` with no SDL or XDG session settings (as on a server) and no inherited
    quiet setting (in-process CLI tests set one here), plus `env`; its stderr."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "SDL_AUDIODRIVER", QUIET_ENV}
    }
    done = subprocess.run(
        [sys.executable, *args], env={**base, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_quiet_atari_env_prints_no_ale_banner() -> None:
    assert ALE_BANNER not in run_python("-c", MAKE_ATARI_ENV, "quiet")


def test_verbose_atari_env_prints_the_ale_banner() -> None:
    assert ALE_BANNER in run_python("-c", MAKE_ATARI_ENV, "verbose")


def test_a_child_of_a_quiet_process_stays_quiet() -> None:
    """Sweep runs and GA workers (forkserver) import rlkit afresh and inherit only the env."""
    assert ALE_BANNER not in run_python("-c", MAKE_ATARI_ENV, "inherit", **{QUIET_ENV: "1"})


@pytest.mark.parametrize("env_id", ["CartPole-v1", "ALE/Pong-v5"])
def test_quiet_video_prints_nothing_on_stderr(env_id: str, tmp_path: Path) -> None:
    """CartPole renders with pygame (SDL's display init complained about XDG_RUNTIME_DIR);
    the Atari video uses the wrapper build, whose every AtariEnv made ALE print its banner."""
    path = tmp_path / "play.gif"
    err = run_python("-c", RECORD_VIDEO, env_id, str(path))
    assert ALE_BANNER not in err
    assert XDG_ERROR not in err
    assert [line for line in err.splitlines() if not line.startswith("note: the video")] == []
    assert path.stat().st_size > 0


@pytest.fixture(scope="module")
def pong_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with a checkpoint, trained for a few steps (its play does not matter)."""
    run_dir = tmp_path_factory.mktemp("quiet") / "pong"
    overrides = [
        "run.total_steps=8",
        "run.final_eval_episodes=1",
        "run.progress=false",
        "env.num_envs=1",
        "env.max_episode_steps=10",
    ]
    rlkit.train(rlkit.load_experiment("pong_ppo", overrides), run_dir)
    return run_dir


@pytest.mark.parametrize("verbose", [False, True])
def test_rlkit_eval_video_shows_library_noise_only_when_verbose(
    pong_run: Path, tmp_path: Path, verbose: bool
) -> None:
    """The CLI itself: `rlkit eval RUN --video` (Atari videos use the AtariEnv build)."""
    argv = [
        "-m",
        "rlkit",
        "eval",
        str(pong_run),
        "--video",
        str(tmp_path / "p.gif"),
        "--max-frames",
        "10",
    ]
    err = run_python(*argv, *(["--verbose"] if verbose else []))
    assert (ALE_BANNER in err) == verbose
    assert XDG_ERROR not in err or verbose


def test_silence_libraries_keeps_the_users_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    for name in ("SDL_AUDIODRIVER", "PYGAME_HIDE_SUPPORT_PROMPT", QUIET_ENV):
        monkeypatch.delenv(name, raising=False)  # restored (unset) after the test
    monkeypatch.setattr(quiet, "quiet_ale", lambda: None)  # leave this process's ALE alone
    silence_libraries()
    assert os.environ["SDL_VIDEODRIVER"] == "x11"
    assert os.environ["SDL_AUDIODRIVER"] == "dummy"
    assert os.environ[QUIET_ENV] == "1"
    silence_libraries(verbose=True)  # a quiet parent's setting does not outlive --verbose
    assert QUIET_ENV not in os.environ
