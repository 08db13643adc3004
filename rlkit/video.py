"""Videos of greedy play: a GIF written with Pillow, or an MP4 where imageio has ffmpeg.

The agent acts on the observations of a one-env vector env built with render_mode="rgb_array"
(for Atari: the stacked 84x84 frames of the wrapper build), while the video shows what
`env.render()` returns after each step (for Atari: the emulator's 210x160 RGB screen). Envs
autoreset in SAME_STEP mode, so an episode's very last screen is never shown: after the final
step the env has already started the next episode, whose first screen opens the next one.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from gymnasium.vector import VectorEnv
from PIL import Image

from rlkit.agent import Agent
from rlkit.config import from_dict
from rlkit.envs.atari import AtariOptions, is_atari_id, make_atari_vector_env
from rlkit.envs.factory import EnvConfig, make_env, make_vector_env
from rlkit.errors import RlkitError
from rlkit.evaluation import EvalResult
from rlkit.rollout import RolloutState, rollout

DEFAULT_MAX_FRAMES = 5_000
"""Frames recorded at most, so that an episode that never ends cannot hang `rlkit eval`."""
MAX_SIDE = 640
"""Frames wider or taller than this are downscaled to fit (aspect ratio kept)."""
ATARI_FPS = 60.0
"""Emulator frames per second; one video frame per agent step of frame_skip emulator frames."""
DEFAULT_FPS = 30.0
"""Frame rate of envs whose metadata names no render_fps."""

AnyVectorEnv = VectorEnv[Any, Any, Any]


def mp4_available() -> bool:
    """True where imageio and its ffmpeg backend (imageio-ffmpeg) can be imported."""
    return all(importlib.util.find_spec(name) for name in ("imageio", "imageio_ffmpeg"))


def video_formats() -> list[str]:
    """File extensions `record` can write here."""
    return [".gif", ".mp4"] if mp4_available() else [".gif"]


def check_video_path(path: str | Path) -> Path:
    """The path as a Path; RlkitError naming the usable extensions if it has another one."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4" and not mp4_available():
        raise RlkitError(
            f"--video {path}: .mp4 needs imageio with an ffmpeg backend "
            "(pip install imageio imageio-ffmpeg); write a .gif instead"
        )
    formats = video_formats()
    if suffix not in formats:
        raise RlkitError(
            f"--video {path}: unknown video format {suffix or '(no extension)'!r}; "
            f"use {' or '.join(formats)}"
        )
    return path


def make_render_env(config: EnvConfig) -> tuple[AnyVectorEnv, float]:
    """A one-env evaluation vector env that renders RGB frames, and its frames per second."""
    if is_atari_id(config.id):
        options = from_dict(AtariOptions, config.kwargs, "env.kwargs")
        if config.max_episode_steps is not None:  # as rlkit.envs.factory.make_vector_env does
            frames = config.max_episode_steps * options.frame_skip
            options = dataclasses.replace(options, max_episode_frames=frames)
        envs = make_atari_vector_env(
            config.id, 1, options, training=False, native=False, render_mode="rgb_array"
        )
        return envs, ATARI_FPS / options.frame_skip
    probe = make_env(config)
    modes = list(probe.metadata.get("render_modes", []))
    probe.close()
    if "rgb_array" not in modes:
        raise RlkitError(
            f"--video: {config.id} cannot render RGB frames (its render modes: "
            f"{', '.join(modes) or 'none'}); a video needs render_mode='rgb_array'"
        )
    rendering = dataclasses.replace(
        config,
        num_envs=1,
        vectorization="sync",
        kwargs={**config.kwargs, "render_mode": "rgb_array"},
    )
    envs = make_vector_env(rendering, 1, training=False)
    return envs, float(envs.metadata.get("render_fps") or DEFAULT_FPS)


