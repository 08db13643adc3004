"""Measured bytes per Atari transition: rlkit's frame-aware replay vs SB3's ReplayBuffer.

Each buffer (rlkit FrameReplayMemory; SB3 ReplayBuffer with optimize_memory_usage off and on)
runs in its own fresh subprocess. The child builds a fake stream of stacked (4, 84, 84) uint8
observations (random frames, episodes of 400-600 steps, first observation of an episode its
first frame repeated, as a frame stacker gives), records its RSS (/proc/self/statm) after
gc.collect(), builds a buffer with capacity N, adds N transitions (every page is written, so
lazily allocated np.zeros memory is counted), and records RSS again. Reported: RSS growth and the
buffer's own nbytes per transition it holds, the ratio to one raw 84x84 frame (7,056 B) and the
projection for 1,000,000 transitions. rlkit's target: <= 1.02 raw frames per transition.

    python experiments/benchmarks/bench_replay_memory.py --quick      # N = 5,000
    python experiments/benchmarks/bench_replay_memory.py              # N = 100,000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

FRAME = (84, 84)
STACK = 4
RAW_FRAME_BYTES = FRAME[0] * FRAME[1]
KINDS = ("rlkit", "sb3", "sb3_optimized")
TARGET = 1.02


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def frame_pool(seed: int = 0) -> np.ndarray:
    """1,024 random 84x84 frames to draw the stream from."""
    return np.random.default_rng(seed).integers(0, 256, size=(1024, *FRAME), dtype=np.uint8)


def fake_stream(
    n: int, pool: np.ndarray, seed: int = 1
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """(obs, next_obs, terminated) of n steps with stacked uint8 frames drawn from `pool`."""
    rng = np.random.default_rng(seed)
    obs = np.repeat(pool[0][None], STACK, axis=0)
    t, length = 0, int(rng.integers(400, 601))
    for _ in range(n):
        frame = pool[rng.integers(len(pool))]
        next_obs = np.concatenate([obs[1:], frame[None]])
        t += 1
        terminated = t == length
        yield obs, next_obs, terminated
        if terminated:
            obs = np.repeat(pool[rng.integers(len(pool))][None], STACK, axis=0)
            t, length = 0, int(rng.integers(400, 601))
        else:
            obs = next_obs


def fill_rlkit(n: int, pool: np.ndarray) -> tuple[Any, int, int]:
    from rlkit.agent import Transition
    from rlkit.replay.frames import FrameReplayMemory

    memory = FrameReplayMemory(n, (STACK, *FRAME), num_envs=1, gamma=0.99)
    for obs, next_obs, terminated in fake_stream(n, pool):
        memory.add(
            Transition(
                obs=obs[None],
                action=np.array([1]),
                reward=np.array([0.0], dtype=np.float32),
                next_obs=next_obs[None],
                terminated=np.array([terminated]),
                truncated=np.array([False]),
            )
        )
    return memory, memory.nbytes, len(memory)


def fill_sb3(n: int, pool: np.ndarray, optimize: bool) -> tuple[Any, int, int]:
    from gymnasium import spaces
    from stable_baselines3.common.buffers import ReplayBuffer

    space = spaces.Box(0, 255, (STACK, *FRAME), np.uint8)
    buffer = ReplayBuffer(
        n,
        space,
        spaces.Discrete(6),
        device="cpu",
        optimize_memory_usage=optimize,
        handle_timeout_termination=not optimize,
    )
    for obs, next_obs, terminated in fake_stream(n, pool):
        info = {"TimeLimit.truncated": False}
        buffer.add(
            obs[None],
            next_obs[None],
            np.array([1]),
            np.array([0.0]),
            np.array([terminated]),
            [info],
        )
    names = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    nbytes = sum(getattr(buffer, k).nbytes for k in names if hasattr(buffer, k))
    held = buffer.size() - (1 if optimize and buffer.full else 0)  # slot `pos` is not sampled
    return buffer, nbytes, held


def child(kind: str, n: int) -> None:
    """Measure one buffer in this (fresh) process; print one JSON line."""
    if kind == "rlkit":  # imports before the first RSS reading
        import rlkit.replay.frames  # noqa: F401
    else:
        import stable_baselines3.common.buffers  # noqa: F401
    pool = frame_pool()
    for _ in fake_stream(2, pool):  # warm the stream's own allocations
        pass
    gc.collect()
    before = rss_bytes()
    if kind == "rlkit":
        buffer, nbytes, held = fill_rlkit(n, pool)
    else:
        buffer, nbytes, held = fill_sb3(n, pool, kind == "sb3_optimized")
    gc.collect()
    after = rss_bytes()
    print(json.dumps({"kind": kind, "n": n, "rss": after - before, "nbytes": nbytes, "held": held}))
    del buffer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 5,000 transitions")
    parser.add_argument("-n", type=int, default=100_000, help="transitions per buffer")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = 5_000 if args.quick else args.n
    if args.child:
        child(args.child, n)
        return
    print(f"N = {n:,} transitions of ({STACK}, 84, 84) uint8; raw frame = {RAW_FRAME_BYTES:,} B")
    print(
        f"{'buffer':<15}{'held':>9}{'RSS B/tr':>10}{'x frame':>9}{'nbytes B/tr':>13}{'x frame':>9}"
        f"{'GB @1M (RSS)':>14}"
    )
    per: dict[str, float] = {}
    for kind in KINDS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, "-n", str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rss, nb = r["rss"] / r["held"], r["nbytes"] / r["held"]
        per[kind] = rss
        print(
            f"{kind:<15}{r['held']:>9,}{rss:>10,.0f}{rss / RAW_FRAME_BYTES:>9.3f}"
            f"{nb:>13,.0f}{nb / RAW_FRAME_BYTES:>9.3f}{rss * 1e6 / 1e9:>14.2f}"
        )
    ratio = per["rlkit"] / RAW_FRAME_BYTES
    verdict = "met" if ratio <= TARGET else "NOT met"
    if args.quick:
        verdict += "; quick mode: fixed RSS overhead is spread over few transitions"
    print(
        f"rlkit = {ratio:.3f} raw frames per transition (target <= {TARGET}: {verdict}); "
        f"SB3/rlkit bytes: {per['sb3'] / per['rlkit']:.2f} (optimize off), "
        f"{per['sb3_optimized'] / per['rlkit']:.2f} (optimize on)"
    )


if __name__ == "__main__":
    main()
