"""One GPU machine check in under 8 minutes: four timed parts, one JSON and one markdown table.

    python experiments/benchmarks/gpu_check.py --out DIR              # needs CUDA (~7 minutes)
    python experiments/benchmarks/gpu_check.py --out DIR --dry-run    # every part, CPU, seconds
    python experiments/benchmarks/gpu_check.py --out DIR --parts dqn,ga --ga-budget-s 60

With rlkit installed from a wheel (`pip install .`, not the editable install of `make setup`),
start it from outside the repository root: the GA's forkserver puts the current directory on
sys.path, and the repository's rlkit/ folder (without agents/, which the build maps into it)
would shadow the installed package in the workers. RESULTS_gpu.md has the commands used there.

Parts, each with its own time budget (--<part>-budget-s, by default 60, 190, 60 and 110 s; their
sum is capped by --max-total-s, 480 s). Only PPO trains until its budget is spent; the others
are sized to end well within theirs (a part's JSON entry says whether it overran):

1. dqn: Nature-CNN DQN gradient steps/s, rlkit vs Stable-Baselines3, on one batch size (32
   stacked 4x84x84 uint8 frames) and one network (Nature CNN + linear Q head), Breakout's
   4 actions, both libraries in this process. rlkit: its DQNAgent built from
   experiments/breakout_dqn.toml (an uncompressed replay memory, filled through `observe`);
   SB3: DQN("CnnPolicy") on a dummy env of the same spaces, its replay buffer filled through
   `add` with the same transitions. Two variants, each timed in chunks of N gradient steps
   between torch.cuda.synchronize calls, the libraries alternating who goes first:
   "sampled" = rlkit `_learn(N)` vs SB3 `train(N, 32)`: replay sampling, host-to-device
   copy, TD target, gradient step (rlkit draws several batches at a time and computes their
   TD targets in one pass; SB3 draws one batch at a time and reads the loss every step);
   "compute" = one batch already on the device (rlkit: `_td_target` + `_gradient_step` per
   step; SB3: `train` with its buffer's `sample` returning that batch). Reported: median
   steps/s over the repeats and rlkit/SB3 ratios.
2. ppo: rlkit PPO on Pong (experiments/pong_ppo.toml, env.num_envs 16, the device) until its
   budget is spent, no periodic evaluation; the training-return curve (TensorBoard
   train/episode_return, and the mean of the last 100 training episodes against wall time),
   the wall time to a 100-episode mean of +18 (None when not reached), best mean, steps/s.
3. alphazero: one iteration (self-play, training, arena) of
   experiments/connect_four_alphazero.toml on the device, self-play in this process by default
   (--az-workers): self-play games/s, training steps/s, each phase's seconds.
4. ga: one Deep GA generation of experiments/frostbite_ga.toml with the processes backend and
   1, 4 and 16 workers (a population of --ga-evals-per-worker x workers, episodes cut at
   --ga-max-steps steps, one elite candidate re-evaluated once) on workers started and warmed
   up (one episode each) before the clock starts: evaluations/s, emulator frames/s and the
   scaling efficiency against 1 worker. Workers fork from a forkserver started at the outset
   with this script's imports, so 16 of them do not import torch 16 times at once.

A part that fails is recorded with its error and the next part runs; the exit code is 1 when
any part failed. DIR/gpu_check.json is rewritten after every part. --dry-run runs every part
for a few seconds on the CPU (tiny budgets, a few hundred env steps, 1 and 2 GA workers) so
that every code path runs without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import json
import math
import multiprocessing
import multiprocessing.forkserver
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlkit.agent import Transition
from rlkit.agents.dqn import DQNAgent, DQNConfig
from rlkit.agents.dqn.agent import Batch
from rlkit.agents.ga.backends import EvalTask, ProcessBackend
from rlkit.agents.ga.genome import Genome
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.experiment import Experiment, load_experiment
from rlkit.plot import read_scalars
from rlkit.training.runner import open_session, train
from rlkit.training.session import Session

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
PARTS = ("dqn", "ppo", "alphazero", "ga")
PONG_TARGET = 18.0
FORKSERVER_PRELOAD = [
    "rlkit.agents.alphazero.selfplay",
    "rlkit.agents.dqn",
    "rlkit.agents.ga.backends",
    "rlkit.plot",
    "rlkit.training.runner",
]
"""What the forkserver imports once, so that worker processes (forked from it) start without
importing torch each: this script's imports, which every worker repeats (it is __main__)."""
RECENT_EPISODES = 100
"""The PPO curve's return is the mean of the last (up to) this many training episodes."""
Result = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What one check runs: device, budgets in seconds and each part's sizes."""

    out: Path
    device: str
    dry_run: bool
    parts: tuple[str, ...]
    dqn_budget_s: float = 60.0
    ppo_budget_s: float = 190.0
    alphazero_budget_s: float = 60.0
    ga_budget_s: float = 110.0
    dqn_batch: int = 32
    dqn_replay: int = 10_000
    dqn_repeats: int = 5
    dqn_min_steps: int = 20
    ppo_envs: int = 16
    az_workers: int = 1
    """AlphaZero self-play processes (the experiment's 2 suit its 2-core CPU). One: self-play in
    this process, its leaves evaluated on the device; with more, the processes start inside the
    one timed iteration, so their start-up counts as self-play time."""
    ga_workers: tuple[int, ...] = (1, 4, 16)
    ga_evals_per_worker: int = 8
    ga_max_steps: int = 1_000

    def budget(self, part: str) -> float:
        """The part's time budget in seconds."""
        value: float = getattr(self, f"{part}_budget_s")
        return value


