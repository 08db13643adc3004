"""Atari vector envs: DQN preprocessing, stacked uint8 frames and the SAME_STEP contract.

Two interchangeable builds, both (num_envs, frame_stack, 84, 84) uint8 observations that follow
rlkit.envs.preprocessing's padding rule:
- native (fast): ale-py's C++ `AtariVectorEnv` (threads, no Python per frame) stacks the frames
  and clips training rewards; `NativeStackedFrames`, a few numpy calls a vector step, re-pads
  episode starts by rlkit's rule, ends training episodes on a lost life and adds SAME_STEP infos;
- wrappers: one `AtariEnv` per sub-env with `SkipPoolResize` (Gymnasium's AtariPreprocessing
  without OpenCV) in a SyncVectorEnv, the same stacker on top; slower, but it can render RGB
  frames (render_mode="rgb_array") for videos.
With the same seed, emulator settings and actions both give identical frames, rewards and dones
(tests/test_atari.py). Only the game is taken from an id: "ALE/Pong-v5", "PongNoFrameskip-v4",
"BreakoutDeterministic-v4", "Pong" and "pong" all mean the Pong ROM played with `AtariOptions`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat

import ale_py
import ale_py.registration
import gymnasium as gym
import numpy as np
from ale_py import roms
from ale_py.env import AtariEnv
from ale_py.vector_env import AtariVectorEnv
from gymnasium.spaces import Box
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.vector import TransformReward

from rlkit.envs.preprocessing import FrameStackVectorEnv, final_frames, resize_area
from rlkit.errors import ConfigError, suggest
from rlkit.quiet import quiet_ale

AnyVectorEnv = VectorEnv[Any, Any, Any]
_NO_LIMIT = 2**31 - 1  # the native env truncates at once when its frame limit is 0

quiet_ale()  # before any ALEInterface is made: each prints ALE's banner unless told not to


@dataclass
class AtariOptions:
    """How an Atari game is played and preprocessed (Nature DQN / Machado et al. 2018 style)."""

    frame_skip: int = 4
    """Emulator frames per agent step (the action is repeated); observations max-pool the last
    two frames of each step."""
    noop_max: int = 30
    """Random starts: after reset (and FIRE), up to noop_max - 1 NOOP frames, drawn uniformly
    (ale-py's native count; 0 or 1 turns random starts off)."""
    fire_reset: bool = True
    """Press FIRE for one frame at every game reset, in games whose action set has FIRE."""
    fire_after_life_loss: bool = False
    """In games whose action set has FIRE: after a lost life the next agent step plays FIRE,
    whatever action the agent chose (FireAfterLifeLoss), in training and in evaluation. It
    serves the ball in Breakout-like games, as OpenAI Baselines' FireResetEnv does under
    EpisodicLifeEnv (SB3's and CleanRL's Atari stacks), so an agent need not learn to.
    Off by default: game-specific help (Machado et al. 2018 recommend none)."""
    episodic_life: bool = True
    """Training only: a lost life ends the episode (terminated, no bootstrap) while the game
    goes on, as in OpenAI Baselines' EpisodicLifeEnv; the next episode starts from the current
    frame. Evaluation always plays whole games."""
    clip_rewards: bool = True
    """Training only: rewards are clipped to [-1, 1], i.e. sign(reward) as Atari scores are
    integers; evaluation sees true scores."""
    repeat_action_probability: float = 0.0
    """Sticky actions: chance that the emulator repeats the previous action on each frame.
    0.0 as in the Nature DQN; 0.25 is the ALE v5 default (Machado et al. 2018)."""
    screen_size: int = 84
    """Frames are greyscale 210x160 screens resized to screen_size x screen_size (at most 160)
    with OpenCV's INTER_AREA (rlkit.envs.preprocessing.resize_area in the wrapper build)."""
    frame_stack: int = 4
    """Frames per observation; episode starts repeat the first frame (rlkit.envs.preprocessing)."""
    max_episode_frames: int = 108_000
    """Truncate a game after this many emulator frames (108,000 = 30 minutes; 0: no limit)."""

    def __post_init__(self) -> None:
        for name in ("frame_skip", "screen_size", "frame_stack"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.screen_size > 160:
            raise ValueError(f"screen_size must be <= 160 (a downscale), got {self.screen_size}")
        for name in ("noop_max", "max_episode_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.repeat_action_probability <= 1.0:
            raise ValueError(
                f"repeat_action_probability must be in [0, 1], got {self.repeat_action_probability}"
            )


_ID = re.compile(r"^(?:ALE/)?(?P<name>\w+?)(?P<ram>-ram)?(?:NoFrameskip|Deterministic)?(?:-v\d+)?$")


@functools.cache
def _game_names() -> dict[str, str]:
    """Installed ROM ids by their squashed name: {"mspacman": "ms_pacman", ...}."""
    return {rom.replace("_", ""): rom for rom in roms.get_all_rom_ids()}


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


def is_atari_id(env_id: str) -> bool:
    """True for "ALE/..." ids and for ids or bare names that name an installed Atari ROM."""
    if env_id.startswith("ALE/"):
        return True
    if env_id in gym.registry:  # e.g. "Blackjack-v1" is toy text, not the Blackjack ROM
        return "ale_py" in str(gym.registry[env_id].entry_point)
    match = _ID.match(env_id)
    return match is not None and _squash(match["name"]) in _game_names()


def rom_id(game_or_id: str) -> str:
    """The ROM id ("ms_pacman") of an Atari id or game name; ConfigError naming close matches."""
    match = _ID.match(game_or_id)
    name = match["name"] if match else game_or_id
    if match and match["ram"]:
        raise ConfigError(f"env.id: {game_or_id!r}: RAM observations are not supported")
    rom = _game_names().get(_squash(name))
    if rom is None:
        names = [ale_py.registration.rom_id_to_name(r) for r in roms.get_all_rom_ids()]
        hint = suggest(name, names) or suggest(name.title(), names)
        raise ConfigError(
            f"env.id: unknown Atari game {game_or_id!r}{hint}; "
            f"{len(names)} ROMs are installed (ale_py.roms.get_all_rom_ids())"
        )
    return rom


def lives_lost(previous: np.ndarray, lives: np.ndarray, ended: np.ndarray) -> np.ndarray:
    """Sub-envs that lost a life this step while their game goes on (lives left, not `ended`)."""
    lost: np.ndarray = (lives < previous) & (lives > 0) & ~ended
    return lost


class NativeStackedFrames(VectorWrapper):
    """ale-py's AtariVectorEnv (stack_num=k, SameStep) as rlkit's stacked SAME_STEP vector env.

    The native stack pads an episode start with zeros and runs on across a lost life; this
    re-pads the stacks of episodes younger than k - 1 steps (obs and final_obs) by rlkit's
    padding rule, so the observations equal FrameStackVectorEnv over single frames. With
    `episodic_life` a lost life in a game that goes on ends the episode (terminated), as
    LifeLossEpisodes does: final_obs is the stack so far and the next episode starts from the
    same frame. It adds the "_final_obs" mask, returns float rewards and accepts any integer
    actions. Every observation is a fresh array of the native env's, padded in place, so it is
    safe to keep; a vector step where no episode is young or ended costs a few numpy calls.
    """

    def __init__(self, env: AtariVectorEnv, episodic_life: bool = False) -> None:
        super().__init__(env)
        if env.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError("NativeStackedFrames needs autoreset_mode=SameStep")
        space = env.single_observation_space
        assert isinstance(space, Box)
        self.single_observation_space = Box(0, 255, space.shape, np.uint8)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self.stack = int(space.shape[0])
        self.episodic_life = episodic_life
        self.lives = np.zeros(env.num_envs, dtype=np.int32)
        self.steps = 0
        """Vector steps since the last reset."""
        self.starts = np.zeros(env.num_envs, dtype=np.int64)
        """The value of `steps` when each env's episode started: its newest frame is f(t),
        t = steps - starts."""
        self.pad_until = 0
        """No episode is younger than stack - 1 steps once steps >= pad_until."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env (sub-env i is seeded with seed + i); each stack is its frame
        repeated."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = np.array(info["lives"], copy=True)
        self.steps = 0
        self.starts.fill(0)
        self.pad_until = self.stack - 1
        obs[:, :-1] = obs[:, -1:]
        return obs, dict(info)

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env; ended ones are already reset (SAME_STEP)."""
        obs, reward, terminated, truncated, info = self.env.step(np.asarray(actions, np.int64))
        self.steps += 1
        ended = np.logical_or(terminated, truncated)
        lost = None
        if self.episodic_life:
            lives = info["lives"]  # a fresh array every step, like every native output
            if (lives < self.lives).any():
                lost = lives_lost(self.lives, lives, ended)
                ended = ended | lost
                terminated = np.logical_or(terminated, lost)
            self.lives = lives
        if ended.any():
            info = dict(info)
            final = info["final_obs"] if "final_obs" in info else obs.copy()
            if lost is not None:
                final[lost] = obs[lost]
            self._pad(final, ended)
            info["final_obs"], info["_final_obs"] = final, ended
            self.starts[ended] = self.steps
            self.pad_until = self.steps + self.stack - 1
        else:
            info.pop("final_obs", None)
        if self.steps < self.pad_until:
            self._pad(obs, None)
        return obs, reward.astype(np.float64), terminated, truncated, info

    def _pad(self, stacks: np.ndarray, rows: np.ndarray | None) -> None:
        """Pad in place the stacks (of the selected rows) whose episode is younger than the
        stack: frames before the episode's first frame become that frame."""
        young = self.steps - self.starts < self.stack - 1
        if rows is not None:
            young &= rows
        for i in np.flatnonzero(young):
            first = self.stack - 1 - (self.steps - int(self.starts[i]))
            stacks[i, :first] = stacks[i, first]


class LifeLossEpisodes(VectorWrapper):
    """End an episode (terminated) when a life is lost but the game goes on (EpisodicLifeEnv).

    Works on a single-frame SAME_STEP vector env whose infos carry "lives": where a life was
    lost, info["final_obs"] is the current frame, and the next episode starts from that frame.
    """

    def __init__(self, env: AnyVectorEnv) -> None:
        super().__init__(env)
        self.lives = np.zeros(env.num_envs, dtype=np.int64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env and remember its lives."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = np.asarray(info["lives"]).copy()
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step; mark a life loss in a game that is not over as terminated."""
        obs, reward, terminated, truncated, info = self.env.step(actions)
        done = np.logical_or(terminated, truncated)
        lives = np.asarray(info["lives"]).copy()
        lost = lives_lost(self.lives, lives, done)
        self.lives = lives
        if lost.any():
            ended = done | lost
            info = {**info, "final_obs": final_frames(obs, info, done), "_final_obs": ended}
            terminated = np.logical_or(terminated, lost)
        return obs, reward, terminated, truncated, info


class FireAfterLifeLoss(VectorWrapper):
    """Play FIRE as a sub-env's next action after it lost a life and its game went on.

    Works on any vector env whose infos carry "lives" (both Atari builds); `fire` is the FIRE
    action's index in the game's action set. The step that plays FIRE is an ordinary step:
    the agent sees its observation and reward, and its own action for that step is ignored
    (FireResetEnv hides the step inside a reset instead, which a synchronous vector env cannot
    do for one sub-env). A new game is served by fire_reset, not by this.
    """

    def __init__(self, env: AnyVectorEnv, fire: int) -> None:
        super().__init__(env)
        self.fire = fire
        self.lives = np.zeros(env.num_envs, dtype=np.int64)
        self.serve = np.zeros(env.num_envs, dtype=bool)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env and remember its lives."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = np.array(info["lives"], dtype=np.int64)
        self.serve.fill(False)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step, with FIRE for the sub-envs that lost a life on the previous step."""
        if self.serve.any():
            actions = np.array(actions, dtype=np.int64)
            actions[self.serve] = self.fire
        obs, reward, terminated, truncated, info = self.env.step(actions)
        lives = np.array(info["lives"], dtype=np.int64)
        # a game over or truncation resets the game (SAME_STEP): its lives are the new game's
        self.serve = lives_lost(self.lives, lives, truncated)
        self.lives = lives
        return obs, reward, terminated, truncated, info


def _with_fire_after_life_loss(
    envs: AnyVectorEnv, options: AtariOptions, actions: list[str]
) -> AnyVectorEnv:
    """`envs` under FireAfterLifeLoss when the options ask for it and the game has FIRE."""
    if not options.fire_after_life_loss or "FIRE" not in actions:
        return envs
    return FireAfterLifeLoss(envs, actions.index("FIRE"))


class _GameStart(gym.Wrapper[Any, Any, Any, Any]):
    """Reset, random starts and time limit of an AtariEnv(frameskip=1), exactly as ale-py's
    native vector env does them: seed, reset_game, FIRE, NOOPs; frames counted after that."""

    def __init__(self, env: AtariEnv, options: AtariOptions) -> None:
        super().__init__(env)
        self.options = options
        self.fire = options.fire_reset and "FIRE" in env.get_action_meanings()
        self.rng = np.random.default_rng()
        self.frames = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start a new game; a seed seeds the ALE (sticky actions) and the no-op draw."""
        _, info = self.env.reset(seed=seed, options=options)
        atari: AtariEnv = self.env.unwrapped  # type: ignore[assignment]
        ale = atari.ale
        if seed is not None:  # the native env's seeding, so both builds agree
            ale.setInt("random_seed", seed)
            atari.load_game()
            ale.reset_game()
            self.rng = np.random.default_rng(seed)
        if self.fire:
            ale.act(ale_py.Action.FIRE)
        noop_max = self.options.noop_max
        noops = int(self.rng.integers(0, noop_max)) - self.fire if noop_max > 0 else 0
        for _ in range(noops):
            ale.act(ale_py.Action.NOOP)
            if ale.game_over():
                ale.reset_game()
        self.frames = 0
        info.pop("seeds", None)
        info.update(
            lives=ale.lives(),
            episode_frame_number=ale.getEpisodeFrameNumber(),
            frame_number=ale.getFrameNumber(),
        )
        return ale.getScreenGrayscale(), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """One emulator frame; truncated once max_episode_frames frames were played."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.frames += 1
        limit = self.options.max_episode_frames
        truncated = bool(truncated) or (limit > 0 and self.frames >= limit and not terminated)
        return obs, reward, terminated, truncated, info


class SkipPoolResize(gym.Wrapper[np.ndarray, Any, Any, Any]):
    """Gymnasium's AtariPreprocessing (noop_max=0, no life-loss ends) without its OpenCV need.

    Repeats the action frame_skip frames, max-pools the last two greyscale screens and resizes
    with rlkit.envs.preprocessing.resize_area (OpenCV INTER_AREA, bit for bit). Like Gymnasium's
    wrapper and ale-py's native env, a step cut short by a game end or truncation pools the
    screens it has, so the final frame may be the previous step's.
    """

    def __init__(self, env: gym.Env[Any, Any], frame_skip: int, screen_size: int) -> None:
        super().__init__(env)
        self.frame_skip = frame_skip
        self.screen_size = screen_size
        self.observation_space = Box(0, 255, (screen_size, screen_size), np.uint8)
        self.screens = np.zeros((2, 210, 160), dtype=np.uint8)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset; the first frame is the screen after the game start."""
        _, info = self.env.reset(seed=seed, options=options)
        self._ale.getScreenGrayscale(self.screens[0])
        self.screens[1].fill(0)
        return self._observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Repeat `action`, summing rewards, until frame_skip frames or the episode ends."""
        total, terminated, truncated = 0.0, False, False
        info: dict[str, Any] = {}
        for t in range(self.frame_skip):
            _, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
            if t >= self.frame_skip - 2:  # t = skip-2 into screens[1], t = skip-1 into [0]
                self._ale.getScreenGrayscale(self.screens[self.frame_skip - 1 - t])
        return self._observation(), total, terminated, truncated, info

    @property
    def _ale(self) -> ale_py.ALEInterface:
        return self.env.unwrapped.ale  # type: ignore[attr-defined, no-any-return]

    def _observation(self) -> np.ndarray:
        np.maximum(self.screens[0], self.screens[1], out=self.screens[0])
        return resize_area(self.screens[0], self.screen_size, self.screen_size)


RenderMode = Literal["rgb_array", "human"]


def _make_preprocessed(
    rom: str, options: AtariOptions, render_mode: RenderMode | None
) -> gym.Env[Any, Any]:
    """One AtariEnv(frameskip=1) with rlkit's game start, frame skip, max-pool and resize."""
    env = AtariEnv(
        game=rom,
        obs_type="grayscale",
        frameskip=1,
        repeat_action_probability=options.repeat_action_probability,
        full_action_space=False,
        max_num_frames_per_episode=0,  # _GameStart counts frames like the native env
        render_mode=render_mode,
    )
    return SkipPoolResize(_GameStart(env, options), options.frame_skip, options.screen_size)


def make_native_stacks(
    rom: str, num_envs: int, options: AtariOptions, training: bool, num_threads: int = 0
) -> AnyVectorEnv:
    """The whole native build: stacked frames padded by rlkit's rule; for training, life-loss
    episodes and rewards clipped (natively, to sign(score) as scores are integers) as chosen."""
    native = AtariVectorEnv(
        rom,
        num_envs,
        num_threads=num_threads,
        max_num_frames_per_episode=options.max_episode_frames or _NO_LIMIT,
        repeat_action_probability=options.repeat_action_probability,
        autoreset_mode=AutoresetMode.SAME_STEP,
        img_height=options.screen_size,
        img_width=options.screen_size,
        grayscale=True,
        stack_num=options.frame_stack,
        frameskip=options.frame_skip,
        maxpool=True,
        noop_max=options.noop_max,
        episodic_life=False,  # it would reset the whole game; rlkit ends the episode only
        reward_clipping=training and options.clip_rewards,
        use_fire_reset=options.fire_reset,
    )
    stacks = NativeStackedFrames(native, episodic_life=training and options.episodic_life)
    actions = [action.name for action in native.ale.get_action_set()]
    return _with_fire_after_life_loss(stacks, options, actions)


def make_wrapper_frames(
    rom: str, num_envs: int, options: AtariOptions, render_mode: RenderMode | None = None
) -> AnyVectorEnv:
    """Single-frame SAME_STEP SyncVectorEnv of AtariEnv + SkipPoolResize."""
    make_one: Callable[[], gym.Env[Any, Any]] = functools.partial(
        _make_preprocessed, rom, options, render_mode
    )
    return SyncVectorEnv([make_one] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)


def _clip_unit(rewards: np.ndarray) -> np.ndarray:
    """Clip a vector of rewards to [-1, 1]."""
    clipped: np.ndarray = np.clip(rewards, -1.0, 1.0)
    return clipped


def make_atari_vector_env(
    game_or_id: str,
    num_envs: int,
    options: AtariOptions | None = None,
    *,
    training: bool = True,
    native: bool = True,
    render_mode: RenderMode | None = None,
    num_threads: int = 0,
) -> AnyVectorEnv:
    """Stacked (num_envs, frame_stack, H, W) uint8 Atari vector env with SAME_STEP autoreset.

    training=False plays whole games with true scores (no episodic life, no reward clipping).
    native=False uses the Gymnasium-wrapper build, the only one that honours render_mode.
    Seed with reset(seed=s): sub-env i gets s + i in both builds.
    """
    options = options or AtariOptions()
    rom = rom_id(game_or_id)
    if native and render_mode is not None:
        raise ConfigError("render_mode needs the wrapper build (native=False)")
    if native:
        return make_native_stacks(rom, num_envs, options, training, num_threads)
    envs = make_wrapper_frames(rom, num_envs, options, render_mode)
    actions = envs.envs[0].unwrapped.get_action_meanings()  # type: ignore[attr-defined]
    envs = _with_fire_after_life_loss(envs, options, actions)
    if training and options.episodic_life:
        envs = LifeLossEpisodes(envs)
    envs = FrameStackVectorEnv(envs, options.frame_stack)
    if training and options.clip_rewards:
        envs = TransformReward(envs, _clip_unit)  # one np.clip over all envs
    return envs


__all__ = [
    "AtariOptions",
    "FireAfterLifeLoss",
    "LifeLossEpisodes",
    "NativeStackedFrames",
    "is_atari_id",
    "make_atari_vector_env",
    "make_native_stacks",
    "make_wrapper_frames",
    "rom_id",
]
