"""The runner's training loop: act, observe and update on a vector env, step by step.

Every `run.log_every` steps it logs; every `run.eval_every` steps it evaluates greedily (and stops
once `run.target_return` is met); every `run.checkpoint_every` steps it checkpoints. Its
checkpoints also carry the rollout, the envs' state where it can be captured, and torch's RNG,
so a resumed run continues exactly as if it had never stopped.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import torch

from rlkit.agent import Agent, agent_class
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.evaluation import EvalResult, evaluate
from rlkit.rollout import RolloutState, rollout
from rlkit.seeding import derive_seed
from rlkit.training import envstate
from rlkit.training.logger import progress_text
from rlkit.training.session import Session, StopFlag, TrainingLoop


class StepLoop(TrainingLoop):
    """act/observe/update for `run.total_steps` env steps (the loop of every family that has no
    training loop of its own)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.envs: Any = None
        self.settled = 0

    def make_agent(self) -> Agent[Any]:
        exp = self.experiment
        self.envs = make_vector_env(exp.env)
        self.session.evaluation_envs()
        agent = self.session.build_agent(env_spec(exp.env, self.envs))
        self.rollout_state = RolloutState.reset(self.envs, exp.run.seed)
        self.agent = agent
        return agent

    def close(self) -> None:
        if self.envs is not None:
            self.envs.close()
            self.envs = None

    def resume_error(self) -> str | None:
        c, run, where = self.session.counters, self.experiment.run, self.session.run_dir
        if c.reached_target is not None:
            return (
                f"run {where} stopped at step {c.reached_target} on reaching "
                "run.target_return; nothing to resume"
            )
        if c.step >= run.total_steps:
            return (
                f"run {where} already reached run.total_steps={run.total_steps}; "
                "extend it with --set run.total_steps=<more>"
            )
        return None

    def train(self, stop: StopFlag) -> None:
        exp = self.experiment
        n = self.envs.num_envs
        warm = agent_class(exp.agent_name).warm_up(exp.agent, n)
        if (warning := warm_up_warning(warm, exp.run.total_steps, n)) is not None:
            print(warning, file=sys.stderr)
        self.settled = max(warm[0] if warm else 0, exp.run.total_steps // 20)
        self._loop(stop)
        self._checkpoint()

    def _loop(self, stop: StopFlag) -> None:
        session, agent = self.session, self.agent
        logger, bar = session.logger, session.bar
        assert logger is not None
        run, counters, n = self.experiment.run, session.counters, self.envs.num_envs
        clock = window_start = time.perf_counter()
        wall_start, window_step = counters.wall_s, counters.step
        next_log = counters.step + run.log_every
        for transition, episodes in rollout(self.envs, agent, self.rollout_state, True):
            agent.observe(transition)
            logger.metrics(agent.update())
            logger.episodes(episodes)
            counters.step += n
            counters.episodes += len(episodes)
            counters.wall_s = wall_start + time.perf_counter() - clock
            if counters.step >= next_log or counters.step >= run.total_steps:
                now = time.perf_counter()
                sps = (counters.step - window_step) / max(now - window_start, 1e-9)
                logger.flush(counters.step, sps)
                left = None  # shown once the speed is that of learning
                if counters.step >= self.settled:
                    left = (run.total_steps - counters.step) / max(sps, 1e-9)
                bar.update(
                    counters.step,
                    progress_text(logger.recent_text(), logger.latest, sps, left),
                    force=counters.step >= run.total_steps,  # the last line always shows
                )
                window_start, window_step = now, counters.step
                next_log = counters.step + run.log_every
            if counters.step >= run.total_steps:
                return
            if run.eval_every and counters.step >= counters.next_eval:
                result = self._evaluate(run.eval_episodes, final=False)
                logger.evaluation(result.mean_return, result.std_return, counters.step)
                session.evaluated(
                    counters.step, result.mean_return, result.std_return, result.episodes
                )
                if run.target_return is not None and result.mean_return >= run.target_return:
                    counters.reached_target = counters.step
                    return
                counters.next_eval += run.eval_every * math.ceil(
                    (counters.step - counters.next_eval + 1) / run.eval_every
                )
            if run.checkpoint_every and counters.step >= counters.next_checkpoint:
                self._checkpoint()
            if stop.requested:
                session.interrupt()

    def _checkpoint(self) -> None:
        """Save, with the next periodic checkpoint due `checkpoint_every` steps on (set before
        saving, so a resumed run does not find one due at once and push an older one out)."""
        counters = self.session.counters
        counters.next_checkpoint = counters.step + self.experiment.run.checkpoint_every
        self.session.save()

    def final_evaluation(self) -> EvalResult:
        run = self.experiment.run
        return self._evaluate(run.final_eval_episodes or run.eval_episodes, final=True)

    def _evaluate(self, episodes: int, final: bool) -> EvalResult:
        counters = self.session.counters
        tag = (1, 0) if final else (2, counters.evaluations)
        envs = self.session.evaluation_envs()
        result = evaluate(self.agent, envs, episodes, derive_seed(self.experiment.run.seed, *tag))
        self.agent.attach(self.envs)  # evaluation attached the eval envs; planners resume here
        if not final:
            counters.evaluations += 1
        counters.history.append(
            {
                "step": counters.step,
                "mean_return": result.mean_return,
                "std_return": result.std_return,
            }
        )
        return result

    def state_dict(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout_state.state_dict(),
            "envs": envstate.capture(self.envs),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch_rng"])
        if state["envs"] is None:  # native or out-of-process envs: restart their episodes
            seed = derive_seed(self.experiment.run.seed, 3, self.session.counters.step)
            self.rollout_state = RolloutState.reset(self.envs, seed)
            print(
                f"note: {self.experiment.env.id} state cannot be saved; episodes restart on resume"
            )
        else:
            envstate.restore(self.envs, state["envs"])
            self.rollout_state = RolloutState.from_state_dict(state["rollout"])

    def summary(self) -> dict[str, Any]:
        counters = self.session.counters
        return {
            "reached_target_at": counters.reached_target,
            "evaluations": counters.history,
        }


def warm_up_warning(warm: tuple[int, str] | None, total_steps: int, num_envs: int) -> str | None:
    """The warning for an agent whose first learning update (`Agent.warm_up`: its env step at
    the earliest, and the settings) comes after the run's last step (the vector step that
    reaches total_steps); None when it does not."""
    if warm is None or warm[0] <= -(-total_steps // num_envs) * num_envs:
        return None
    first, settings = warm
    return (
        f"rlkit: warning: the agent learns nothing in this run: its first learning update "
        f"comes at env step {first:,} at the earliest ({settings}), after run.total_steps = "
        f"{total_steps:,}; raise --set run.total_steps or lower those settings"
    )
