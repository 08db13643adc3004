"""Atari Breakout learning curves: rlkit vs Stable-Baselines3, A2C and PPO with the same settings.

For each algorithm (a2c, ppo) and seed both libraries train on Breakout with the settings of
rlkit's experiment file experiments/breakout_<algo>.toml, in one process: who goes first
alternates by seed (sb3_common.run_alternating), both on the CPU with the same torch thread
count (--threads, default 1). The settings are checked against the reference ones before any
run (RL_ZOO_A2C, CLEANRL_PPO below); a mismatch stops the script.

A2C (rl-zoo's Atari settings): 16 envs x 5 steps, RMSprop lr 7e-4 (alpha 0.99, eps 1e-5),
value coefficient 0.25, entropy 0.01, gamma 0.99, max_grad_norm 0.5, the n-step return (SB3:
gae_lambda 1.0, the same), no advantage normalisation, the Nature CNN shared by both heads,
orthogonal init. The optimizer on the SB3 side is torch's RMSprop (SB3's A2C default,
use_rms_prop with alpha 0.99 and eps 1e-5), the very optimizer rlkit uses: the benchmark
compares implementations at identical settings. rl-zoo itself uses RMSpropTFLike (eps inside
the square root, so eps 1e-5 acts like ~3e-3 outside it, and the square average starts at 1):
--sb3-rmsprop-tf gives SB3 that one instead (rlkit has no such variant).

PPO (CleanRL's ppo_atari settings): 8 envs x 128 steps, 4 epochs of 4 minibatches (SB3
batch_size 256), Adam eps 1e-5 at lr 2.5e-4 annealed linearly to 0 over the budget, clip 0.1,
value clip 0.1, advantages normalised per minibatch, entropy 0.01, gamma 0.99, GAE lambda 0.95,
max_grad_norm 0.5. CleanRL's vf_coef 0.5 multiplies 0.5 * mean(squared error); rlkit's
value_coef 0.25 and SB3's vf_coef 0.25 multiply the plain mean squared error (SB3:
F.mse_loss, no 1/2): the same objective.

Preprocessing, both sides on the ALE's own greyscale screen: 4 frames a step with the last two
max-pooled, no sticky actions, 84x84 INTER_AREA resize (rlkit.envs.preprocessing.resize_area,
OpenCV's bit for bit; OpenCV is not installed, so SB3's WarpFrame, which converts RGB with
OpenCV, is replaced by that resize of the ALE greyscale screen), 4 stacked frames, up to 30
no-op frames at a game start, FIRE at a game start, a lost life ends the training episode,
training rewards clipped to [-1, 1], a game truncated after 108,000 frames. rlkit: ale-py's
native AtariVectorEnv (rlkit.envs.atari); SB3: "ALE/Breakout-v5" made with frameskip 1 and
repeat_action_probability 0, SB3's own Monitor, NoopResetEnv, MaxAndSkipEnv, EpisodicLifeEnv,
FireResetEnv and ClipRewardEnv (the AtariWrapper stack, make_atari_env's), in a DummyVecEnv
with VecFrameStack(4).

The score: the true, unclipped score of each whole game played in training (all lives).
SB3: Monitor's info["episode"]["r"]; make_vec_env puts Monitor under the Atari wrappers, so it
sees the raw rewards and only real game ends (EpisodicLifeEnv does not reset the game on a
lost life). rlkit's own log (TensorBoard "train/episode_return", logger.recent_returns) is the
sum of the training env's rewards per training episode, i.e. the clipped return of one life,
not a game score; so here rlkit's native env is built without its clipping and a wrapper
(GameScores) sums the raw rewards of each game, ends games on the native env's game overs (not
on lives lost) and clips the rewards the agent sees (to [-1, 1], as the native env would).
Nothing else is evaluated: no greedy evaluation, no final evaluation.

Written to --out-dir (default runs/bench_atari_learning, ignored by git): games.csv (lib, algo,
seed, step, train_seconds, score: every finished game), curves.csv (bench_minatar_learning's
format: per --bin env steps the mean and std of the scores of the games that ended in it; the
column "game" is "Breakout", mean_return/std_return are game scores) and curves.png (per algo:
score vs env steps and vs training seconds, one line per library, the mean over seeds with a
min-max band). The seconds axis is the training time: rlkit from the start of its training
loop, SB3 from learn's on_training_start. Printed: per algo the per-seed table (the "eval
return" column: the mean score of the games that ended in the last --window env steps, ± their
std) and SB3_time / rlkit_time; at the end per algo and library that score (mean ± std over
seeds), training time and env steps/s.

Differences that remain (the libraries' own wrappers): after a lost life SB3's FireResetEnv
presses FIRE and then action 2, and EpisodicLifeEnv a NOOP, in three 4-frame steps hidden
inside the next episode's reset; rlkit's FireAfterLifeLoss (fire_after_life_loss) plays FIRE
as the new episode's first step, in place of the agent's action. SB3's no-op start is 1-30
NOOP frames then FIRE + action 2 (two 4-frame steps); rlkit's is FIRE then 0-28 NOOP frames.
SB3's VecFrameStack pads an episode start with zero frames, rlkit repeats the first frame.
SB3's PPO clips the value prediction and takes its error alone; rlkit (and CleanRL) take the
larger of the clipped and unclipped errors.
CleanRL's lr at update k is 2.5e-4 * (1 - (k - 1) / K); rlkit's and SB3's is
2.5e-4 * (1 - k * rollout / budget). Denormals: rlkit's runner flushes them to zero, SB3 runs
as shipped unless --sb3-flush-denormal.

--quick (a smoke test): 4,000 env steps per case (PPO: 4,096; fewer would end hardly any game:
a Breakout game lasts ~200 steps at random), curve bins of 1,000 steps, the score over the last
half.

    python experiments/benchmarks/bench_atari_learning.py --quick
    python experiments/benchmarks/bench_atari_learning.py --seeds 0 1 2
    python experiments/benchmarks/bench_atari_learning.py --algos a2c --steps a2c=2000000
    python experiments/benchmarks/bench_atari_learning.py --libs sb3 --algos ppo   # SB3 alone

--replot RUN_DIR... merges runs made apart (each library alone, on a core of its own, say)
into --out-dir: their games.csv and curves.csv, one curves.png, and a per-run table (score
over the last --window env steps, training time, env steps/s).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from bench_minatar_learning import (
    Curve,
    Point,
    plot_curves,
    read_csv,
    round_up,
    time_ratio,
    write_csv,
)
from gymnasium.vector import VectorWrapper
from sb3_common import (
    LIBS,
    Row,
    add_learning_options,
    parse_steps,
    print_rows,
    print_speed_ratio,
    run_alternating,
    sb3_ppo_kwargs,
    training_only_overrides,
)
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.atari_wrappers import (
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
)
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.vec_env import VecFrameStack

from rlkit.agent import Agent
from rlkit.config import from_dict
from rlkit.envs.atari import AtariOptions, make_native_stacks, rom_id
from rlkit.envs.factory import env_spec
from rlkit.envs.paired import PairedVectorEnv
from rlkit.envs.preprocessing import resize_area
from rlkit.evaluation import EvalResult
from rlkit.experiment import Experiment, load_experiment
from rlkit.rollout import RolloutState
from rlkit.training.runner import training_loop_class
from rlkit.training.session import Session, StopFlag
from rlkit.training.steps import StepLoop

EXPERIMENTS = Path(__file__).resolve().parents[1]
GAME = "Breakout"
ENV_ID = "ALE/Breakout-v5"
ALGOS = ("a2c", "ppo")
DEFAULT_STEPS = {"a2c": 1_000_000, "ppo": 500_000}
QUICK_STEPS = 4_000
GAME_COLUMNS = ("lib", "algo", "seed", "step", "train_seconds", "score")

ATARI = {
    "frame_skip": 4,
    "repeat_action_probability": 0.0,
    "frame_stack": 4,
    "screen_size": 84,
    "noop_max": 30,
    "fire_reset": True,
    "fire_after_life_loss": True,
    "episodic_life": True,
    "clip_rewards": True,
    "max_episode_frames": 108_000,
}
"""The preprocessing both sides use (AtariOptions fields), checked against the experiments."""
PG_COMMON = {
    "network": "nature_cnn",
    "shared_trunk": True,
    "orthogonal_init": True,
    "optimizer_eps": 1e-5,
    "gamma": 0.99,
    "entropy_coef": 0.01,
    "value_coef": 0.25,
    "max_grad_norm": 0.5,
    "normalize_observations": False,
    "normalize_rewards": False,
    "critic_learning_rate": None,
}
RL_ZOO_A2C = {
    **PG_COMMON,
    "num_envs": 16,
    "optimizer": "rmsprop",
    "learning_rate": 7e-4,
    "lr_decay_steps": 0,
    "n_steps": 5,
    "n_step": None,
    "gae_lambda": None,
    "normalize_advantage": False,
}
"""rl-zoo's a2c.yml atari entry in rlkit's terms (vf_coef 0.25 multiplies the plain MSE in
both); n_step/gae_lambda None is the 5-step return, SB3's gae_lambda 1.0."""
CLEANRL_PPO = {
    **PG_COMMON,
    "num_envs": 8,
    "optimizer": "adam",
    "learning_rate": 2.5e-4,
    "n_steps": 128,
    "epochs": 4,
    "minibatches": 4,
    "gae_lambda": 0.95,
    "clip_range": 0.1,
    "clip_decay_steps": 0,
    "clip_range_vf": 0.1,
    "normalize_advantage": True,
    "target_kl": None,
}
"""CleanRL's ppo_atari.py in rlkit's terms (its vf_coef 0.5 on 0.5 * MSE = value_coef 0.25);
the lr is annealed over the budget (checked separately)."""
REFERENCES = {"a2c": RL_ZOO_A2C, "ppo": CLEANRL_PPO}