DRY_RUN = {
    "dqn_budget_s": 6.0,
    "ppo_budget_s": 6.0,
    "alphazero_budget_s": 10.0,
    "ga_budget_s": 20.0,
    "dqn_replay": 300,
    "dqn_repeats": 2,
    "dqn_min_steps": 2,
    "ppo_envs": 2,
    "ga_workers": (1, 2),
    "ga_evals_per_worker": 2,
    "ga_max_steps": 30,
}
"""Dry-run sizes: every code path for a few seconds on a CPU."""


# ---------------------------------------------------------------------------------------------
# Part 1: DQN gradient steps, rlkit vs SB3


def synchronize(device: str) -> None:
    """Wait for the device's queued kernels (a no-op on the CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed(run: Callable[[int], object], steps: int, device: str) -> float:
    """Seconds `run(steps)` takes, its device work included."""
    synchronize(device)
    start = time.perf_counter()
    run(steps)
    synchronize(device)
    return time.perf_counter() - start


def random_transitions(count: int, episode: int, seed: int) -> Iterator[Transition]:
    """`count` one-env transitions of random 84x84 frames stacked by 4, episodes of `episode`
    steps ending in a terminal step; the same stream for both libraries."""
    rng = np.random.default_rng(seed)
    stack: deque[np.ndarray] = deque(maxlen=4)
    for step in range(count):
        if step % episode == 0:
            first = rng.integers(0, 256, (84, 84), dtype=np.uint8)
            stack.extend([first] * 4)
        obs = np.stack(stack)
        stack.append(rng.integers(0, 256, (84, 84), dtype=np.uint8))
        yield Transition(
            obs=obs[None],
            action=rng.integers(4, size=1),
            reward=rng.choice(np.array([-1.0, 0.0, 1.0], dtype=np.float32), size=1),
            next_obs=np.stack(stack)[None],
            terminated=np.array([(step + 1) % episode == 0]),
            truncated=np.array([False]),
        )


def breakout_experiment(s: Settings) -> Experiment:
    """experiments/breakout_dqn.toml on the device, an uncompressed replay of the check's size."""
    overrides = [
        f"agent.device={s.device}",
        f"agent.batch_size={s.dqn_batch}",
        f"agent.replay.capacity={2 * s.dqn_replay}",
        "agent.replay.compress=false",
    ]
    return load_experiment(EXPERIMENTS / "breakout_dqn.toml", overrides)


def rlkit_dqn(exp: Experiment, transitions: Iterable[Transition]) -> DQNAgent:
    """rlkit's DQNAgent for Breakout's spaces, its replay filled through `observe`."""
    envs = make_vector_env(exp.env, 1)
    try:
        spec = env_spec(exp.env, envs)
    finally:
        envs.close()
    assert isinstance(exp.agent, DQNConfig)
    torch.manual_seed(exp.run.seed)
    agent = DQNAgent(exp.agent, spec, seed=exp.run.seed)
    for transition in transitions:
        agent.observe(transition)
    return agent


