"""Atari collection throughput: rlkit's rollout loop vs stepping ale-py's AtariVectorEnv directly.

Both sides play Pong with 8 envs and random actions, frame skip 4, greyscale 84x84, 4-frame
stacks, no sticky actions, up to 30 no-ops and FIRE at reset, SAME_STEP autoreset:
- rlkit: rlkit.rollout.rollout over rlkit.envs.atari.make_atari_vector_env (native build,
  training options: life-loss episodes, reward clipping, rlkit's frame stacker) with a
  random-action agent implementing rlkit.agent.Agent.act;
- direct: ale_py.vector_env.AtariVectorEnv(stack_num=4) stepped with random actions.
Warm-up steps are excluded; the two sides alternate over `--repeats` rounds and the median is
reported, with the process CPU time per env step (emulator threads included), which a busy
machine disturbs less than wall time. The last line is the throughput ratio rlkit / direct
(target >= 0.9).

    python experiments/benchmarks/bench_atari_throughput.py --quick      # 200 vector steps
    python experiments/benchmarks/bench_atari_throughput.py              # 2,000 vector steps
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv
from gymnasium.vector import AutoresetMode

from rlkit.agent import Agent, EnvSpec
from rlkit.envs.atari import AtariOptions, make_atari_vector_env, rom_id
from rlkit.rollout import RolloutState, rollout

GAME = "Pong"
NUM_ENVS = 8
TARGET = 0.9


class RandomAgent(Agent[None]):
    """Uniformly random actions (the agent side costs next to nothing)."""

    config_class = None  # type: ignore[assignment]  # never registered

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        space = self.spec.action_space
        assert isinstance(space, gym.spaces.Discrete)
        return self.rng.integers(int(space.n), size=len(obs))


Timing = tuple[float, float]  # (env steps/s, CPU µs per env step)


def timed(step: Any, steps: int) -> Timing:
    """Call `step` `steps` times; throughput and CPU cost per env step."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return steps * NUM_ENVS / wall, cpu / (steps * NUM_ENVS) * 1e6


def time_rlkit(steps: int, warmup: int, seed: int) -> Timing:
    """Env steps/s of rlkit's rollout loop over its native Atari vector env."""
    envs = make_atari_vector_env(GAME, NUM_ENVS, AtariOptions(), training=True, native=True)
    spec = EnvSpec(GAME, envs.single_observation_space, envs.single_action_space, NUM_ENVS)
    agent = RandomAgent(None, spec, seed)
    loop = rollout(envs, agent, RolloutState.reset(envs, seed), explore=True)
    for _ in range(warmup):
        next(loop)
    result = timed(lambda: next(loop), steps)
    envs.close()
    return result


def time_direct(steps: int, warmup: int, seed: int) -> Timing:
    """Env steps/s of ale-py's AtariVectorEnv stepped directly with random actions."""
    o = AtariOptions()
    envs = AtariVectorEnv(
        rom_id(GAME),
        NUM_ENVS,
        max_num_frames_per_episode=o.max_episode_frames,
        repeat_action_probability=o.repeat_action_probability,
        autoreset_mode=AutoresetMode.SAME_STEP,
        img_height=o.screen_size,
        img_width=o.screen_size,
        grayscale=True,
        stack_num=o.frame_stack,
        frameskip=o.frame_skip,
        maxpool=True,
        noop_max=o.noop_max,
        use_fire_reset=o.fire_reset,
    )
    rng = np.random.default_rng(seed)
    space = envs.single_action_space
    assert isinstance(space, gym.spaces.Discrete)
    n = int(space.n)
    envs.reset(seed=seed)
    for _ in range(warmup):
        envs.step(rng.integers(n, size=NUM_ENVS))
    result = timed(lambda: envs.step(rng.integers(n, size=NUM_ENVS)), steps)
    envs.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 vector steps, 1 round")
    parser.add_argument("--steps", type=int, default=2_000, help="timed vector steps")
    parser.add_argument("--warmup", type=int, default=100, help="untimed vector steps")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    steps, warmup, repeats = (200, 20, 1) if args.quick else (args.steps, args.warmup, args.repeats)
    print(
        f"{GAME}, {NUM_ENVS} envs, {steps:,} vector steps ({steps * NUM_ENVS:,} env steps) "
        f"after {warmup} warm-up, {repeats} round(s)"
    )
    results: dict[str, list[Timing]] = {"rlkit": [], "direct": []}
    runners: dict[str, Any] = {"rlkit": time_rlkit, "direct": time_direct}
    for r in range(repeats):
        order = ["rlkit", "direct"] if r % 2 == 0 else ["direct", "rlkit"]
        for name in order:
            results[name].append(runners[name](steps, warmup, seed=r))
    print(f"{'loop':<8}{'median steps/s':>16}{'CPU µs/step':>13}  rounds (steps/s)")
    speed, cpu = {}, {}
    for name, values in results.items():
        speed[name] = statistics.median(v[0] for v in values)
        cpu[name] = statistics.median(v[1] for v in values)
        rounds = ", ".join(f"{v[0]:,.0f}" for v in values)
        print(f"{name:<8}{speed[name]:>16,.0f}{cpu[name]:>13,.0f}  {rounds}")
    ratio = speed["rlkit"] / speed["direct"]
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"throughput ratio rlkit / direct: {ratio:.2f} (target >= {TARGET}: {verdict}); "
        f"CPU per step rlkit / direct: {cpu['rlkit'] / cpu['direct']:.2f}"
    )


if __name__ == "__main__":
    main()
