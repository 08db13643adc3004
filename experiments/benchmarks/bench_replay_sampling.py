"""Replay sampling speed: microseconds per batch of 32 stacked Atari transitions (4x84x84 uint8).

rlkit's frame-aware FrameReplayMemory (uniform; extra rows: uniform n_step=3, prioritized, and
the uniform batch converted to torch tensors as DQN does) vs SB3's ReplayBuffer with
optimize_memory_usage off and on. All are filled with the same fake stream of N transitions
(random frames, episodes of 400-600 steps) and timed over `--calls` sample() calls after a
warm-up. SB3's sample() returns torch tensors; rlkit's returns numpy arrays (the "+ torch" row
adds torch.as_tensor of every field, the like-for-like comparison). The last line gives the
ratios SB3 / rlkit (> 1: rlkit is faster). torch runs with --threads threads (default 1, as
rlkit's runner sets): SB3's torch.tensor copy is many times slower with 2 threads on a busy
2-core machine.

    python experiments/benchmarks/bench_replay_sampling.py --quick     # N = 5,000
    python experiments/benchmarks/bench_replay_sampling.py             # N = 50,000
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer

from rlkit.agent import Transition
from rlkit.replay.frames import FrameReplayMemory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replay_memory import FRAME, STACK, fake_stream, frame_pool

BATCH = 32


def fill_rlkit(n: int, pool: np.ndarray, **options: object) -> FrameReplayMemory:
    memory = FrameReplayMemory(n, (STACK, *FRAME), num_envs=1, gamma=0.99, **options)  # type: ignore[arg-type]
    rng = np.random.default_rng(2)
    for obs, next_obs, terminated in fake_stream(n, pool):
        t = Transition(
            obs[None],
            rng.integers(6, size=1),
            rng.random(1, dtype=np.float32),
            next_obs[None],
            np.array([terminated]),
            np.array([False]),
        )
        memory.add(t)
    return memory


def fill_sb3(n: int, pool: np.ndarray, optimize: bool) -> ReplayBuffer:
    space = spaces.Box(0, 255, (STACK, *FRAME), np.uint8)
    buffer = ReplayBuffer(
        n,
        space,
        spaces.Discrete(6),
        device="cpu",
        optimize_memory_usage=optimize,
        handle_timeout_termination=not optimize,
    )
    rng = np.random.default_rng(2)
    for obs, next_obs, terminated in fake_stream(n, pool):
        info = {"TimeLimit.truncated": False}
        action, reward = rng.integers(6, size=1), rng.random(1, dtype=np.float32)
        buffer.add(obs[None], next_obs[None], action, reward, np.array([terminated]), [info])
    return buffer


def time_calls(sample: Callable[[], object], calls: int, warmup: int) -> float:
    """Microseconds per call of `sample`."""
    for _ in range(warmup):
        sample()
    start = time.perf_counter()
    for _ in range(calls):
        sample()
    return (time.perf_counter() - start) / calls * 1e6


def rlkit_rows(n: int, pool: np.ndarray, calls: int, warmup: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    rows: dict[str, float] = {}
    memory = fill_rlkit(n, pool)
    rows["rlkit uniform"] = time_calls(lambda: memory.sample(BATCH, rng), calls, warmup)

    def to_torch() -> object:
        return [torch.as_tensor(a) for a in memory.sample(BATCH, rng)]

    rows["rlkit uniform + torch"] = time_calls(to_torch, calls, warmup)
    del memory
    memory = fill_rlkit(n, pool, n_step=3)
    rows["rlkit uniform n_step=3"] = time_calls(lambda: memory.sample(BATCH, rng), calls, warmup)
    del memory
    memory = fill_rlkit(n, pool, prioritized=True)
    rows["rlkit prioritized"] = time_calls(lambda: memory.sample(BATCH, rng, 0.4), calls, warmup)

    def sample_and_update() -> None:
        batch = memory.sample(BATCH, rng, 0.4)
        memory.update_priorities(batch.index, rng.random(BATCH))

    rows["rlkit prioritized + update"] = time_calls(sample_and_update, calls, warmup)
    return rows


def time_sb3(n: int, pool: np.ndarray, optimize: bool, calls: int, warmup: int) -> float:
    buffer = fill_sb3(n, pool, optimize)
    np.random.seed(0)  # SB3 samples with numpy's global generator
    return time_calls(lambda: buffer.sample(BATCH), calls, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 5,000, 200 calls")
    parser.add_argument("-n", type=int, default=50_000, help="transitions in each buffer")
    parser.add_argument("--calls", type=int, default=2_000, help="timed sample() calls")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, calls = (5_000, 200) if args.quick else (args.n, args.calls)
    warmup = max(calls // 10, 10)
    print(
        f"batch {BATCH} of ({STACK}, 84, 84) uint8, N = {n:,}, {calls:,} calls after {warmup}; "
        f"torch.get_num_threads()={torch.get_num_threads()}"
    )
    pool = frame_pool()
    rows = rlkit_rows(n, pool, calls, warmup)
    gc.collect()
    for optimize in (False, True):
        rows[f"sb3 optimize_memory_usage={optimize}"] = time_sb3(n, pool, optimize, calls, warmup)
        gc.collect()
    print(f"{'sampler':<38}{'µs/batch':>10}")
    for name, us in rows.items():
        print(f"{name:<38}{us:>10,.0f}")
    base, like = rows["rlkit uniform"], rows["rlkit uniform + torch"]
    sb3_off, sb3_on = (
        rows["sb3 optimize_memory_usage=False"],
        rows["sb3 optimize_memory_usage=True"],
    )
    print(
        f"ratio SB3 / rlkit uniform: {sb3_off / base:.2f} (optimize off), "
        f"{sb3_on / base:.2f} (optimize on); vs rlkit + torch: {sb3_off / like:.2f}, "
        f"{sb3_on / like:.2f}"
    )


if __name__ == "__main__":
    main()