class FrameStackEnv(gym.Env[np.ndarray, np.int64]):
    """A do-nothing env with Breakout's spaces: SB3 only needs the spaces."""

    def __init__(self, observation_space: gym.Space[Any], action_space: gym.Space[Any]) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape or (), np.uint8), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return np.zeros(self.observation_space.shape or (), np.uint8), 0.0, False, False, {}


def sb3_dqn(
    exp: Experiment, agent: DQNAgent, transitions: Iterable[Transition], size: int, device: str
) -> Any:
    """SB3's DQN with the CNN policy (Nature CNN + linear head) and the same optimisation
    settings as rlkit's config, its replay buffer filled through `add`."""
    from stable_baselines3 import DQN
    from stable_baselines3.common.logger import configure

    c = exp.agent
    env = FrameStackEnv(agent.spec.observation_space, agent.spec.action_space)
    torch.manual_seed(exp.run.seed)
    model = DQN(
        "CnnPolicy",
        env,
        learning_rate=c.learning_rate,
        buffer_size=size,
        learning_starts=0,
        batch_size=c.batch_size,
        gamma=c.gamma,
        max_grad_norm=c.max_grad_norm,
        device=device,
        seed=exp.run.seed,
    )
    model.set_logger(configure(None, []))
    buffer = model.replay_buffer
    assert buffer is not None
    for t in transitions:
        done = t.terminated | t.truncated
        buffer.add(t.obs, t.next_obs, t.action, t.reward, done, [{}])
    return model


@contextlib.contextmanager
def fixed_sample(model: Any, batch: Any) -> Iterator[None]:
    """SB3's buffer hands out `batch` (already on the device) until the block ends."""
    model.replay_buffer.sample = lambda *args, **kwargs: batch
    try:
        yield
    finally:
        del model.replay_buffer.sample


def dqn_runners(agent: DQNAgent, model: Any, batch: int) -> dict[str, dict[str, Any]]:
    """Per variant and library: a function taking N gradient steps."""
    fixed: Batch = agent._sample(batch)
    sb3_fixed = model.replay_buffer.sample(batch)

    def rlkit_compute(steps: int) -> None:
        for _ in range(steps):
            agent._gradient_step(fixed, agent._td_target(fixed))

    def sb3_compute(steps: int) -> None:
        with fixed_sample(model, sb3_fixed):
            model.train(gradient_steps=steps, batch_size=batch)

    return {
        "sampled": {
            "rlkit": agent._learn,
            "sb3": lambda steps: model.train(gradient_steps=steps, batch_size=batch),
        },
        "compute": {"rlkit": rlkit_compute, "sb3": sb3_compute},
    }


def chunk_sizes(
    runners: dict[str, dict[str, Any]], s: Settings, seconds_left: float
) -> dict[str, int]:
    """Warm both libraries up and size each variant's chunks so that all the repeats fit."""
    chunk_s = 0.8 * max(seconds_left, 0.0) / (len(runners) * 2 * s.dqn_repeats)
    sizes = {}
    for variant, libs in runners.items():
        per_step = []
        for run in libs.values():
            timed(run, s.dqn_min_steps, s.device)  # first calls: cuDNN, allocator, optimizer state
            per_step.append(timed(run, s.dqn_min_steps, s.device) / s.dqn_min_steps)
        sizes[variant] = max(s.dqn_min_steps, int(chunk_s / statistics.mean(per_step)))
    return sizes


def dqn_summary(times: dict[str, dict[str, list[float]]], sizes: dict[str, int]) -> Result:
    """Median steps/s per library and variant, and the rlkit/SB3 ratios."""
    result: Result = {}
    for variant, libs in times.items():
        rates = {lib: [sizes[variant] / t for t in ts] for lib, ts in libs.items()}
        pairs = [r / b for r, b in zip(rates["rlkit"], rates["sb3"], strict=True)]
        result[variant] = {
            "steps_per_chunk": sizes[variant],
            "repeats": len(pairs),
            "rlkit_steps_per_s": statistics.median(rates["rlkit"]),
            "sb3_steps_per_s": statistics.median(rates["sb3"]),
            "ratio_rlkit_over_sb3": statistics.median(rates["rlkit"])
            / statistics.median(rates["sb3"]),
            "pairwise_ratio_median": statistics.median(pairs),
            "rlkit_steps_per_s_all": rates["rlkit"],
            "sb3_steps_per_s_all": rates["sb3"],
        }
    return result