def record(
    agent: Agent[Any],
    envs: AnyVectorEnv,
    path: Path,
    episodes: int = 1,
    seed: int | None = None,
    fps: float = DEFAULT_FPS,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> EvalResult:
    """Play `episodes` greedy episodes back to back on one-env `envs`, writing them to `path`.

    Stops after `max_frames` frames; an episode cut short there counts with its return so far.
    """
    if envs.num_envs != 1:
        raise ValueError(f"record needs a one-env vector env, got {envs.num_envs} envs")
    sink = _GifSink() if path.suffix.lower() == ".gif" else _Mp4Sink(path, fps)
    try:
        returns, lengths = _play(agent, envs, sink, episodes, seed, max_frames)
        sink.finish(path, fps)
    except BaseException:
        sink.discard()
        raise
    return EvalResult.of(returns, lengths)


class _Sink(Protocol):
    def add(self, frame: np.ndarray) -> None: ...
    def finish(self, path: Path, fps: float) -> None: ...
    def discard(self) -> None: ...


def _play(
    agent: Agent[Any],
    envs: AnyVectorEnv,
    sink: _Sink,
    episodes: int,
    seed: int | None,
    max_frames: int,
) -> tuple[list[float], list[int]]:
    """Step greedily, feeding every rendered frame to `sink`; episode returns and lengths."""
    state = RolloutState.reset(envs, seed)
    sink.add(_rendered_frame(envs))
    frames = 1
    returns: list[float] = []
    lengths: list[int] = []
    for _, finished in rollout(envs, agent, state, explore=False):
        returns += [ep.episode_return for ep in finished]
        lengths += [ep.length for ep in finished]
        if len(returns) >= episodes:
            break
        if frames >= max_frames:
            returns.append(float(state.returns[0]))
            lengths.append(int(state.lengths[0]))
            print(
                f"note: the video stopped at --max-frames {max_frames} during episode "
                f"{len(returns)}; its return so far is counted",
                file=sys.stderr,
            )
            break
        sink.add(_rendered_frame(envs))
        frames += 1
    return returns, lengths


def _rendered_frame(envs: AnyVectorEnv) -> np.ndarray:
    """The sub-env's current RGB frame, (H, W, 3) uint8, downscaled to fit MAX_SIDE."""
    try:
        rendered = envs.render()
    except Exception as exc:  # e.g. gymnasium's DependencyNotInstalled for pygame
        raise RlkitError(f"--video: rendering failed ({type(exc).__name__}: {exc})") from None
    frame = rendered[0] if isinstance(rendered, tuple | list) and rendered else rendered
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise RlkitError("--video: the env rendered no RGB frame (render_mode='rgb_array')")
    frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    height, width = frame.shape[:2]
    if max(height, width) <= MAX_SIDE:
        return frame
    scale = MAX_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def palette_image(frame: np.ndarray) -> Image.Image:
    """An RGB frame as a palette image: exact when it has at most 256 colours (rendered frames
    usually do), else Pillow's fast octree quantisation."""
    image = Image.fromarray(frame)
    colors = image.getcolors(256)
    if colors is None:
        return image.quantize(256, method=Image.Quantize.FASTOCTREE)
    palette = np.array([rgb for _, rgb in colors], dtype=np.uint32)
    codes = np.sort((palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2])
    pixels = frame.astype(np.uint32)
    index = np.searchsorted(codes, (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2])
    out = Image.fromarray(index.astype(np.uint8))
    rgb = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1).astype(np.uint8)
    out.putpalette(rgb.tobytes())
    return out


class _GifSink:
    """Frames kept as palette images (1 byte a pixel), written as one animated GIF at the end."""

    def __init__(self) -> None:
        self.images: list[Image.Image] = []

    def add(self, frame: np.ndarray) -> None:
        self.images.append(palette_image(frame))

    def finish(self, path: Path, fps: float) -> None:
        """Write the GIF atomically (a temporary file, then a rename); loops forever."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            first, *rest = self.images
            first.save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=max(10 * round(100 / fps), 20),  # GIFs count in 10 ms; browsers slow < 20
                loop=0,
            )
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.images = []

    def discard(self) -> None:
        self.images = []


class _Mp4Sink:
    """Frames streamed to ffmpeg through imageio into a temporary file, renamed at the end."""

    def __init__(self, path: Path, fps: float) -> None:
        import imageio.v2 as imageio

        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        self.writer = imageio.get_writer(self.tmp, format="FFMPEG", fps=fps, macro_block_size=2)

    def add(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]  # yuv420p needs even sides
        self.writer.append_data(frame[: height - height % 2, : width - width % 2])

    def finish(self, path: Path, fps: float) -> None:
        self.writer.close()
        os.replace(self.tmp, path)

    def discard(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


__all__ = [
    "DEFAULT_MAX_FRAMES",
    "check_video_path",
    "make_render_env",
    "mp4_available",
    "palette_image",
    "record",
    "video_formats",
]
