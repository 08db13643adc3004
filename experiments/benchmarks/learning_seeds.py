"""When does a bundled experiment reach its target, over seeds and emulated CPU kinds?

Float results differ between CPU kinds (the vector width of torch's, MKL's and OpenBLAS's
kernels changes the order of floating-point reductions), and a DQN on CartPole is chaotic, so
one seed's trajectory belongs to one machine kind. This script measures the distribution that
learning tests and shipped targets must hold over: each (experiment, seed, kind) is a fresh
process whose environment selects the kernels, training with `run.target_return` (stop at the
first periodic evaluation that reaches it), and one row per run says when the target was
reached, the best periodic evaluation and the final one.

Kinds (environment variables read when torch and numpy load):
  native   this machine's own kernels
  default  ATEN_CPU_CAPABILITY=default: ATen's unvectorised kernels instead of AVX2/AVX-512
  mkl      MKL_CBWR=COMPATIBLE: MKL's reproducible-results matrix kernels (others than the
           AVX2 or AVX-512 ones MKL picks on its own), ATen's native kernels
  both     the two together
  openblas OPENBLAS_CORETYPE=Nehalem: numpy's matrix products with OpenBLAS's SSE kernels (the
           GA and DQN's acting run their MLPs in numpy; torch does not use OpenBLAS)
Each kind changes bits of the results (checked with hashes of matmuls and reductions;
MKL_ENABLE_INSTRUCTIONS and NPY_DISABLE_CPU_FEATURES changed none), as another machine would.

    python experiments/benchmarks/learning_seeds.py cartpole_dqn --seeds 0-4
    python experiments/benchmarks/learning_seeds.py cartpole_dqn cartpole_double_dqn \
        --seeds 0-9 --kinds native default mkl both --workers 2 --out seeds.jsonl
    python experiments/benchmarks/learning_seeds.py --markdown seeds.jsonl \
        --claim cartpole_dqn=1/4      # tables for RESULTS.md, with the claim's failure chance
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rlkit.experiment import parse_seeds

KINDS: dict[str, dict[str, str]] = {
    "native": {},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "mkl": {"MKL_CBWR": "COMPATIBLE"},
    "both": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
    "openblas": {"OPENBLAS_CORETYPE": "Nehalem"},
}


def one_run(experiment: str, seed: int, target: float, overrides: Sequence[str]) -> dict[str, Any]:
    """Train one seed in this process; the row this script prints for it."""
    import torch

    from rlkit.experiment import load_experiment
    from rlkit.training.runner import train

    settings = [f"run.seed={seed}", "run.progress=false", f"run.target_return={target}"]
    loaded = load_experiment(experiment, [*settings, *overrides])
    with tempfile.TemporaryDirectory() as tmp:
        summary = train(loaded, Path(tmp) / "run")
    periodic = summary["evaluations"][:-1]  # the last entry is the final evaluation
    return {
        "experiment": experiment,
        "seed": seed,
        "capability": torch.backends.cpu.get_cpu_capability(),
        "budget": loaded.run.total_steps,
        "reached_at": summary["reached_target_at"],
        "best_eval": max((e["mean_return"] for e in periodic), default=None),
        "final_eval": summary["final_eval"]["mean_return"],
        "episodes": summary["episodes"],
        "wall_s": summary["wall_s"],
    }


def spawn(experiment: str, seed: int, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run in a fresh process whose environment selects the CPU kind's kernels."""
    command = [sys.executable, __file__, "--one", experiment, str(seed), str(args.target)]
    command += [f"--set={text}" for text in args.set]
    env = {**os.environ, **KINDS[kind]}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"experiment": experiment, "seed": seed, "kind": kind, "error": done.stderr[-500:]}
    return {"kind": kind, **json.loads(done.stdout.strip().splitlines()[-1])}


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per run, then per experiment and kind: how many seeds reached the target."""
    print(f"{'experiment':32} {'kind':8} {'seed':>4} {'reached':>8} {'best':>7} {'final':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['experiment']:32} {r['kind']:8} {r['seed']:>4} error: {r['error']}")
            continue
        reached = "-" if r["reached_at"] is None else str(r["reached_at"])
        print(
            f"{r['experiment']:32} {r['kind']:8} {r['seed']:>4} {reached:>8} "
            f"{r['best_eval']:>7.1f} {r['final_eval']:>7.1f}"
        )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["experiment"], r["kind"]), []).append(r)
    for (experiment, kind), group in groups.items():
        hits = sorted(r["reached_at"] for r in group if r.get("reached_at") is not None)
        median = hits[len(hits) // 2] if len(hits) == len(group) else "n/a"
        print(f"{experiment} [{kind}]: {len(hits)}/{len(group)} reached; median step {median}")


def chance_of_failing(p: float, k: int, n: int) -> float:
    """P(fewer than k of n seeds succeed) when each succeeds independently with probability p."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))