def dqn_part(s: Settings, deadline: float) -> Result:
    """rlkit vs SB3 DQN gradient steps/s on one batch shape and one network."""
    exp = breakout_experiment(s)
    agent = rlkit_dqn(exp, random_transitions(s.dqn_replay, 100, exp.run.seed))
    same = random_transitions(s.dqn_replay, 100, exp.run.seed)
    model = sb3_dqn(exp, agent, same, s.dqn_replay, s.device)
    runners = dqn_runners(agent, model, s.dqn_batch)
    sizes = chunk_sizes(runners, s, deadline - time.perf_counter())
    times: dict[str, dict[str, list[float]]] = {v: {"rlkit": [], "sb3": []} for v in runners}
    for repeat in range(s.dqn_repeats):
        order = ("rlkit", "sb3") if repeat % 2 == 0 else ("sb3", "rlkit")
        for variant, libs in runners.items():
            for lib in order:
                times[variant][lib].append(timed(libs[lib], sizes[variant], s.device))
    return {
        "batch": [s.dqn_batch, *agent.spec.observation_space.shape],
        "actions": agent.num_actions,
        "rlkit_parameters": sum(p.numel() for p in agent.online.parameters()),
        "sb3_parameters": sum(p.numel() for p in model.q_net.parameters()),
        "replay_transitions": s.dqn_replay,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "torch_threads": torch.get_num_threads(),
        **dqn_summary(times, sizes),
    }


# ---------------------------------------------------------------------------------------------
# Part 2: PPO on Pong


class ReturnTracker:
    """Wraps the agent's `update`: samples the mean of the recent training episodes against
    wall time, notes when it first reaches the target, and ends training at the deadline by
    lowering run.total_steps to the step under way (the step loop then stops, saves and runs
    its final evaluation)."""

    def __init__(self, session: Session, deadline: float, target: float, every_s: float) -> None:
        self.session, self.deadline, self.target, self.every_s = session, deadline, target, every_s
        self.inner = session.agent.update
        self.num_envs = session.experiment.env.num_envs
        self.start: float | None = None
        self.last_sample = -math.inf
        self.last_episodes = 0
        self.points: list[tuple[int, float, int, float]] = []
        self.reached: tuple[float, int] | None = None
        session.agent.update = self.update  # type: ignore[method-assign]

    def update(self) -> dict[str, float]:
        """The agent's update, then the curve's sample and the deadline's check."""
        metrics = self.inner()
        now = time.perf_counter()
        if self.start is None:
            self.start = now
        counters, run = self.session.counters, self.session.experiment.run
        if counters.episodes > self.last_episodes and now - self.last_sample >= self.every_s:
            self.sample(now)
        if now >= self.deadline:
            run.total_steps = min(run.total_steps, counters.step + self.num_envs)
        return metrics

    def sample(self, now: float) -> None:
        """Record (step, wall s, episodes, mean of the last 100 training returns)."""
        assert self.session.logger is not None
        assert self.start is not None
        counters = self.session.counters
        mean = self.session.logger.mean_recent_return()
        wall = now - self.start
        self.points.append((counters.step, wall, counters.episodes, mean))
        self.last_sample, self.last_episodes = now, counters.episodes
        if self.reached is None and mean >= self.target and counters.episodes >= RECENT_EPISODES:
            self.reached = (wall, counters.step)

    def curve(self) -> dict[str, list[float]]:
        """The sampled curve, one list per column."""
        columns = ("step", "wall_s", "episodes", "mean_return_100")
        return {name: [p[i] for p in self.points] for i, name in enumerate(columns)}


