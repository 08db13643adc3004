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
from typing import Any, Protocol, cast

import numpy as np
import torch

from rlkit import checkpoint
from rlkit.agent import Agent
from rlkit.agents.alphazero import selfplay
from rlkit.agents.alphazero.config import AlphaZeroConfig
from rlkit.agents.alphazero.network import PolicyValueNet
from rlkit.agents.alphazero.puct import net_evaluator
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.errors import RlkitError
from rlkit.evaluation import EvalResult, evaluate
from rlkit.nn.optim import check_finite_loss
from rlkit.seeding import derive_seed
from rlkit.training.logger import n_episodes
from rlkit.training.session import Session, StopFlag, TrainingLoop


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


class BestNetworkAgent(Protocol):
    """What the loop needs of the agent it trains (AlphaZeroAgent): the best network so far."""

    network: PolicyValueNet
    device: torch.device

    def set_network(self, weights: dict[str, Any]) -> None: ...


class AlphaZeroLoop(TrainingLoop):
    """AlphaZero's training loop in the run session: an iteration is self-play, training and
    the arena; every iteration is checkpointed. The session's step counter counts self-play
    moves; TensorBoard's x axis is the iteration."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.config: AlphaZeroConfig = self.experiment.agent
        self.iteration = 0
        self.best_updates = 0
        """Times the candidate beat the best network in the arena."""
        self.pool: Any = None

    def make_agent(self) -> Agent[Any]:
        exp, c = self.experiment, self.config
        probe = make_vector_env(exp.env, 1, training=False)
        try:
            spec = env_spec(exp.env, probe)
            agent = self.session.build_agent(spec)
        finally:
            probe.close()
        self.best = cast(BestNetworkAgent, agent)
        self.candidate = copy.deepcopy(self.best.network)
        self.optimizer = torch.optim.Adam(
            self.candidate.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay
        )
        self.shape = tuple(spec.observation_space.shape or ())
        self.num_actions = int(spec.action_space.n)  # type: ignore[attr-defined]
        self.replay = PositionReplay(c.replay_size, self.shape, self.num_actions)
        if c.workers > 1:
            context = multiprocessing.get_context(c.start_method)
            self.pool = context.Pool(c.workers, initializer=selfplay.init_worker)
        return agent

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None

    def resume_error(self) -> str | None:
        if self.iteration >= self.config.iterations:
            return (
                f"run {self.session.run_dir} already finished its agent.iterations = "
                f"{self.config.iterations}"
            )
        return None

    def budget(self) -> int:
        return self.config.iterations

    def progress(self) -> int:
        return self.iteration

    def unit(self) -> str:
        return "iterations"

    def evaluation_plan(self) -> str:
        run, every = self.experiment.run, self.config.eval_every
        final_episodes = n_episodes(run.final_eval_episodes or run.eval_episodes)
        final = f"a greedy evaluation at the end ({final_episodes})"
        if not every:
            return final
        return (
            f"a greedy evaluation every {every} iterations ({n_episodes(run.eval_episodes)}), "
            f"{final}"
        )

    def log_step(self) -> int:
        return self.iteration

    def train(self, stop: StopFlag) -> None:
        c, session = self.config, self.session
        counters, logger = session.counters, session.logger
        assert logger is not None
        if not session.resumed and self.iteration == 0:
            session.save()
        while self.iteration < c.iterations:
            if c.time_budget_s and counters.wall_s >= c.time_budget_s:
                return
            start = time.perf_counter()
            metrics = self._iteration(stop)
            self.iteration += 1
            if c.eval_every and self.iteration % c.eval_every == 0:
                result = self._evaluate(final=False)
                metrics["eval/mean_return"] = result.mean_return
                session.evaluated(
                    counters.step,
                    result.mean_return,
                    result.std_return,
                    result.episodes,
                    where=f"iteration {self.iteration}",
                )
            counters.wall_s += time.perf_counter() - start
            for key, value in metrics.items():
                logger.writer.add_scalar(key, value, self.iteration)
            counters.history.append({"iteration": self.iteration, **metrics})
            session.save()
            session.bar.update(self.iteration, _describe(metrics), force=True)

    def _iteration(self, stop: StopFlag) -> dict[str, float]:
        """Self-play, training, arena; TrainingInterrupted between phases on Ctrl-C."""
        counters, start = self.session.counters, time.perf_counter()
        records = self._self_play()
        seconds = time.perf_counter() - start
        self._check_stop(stop)
        positions = selfplay.positions_of(records)
        self.replay.add(
            *(selfplay.symmetric_images(positions) if self.config.symmetries else positions)
        )
        counters.step += len(positions[3])
        counters.episodes += len(records)
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

    def _check_stop(self, stop: StopFlag) -> None:
        """Mid-iteration the state is inconsistent: stop on the last iteration's checkpoint."""
        if stop.requested:
            self.session.interrupt(saved=checkpoint.latest(self.session.run_dir))

    def _self_play(self) -> list[selfplay.GameRecord]:
        c, seed, it = self.config, self.experiment.run.seed, self.iteration
        weights = {k: v.detach().cpu() for k, v in self.best.network.state_dict().items()}
        jobs = [
            selfplay.SelfPlayJob(
                env=self.experiment.env,
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
        rng = np.random.default_rng(derive_seed(self.experiment.run.seed, 11, self.iteration))
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
        check_finite_loss(
            float(sums[0]),
            "AlphaZero",
            f"iteration {self.iteration}",
            "a lower agent.learning_rate",
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
        new = net_evaluator(self.candidate, device)
        old = net_evaluator(self.best.network, device)
        rng = np.random.default_rng(derive_seed(self.experiment.run.seed, 12, self.iteration))
        games = selfplay.make_games(self.experiment.env, c.arena_games)
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
        self.best_updates += 1

    def final_evaluation(self) -> EvalResult:
        return self._evaluate(final=True)

    def _evaluate(self, final: bool) -> EvalResult:
        """Greedy games of the best network on the [env] (as `rlkit eval RUN_DIR` plays them),
        on fresh envs each time."""
        run = self.experiment.run
        episodes = (run.final_eval_episodes or run.eval_episodes) if final else run.eval_episodes
        seed = derive_seed(run.seed, 1, 0) if final else derive_seed(run.seed, 2, self.iteration)
        envs = make_vector_env(self.experiment.env, run.eval_num_envs, training=False)
        try:
            return evaluate(self.session.agent, envs, episodes, seed)
        finally:
            envs.close()

    def state_dict(self) -> dict[str, Any]:
        trainer = {
            "candidate": self.candidate.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": {**self.replay.state_dict(), "next": self.replay.next},
            "iteration": self.iteration,
            "best_updates": self.best_updates,
        }
        return {"trainer": trainer}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "trainer" not in state:
            raise RlkitError("checkpoint has no AlphaZero training state; it cannot be resumed")
        trainer = state["trainer"]
        self.candidate.load_state_dict(trainer["candidate"])
        self.optimizer.load_state_dict(copy.deepcopy(trainer["optimizer"]))
        self.replay.load_state_dict(trainer["replay"])
        self.replay.next = int(trainer["replay"]["next"])
        self.iteration = int(trainer["iteration"])
        self.best_updates = int(trainer["best_updates"])

    def progress_keys(self) -> dict[str, float]:
        return {"iteration": self.iteration}

    def summary(self) -> dict[str, Any]:
        return {
            "iterations": self.iteration,
            "best_updates": self.best_updates,
            "history": self.session.counters.history,
        }


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
