"""Learning claims over seeds: "at least k of these n seeds succeed", decided as early as possible.

One seed's learning trajectory belongs to one CPU kind: float results differ between kinds
(AVX2 or AVX-512, Intel or AMD, MKL's kernel choice), and a DQN on CartPole is chaotic. So a
learning test claims what the algorithm does over seeds, with n and k chosen from the
distribution measured across seeds and emulated CPU kinds (experiments/benchmarks/RESULTS.md,
"Learning tests across CPU kinds").

Measuring that distribution uses the tests themselves: with RLKIT_MEASURE_SEEDS="0-9" every
listed seed runs (no early decision), each outcome is printed and appended as a JSON line to
RLKIT_MEASURE_OUT (if set), and the test passes; the claim is not asserted in that mode.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from rlkit.experiment import parse_seeds

KIND_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "OPENBLAS_CORETYPE")
"""Environment variables that select other kernels, as another CPU kind would (recorded)."""
Outcome = tuple[bool, str]
"""Whether one seed met the claim, and what it reached (for the failure message)."""


def at_least_k_of(claim: Callable[[int], Outcome], seeds: Sequence[int], k: int, name: str) -> None:
    """Assert that `claim(seed)` holds for at least `k` of `seeds`, run in order.

    Stops at the k-th success, or as soon as the seeds left cannot reach k.
    """
    measured = os.environ.get("RLKIT_MEASURE_SEEDS")
    if measured:
        _measure(claim, parse_seeds(measured), name)
        return
    outcomes: list[tuple[int, bool, str]] = []
    for i, seed in enumerate(seeds):
        ok, detail = claim(seed)
        outcomes.append((seed, ok, detail))
        print(f"{name} seed {seed}: {'met' if ok else 'missed'}; {detail}")
        successes = sum(o[1] for o in outcomes)
        if successes >= k:
            return
        if successes + len(seeds) - i - 1 < k:
            break
    report = "; ".join(f"seed {s}: {'met' if ok else 'missed'} ({d})" for s, ok, d in outcomes)
    pytest.fail(f"{name}: fewer than {k} of seeds {list(seeds)} met the claim: {report}")


def _measure(claim: Callable[[int], Outcome], seeds: Sequence[int], name: str) -> None:
    """Run every seed and record each outcome (RLKIT_MEASURE_SEEDS mode)."""
    out = os.environ.get("RLKIT_MEASURE_OUT")
    for seed in seeds:
        met, detail = claim(seed)
        row = {
            "test": name,
            "seed": seed,
            "met": bool(met),
            "detail": detail,
            "kind": {k: os.environ[k] for k in KIND_VARIABLES if k in os.environ} or "native",
        }
        print(json.dumps(row))
        if out:
            with Path(out).open("a") as f:
                f.write(json.dumps(row) + "\n")