def pong_experiment(s: Settings) -> Experiment:
    """experiments/pong_ppo.toml with the check's envs and device, evaluation only at the end."""
    overrides = [
        f"env.num_envs={s.ppo_envs}",
        f"agent.device={s.device}",
        "run.eval_every=0",
        "run.checkpoint_every=0",
        "run.final_eval_episodes=1",
        "run.eval_num_envs=1",
        "run.progress=false",
    ]
    if s.dry_run:  # a few hundred steps, episodes cut short so that some end
        overrides += [
            "agent.n_steps=16",
            "run.total_steps=400",
            "run.log_every=32",
            "env.max_episode_steps=40",
        ]
    return load_experiment(EXPERIMENTS / "pong_ppo.toml", overrides)


def fresh_dir(path: Path) -> Path:
    """`path`, emptied (a run directory of an earlier check in the same --out)."""
    if path.exists():
        shutil.rmtree(path)
    return path


def ppo_part(s: Settings, deadline: float) -> Result:
    """PPO on Pong until the budget (less the final evaluation's reserve) is spent."""
    exp = pong_experiment(s)
    run_dir = fresh_dir(s.out / "runs" / "pong_ppo")
    reserve = 2.0 if s.dry_run else 15.0
    with open_session(exp, run_dir) as session:
        tracker = ReturnTracker(session, deadline - reserve, PONG_TARGET, 0.0 if s.dry_run else 1.0)
        summary = session.run()
    steps, values = read_scalars(run_dir, "train/episode_return")
    curve = tracker.curve()
    means = [m for m in curve["mean_return_100"] if math.isfinite(m)]
    return {
        "num_envs": exp.env.num_envs,
        "steps": summary["steps"],
        "episodes": summary["episodes"],
        "train_wall_s": summary["wall_s"],
        "steps_per_s": summary["steps_per_second"],
        "best_mean_return_100": max(means) if means else None,
        "last_mean_return_100": means[-1] if means else None,
        f"reached_{PONG_TARGET:+.0f}_wall_s": tracker.reached[0] if tracker.reached else None,
        f"reached_{PONG_TARGET:+.0f}_step": tracker.reached[1] if tracker.reached else None,
        "final_eval_return": summary["final_eval"]["mean_return"],
        "curve": curve,
        "tensorboard_episode_return": {"step": steps.tolist(), "value": values.tolist()},
        "run_dir": str(run_dir),
    }


# ---------------------------------------------------------------------------------------------
# Part 3: AlphaZero on Connect Four


def alphazero_part(s: Settings, deadline: float) -> Result:
    """One AlphaZero iteration: self-play, training, arena; each phase's seconds and rates."""
    overrides = [
        f"agent.device={s.device}",
        "agent.iterations=1",
        "agent.eval_every=0",
        f"agent.workers={s.az_workers}",
        "run.final_eval_episodes=2",
        "run.progress=false",
    ]
    if s.dry_run:
        overrides += [
            "agent.games_per_iteration=2",
            "agent.concurrent_games=2",
            "agent.simulations=4",
            "agent.train_steps=3",
            "agent.batch_size=16",
            "agent.arena_games=2",
            "run.final_eval_episodes=1",
        ]
    exp = load_experiment(EXPERIMENTS / "connect_four_alphazero.toml", overrides)
    start = time.perf_counter()
    summary = train(exp, fresh_dir(s.out / "runs" / "connect_four_alphazero"))
    history = summary["history"][0]
    c = exp.agent
    return {
        "workers": c.workers,
        "games": c.games_per_iteration,
        "simulations": c.simulations,
        "positions": summary["steps"],
        "selfplay_s": history["time/selfplay_s"],
        "selfplay_games_per_s": history["selfplay/games_per_second"],
        "train_steps": c.train_steps,
        "train_s": history["time/train_s"],
        "train_steps_per_s": c.train_steps / history["time/train_s"],
        "arena_games": c.arena_games,
        "arena_s": history["time/arena_s"],
        "iteration_s": summary["wall_s"],
        "total_s_with_setup_and_final_eval": time.perf_counter() - start,
    }


# ---------------------------------------------------------------------------------------------
# Part 4: Deep GA on Frostbite


def warm_backend(exp: Experiment, workers: int) -> ProcessBackend:
    """`workers` started processes, each having played one episode (imports, env, network)."""
    backend = ProcessBackend(exp.to_dict(), workers)
    try:
        tasks = [EvalTask(i, Genome(i), 1, i) for i in range(workers)]
        backend.evaluate(tasks, lambda: None)
    except BaseException:
        backend.close()
        raise
    return backend