@dataclass(frozen=True)
class Case:
    """One algorithm: its rlkit experiment and budget, and how the curve is summarised."""

    algo: str
    steps: int
    """Env steps, whole rollouts."""
    bin: int
    """Env steps per curve point."""
    window: int
    """The final score is over the games that ended in the last `window` env steps."""
    vectorization: str | None = None
    """rlkit's env.vectorization ("sync" or "paired"; None: the experiment's)."""

    @property
    def path(self) -> Path:
        return EXPERIMENTS / f"breakout_{self.algo}.toml"


@dataclass(frozen=True)
class Game:
    """One finished training game: env steps so far, training seconds so far, true score."""

    step: int
    seconds: float
    score: float


@dataclass
class ScoreLog:
    """Game scores of one training run and the training clock at every `bin` env steps."""

    bin: int
    start: float = 0.0
    games: list[Game] = field(default_factory=list)
    marks: dict[int, float] = field(default_factory=dict)
    """Training seconds at the first vector step at or past each multiple of `bin`."""
    steps: int = 0
    end: float = 0.0
    """Training seconds at the last step."""

    def begin(self) -> None:
        """Start the training clock."""
        self.start = time.perf_counter()

    def tick(self, step: int) -> None:
        """Record the clock after a vector step that brought the count to `step`."""
        now = time.perf_counter() - self.start
        self.steps, self.end = step, now
        mark = (step // self.bin) * self.bin
        if mark > 0 and mark not in self.marks:
            self.marks[mark] = now

    def game(self, step: int, score: float) -> None:
        """A game ended at `step` with `score` (recorded before that step's tick)."""
        self.games.append(Game(step, time.perf_counter() - self.start, float(score)))

    def curve(self, lib: str, algo: str, seed: int) -> Curve:
        """Per bin with a finished game: the mean and std of the scores of its games (the
        last bin ends at the last step, a shorter one where the budget is not a multiple)."""
        curve = Curve(lib, algo, GAME, seed)
        edges = sorted(self.marks.items())
        if self.steps > (edges[-1][0] if edges else 0):
            edges.append((self.steps, self.end))
        low = 0
        for mark, seconds in edges:
            scores = [g.score for g in self.games if low < g.step <= mark]
            if scores:
                point = Point(mark, seconds, float(np.mean(scores)), float(np.std(scores)))
                curve.points.append(point)
            low = mark
        return curve

    def final_scores(self, window: int) -> list[float]:
        """Scores of the games that ended in the last `window` env steps."""
        return [g.score for g in self.games if g.step > self.steps - window]


class GameScores(VectorWrapper):
    """Sums each sub-env's raw rewards over whole games into a ScoreLog and hands the agent
    clipped rewards; counts `steps_per_step` env steps a vector step (all sub-envs', where the
    two halves of a paired env log into one ScoreLog). Sits on rlkit's NativeStackedFrames
    (built without reward clipping, with FireAfterLifeLoss as the options say): a
    training episode that ends with lives left is a lost life, the game goes on; any other end
    (lives 0, a new game's lives after the native autoreset, truncation) is a game over."""

    def __init__(self, env: Any, log: ScoreLog, clip: bool, steps_per_step: int) -> None:
        super().__init__(env)
        self.log, self.clip, self.steps_per_step = log, clip, steps_per_step
        self.lives = np.zeros(env.num_envs, dtype=np.int64)
        self.scores = np.zeros(env.num_envs)
        self.steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every game; scores start at 0."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = np.array(info["lives"], dtype=np.int64)
        self.scores[:] = 0.0
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step; log the scores of the games that ended; clip the rewards."""
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self.steps += self.steps_per_step
        self.scores += reward
        lives = np.asarray(info["lives"], dtype=np.int64)
        life_lost = (lives < self.lives) & (lives > 0) & ~truncated
        over = (terminated | truncated) & ~life_lost
        for i in np.flatnonzero(over):
            self.log.game(self.steps, self.scores[i])
        self.scores[over] = 0.0
        self.lives = lives
        self.log.tick(self.steps)
        if self.clip:
            reward = np.clip(reward, -1.0, 1.0)
        return obs, reward, terminated, truncated, info


class ScoreLoop(StepLoop):
    """rlkit's step loop on GameScores over the native env; no evaluation at all."""

    def __init__(self, session: Session, log: ScoreLog) -> None:
        super().__init__(session)
        self.log = log

    def make_agent(self) -> Agent[Any]:
        """StepLoop.make_agent on the score-logging env, without evaluation envs."""
        exp = self.experiment
        options = from_dict(AtariOptions, exp.env.kwargs, "env.kwargs")
        unclipped = dataclasses.replace(options, clip_rewards=False)
        n, rom = exp.env.num_envs, rom_id(exp.env.id)

        def scored(envs: int) -> GameScores:
            native = make_native_stacks(rom, envs, unclipped, True)
            return GameScores(native, self.log, options.clip_rewards, n)

        paired = exp.env.vectorization == "paired"
        self.envs = PairedVectorEnv(scored(n // 2), scored(n - n // 2)) if paired else scored(n)
        self.agent = self.session.build_agent(env_spec(exp.env, self.envs))
        self.rollout_state = RolloutState.reset(self.envs, exp.run.seed)
        return self.agent

    def train(self, stop: StopFlag) -> None:
        self.log.begin()
        super().train(stop)

    def final_evaluation(self) -> EvalResult:
        """No greedy evaluation: summary.json gets the scores of the last 100 games."""
        scores = [g.score for g in self.log.games[-100:]] or [math.nan]
        return EvalResult(len(scores), float(np.mean(scores)), float(np.std(scores)), math.nan)


def atari_options(experiment: Experiment) -> AtariOptions:
    """The experiment's preprocessing."""
    return from_dict(AtariOptions, experiment.env.kwargs, "env.kwargs")


def check_settings(experiment: Experiment, algo: str, steps: int) -> None:
    """Stop unless the experiment has the reference settings of `algo` (and Breakout)."""
    agent, options = experiment.agent, atari_options(experiment)
    actual: dict[str, Any] = {k: getattr(agent, k, None) for k in REFERENCES[algo]}
    actual["num_envs"] = experiment.env.num_envs
    actual.update({k: getattr(options, k) for k in ATARI})
    expected: dict[str, Any] = {**REFERENCES[algo], **ATARI}
    if algo == "ppo":
        actual["lr_decay_steps"], expected["lr_decay_steps"] = agent.lr_decay_steps, steps
    wrong = [f"{k}={actual[k]!r} (expected {v!r})" for k, v in expected.items() if actual[k] != v]
    if experiment.agent_name != algo or rom_id(experiment.env.id) != "breakout":
        wrong.append(f"{experiment.agent_name} on {experiment.env.id}")
    if wrong:
        raise SystemExit(f"{experiment.name}: not the reference settings: {', '.join(wrong)}")


def rlkit_experiment(case: Case, seed: int, threads: int) -> Experiment:
    """The case's rlkit experiment for one run: budget, seed, CPU, threads, no evaluations or
    checkpoints, PPO's lr annealed over the budget; checked against the reference settings."""
    torch.set_num_threads(threads)  # training_only_overrides reads the thread count
    overrides = training_only_overrides(seed, case.steps, 1)
    if case.algo == "ppo":
        overrides.append(f"agent.lr_decay_steps={case.steps}")
    if case.vectorization is not None:
        overrides.append(f"env.vectorization={case.vectorization}")
    experiment = load_experiment(case.path, overrides)
    check_settings(experiment, case.algo, case.steps)
    return experiment


def rollout_size(algo: str) -> int:
    """Env steps per update of the algo's experiment."""
    experiment = load_experiment(EXPERIMENTS / f"breakout_{algo}.toml")
    return int(experiment.agent.n_steps * experiment.env.num_envs)


def run_rlkit(case: Case, seed: int, threads: int) -> ScoreLog:
    """One rlkit training run of the case."""
    experiment = rlkit_experiment(case, seed, threads)
    if training_loop_class(experiment.agent_name) is not StepLoop:
        raise SystemExit(f"{experiment.agent_name} has its own training loop")
    log = ScoreLog(case.bin)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Session(experiment, Path(tmp) / "run", None, ScoreLoop, log=log) as session,
    ):
        session.run()
    return log


class GreyResize(gym.ObservationWrapper[np.ndarray, Any, np.ndarray]):
    """SB3's WarpFrame on a greyscale env without OpenCV: the (210, 160) ALE greyscale screen
    resized with rlkit's resize_area (OpenCV INTER_AREA bit for bit) to (size, size, 1)."""

    def __init__(self, env: gym.Env[np.ndarray, Any], size: int) -> None:
        super().__init__(env)
        self.size = size
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 1), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return resize_area(observation, self.size, self.size)[:, :, None]


def sb3_atari_wrapper(options: AtariOptions) -> Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]]:
    """SB3's AtariWrapper stack (Monitor is under it) with GreyResize for WarpFrame."""

    def wrap(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
        env = NoopResetEnv(env, noop_max=options.noop_max)
        env = MaxAndSkipEnv(env, skip=options.frame_skip)
        if options.episodic_life:
            env = EpisodicLifeEnv(env)
        if options.fire_reset and "FIRE" in env.unwrapped.get_action_meanings():  # type: ignore[attr-defined]
            env = FireResetEnv(env)
        env = GreyResize(env, options.screen_size)
        return ClipRewardEnv(env) if options.clip_rewards else env

    return wrap


def sb3_envs(experiment: Experiment, seed: int) -> VecFrameStack:
    """make_atari_env's DummyVecEnv of Monitor + Atari wrappers, with VecFrameStack."""
    options = atari_options(experiment)
    env_kwargs = {
        "obs_type": "grayscale",
        "frameskip": 1,
        "repeat_action_probability": options.repeat_action_probability,
        "full_action_space": False,
        "max_num_frames_per_episode": options.max_episode_frames,
    }
    envs = make_vec_env(
        experiment.env.id,
        n_envs=experiment.env.num_envs,
        seed=seed,
        wrapper_class=sb3_atari_wrapper(options),
        env_kwargs=env_kwargs,
    )
    return VecFrameStack(envs, n_stack=options.frame_stack)


def sb3_a2c(experiment: Experiment, seed: int, steps: int, tf_rmsprop: bool) -> A2C:
    """SB3 A2C with the experiment's settings; torch RMSprop unless `tf_rmsprop` (rl-zoo's)."""
    a = experiment.agent
    policy_kwargs: dict[str, Any] = {"ortho_init": a.orthogonal_init}
    if tf_rmsprop:
        policy_kwargs["optimizer_class"] = RMSpropTFLike
        policy_kwargs["optimizer_kwargs"] = {"alpha": 0.99, "eps": a.optimizer_eps}
    return A2C(
        "CnnPolicy",
        sb3_envs(experiment, seed),
        learning_rate=a.learning_rate,
        n_steps=a.n_steps,
        gamma=a.gamma,
        gae_lambda=1.0,
        ent_coef=a.entropy_coef,
        vf_coef=a.value_coef,
        max_grad_norm=a.max_grad_norm,
        use_rms_prop=True,
        rms_prop_eps=a.optimizer_eps,
        normalize_advantage=a.normalize_advantage,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
        verbose=0,
    )


def sb3_ppo(experiment: Experiment, seed: int, steps: int, tf_rmsprop: bool) -> PPO:
    """SB3 PPO with the experiment's settings, the lr annealed linearly over `steps`."""
    a, n = experiment.agent, experiment.env.num_envs
    return PPO(
        "CnnPolicy",
        sb3_envs(experiment, seed),
        **sb3_ppo_kwargs(a, n, steps),
        policy_kwargs={
            "ortho_init": a.orthogonal_init,
            "optimizer_kwargs": {"eps": a.optimizer_eps},
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )


class ScoreCallback(BaseCallback):
    """Monitor's whole-game scores into a ScoreLog; the clock starts at on_training_start."""

    def __init__(self, log: ScoreLog) -> None:
        super().__init__()
        self.log = log

    def _on_training_start(self) -> None:
        self.log.begin()

    def _on_step(self) -> bool:
        step = self.model.num_timesteps
        for info in self.locals["infos"]:
            if "episode" in info:
                self.log.game(step, info["episode"]["r"])
        self.log.tick(step)
        return True


def run_sb3(case: Case, seed: int, args: argparse.Namespace) -> ScoreLog:
    """One SB3 training run of the case."""
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.sb3_flush_denormal)  # an rlkit run may have set it
    experiment = rlkit_experiment(case, seed, args.threads)
    builders: dict[str, Callable[[Experiment, int, int, bool], BaseAlgorithm]] = {
        "a2c": sb3_a2c,
        "ppo": sb3_ppo,
    }
    model = builders[case.algo](experiment, seed, case.steps, args.sb3_rmsprop_tf)
    log = ScoreLog(case.bin)
    model.learn(total_timesteps=case.steps, callback=ScoreCallback(log))
    model.get_env().close()
    return log


def timings(log: ScoreLog, total_s: float, window: int) -> dict[str, float]:
    """A run's row for sb3_common.print_rows; eval_* are the last window's game scores."""
    scores = log.final_scores(window) or [math.nan]
    return {
        "train_s": log.end,
        "total_s": total_s,
        "steps": float(log.steps),
        "eval_mean": float(np.mean(scores)),
        "eval_std": float(np.std(scores)),
        "games": float(len(log.final_scores(window))),
    }


@dataclass
class Results:
    """Everything measured so far, written to the CSVs and the PNG after every run."""

    out_dir: Path
    logs: list[tuple[str, str, int, ScoreLog]] = field(default_factory=list)

    def add(self, lib: str, algo: str, seed: int, log: ScoreLog, smooth: int) -> None:
        """Keep a run and rewrite games.csv, curves.csv and curves.png."""
        self.logs.append((lib, algo, seed, log))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with (self.out_dir / "games.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(GAME_COLUMNS)
            for lib_, algo_, seed_, log_ in self.logs:
                for g in log_.games:
                    writer.writerow([lib_, algo_, seed_, g.step, f"{g.seconds:.3f}", g.score])
        curves = self.curves()
        write_csv(curves, self.out_dir / "curves.csv")
        plot_curves(
            curves,
            self.out_dir / "curves.png",
            smooth,
            measure="training game score",
            ylabel="mean score of whole games (min-max over seeds)",
            prefix="",
        )

    def curves(self) -> list[Curve]:
        """Every run's binned curve (runs without a finished game left out)."""
        curves = [log.curve(lib, algo, seed) for lib, algo, seed, log in self.logs]
        return [c for c in curves if c.points]


def run_case(case: Case, args: argparse.Namespace, results: Results) -> list[Row]:
    """Both libraries (or those of --libs) on every seed, alternating who goes first."""

    def runner(lib: str) -> Callable[[int, int, int], dict[str, float]]:
        def run(seed: int, steps: int, episodes: int) -> dict[str, float]:
            start = time.perf_counter()
            if lib == "rlkit":
                log = run_rlkit(case, seed, args.threads)
            else:
                log = run_sb3(case, seed, args)
            row = timings(log, time.perf_counter() - start, case.window)
            results.add(lib, case.algo, seed, log, args.smooth)
            print(
                f"  {lib:<6}seed {seed}: {row['train_s']:.1f} s training, "
                f"{len(log.games)} games, last-window score {row['eval_mean']:.2f} "
                f"({row['games']:.0f} games)",
                flush=True,
            )
            return row

        return run

    if set(args.libs) == set(LIBS):
        runners = {lib: runner(lib) for lib in LIBS}
        return run_alternating(runners, args.seeds, args.threads, case.steps, 0)
    (lib,) = set(args.libs)
    return [(lib, seed, runner(lib)(seed, case.steps, 0)) for seed in args.seeds]


def print_summary(rows: dict[str, list[Row]], window: dict[str, int]) -> None:
    """Per algo and library: the last-window score (mean ± std over seeds), training time,
    env steps/s (means over seeds) and the mean per-seed ratio SB3_time / rlkit_time."""
    print(
        f"\n{'algo':<5}{'lib':<6}{'seeds':>6}{'score':>16}{'window':>10}"
        f"{'train_s':>10}{'steps/s':>9}{'SB3/rlkit time':>16}"
    )
    for algo, algo_rows in rows.items():
        times: dict[str, dict[int, float]] = {}
        for lib in LIBS:
            mine = [(seed, r) for name, seed, r in algo_rows if name == lib]
            if not mine:
                continue
            times[lib] = {seed: r["train_s"] for seed, r in mine}
            scores = [r["eval_mean"] for _, r in mine]
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            print(
                f"{algo:<5}{lib:<6}{len(mine):>6}"
                f"{statistics.mean(scores):>8.2f} ± {spread:<5.2f}{window[algo]:>10,}"
                f"{statistics.mean(times[lib].values()):>10.1f}"
                f"{statistics.mean(r['steps'] / r['train_s'] for _, r in mine):>9.0f}"
                f"{time_ratio(times) if lib == 'sb3' else '':>16}"
            )
    print("(score: mean true score of the whole training games that ended in the last window)")


def replot(run_dirs: list[Path], out_dir: Path, window: int, smooth: int) -> None:
    """Merge the games.csv and curves.csv of runs made apart (e.g. one library at a time with
    --libs) into OUT_DIR's, redraw curves.png, and print per run the score of the games that
    ended in the last `window` env steps, the training time and the env steps/s."""
    curves = [c for run_dir in run_dirs for c in read_csv(run_dir / "curves.csv")]
    games = []
    for run_dir in run_dirs:
        with (run_dir / "games.csv").open(newline="") as handle:
            games += list(csv.DictReader(handle))
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "games.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, GAME_COLUMNS)
        writer.writeheader()
        writer.writerows(games)
    write_csv(curves, out_dir / "curves.csv")
    plot_curves(
        curves,
        out_dir / "curves.png",
        smooth,
        measure="training game score",
        ylabel="mean score of whole games (min-max over seeds)",
        prefix="",
    )
    print(f"{'algo':<5}{'lib':<6}{'seed':>5}{'steps':>10}{'train_s':>9}{'steps/s':>8}  score")
    for curve in sorted(curves, key=lambda c: (c.algo, c.lib, c.seed)):
        last = curve.points[-1]
        mine = [g for g in games if (g["lib"], g["algo"], int(g["seed"])) ==
                (curve.lib, curve.algo, curve.seed)]  # fmt: skip
        scores = [float(g["score"]) for g in mine if int(g["step"]) > last.step - window]
        print(
            f"{curve.algo:<5}{curve.lib:<6}{curve.seed:>5}{last.step:>10,}"
            f"{last.train_seconds:>9.0f}{last.step / last.train_seconds:>8.0f}  "
            f"{np.mean(scores):.2f} ± {np.std(scores):.2f} over {len(scores)} games "
            f"in the last {window:,} steps"
        )
    print(f"wrote {out_dir / 'games.csv'}, curves.csv and curves.png")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_learning_options(parser, ALGOS, "N or a2c=N ppo=M (default a2c 1M, ppo 500k)")
    parser.add_argument("--window", type=int, default=100_000, help="final score's env steps")
    parser.add_argument("--bin", type=int, default=10_000, help="env steps per curve point")
    parser.add_argument(
        "--sb3-rmsprop-tf", action="store_true", help="SB3 A2C with rl-zoo's RMSpropTFLike"
    )
    parser.add_argument(
        "--vectorization", choices=("sync", "paired"), help="rlkit's (default: the experiment's)"
    )
    parser.add_argument("--out-dir", type=Path, default=Path("runs/bench_atari_learning"))
    parser.add_argument("--smooth", type=int, default=1, help="moving average of the plot")
    parser.add_argument(
        "--quick", action="store_true", help="~4,000 steps per case, bins of 1,000 steps"
    )
    parser.add_argument(
        "--replot", type=Path, nargs="+", metavar="RUN_DIR", help="merge runs made apart"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.replot:
        replot(args.replot, args.out_dir, args.window, args.smooth)
        return
    budgets = parse_steps(args.steps, DEFAULT_STEPS)
    if args.quick:
        budgets, args.bin = dict.fromkeys(ALGOS, QUICK_STEPS), 1_000
    torch.set_num_threads(args.threads)
    print(
        f"{ENV_ID} {'/'.join(a.upper() for a in args.algos)}, seeds {args.seeds}, torch "
        f"{torch.__version__}, {args.threads} torch thread(s), SB3 A2C optimizer "
        f"{'RMSpropTFLike' if args.sb3_rmsprop_tf else 'torch RMSprop'}, flush denormals: "
        f"rlkit True, SB3 {args.sb3_flush_denormal}; writing {args.out_dir}"
    )
    results = Results(args.out_dir)
    rows: dict[str, list[Row]] = {}
    windows: dict[str, int] = {}
    for algo in args.algos:
        steps = round_up(budgets[algo], rollout_size(algo))
        window = steps // 2 if args.quick else min(args.window, steps)
        case = Case(algo, steps, args.bin, window, args.vectorization)
        windows[algo] = window
        print(
            f"\n{GAME} {algo.upper()}: {steps:,} env steps, score over the last {window:,}",
            flush=True,
        )
        rows[algo] = run_case(case, args, results)
        print_rows(rows[algo])
        if set(args.libs) == set(LIBS):
            print_speed_ratio(rows[algo])
    print_summary(rows, windows)
    print(f"wrote {args.out_dir / 'games.csv'}, curves.csv and curves.png")


if __name__ == "__main__":
    main()
