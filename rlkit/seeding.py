"""Seeds of a run's sub-streams, derived from its one seed."""

from __future__ import annotations

import numpy as np


def derive_seed(seed: int, *tags: int) -> int:
    """A seed for a sub-stream (agent, evaluation k, ...) that does not overlap the others.

    30 bits, so that seed + sub-env index stays below 2**31, the limit of ale-py's seeds.
    """
    return int(np.random.SeedSequence([seed, *tags]).generate_state(1)[0]) >> 2