def ga_generation(s: Settings, workers: int) -> Result:
    """One generation on `workers` warm processes; its throughput."""
    population = max(2, s.ga_evals_per_worker * workers)
    overrides = [
        "agent.generations=1",
        f"agent.population={population}",
        f"agent.truncation={min(20, population)}",
        "agent.elite_candidates=1",
        "agent.elite_episodes=1",
        'agent.backend="processes"',
        f"agent.workers={workers}",
        f"env.max_episode_steps={s.ga_max_steps}",
        "run.eval_episodes=1",
        "run.final_eval_episodes=1",
        "run.progress=false",
    ]
    exp = load_experiment(EXPERIMENTS / "frostbite_ga.toml", overrides)
    start = time.perf_counter()
    backend = warm_backend(exp, workers)
    startup = time.perf_counter() - start
    run_dir = fresh_dir(s.out / "runs" / f"frostbite_ga_w{workers}")
    with open_session(exp, run_dir, backend=backend) as session:  # the loop closes the backend
        summary = session.run()
    seconds = summary["wall_s"]
    return {
        "population": population,
        "evaluations": summary["fitness_evaluations"],
        "episodes": summary["episodes"],
        "frames": summary["steps"],
        "generation_s": seconds,
        "evaluations_per_s": summary["fitness_evaluations"] / seconds,
        "frames_per_s": summary["steps"] / seconds,
        "startup_s": startup,
        "total_s": time.perf_counter() - start,
    }


def ga_part(s: Settings, deadline: float) -> Result:
    """A generation per worker count; the next is skipped once the budget is spent."""
    result: Result = {"max_episode_steps": s.ga_max_steps, "cpu_count": os.cpu_count()}
    for workers in s.ga_workers:
        if time.perf_counter() >= deadline:
            result[f"workers_{workers}"] = {"skipped": "the part's budget was spent"}
            continue
        result[f"workers_{workers}"] = ga_generation(s, workers)
    base = result.get(f"workers_{s.ga_workers[0]}", {}).get("evaluations_per_s")
    for workers in s.ga_workers:
        entry = result[f"workers_{workers}"]
        if base and "evaluations_per_s" in entry:
            scale = workers / s.ga_workers[0]
            entry["scaling_efficiency"] = entry["evaluations_per_s"] / (scale * base)
    return result


# ---------------------------------------------------------------------------------------------
# The check: machine, parts, reports

PART_FUNCTIONS: dict[str, Callable[[Settings, float], Result]] = {
    "dqn": dqn_part,
    "ppo": ppo_part,
    "alphazero": alphazero_part,
    "ga": ga_part,
}


def git_commit() -> str:
    """The repository's HEAD commit, or "unknown"."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def machine() -> Result:
    """GPU, CPUs and library versions."""
    cuda = torch.cuda.is_available()
    return {
        "gpu": torch.cuda.get_device_name(0) if cuda else "none",
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_part(name: str, s: Settings) -> Result:
    """One part with its error caught: ok, seconds, budget and results or the error."""
    budget = s.budget(name)
    start = time.perf_counter()
    print(f"gpu_check: {name} (budget {budget:.0f} s) ...", flush=True)
    try:
        results = PART_FUNCTIONS[name](s, start + budget)
        entry: Result = {"ok": True, "results": results}
    except Exception as exc:
        entry = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        entry["traceback"] = traceback.format_exc()
        print(entry["traceback"], file=sys.stderr, flush=True)
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    seconds = time.perf_counter() - start
    entry.update(seconds=seconds, budget_s=budget, over_budget=seconds > budget)
    status = "ok" if entry["ok"] else f"FAILED ({entry['error']})"
    print(f"gpu_check: {name} {status} in {seconds:.1f} s", flush=True)
    return entry


def markdown(report: Result) -> str:
    """One table: the machine, then every part's scalar results (curves stay in the JSON)."""
    rows = [("check", "date", report["date"]), ("check", "commit", report["commit"])]
    rows += [("check", "device", report["device"]), ("check", "dry_run", report["dry_run"])]
    rows += [("machine", key, value) for key, value in report["machine"].items()]
    for name, entry in report["parts"].items():
        rows += [(name, "ok", entry["ok"]), (name, "seconds", entry["seconds"])]
        rows.append((name, "budget_s", entry["budget_s"]))
        if not entry["ok"]:
            rows.append((name, "error", entry["error"]))
            continue
        rows += [(name, key, value) for key, value in flatten(entry["results"])]
    lines = ["| part | measure | value |", "| --- | --- | --- |"]
    lines += [f"| {part} | {key} | {cell(value)} |" for part, key, value in rows]
    title = f"# rlkit GPU check, {report['machine']['gpu']}, {report['date']}"
    return f"{title}\n\n" + "\n".join(lines) + "\n"


