"""MinAtar learning curves: rlkit vs Stable-Baselines3, DQN and PPO with the same settings.

For each algorithm (dqn, ppo), game (Breakout, SpaceInvaders) and seed, both libraries train on
MinAtar/<Game>-v1 (minimal action set, sticky actions 0.1, difficulty ramping) with the settings
of rlkit's experiment file experiments/minatar_<game>_<algo>.toml, in one process: who goes first
alternates by seed (sb3_common.run_alternating), both on the CPU with the same torch thread count
(--threads, default 1).

DQN (the MinAtar paper's): the conv trunk 16@3x3 stride 1 -> 128 -> |A| (SB3: a features
extractor with the same layers, channel-last bool grids permuted to channels-first floats, and
net_arch=[] so the Q head is one linear layer), centred RMSprop with rlkit's own optimizer
settings (lr 2.5e-4, alpha 0.95, eps 0.01, read from rlkit's make_optimizer), buffer 100k,
learning_starts 5,000, batch 32, one gradient step per env step, hard target update every 1,000
steps, epsilon 1.0 -> 0.1 linearly over the first 100,000 steps (SB3: exploration_fraction =
100,000 / budget), gamma 0.99, Huber loss. rlkit does not clip the gradient (max_grad_norm 0);
SB3's DQN always clips, so it gets max_grad_norm 1e10, which never binds.

PPO (purejaxrl's MinAtar settings): the same conv trunk shared by a linear policy head and a
linear value head (SB3: share_features_extractor=True, net_arch=[]), orthogonal init (gains
sqrt 2, 0.01, 1 on both sides), 8 envs (rlkit: a same-step-autoreset SyncVectorEnv; SB3: a
DummyVecEnv) x 128 steps, 4 epochs of 8 minibatches (SB3 batch_size 128), gamma 0.99, GAE lambda
0.95, clip 0.2, entropy 0.01, value coefficient 0.25 on the plain mean squared error (SB3's
vf_coef multiplies F.mse_loss, no 1/2: the same objective), max_grad_norm 0.5, Adam eps 1e-5 at
lr 5e-4 annealed linearly to 0 over the run (rlkit: agent.lr_decay_steps = the budget; SB3: a
linear schedule in progress_remaining). The budget and the evaluation interval are rounded up
to whole rollouts of 1,024 steps, so both evaluate right after the same update.

Learning curves: a greedy evaluation (--eval-episodes, default 10) before training, every
--eval-every env steps and at the end, on a separate env whose episode i is reset with seed +
10,000 + i for both libraries (sb3_common.greedy_returns). rlkit runs its own step loop
(rlkit.training.steps.StepLoop) with that evaluation in place of its own; SB3 evaluates in a
callback at the start of a rollout, i.e. after the gradient steps on the steps so far, as rlkit
evaluates after its update. The seconds axis is the training wall time alone: each side's clock
(rlkit: the run's wall_s, its step loop; SB3: from the callback's on_training_start to the end
of learn) minus the time spent in these evaluations.

Written to --out-dir (default runs/bench_minatar_learning, ignored by git): curves.csv (lib,
algo, game, seed, step, train_seconds, mean_return, std_return), rewritten after every run, and
curves.png: one row per algo x game, return vs env steps and vs training seconds, one line per
library, the mean over seeds with a min-max band (x on the seconds axis: the mean over seeds of
the training time at that evaluation). rlkit.plot draws TensorBoard runs, not CSV curves, so the
figure is drawn here with matplotlib in rlkit.plot's style; its moving_average smooths the
lines when --smooth > 1. Printed: per case the per-seed table and the SB3_time / rlkit_time
ratio; at the end per game/algo/library the final return (mean ± std over seeds), training time,
env steps/s and the time ratio.

Denormal floats: rlkit's runner flushes them to zero (run.flush_denormal), torch and SB3 do not;
SB3 runs as shipped unless --sb3-flush-denormal.

Deviations that remain: SB3's DQN acts uniformly at random for its first learning_starts steps,
rlkit acts epsilon-greedily (epsilon 1.0 -> 0.955 over those steps); SB3 starts its gradient
steps at step learning_starts + 1, rlkit at learning_starts, and SB3 copies the target network
before the gradient step of every 1,000th step, rlkit after it. SB3's clipping at 1e10 still
computes the gradient norm (a small cost rlkit skips). MinAtar games have no time limit, so an
evaluation episode lasts as long as the policy survives.

--quick (a smoke test): 3,000 steps per case (PPO: 3,072), DQN's learning_starts 500 and epsilon
annealed over 1,000 steps (rlkit overrides that SB3 follows), 2 episodes every 1,000 steps (PPO:
1,024).

    python experiments/benchmarks/bench_minatar_learning.py --quick --games Breakout --algos dqn
    python experiments/benchmarks/bench_minatar_learning.py --seeds 0 1 2
    python experiments/benchmarks/bench_minatar_learning.py --steps dqn=500000 ppo=2000000
    python experiments/benchmarks/bench_minatar_learning.py --replot   # redraw curves.png
    python experiments/benchmarks/bench_minatar_learning.py --libs sb3 --algos dqn \
        --games Breakout --steps 20000 --eval-every 5000 --eval-episodes 2   # one library's speed
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from sb3_common import (
    LIBS,
    Row,
    add_learning_options,
    greedy_returns,
    parse_steps,
    print_rows,
    print_speed_ratio,
    run_alternating,
    sb3_evaluate,
    sb3_ppo_kwargs,
    training_only_overrides,
)
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from rlkit.agents.dqn.optimizer import make_optimizer
from rlkit.envs import minatar
from rlkit.envs.factory import EnvConfig
from rlkit.evaluation import EvalResult
from rlkit.experiment import Experiment, load_experiment
from rlkit.nn.networks import MinAtarCNN
from rlkit.plot import moving_average
from rlkit.training.runner import training_loop_class
from rlkit.training.session import Session, StopFlag
from rlkit.training.steps import StepLoop

EXPERIMENTS = Path(__file__).resolve().parents[1]
GAMES = ("Breakout", "SpaceInvaders")
ALGOS = ("dqn", "ppo")
DEFAULT_STEPS = {"dqn": 1_000_000, "ppo": 1_000_000}
NO_CLIP = 1e10
"""SB3's max_grad_norm for rlkit's max_grad_norm = 0 (no clipping): SB3 always clips."""
QUICK = {
    "dqn": ["agent.learning_starts=500", "agent.epsilon.steps=1000"],
    "ppo": [],
}
"""--quick: rlkit overrides (SB3 reads the same values) so a few thousand steps learn a little."""
COLUMNS = ("lib", "algo", "game", "seed", "step", "train_seconds", "mean_return", "std_return")


@dataclass(frozen=True)
class Case:
    """One algorithm on one game: the rlkit experiment, the budget and the evaluation plan."""

    algo: str
    game: str
    steps: int
    """Env steps (whole rollouts for PPO)."""
    eval_every: int
    """Env steps between evaluations (whole rollouts for PPO)."""
    episodes: int
    """Greedy episodes per evaluation."""
    extra: tuple[str, ...] = ()
    """Further rlkit overrides (--quick's), which SB3 follows too."""

    @property
    def path(self) -> Path:
        return EXPERIMENTS / f"minatar_{self.game.lower()}_{self.algo}.toml"

    @property
    def env_id(self) -> str:
        return f"MinAtar/{self.game}-v1"


@dataclass(frozen=True)
class Point:
    """One greedy evaluation of a learning curve."""

    step: int
    train_seconds: float
    mean_return: float
    std_return: float


@dataclass
class Curve:
    """One training run's learning curve and training wall time (evaluations excluded)."""

    lib: str
    algo: str
    game: str
    seed: int
    points: list[Point] = field(default_factory=list)


def rollout_size(path: Path) -> int:
    """Env steps per PPO update (n_steps * num_envs); 1 for DQN (one step per rollout)."""
    experiment = load_experiment(path)
    if experiment.agent_name != "ppo":
        return 1
    return int(experiment.agent.n_steps * experiment.env.num_envs)


def round_up(value: int, unit: int) -> int:
    """`value` rounded up to a multiple of `unit`."""
    return math.ceil(value / unit) * unit


def make_case(
    algo: str, game: str, steps: int, eval_every: int, episodes: int, quick: bool
) -> Case:
    """The case with its budget and evaluation interval in whole rollouts."""
    path = EXPERIMENTS / f"minatar_{game.lower()}_{algo}.toml"
    unit = rollout_size(path)
    extra = tuple(QUICK[algo]) if quick else ()
    return Case(algo, game, round_up(steps, unit), round_up(eval_every, unit), episodes, extra)


def rlkit_experiment(case: Case, seed: int, threads: int) -> Experiment:
    """The case's rlkit experiment for one run: its budget, seed, CPU and thread count, the
    evaluation interval, and an annealed learning rate or clip range annealed over the budget."""
    torch.set_num_threads(threads)  # training_only_overrides reads the thread count
    overrides = training_only_overrides(seed, case.steps, 1)
    overrides += [f"run.eval_every={case.eval_every}", *case.extra]
    agent = load_experiment(case.path).agent
    for name in ("lr_decay_steps", "clip_decay_steps"):
        if getattr(agent, name, 0):
            overrides.append(f"agent.{name}={case.steps}")
    experiment = load_experiment(case.path, overrides)
    if experiment.agent_name != case.algo or experiment.env.id != case.env_id:
        raise SystemExit(f"{case.path}: expected {case.algo} on {case.env_id}")
    return experiment


class CurveLoop(StepLoop):
    """rlkit's step loop with the benchmark's evaluation in place of its own: greedy episodes
    on the same seeded env as SB3's, before training, every run.eval_every steps and at the
    end, each recorded with the training time so far (the loop's wall_s less earlier
    evaluations)."""

    def __init__(self, session: Session, curve: Curve, env_id: str, episodes: int) -> None:
        super().__init__(session)
        self.curve, self.env_id, self.episodes = curve, env_id, episodes
        self.eval_seconds = 0.0

    def train(self, stop: StopFlag) -> None:
        self.record(in_loop=False)  # step 0, before the loop's clock starts
        super().train(stop)

    def _evaluate(self, episodes: int, final: bool) -> EvalResult:
        """The loop's periodic (and the session's final) evaluation: the benchmark's."""
        if not final:
            self.session.counters.evaluations += 1
        return self.record(in_loop=not final)

    def record(self, in_loop: bool) -> EvalResult:
        """Evaluate, and record the point; an evaluation `in_loop` runs on the loop's clock,
        so its time is taken off the training time of every later point."""
        counters, start = self.session.counters, time.perf_counter()
        returns = greedy_returns(
            lambda obs: self.agent.act(obs[None], explore=False)[0],
            self.env_id,
            self.episodes,
            self.curve.seed,
        )
        mean, std = float(np.mean(returns)), float(np.std(returns))
        self.curve.points.append(
            Point(counters.step, counters.wall_s - self.eval_seconds, mean, std)
        )
        self.agent.attach(self.envs)  # as StepLoop._evaluate: acting resumes on the training envs
        if in_loop:
            self.eval_seconds += time.perf_counter() - start
        return EvalResult(len(returns), mean, std, mean_length=float("nan"))  # lengths unused


def run_rlkit(case: Case, seed: int, threads: int) -> tuple[Curve, dict[str, float]]:
    """One rlkit training run of the case: its curve and its timings."""
    experiment = rlkit_experiment(case, seed, threads)
    if training_loop_class(experiment.agent_name) is not StepLoop:
        raise SystemExit(f"{experiment.agent_name} has its own training loop")
    curve = Curve("rlkit", case.algo, case.game, seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        options = {"curve": curve, "env_id": case.env_id, "episodes": case.episodes}
        with Session(experiment, Path(tmp) / "run", None, CurveLoop, **options) as session:
            summary = session.run()
    return curve, timings(curve, summary["steps"], time.perf_counter() - start)


def timings(curve: Curve, steps: int, total_s: float) -> dict[str, float]:
    """A run's row for sb3_common.print_rows: training time (evaluations excluded), total
    time, steps and the final evaluation."""
    last = curve.points[-1]
    return {
        "train_s": last.train_seconds,
        "total_s": total_s,
        "steps": float(steps),
        "eval_mean": last.mean_return,
        "eval_std": last.std_return,
    }


class MinAtarExtractor(BaseFeaturesExtractor):
    """rlkit's MinAtarCNN as an SB3 features extractor: conv 16@3x3 stride 1 without padding,
    ReLU, flatten, linear to `features_dim`, ReLU, on channel-last grids moved channels first."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 128) -> None:
        super().__init__(observation_space, features_dim)
        height, width, channels = observation_space.shape
        self.conv = nn.Sequential(nn.Conv2d(channels, 16, 3, stride=1), nn.ReLU(), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(16 * (height - 2) * (width - 2), features_dim), nn.ReLU())
        reference = MinAtarCNN(height, width, channels, features_dim)
        shapes = [p.shape for p in self.parameters()]
        if shapes != [p.shape for p in reference.parameters()]:
            raise SystemExit(f"SB3 extractor {shapes} differs from rlkit's MinAtarCNN")

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.conv(observations.permute(0, 3, 1, 2).float()))
        return out


def require(name: str, checks: dict[str, bool]) -> None:
    """Stop unless every setting SB3 is built to match holds in the rlkit experiment."""
    if not all(checks.values()):
        failed = [key for key, ok in checks.items() if not ok]
        raise SystemExit(f"{name}: SB3 cannot match rlkit's settings: {', '.join(failed)}")


def sb3_envs(env: EnvConfig, seed: int) -> VecEnv:
    """SB3's vector env of the experiment's game, with its time limit."""
    limit = {} if env.max_episode_steps is None else {"max_episode_steps": env.max_episode_steps}
    return make_vec_env(env.id, n_envs=env.num_envs, seed=seed, env_kwargs=limit)


def sb3_dqn(experiment: Experiment, seed: int, steps: int) -> DQN:
    """SB3 DQN with the settings of the rlkit experiment."""
    a = experiment.agent
    require(
        experiment.name,
        {
            "minatar_cnn": a.network == "minatar_cnn",
            "plain DQN": not a.double and not a.dueling and a.head_hidden == 0,
            "rmsprop": a.optimizer == "rmsprop",
            "huber": a.loss == "huber",
            "uniform 1-step replay": not a.replay.prioritized and a.replay.n_step == 1,
            "linear epsilon from 0": a.epsilon.kind == "linear" and a.epsilon.delay == 0,
            "greedy evaluation": a.eval_epsilon == 0.0,
            "one env": experiment.env.num_envs == 1,
        },
    )
    # rlkit's own RMSprop settings (alpha, eps, centred, ...), so SB3 gets exactly those
    reference = make_optimizer(
        torch.zeros(1), a.optimizer, a.learning_rate, a.optimizer_eps, a.rmsprop_centered
    ).defaults
    optimizer_kwargs = {k: reference[k] for k in ("alpha", "eps", "centered", "momentum")}
    return DQN(
        "CnnPolicy",
        sb3_envs(experiment.env, seed),
        learning_rate=a.learning_rate,
        buffer_size=a.replay.capacity,
        learning_starts=a.learning_starts,
        batch_size=a.batch_size,
        tau=a.tau,
        gamma=a.gamma,
        train_freq=(a.train_frequency, "step"),
        gradient_steps=a.gradient_steps,
        target_update_interval=a.target_update_interval,
        exploration_fraction=a.epsilon.steps / steps,
        exploration_initial_eps=a.epsilon.start,
        exploration_final_eps=a.epsilon.end,
        max_grad_norm=a.max_grad_norm or NO_CLIP,
        policy_kwargs={
            "features_extractor_class": MinAtarExtractor,
            "net_arch": [],
            "optimizer_class": torch.optim.RMSprop,
            "optimizer_kwargs": optimizer_kwargs,
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )


def sb3_ppo(experiment: Experiment, seed: int, steps: int) -> PPO:
    """SB3 PPO with the settings of the rlkit experiment."""
    a, env = experiment.agent, experiment.env
    require(
        experiment.name,
        {
            "minatar_cnn": a.network == "minatar_cnn",
            "shared trunk": a.shared_trunk,
            "adam": a.optimizer == "adam",
            "no normalisation": not (a.normalize_observations or a.normalize_rewards),
        },
    )
    return PPO(
        "CnnPolicy",
        sb3_envs(env, seed),
        **{**sb3_ppo_kwargs(a, env.num_envs, steps), "max_grad_norm": a.max_grad_norm or NO_CLIP},
        policy_kwargs={
            "features_extractor_class": MinAtarExtractor,
            "net_arch": [],
            "share_features_extractor": True,
            "ortho_init": a.orthogonal_init,
            "optimizer_kwargs": {"eps": a.optimizer_eps},
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )


class CurveCallback(BaseCallback):
    """Greedy evaluations of the model at step 0 and every `eval_every` steps, at the start of
    a rollout (after the gradient steps on the steps so far); the clock starts at
    on_training_start and the evaluations' time is left out of it."""

    def __init__(self, case: Case, curve: Curve) -> None:
        super().__init__()
        self.case, self.curve = case, curve
        self.next_eval, self.start, self.eval_seconds = 0, 0.0, 0.0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_rollout_start(self) -> None:
        step = self.model.num_timesteps
        if step >= self.next_eval and step < self.case.steps:
            self.evaluate()
            self.next_eval = (step // self.case.eval_every + 1) * self.case.eval_every

    def _on_step(self) -> bool:
        return True

    def evaluate(self) -> None:
        """Record one greedy evaluation at the model's current step."""
        now = time.perf_counter()
        returns = sb3_evaluate(self.model, self.case.episodes, self.curve.seed, self.case.env_id)
        train_seconds = now - self.start - self.eval_seconds
        self.curve.points.append(
            Point(
                self.model.num_timesteps,
                train_seconds,
                float(np.mean(returns)),
                float(np.std(returns)),
            )
        )
        self.eval_seconds += time.perf_counter() - now


def run_sb3(
    case: Case, seed: int, threads: int, flush_denormal: bool
) -> tuple[Curve, dict[str, float]]:
    """One SB3 training run of the case: its curve and its timings."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(flush_denormal)  # an rlkit run earlier in the process sets it
    experiment = rlkit_experiment(case, seed, threads)
    builders: dict[str, Callable[[Experiment, int, int], BaseAlgorithm]] = {
        "dqn": sb3_dqn,
        "ppo": sb3_ppo,
    }
    curve = Curve("sb3", case.algo, case.game, seed)
    start = time.perf_counter()
    model = builders[case.algo](experiment, seed, case.steps)
    callback = CurveCallback(case, curve)
    model.learn(total_timesteps=case.steps, callback=callback)
    callback.evaluate()  # the final policy
    return curve, timings(curve, model.num_timesteps, time.perf_counter() - start)


def run_case(case: Case, args: argparse.Namespace, curves: list[Curve]) -> list[Row]:
    """Both libraries (or those of --libs) on every seed of the case, alternating who goes
    first; their curves join `curves` (and the CSV) as each run ends."""

    def runner(lib: str) -> Callable[[int, int, int], dict[str, float]]:
        def run(seed: int, steps: int, episodes: int) -> dict[str, float]:
            if lib == "rlkit":
                curve, row = run_rlkit(case, seed, args.threads)
            else:
                curve, row = run_sb3(case, seed, args.threads, args.sb3_flush_denormal)
            curves.append(curve)
            write_csv(curves, args.out_dir / "curves.csv")
            print(
                f"  {lib:<6}seed {seed}: {row['train_s']:.1f} s training, "
                f"final return {row['eval_mean']:.2f}",
                flush=True,
            )
            return row

        return run

    if set(args.libs) == set(LIBS):
        runners = {lib: runner(lib) for lib in LIBS}
        return run_alternating(runners, args.seeds, args.threads, case.steps, case.episodes)
    (lib,) = set(args.libs)
    return [(lib, seed, runner(lib)(seed, case.steps, case.episodes)) for seed in args.seeds]


def write_csv(curves: Sequence[Curve], path: Path) -> None:
    """Every curve's points, one row each (COLUMNS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for c in curves:
            for p in c.points:
                numbers = (f"{p.train_seconds:.3f}", f"{p.mean_return:.4f}", f"{p.std_return:.4f}")
                writer.writerow([c.lib, c.algo, c.game, c.seed, p.step, *numbers])


def read_csv(path: Path) -> list[Curve]:
    """The curves of a CSV written by write_csv."""
    curves: dict[tuple[str, str, str, int], Curve] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["lib"], row["algo"], row["game"], int(row["seed"]))
            curve = curves.setdefault(key, Curve(*key))
            curve.points.append(
                Point(
                    int(row["step"]),
                    float(row["train_seconds"]),
                    float(row["mean_return"]),
                    float(row["std_return"]),
                )
            )
    return list(curves.values())


def seed_statistics(curves: Sequence[Curve]) -> dict[str, np.ndarray]:
    """Per evaluation step shared by all the curves: the step, the mean training time, and the
    mean, min and max return over the curves (seeds)."""
    steps = sorted(set.intersection(*({p.step for p in c.points} for c in curves)))
    rows = [{p.step: p for p in c.points} for c in curves]
    seconds = np.array([[r[s].train_seconds for s in steps] for r in rows])
    returns = np.array([[r[s].mean_return for s in steps] for r in rows])
    return {
        "step": np.array(steps),
        "seconds": seconds.mean(axis=0),
        "mean": returns.mean(axis=0),
        "min": returns.min(axis=0),
        "max": returns.max(axis=0),
    }


def plot_curves(
    curves: Sequence[Curve],
    out: Path,
    smooth: int = 1,
    measure: str = "greedy return",
    ylabel: str = "mean return (min-max over seeds)",
    prefix: str = "MinAtar ",
) -> Path:
    """One row per algo x game, columns `measure` vs env steps and vs training seconds; one line
    per library (mean over seeds) with a min-max band over seeds; a PNG at `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(c.algo, c.game) for c in curves})
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(12, 4 * len(panels)), squeeze=False, sharey="row"
    )
    for (algo, game), row in zip(panels, axes, strict=True):
        for color, lib in zip(("C0", "C1"), LIBS, strict=True):
            mine = [c for c in curves if (c.lib, c.algo, c.game) == (lib, algo, game)]
            if not mine:
                continue
            stats = seed_statistics(mine)
            label = f"{lib} ({len(mine)} seed{'s' if len(mine) > 1 else ''})"
            for ax, x in zip(row, (stats["step"], stats["seconds"]), strict=True):
                ax.plot(x, moving_average(stats["mean"], smooth), color=color, label=label)
                low, high = (
                    moving_average(stats["min"], smooth),
                    moving_average(stats["max"], smooth),
                )
                ax.fill_between(x, low, high, color=color, alpha=0.2)
        for ax, xlabel in zip(row, ("environment steps", "training seconds"), strict=True):
            ax.set_title(f"{prefix}{game} {algo.upper()}: {measure} vs {xlabel}")
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
        row[0].set_ylabel(ylabel)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def late_speed(curve: Curve) -> float:
    """Env steps/s of training over the second half of a run: from the first evaluation at or
    past half the budget to the last (the steady state, past DQN's learning_starts)."""
    last = curve.points[-1]
    first = next(p for p in curve.points if 2 * p.step >= last.step)
    if first is last:
        first = curve.points[0]
    return (last.step - first.step) / max(last.train_seconds - first.train_seconds, 1e-9)


def print_summary(curves: Sequence[Curve]) -> None:
    """Per game, algo and library: final return (mean ± std over seeds), training time, env
    steps/s over the run and over its second half (means over seeds), and the mean per-seed
    ratio SB3_time / rlkit_time."""
    print(
        f"\n{'game':<14}{'algo':<5}{'lib':<6}{'seeds':>6}{'final return':>18}"
        f"{'train_s':>10}{'steps/s':>9}{'late steps/s':>14}{'SB3/rlkit time':>16}"
    )
    for algo, game in sorted({(c.algo, c.game) for c in curves}):
        times: dict[str, dict[int, float]] = {}
        for lib in LIBS:
            mine = [c for c in curves if (c.lib, c.algo, c.game) == (lib, algo, game)]
            if not mine:
                continue
            finals = [c.points[-1] for c in mine]
            times[lib] = {c.seed: p.train_seconds for c, p in zip(mine, finals, strict=True)}
            returns = [p.mean_return for p in finals]
            spread = statistics.stdev(returns) if len(returns) > 1 else 0.0
            print(
                f"{game:<14}{algo:<5}{lib:<6}{len(mine):>6}"
                f"{statistics.mean(returns):>10.2f} ± {spread:<5.2f}"
                f"{statistics.mean(times[lib].values()):>10.1f}"
                f"{statistics.mean(p.step / p.train_seconds for p in finals):>9.0f}"
                f"{statistics.mean(late_speed(c) for c in mine):>14.0f}"
                f"{time_ratio(times) if lib == 'sb3' else '':>16}"
            )
    print("(SB3/rlkit time > 1: rlkit trains faster)")


def time_ratio(times: dict[str, dict[int, float]]) -> str:
    """The mean over the seeds both libraries ran of SB3_time / rlkit_time ('' if none)."""
    seeds = sorted(set(times.get("rlkit", {})) & set(times.get("sb3", {})))
    if not seeds:
        return ""
    return f"{statistics.mean(times['sb3'][s] / times['rlkit'][s] for s in seeds):.2f}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", choices=GAMES, default=list(GAMES))
    add_learning_options(parser, ALGOS, "N or dqn=N ppo=M (default 1,000,000 each)")
    parser.add_argument("--eval-every", type=int, default=50_000, help="env steps")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/bench_minatar_learning"))
    parser.add_argument("--smooth", type=int, default=1, help="moving average of the plot")
    parser.add_argument(
        "--quick", action="store_true", help="~3,000 steps per case, 2 episodes every ~1,000"
    )
    parser.add_argument("--replot", action="store_true", help="redraw OUT_DIR/curves.csv only")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    csv_path, png_path = args.out_dir / "curves.csv", args.out_dir / "curves.png"
    if args.replot:
        saved = read_csv(csv_path)
        print_summary(saved)
        print(f"wrote {plot_curves(saved, png_path, args.smooth)}")
        return
    minatar.register()  # MinAtar/<Game>-v1 for SB3's and the evaluations' gym.make
    budgets = parse_steps(args.steps, DEFAULT_STEPS)
    if args.quick:
        budgets, args.eval_every, args.eval_episodes = {"dqn": 3_000, "ppo": 3_000}, 1_000, 2
    torch.set_num_threads(args.threads)
    print(
        f"MinAtar {'/'.join(args.games)} {'/'.join(a.upper() for a in args.algos)}, seeds "
        f"{args.seeds}, torch {torch.__version__}, {args.threads} torch thread(s), flush "
        f"denormals: rlkit True, SB3 {args.sb3_flush_denormal}; writing {args.out_dir}"
    )
    curves: list[Curve] = []
    for algo in args.algos:
        for game in args.games:
            case = make_case(
                algo, game, budgets[algo], args.eval_every, args.eval_episodes, args.quick
            )
            print(
                f"\n{case.env_id} {algo.upper()}: {case.steps:,} env steps, {case.episodes} "
                f"greedy episodes every {case.eval_every:,} steps",
                flush=True,
            )
            rows = run_case(case, args, curves)
            print_rows(rows)
            if set(args.libs) == set(LIBS):
                print_speed_ratio(rows)
            plot_curves(curves, png_path, args.smooth)
    print_summary(curves)
    print(f"wrote {csv_path} and {png_path}")


if __name__ == "__main__":
    main()
