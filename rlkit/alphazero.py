"""AlphaZero's training loop: self-play, a replay of (s, pi, z), training, and the arena.

Each iteration: the best network plays `games_per_iteration` self-play games (in worker
processes when `workers` > 1); their positions go into the replay; the candidate network takes
`train_steps` gradient steps on the loss (z - v)^2 - pi . log p (+ weight decay); it then plays
the best network in the arena and replaces it when it scores at least `arena_threshold`.
A checkpoint is written after every iteration; Ctrl-C stops at once and leaves the last one,
from which `rlkit run --resume RUN_DIR` continues exactly as if never stopped.
"""

from __future__ import annotations

import copy
import multiprocessing
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit import checkpoint, selfplay
from rlkit.agents.alphazero import AlphaZeroAgent, AlphaZeroConfig
from rlkit.config import dumps_toml
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.errors import NonFiniteLossError, RlkitError
from rlkit.evaluation import EvalResult, evaluate
from rlkit.experiment import Experiment
from rlkit.logger import ProgressBar, RunLogger
from rlkit.runner import (
    TrainingInterrupted,
    build_agent,
    configure_torch,
    derive_seed,
    stop_on_signal,
    write_atomic,
    write_summary,
)


class PositionReplay:
    """A ring buffer of self-play positions: planes, legal mask, visit distribution, outcome."""

    def __init__(self, capacity: int, shape: tuple[int, ...], num_actions: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *shape), dtype=np.float32)
        self.mask = np.zeros((capacity, num_actions), dtype=bool)
        self.pi = np.zeros((capacity, num_actions), dtype=np.float32)
        self.z = np.zeros(capacity, dtype=np.float32)
        self.size = 0
        self.next = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, mask: np.ndarray, pi: np.ndarray, z: np.ndarray) -> None:
        """Append positions (leading batch axis), overwriting the oldest when full."""
        for start in range(0, len(z), self.capacity):
            end = min(start + self.capacity, len(z))
            index = (self.next + np.arange(end - start)) % self.capacity
            self.obs[index], self.mask[index] = obs[start:end], mask[start:end]
            self.pi[index], self.z[index] = pi[start:end], z[start:end]
            self.next = int(index[-1] + 1) % self.capacity
            self.size = min(self.size + end - start, self.capacity)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """A uniform batch: (obs, mask, pi, z)."""
        index = rng.integers(self.size, size=batch)
        return self.obs[index], self.mask[index], self.pi[index], self.z[index]

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return {"obs": self.obs[:n], "mask": self.mask[:n], "pi": self.pi[:n], "z": self.z[:n]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the positions; they fill slots 0..n-1 in order, as they were saved."""
        self.size = self.next = 0
        self.add(state["obs"], state["mask"], state["pi"], state["z"])


def alphazero_loss(
    logits: torch.Tensor, value: torch.Tensor, pi: torch.Tensor, z: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, policy, value) losses: mean (z - v)^2 and mean -pi . log p, p over legal moves.

    Weight decay is the optimizer's. Illegal logits are pushed to -1e9 before the softmax, so p
    is the distribution the search uses; pi is zero there, so they add nothing.
    """
    log_p = torch.log_softmax(logits.masked_fill(~mask, -1e9), dim=1)
    policy = -(pi * log_p).sum(dim=1).mean()
    value_loss = (z - value).pow(2).mean()
    return value_loss + policy, policy, value_loss


@dataclass
class Progress:
    """Where training stands, saved in every checkpoint."""

    iteration: int = 0
    steps: int = 0
    """Self-play moves played (positions before symmetric images)."""
    episodes: int = 0
    """Self-play games played."""
    wall_s: float = 0.0
    best_updates: int = 0
    """Times the candidate beat the best network in the arena."""
    history: list[dict[str, float]] = field(default_factory=list)


def train_run(
    experiment: Experiment, run_dir: Path, state: dict[str, Any] | None
) -> dict[str, Any]:
    """AlphaZero's training loop (Agent.training_loop): train, checkpoint, write summary.json."""
    with Session(experiment, run_dir, state) as session:
        return session.run()


class Session:
    """One training session over a run directory, fresh or from a checkpoint."""

    def __init__(self, experiment: Experiment, run_dir: Path, state: dict[str, Any] | None):
        self.exp, self.run_dir, self.resumed = experiment, run_dir, state is not None
        self.config: AlphaZeroConfig = experiment.agent
        configure_torch(experiment.run)
        torch.manual_seed(experiment.run.seed)
        probe = make_vector_env(experiment.env, 1, training=False)
        try:
            self.spec = env_spec(experiment.env, probe)
            agent = build_agent(experiment, self.spec, experiment.run.seed)
        finally:
            probe.close()
        assert isinstance(agent, AlphaZeroAgent)
        self.best = agent
        self.candidate = copy.deepcopy(agent.network)
        c = self.config
        self.optimizer = torch.optim.Adam(
            self.candidate.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay
        )
        self.shape = tuple(self.spec.observation_space.shape or ())
        self.num_actions = int(self.spec.action_space.n)  # type: ignore[attr-defined]
        self.replay = PositionReplay(c.replay_size, self.shape, self.num_actions)
        self.progress = Progress()
        self.pool: Any = None
        if state is not None:
            self._restore(state)

    def __enter__(self) -> Session:
        if self.config.workers > 1:
            context = multiprocessing.get_context(self.config.start_method)
            self.pool = context.Pool(self.config.workers, initializer=selfplay.init_worker)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def run(self) -> dict[str, Any]:
        """Iterate to the budget, then evaluate and write summary.json."""
        c, p = self.config, self.progress
        if self.resumed and p.iteration >= c.iterations:
            raise RlkitError(
                f"run {self.run_dir} already finished its agent.iterations = {c.iterations}"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        toml_text = dumps_toml(self.exp.to_dict())
        write_atomic(self.run_dir / "config.toml", toml_text)
        logger = RunLogger(self.run_dir, purge_step=p.iteration if self.resumed else None)
        bar = ProgressBar(c.iterations, self.exp.run.progress)
        if not self.resumed:
            logger.config(toml_text)
            self._save()
        try:
            with stop_on_signal() as stop:
                self._loop(logger, bar, stop)
            result = self._evaluate(final=True)
            logger.evaluation(result.mean_return, result.std_return, p.iteration)
        finally:
            bar.close()
            logger.close()
        return self._write_summary(result)

    def _loop(self, logger: RunLogger, bar: ProgressBar, stop: Any) -> None:
        c, p = self.config, self.progress
        while p.iteration < c.iterations:
            if c.time_budget_s and p.wall_s >= c.time_budget_s:
                return
            start = time.perf_counter()
            metrics = self._iteration(stop)
            p.iteration += 1
            if c.eval_every and p.iteration % c.eval_every == 0:
                result = self._evaluate(final=False)
                metrics["eval/mean_return"] = result.mean_return
            p.wall_s += time.perf_counter() - start
            for key, value in metrics.items():
                logger.writer.add_scalar(key, value, p.iteration)
            p.history.append({"iteration": p.iteration, **metrics})
            self._save()
            bar.update(p.iteration, _describe(metrics), force=True)

    def _iteration(self, stop: Any) -> dict[str, float]:
        """Self-play, training, arena; TrainingInterrupted between phases on Ctrl-C."""
        p, start = self.progress, time.perf_counter()
        records = self._self_play()
        seconds = time.perf_counter() - start
        self._check_stop(stop)
        positions = selfplay.positions_of(records)
        self.replay.add(
            *(selfplay.symmetric_images(positions) if self.config.symmetries else positions)
        )
        p.steps += len(positions[3])
        p.episodes += len(records)
        metrics = {
            "selfplay/game_length": len(positions[3]) / len(records),
            "selfplay/games_per_second": len(records) / max(seconds, 1e-9),
            "selfplay/replay_size": float(len(self.replay)),
            **self._train(),
        }
        metrics["time/train_s"] = time.perf_counter() - start - seconds
        self._check_stop(stop)
        arena_start = time.perf_counter()
        metrics.update(self._arena())
        metrics["time/selfplay_s"] = seconds
        metrics["time/arena_s"] = time.perf_counter() - arena_start
        self._check_stop(stop)
        return metrics

    def _check_stop(self, stop: Any) -> None:
        if stop.requested:
            saved = checkpoint.latest(self.run_dir)
            raise TrainingInterrupted(self.run_dir, self.progress.steps, saved)

    def _self_play(self) -> list[selfplay.GameRecord]:
        c, seed, it = self.config, self.exp.run.seed, self.progress.iteration
        weights = {k: v.detach().cpu() for k, v in self.best.network.state_dict().items()}
        jobs = [
            selfplay.SelfPlayJob(
                env=self.exp.env,
                config=c,
                shape=self.shape,
                num_actions=self.num_actions,
                weights=weights,
                games=(c.games_per_iteration + k) // c.workers,
                seed=derive_seed(seed, 10, it, k),
            )
            for k in range(c.workers)
        ]
        jobs = [job for job in jobs if job.games > 0]
        if self.pool is None:
            return [r for job in jobs for r in selfplay.run_job(job)]
        return [r for part in self.pool.map(selfplay.run_job, jobs) for r in part]

    def _train(self) -> dict[str, float]:
        c = self.config
        if len(self.replay) < c.batch_size or c.train_steps == 0:
            return {}
        rng = np.random.default_rng(derive_seed(self.exp.run.seed, 11, self.progress.iteration))
        device = self.best.device
        self.candidate.train()
        sums = np.zeros(3)
        for _ in range(c.train_steps):
            batch = [
                torch.as_tensor(a, device=device) for a in self.replay.sample(c.batch_size, rng)
            ]
            obs, mask, pi, z = batch
            logits, value = self.candidate(obs)
            total, policy, value_loss = alphazero_loss(logits, value, pi, z, mask)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            sums += [total.item(), policy.item(), value_loss.item()]
        if not np.isfinite(sums).all():
            raise NonFiniteLossError(
                f"the AlphaZero loss became {sums[0]} at iteration {self.progress.iteration}; "
                "stopped without saving; try a lower agent.learning_rate"
            )
        total_mean, policy_mean, value_mean = sums / c.train_steps
        return {"loss/total": total_mean, "loss/policy": policy_mean, "loss/value": value_mean}

    def _arena(self) -> dict[str, float]:
        """Candidate vs best, alternating the first player; replace the best on a high score."""
        c = self.config
        if c.arena_games == 0:
            self._accept()
            return {"arena/accepted": 1.0}
        device = self.best.device
        new = selfplay.net_evaluator(self.candidate, device)
        old = selfplay.net_evaluator(self.best.network, device)
        rng = np.random.default_rng(derive_seed(self.exp.run.seed, 12, self.progress.iteration))
        games = selfplay.make_games(self.exp.env, c.arena_games)
        selfplay.reset_games(games, rng)
        seats = [(new, old) if i % 2 == 0 else (old, new) for i in range(c.arena_games)]
        results = selfplay.play_arena(games, seats, c, rng)
        mine = [r if i % 2 == 0 else -r for i, r in enumerate(results)]
        score = (sum(1 for r in mine if r > 0) + 0.5 * sum(1 for r in mine if r == 0)) / len(mine)
        accepted = score >= c.arena_threshold
        if accepted:
            self._accept()
        return {"arena/win_rate": score, "arena/accepted": float(accepted)}

    def _accept(self) -> None:
        self.best.set_network(self.candidate.state_dict())
        self.progress.best_updates += 1

    def _evaluate(self, final: bool) -> EvalResult:
        """Greedy games of the best network on the [env] (as `rlkit eval RUN_DIR` plays them)."""
        run, p = self.exp.run, self.progress
        episodes = (run.final_eval_episodes or run.eval_episodes) if final else run.eval_episodes
        seed = derive_seed(run.seed, 1, 0) if final else derive_seed(run.seed, 2, p.iteration)
        envs = make_vector_env(self.exp.env, run.eval_num_envs, training=False)
        try:
            return evaluate(self.best, envs, episodes, seed)
        finally:
            envs.close()

    def _save(self) -> Path:
        path = checkpoint.checkpoint_path(self.run_dir, self.progress.steps)
        trainer = {
            "candidate": self.candidate.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": {**self.replay.state_dict(), "next": self.replay.next},
            "progress": asdict(self.progress),
        }
        checkpoint.save(
            path,
            {"config": self.exp.to_dict(), "agent": self.best.state_dict(), "trainer": trainer},
        )
        checkpoint.prune(self.run_dir, self.exp.run.keep_checkpoints)
        return path

    def _restore(self, state: dict[str, Any]) -> None:
        if "trainer" not in state:
            raise RlkitError("checkpoint has no AlphaZero training state; it cannot be resumed")
        trainer = state["trainer"]
        self.best.load_state_dict(state["agent"])
        self.candidate.load_state_dict(trainer["candidate"])
        self.optimizer.load_state_dict(copy.deepcopy(trainer["optimizer"]))
        self.replay.load_state_dict(trainer["replay"])
        self.replay.next = int(trainer["replay"]["next"])
        self.progress = Progress(**trainer["progress"])

    def _write_summary(self, result: EvalResult) -> dict[str, Any]:
        p = self.progress
        return write_summary(
            self.run_dir,
            self.exp,
            result,
            steps=p.steps,
            episodes=p.episodes,
            wall_s=p.wall_s,
            iterations=p.iteration,
            best_updates=p.best_updates,
            history=p.history,
        )


def _describe(metrics: dict[str, float]) -> str:
    """A short progress line from an iteration's metrics."""
    parts = []
    for key, label in (
        ("loss/total", "loss"),
        ("arena/win_rate", "arena"),
        ("eval/mean_return", "eval"),
    ):
        if key in metrics:
            parts.append(f"{label} {metrics[key]:.3f}")
    return " | ".join(parts)