def flatten(results: Result, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every scalar, and of short lists of numbers as one cell; curves
    and other long lists stay in the JSON."""
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}.")
        elif isinstance(value, list):
            if not value or not isinstance(value[0], (int, float)) or len(value) > 12:
                continue
            yield name, ", ".join(cell(v) for v in value)
        else:
            yield name, value


def cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None as "-", pipes escaped."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_reports(report: Result, out: Path) -> None:
    """DIR/gpu_check.json and DIR/gpu_check.md."""
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; sizes left unset take the full or the dry-run defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    parser.add_argument("--dry-run", action="store_true", help="every part briefly on the CPU")
    parser.add_argument("--device", default="cuda", help="torch device (dry run: cpu)")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset")
    parser.add_argument("--max-total-s", type=float, default=480.0, help="cap on the budgets")
    for field in dataclasses.fields(Settings):
        if field.name in ("out", "device", "dry_run", "parts", "ga_workers"):
            continue
        kind = int if field.type == "int" else float
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=kind, default=None, help=f"default: {field.default}")
    parser.add_argument("--ga-workers", type=int, nargs="+", default=None, help="default: 1 4 16")
    args = parser.parse_args(argv)
    unknown = [p for p in part_names(args.parts) if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return args


def part_names(text: str) -> tuple[str, ...]:
    """The parts named in a comma-separated list."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the command line, dry-run sizes under explicit values."""
    parts = part_names(args.parts)
    values: dict[str, Any] = dict(DRY_RUN) if args.dry_run else {}
    for field in dataclasses.fields(Settings):
        given = getattr(args, field.name, None)
        if given is not None and field.name not in ("out", "device", "dry_run", "parts"):
            values[field.name] = tuple(given) if field.name == "ga_workers" else given
    device = "cpu" if args.dry_run else args.device
    return Settings(out=args.out, device=device, dry_run=args.dry_run, parts=parts, **values)


def start_forkserver() -> None:
    """Start the forkserver now with this script's imports, so that it imports them while the
    first parts run (workers of the GA and of AlphaZero are forked from it)."""
    multiprocessing.set_forkserver_preload(FORKSERVER_PRELOAD)
    if "forkserver" in multiprocessing.get_all_start_methods():
        multiprocessing.forkserver.ensure_running()


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 when every part succeeded, 1 when one failed, 2 without a GPU."""
    args = parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print(
            "gpu_check: needs a CUDA GPU (torch.cuda.is_available() is False); "
            "--dry-run runs every part briefly on the CPU",
            file=sys.stderr,
        )
        return 2
    s = settings_from(args)
    total = sum(s.budget(p) for p in s.parts)
    if total > args.max_total_s:
        limit = args.max_total_s
        print(
            f"gpu_check: budgets sum to {total:.0f} s > --max-total-s {limit:.0f}", file=sys.stderr
        )
        return 2
    s.out.mkdir(parents=True, exist_ok=True)
    if "ga" in s.parts or ("alphazero" in s.parts and s.az_workers > 1):
        start_forkserver()
    report: Result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "device": s.device,
        "dry_run": s.dry_run,
        "machine": machine(),
        "settings": {k: v for k, v in dataclasses.asdict(s).items() if k != "out"},
        "parts": {},
    }
    start = time.perf_counter()
    for name in s.parts:
        report["parts"][name] = run_part(name, s)
        report["total_s"] = time.perf_counter() - start
        write_reports(report, s.out)
    failed = [name for name, entry in report["parts"].items() if not entry["ok"]]
    report["failed"] = failed
    write_reports(report, s.out)
    print(f"gpu_check: {report['total_s']:.1f} s; reports in {s.out}; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
