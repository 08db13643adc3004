"""Atari collection throughput: rlkit's rollout loop vs stepping ale-py's AtariVectorEnv directly.

Both sides play Pong with 8 envs and random actions, frame skip 4, greyscale 84x84, 4-frame
stacks, no sticky actions, up to 30 no-ops and FIRE at reset, SAME_STEP autoreset:
- rlkit: rlkit.rollout.rollout over rlkit.envs.atari.make_atari_vector_env (native build,
  training options: life-loss episodes, reward clipping, stacks padded by rlkit's rule) with a
  random-action agent implementing rlkit.agent.Agent.act;
- direct: ale_py.vector_env.AtariVectorEnv(stack_num=4) stepped with random actions.
Both envs live in one process and the timed steps alternate in blocks (`--block` vector steps,
the side going first alternating), after untimed warm-up steps, so a change in machine load
(this 2-core VM's wall time swings by +-30 % over a minute) falls on both sides alike. Reported:
each side's median block throughput and process CPU time per env step (emulator threads
included), and the median over block pairs of rlkit / direct throughput, the ratio the target
applies to (>= 0.9).

    python experiments/benchmarks/bench_atari_throughput.py --quick      # 200 vector steps a side
    python experiments/benchmarks/bench_atari_throughput.py              # 2,000 vector steps a side
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

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
Step = Callable[[], object]


def timed(step: Step, steps: int) -> Timing:
    """Call `step` `steps` times; throughput and CPU cost per env step."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return steps * NUM_ENVS / wall, cpu / (steps * NUM_ENVS) * 1e6


def rlkit_stepper(seed: int) -> tuple[Step, Callable[[], None]]:
    """One vector step of rlkit's rollout loop over its native Atari vector env; and close."""
    envs = make_atari_vector_env(GAME, NUM_ENVS, AtariOptions(), training=True, native=True)
    spec = EnvSpec(GAME, envs.single_observation_space, envs.single_action_space, NUM_ENVS)
    agent = RandomAgent(None, spec, seed)
    loop = rollout(envs, agent, RolloutState.reset(envs, seed), explore=True)
    return (lambda: next(loop)), envs.close


def direct_stepper(seed: int) -> tuple[Step, Callable[[], None]]:
    """One step of ale-py's AtariVectorEnv with random actions; and close."""
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
    return (lambda: envs.step(rng.integers(n, size=NUM_ENVS))), envs.close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 vector steps a side")
    parser.add_argument("--steps", type=int, default=2_000, help="timed vector steps a side")
    parser.add_argument("--block", type=int, default=100, help="vector steps a timed block")
    parser.add_argument("--warmup", type=int, default=100, help="untimed vector steps a side")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps, block, warmup = (200, 50, 20) if args.quick else (args.steps, args.block, args.warmup)
    blocks = max(1, steps // block)
    print(
        f"{GAME}, {NUM_ENVS} envs, {blocks * block:,} vector steps a side "
        f"({blocks * block * NUM_ENVS:,} env steps) in {blocks} alternating blocks of {block}, "
        f"after {warmup} warm-up"
    )
    made = {"rlkit": rlkit_stepper(args.seed), "direct": direct_stepper(args.seed)}
    for step, _ in made.values():
        for _ in range(warmup):
            step()
    results: dict[str, list[Timing]] = {name: [] for name in made}
    for b in range(blocks):
        for name in ("rlkit", "direct") if b % 2 == 0 else ("direct", "rlkit"):
            results[name].append(timed(made[name][0], block))
    for _, close in made.values():
        close()
    print(f"{'loop':<8}{'median steps/s':>16}{'CPU µs/step':>13}  quartiles of blocks (steps/s)")
    speed, cpu = {}, {}
    for name, values in results.items():
        speed[name] = statistics.median(v[0] for v in values)
        cpu[name] = statistics.median(v[1] for v in values)
        q1, _, q3 = statistics.quantiles([v[0] for v in values], n=4) if blocks > 1 else [0] * 3
        print(f"{name:<8}{speed[name]:>16,.0f}{cpu[name]:>13,.0f}  {q1:,.0f} .. {q3:,.0f}")
    pairs = [r[0] / d[0] for r, d in zip(results["rlkit"], results["direct"], strict=True)]
    ratio = statistics.median(pairs)
    of_medians = speed["rlkit"] / speed["direct"]
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"throughput ratio rlkit / direct (median of {blocks} block pairs): {ratio:.2f} "
        f"(target >= {TARGET}: {verdict}); ratio of medians {of_medians:.2f}; "
        f"CPU per step rlkit / direct: {cpu['rlkit'] / cpu['direct']:.2f}"
    )


if __name__ == "__main__":
    main()
