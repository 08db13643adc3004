"""Where the time goes on pixels: DQN, A2C and PPO training on Atari Breakout, split by part.

Each algorithm runs rlkit's own training step (rlkit.rollout.rollout, then the agent's observe
and update, as rlkit's StepLoop does) with the settings of experiments/breakout_<algo>.toml
(DQN: learning starts after --dqn-prefill steps and epsilon is at its final 0.1, the regime
that fills most of a run), on the CPU with --threads torch threads. Every part is timed by
wrapping the function that does it; a part's time excludes the parts called inside it:

- env step: the native vector env's step (ale-py's C++ AtariVectorEnv);
- acting: agent.act less its CNN forward (sampling, epsilon-greedy, numpy conversions);
- CNN forward, acting: the forward pass that picks the actions;
- storage: agent.observe (rollout buffer, or DQN's compressed replay insert);
- replay sampling: DQN's replay.sample (stacking compressed frames into batches);
- CNN forward, no grad: the update's forward passes without gradients (PPO's old log-probs
  and values, bootstrap values; DQN's target network);
- CNN forward, training: the forward pass that gradients flow back through;
- CNN backward;
- optimizer: gradient clipping and the optimizer step;
- update, rest: the update's own work (returns, advantages, losses, tensors);
- loop, rest: the rollout loop and everything not named above.

The floor: the time the CNN work the algorithm cannot avoid takes on this CPU, measured in
the same process on a bare Nature CNN (channels-last, as rlkit runs it): the acting forward
at the env batch size, plus the update's training forwards and backwards at its minibatch
size (PPO: epochs x minibatches of them; A2C: none, its one gradient step can backpropagate
through the acting forward, so its floor is a forward and a backward at the env batch size),
plus (DQN) the target network's forward. Everything above it is overhead or avoidable work.

--compare runs the variants in one process, alternating blocks, each with its own agent and
envs: "now" (rlkit as it is), with one cheap win taken back, and with all of them taken back:
- "no-channels-last": kernels and inputs in NCHW (all three);
- "no-value-reuse": V(next_obs) evaluated over the whole rollout (A2C, PPO);
- "no-kept-graphs": A2C's update runs its forward passes again instead of backpropagating
  through the acting passes' graphs;
- "no-acted-outputs": PPO's update runs a forward pass over the rollout for the old
  log-probs and values instead of taking the acting passes' own;
- "none": every win above taken back (rlkit before them, but for A2C running its update's
  forward pass step by step rather than as one batch).
- "paired" (A2C, PPO): a win added rather than taken back, env.vectorization = "paired": the
  env in two halves, each stepped on a worker thread while the agent acts on the other half
  (rlkit.envs.paired). Its split has no "env step" part: the wait for a half's step is in
  "loop, rest".

    python experiments/benchmarks/profile_atari.py --quick
    python experiments/benchmarks/profile_atari.py --algos ppo --compare
    python experiments/benchmarks/profile_atari.py --algos a2c ppo --variants paired
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from rlkit.agent import build_agent
from rlkit.agents.dqn import agent as dqn_module
from rlkit.agents.pg import a2c as a2c_module
from rlkit.agents.pg import ppo as ppo_module
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.experiment import Experiment, load_experiment
from rlkit.nn import flat, networks
from rlkit.rollout import RolloutState, rollout

ALGOS = ("dqn", "a2c", "ppo")
VARIANTS = {
    "dqn": ("now", "no-channels-last"),
    "a2c": ("now", "no-channels-last", "no-value-reuse", "no-kept-graphs", "none", "paired"),
    "ppo": ("now", "no-channels-last", "no-value-reuse", "no-acted-outputs", "none", "paired"),
}
ADDED = ("paired",)
"""Variants that add a win (the others take one back): compared as variant vs now."""
PARTS = (
    "env step",
    "acting",
    "CNN forward, acting",
    "storage",
    "replay sampling",
    "CNN forward, no grad",
    "CNN forward, training",
    "CNN backward",
    "optimizer",
    "update, rest",
    "loop, rest",
)


class Profile:
    """Exclusive time per part: a wrapped call's time less that of wrapped calls inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []
        self.active = False

    def wrap(self, fn: Callable[..., Any], part: str | Callable[[], str]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return fn(*args, **kwargs)
            name = part() if callable(part) else part
            start = time.perf_counter()
            self._inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[name] += elapsed - self._inner.pop()
                if self._inner:
                    self._inner[-1] += elapsed

        return timed


def forward_part() -> str:
    return "CNN forward, training" if torch.is_grad_enabled() else "CNN forward, no grad"


def experiment(algo: str, prefill: int, paired: bool = False) -> Experiment:
    # The CPU, where the floor is measured, also on a machine with a GPU ("auto" would take it).
    overrides = ['agent.device="cpu"', "run.seed=0"]
    overrides += ["env.vectorization=paired"] if paired else []
    if algo == "dqn":
        overrides += [
            f"agent.learning_starts={prefill}",
            "agent.epsilon={kind='linear', start=0.1, end=0.1, steps=1}",
            "agent.replay={capacity=100000, compress=true}",
        ]
    return load_experiment(f"breakout_{algo}", overrides)


def instrument(algo: str, agent: Any, envs: Any, profile: Profile) -> None:
    """Wrap the instance's (and its parts') methods with the profile's timers."""
    acting = [False]

    def act(obs: np.ndarray, explore: bool) -> np.ndarray:
        acting[0] = True
        try:
            return original_act(obs, explore)
        finally:
            acting[0] = False

    def network_part() -> str:
        return "CNN forward, acting" if acting[0] else forward_part()

    original_act = agent.act
    envs.step = profile.wrap(envs.step, "env step")
    agent.act = profile.wrap(act, "acting")
    agent.observe = profile.wrap(agent.observe, "storage")
    agent.update = profile.wrap(agent.update, "update, rest")
    if algo == "dqn":
        online, target = agent.online_q, agent.target_q
        online.act_q_values = profile.wrap(online.act_q_values, "CNN forward, acting")
        online.forward = profile.wrap(online.forward, "CNN forward, training")
        online.backward = profile.wrap(online.backward, "CNN backward")
        online.q_values = profile.wrap(online.q_values, "CNN forward, no grad")
        target.q_values = profile.wrap(target.q_values, "CNN forward, no grad")
        agent.replay.sample = profile.wrap(agent.replay.sample, "replay sampling")
        agent.replay.add = profile.wrap(agent.replay.add, "storage")
        return
    net = agent.net
    for name in ("policy_params", "policy_params_and_values", "evaluate", "values"):
        setattr(net, name, profile.wrap(getattr(net, name), network_part))
    agent.passes.backward = profile.wrap(agent.passes.backward, "CNN backward")


@contextlib.contextmanager
def patched_optimizer(profile: Profile) -> Iterator[None]:
    """Time the agents' clipping and optimizer steps (module-level functions)."""
    saved = [
        (dqn_module, "optimizer_step"),
        (dqn_module, "clip_grad_norm"),
        (a2c_module, "clip_and_step"),
        (ppo_module, "clip_and_step"),
    ]
    originals = [getattr(module, name) for module, name in saved]
    for (module, name), fn in zip(saved, originals, strict=True):
        setattr(module, name, profile.wrap(fn, "optimizer"))
    try:
        yield
    finally:
        for (module, name), fn in zip(saved, originals, strict=True):
            setattr(module, name, fn)


def nchw_forward(self: networks.NatureCNN, frames: torch.Tensor) -> torch.Tensor:
    """NatureCNN.forward before channels-last: NCHW input."""
    x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames
    out: torch.Tensor = self.fc(self.convs(x))
    return out


def full_next_values(
    self: a2c_module.RolloutBuffer, values: np.ndarray, value_of: Callable[..., np.ndarray]
) -> np.ndarray:
    """RolloutBuffer.next_values before reuse: V(next_obs) of every row."""
    next_obs = self.arrays["next_obs"]
    flat_rows = next_obs.reshape(-1, *next_obs.shape[2:])
    return value_of(flat_rows).reshape(values.shape)


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """rlkit as it is ("now") or with one cheap win taken back, while the block lasts."""
    patches: list[tuple[Any, str, Any]] = []
    if name in ("no-channels-last", "none"):
        patches += [
            (flat, "in_memory_order", lambda p: p.reshape(-1)),
            (flat, "laid_out_like", lambda chunk, p: chunk.view_as(p)),
            (networks.NatureCNN, "forward", nchw_forward),
        ]
    if name in ("no-value-reuse", "none"):
        patches += [(a2c_module.RolloutBuffer, "next_values", full_next_values)]
    originals = [getattr(obj, attr) for obj, attr, _ in patches]
    for obj, attr, value in patches:
        setattr(obj, attr, value)
    try:
        yield
    finally:
        for (obj, attr, _), value in zip(patches, originals, strict=True):
            setattr(obj, attr, value)


class Case:
    """One algorithm in one variant: its envs, agent, rollout loop and profile."""

    def __init__(self, algo: str, name: str, prefill: int) -> None:
        self.algo, self.name = algo, name
        self.exp = experiment(algo, prefill, paired=name == "paired")
        self.profile = Profile()
        with variant(name):
            self.envs = make_vector_env(self.exp.env)
            self.agent = build_agent(
                self.exp.agent_name, self.exp.agent, env_spec(self.exp.env, self.envs), 0
            )
        if name in ("no-kept-graphs", "none") and algo == "a2c":
            self.agent.actor.keep_graph = False
        if name in ("no-acted-outputs", "none") and algo == "ppo":
            self.agent.actor.record_outputs = False
        instrument(algo, self.agent, self.envs, self.profile)
        self.loop = rollout(self.envs, self.agent, RolloutState.reset(self.envs, 0), True)
        self.num_envs = self.envs.num_envs
        self.steps = 0
        self.wall = 0.0
        self.block_rates: list[float] = []

    def run(self, env_steps: int, timed: bool) -> None:
        """Train for `env_steps` env steps (counted in the profile when `timed`)."""
        self.profile.active = timed
        done, start = 0, time.perf_counter()
        with variant(self.name), patched_optimizer(self.profile):
            while done < env_steps:
                transition, _ = next(self.loop)
                self.agent.observe(transition)
                self.agent.update()
                done += self.num_envs
        elapsed = time.perf_counter() - start
        if timed:
            self.steps += done
            self.wall += elapsed
            self.block_rates.append(done / elapsed)

    def split(self) -> dict[str, float]:
        """Microseconds per env step of each part."""
        seconds = dict(self.profile.seconds)
        seconds["loop, rest"] = self.wall - sum(seconds.values())
        return {part: seconds.get(part, 0.0) / self.steps * 1e6 for part in PARTS}

    def close(self) -> None:
        self.envs.close()


def nature_cnn(actions: int) -> nn.Module:
    cnn = networks.NatureCNN(4)
    head = nn.Linear(cnn.out_features, actions)
    net = nn.Sequential(cnn, head)
    flat.FlatParameters.of(net)  # channels-last kernels, as rlkit runs them
    return net


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor_per_step(exp: Experiment, algo: str, num_envs: int, repeats: int) -> float:
    """Microseconds per env step of the CNN work the algorithm must do (see the docstring)."""
    agent = exp.agent
    net = nature_cnn(4)
    frames = torch.randint(0, 256, (1024, 4, 84, 84), dtype=torch.uint8)

    def forward(batch: int) -> float:
        with torch.no_grad():
            return median_seconds(lambda: net(frames[:batch]), repeats)

    def forward_backward(batch: int) -> float:
        def step() -> None:
            net.zero_grad()
            net(frames[:batch]).sum().backward()

        return median_seconds(step, repeats)

    acting = forward(num_envs) / num_envs
    if algo == "dqn":
        per_update = forward_backward(agent.batch_size) + forward(agent.batch_size)
        return (acting + per_update / agent.train_frequency) * 1e6
    if algo == "a2c":  # one forward and one backward per sample, at the acting batch size
        return forward_backward(num_envs) / num_envs * 1e6
    rollout_size = agent.n_steps * num_envs
    minibatch = rollout_size // agent.minibatches
    passes = agent.epochs * agent.minibatches
    return (acting + passes * forward_backward(minibatch) / rollout_size) * 1e6


def iteration_steps(exp: Experiment, algo: str, num_envs: int) -> int:
    """Env steps of one training iteration: a rollout (A2C, PPO) or 250 gradient steps (DQN)."""
    if algo == "dqn":
        return 250 * exp.agent.train_frequency * num_envs
    return int(exp.agent.n_steps) * num_envs


def profile_algo(algo: str, args: argparse.Namespace) -> None:
    names = list(VARIANTS[algo]) if args.compare else ["now"]
    if args.variants:
        names = ["now", *(name for name in args.variants if name in VARIANTS[algo][1:])]
    prefill = 2_000 if args.quick else args.dqn_prefill
    cases = [Case(algo, name, prefill) for name in names]
    iteration = iteration_steps(cases[0].exp, algo, cases[0].num_envs)
    warmup = prefill + 2 * iteration if algo == "dqn" else 2 * iteration
    blocks = 2 if args.quick else args.blocks
    for case in cases:
        case.run(warmup, timed=False)
    for b in range(blocks):
        order = cases if b % 2 == 0 else cases[::-1]
        for case in order:
            case.run(iteration * args.iterations, timed=True)
    floor = floor_per_step(cases[0].exp, algo, cases[0].num_envs, 3 if args.quick else 10)
    report(algo, cases, iteration, floor)
    for case in cases:
        case.close()


def report(algo: str, cases: list[Case], iteration: int, floor: float) -> None:
    now = cases[0]
    split = now.split()
    total = sum(split.values())
    print(
        f"\n{algo.upper()} on Breakout, {now.num_envs} env(s), one iteration = {iteration:,} env "
        f"steps; {now.steps:,} timed env steps a variant, {len(now.block_rates)} blocks"
    )
    print(f"{'part':<24}{'µs/step':>10}{'share':>8}")
    for part, micros in split.items():
        if micros:
            print(f"{part:<24}{micros:>10,.0f}{micros / total:>8.1%}")
    print(f"{'total':<24}{total:>10,.0f}   = {1e6 / total:,.0f} env steps/s")
    print(
        f"CNN floor: {floor:,.0f} µs/step = {1e6 / floor:,.0f} env steps/s; "
        f"rlkit takes {total / floor:.2f}x the floor"
    )
    for case in cases[1:]:
        first, second = (case, now) if case.name in ADDED else (now, case)
        ratios = [a / b for a, b in zip(first.block_rates, second.block_rates, strict=True)]
        print(
            f"{first.name} vs {second.name}: {statistics.median(first.block_rates):,.0f} vs "
            f"{statistics.median(second.block_rates):,.0f} env steps/s (block medians); "
            f"speed-up {statistics.median(ratios):.2f}x (median of block pairs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    parser.add_argument("--compare", action="store_true", help="also the wins taken back")
    parser.add_argument(
        "--variants", nargs="+", metavar="NAME", help="compare 'now' with these variants only"
    )
    parser.add_argument("--iterations", type=int, default=2, help="iterations a timed block")
    parser.add_argument("--blocks", type=int, default=6, help="timed blocks a variant")
    parser.add_argument("--dqn-prefill", type=int, default=20_000, help="replay before learning")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 2 blocks of 1")
    args = parser.parse_args()
    if args.quick:
        args.iterations = 1
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as rlkit's runner
    print(f"torch {torch.__version__}, {args.threads} thread(s)", end="")
    print(", variants compared" if args.compare else "")
    for algo in args.algos:
        profile_algo(algo, args)


if __name__ == "__main__":
    main()