def kind_name(row: dict[str, Any]) -> str:
    """The kind a row was measured on: this script's names, or the test rows' variables."""
    kind = row.get("kind", "native")
    if isinstance(kind, str):
        return kind
    named = {name: variables for name, variables in KINDS.items() if variables == kind}
    return next(iter(named), ",".join(f"{k}={v}" for k, v in kind.items()))


def cell(row: dict[str, Any], ok: bool) -> str:
    """A run's outcome: the step it reached the target at, or 'no (best evaluation)'."""
    if "reached_at" not in row:  # a test's row: met or not
        return "yes" if ok else "no"
    return f"{row['reached_at']:,}" if ok else f"no ({row['best_eval']:.0f})"


def markdown(rows: list[dict[str, Any]], claims: dict[str, tuple[int, int]]) -> str:
    """Per experiment (or test): a seeds x kinds table of outcomes, the success rate (Laplace's
    estimate), and the chance that its k-of-n claim fails at that rate."""
    out: list[str] = []
    names = list(dict.fromkeys(r.get("experiment") or r["test"] for r in rows))
    for name in names:
        mine = [r for r in rows if (r.get("experiment") or r.get("test")) == name]
        kinds = list(dict.fromkeys(kind_name(r) for r in mine))
        seeds = sorted({r["seed"] for r in mine})
        cells: dict[tuple[int, str], str] = {}
        met = 0
        for r in mine:
            ok = r["met"] if "met" in r else r.get("reached_at") is not None
            met += ok
            cells[(r["seed"], kind_name(r))] = cell(r, ok)
        out += [f"**{name}**", "", "| seed | " + " | ".join(kinds) + " |"]
        out.append("| --- |" + " --- |" * len(kinds))
        for seed in seeds:
            row = [cells.get((seed, kind), "") for kind in kinds]
            out.append(f"| {seed} | " + " | ".join(row) + " |")
        p = (met + 1) / (len(mine) + 2)  # Laplace's rule: never takes 10 of 10 for certainty
        line = f"Met in {met} of {len(mine)} runs; p = (met + 1) / (runs + 2) = {p:.3f}."
        if name in claims:
            k, n = claims[name]
            line += f" The test's claim, {k} of {n} seeds, fails with probability "
            line += f"{chance_of_failing(p, k, n):.1e} at that rate."
        finals = sorted(r["final_eval"] for r in mine if "final_eval" in r)
        if finals:
            median = finals[len(finals) // 2]
            line += (
                " Final evaluation (the run's last checkpoint: the policy that met the target, "
                f"where one did): min {finals[0]:.1f}, median {median:.1f}."
            )
        out += ["", line, ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*")
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"))
    parser.add_argument("--kinds", nargs="+", choices=sorted(KINDS), default=["native", "default"])
    parser.add_argument("--target", type=float, default=475.0)
    parser.add_argument("--set", action="append", default=[], help="extra override key=value")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="append one JSON line per run")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--markdown", type=Path, help="print tables of a JSON-lines file (this script's --out, "
        "or tests/across_seeds.py's RLKIT_MEASURE_OUT) and exit",
    )  # fmt: skip
    parser.add_argument(
        "--claim", action="append", default=[], metavar="NAME=K/N",
        help="with --markdown: the k-of-n claim a test makes for NAME",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.markdown:
        rows = [json.loads(line) for line in args.markdown.read_text().splitlines() if line]
        claims = {}
        for text in args.claim:
            name, _, ratio = text.partition("=")
            k, _, n = ratio.partition("/")
            claims[name] = (int(k), int(n))
        print(markdown([r for r in rows if "error" not in r], claims))
        return
    if args.one:
        name, seed, target = args.one
        print(json.dumps(one_run(name, int(seed), float(target), args.set)))
        return
    jobs = [(e, s, k) for e in args.experiments for k in args.kinds for s in args.seeds]
    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(args.workers) as pool:
        for row in pool.map(lambda job: spawn(*job, args), jobs):
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print_table(rows)


if __name__ == "__main__":
    main()
