"""Sampling of replay slots: a vectorised sum-tree and a uniform or proportional slot sampler."""

from __future__ import annotations

from typing import Any

import numpy as np

_MAX_REJECTION_ROUNDS = 32


class SumTree:
    """Binary tree of non-negative leaf priorities whose inner nodes hold their children's sum.

    Node 1 is the root; the leaves are nodes [first_leaf, first_leaf + capacity), where
    first_leaf is the smallest power of two >= capacity (padding leaves stay 0). Every operation
    takes a batch of leaves and runs one numpy step per tree level.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"sum-tree capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.depth = (capacity - 1).bit_length()
        self.first_leaf = 1 << self.depth
        self.nodes = np.zeros(2 * self.first_leaf, dtype=np.float64)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.nodes[1])

    @property
    def nbytes(self) -> int:
        """Bytes held by the node array."""
        return int(self.nodes.nbytes)

    def get(self, index: np.ndarray) -> np.ndarray:
        """Priorities of leaves `index`."""
        priority: np.ndarray = self.nodes[self.first_leaf + np.asarray(index, dtype=np.int64)]
        return priority

    def set(self, index: np.ndarray, priority: np.ndarray | float) -> None:
        """Set leaves `index` to `priority` and recompute the sums above them exactly."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        values = np.broadcast_to(np.asarray(priority, dtype=np.float64), index.shape)
        if index.size == 0:
            return
        if index.min() < 0 or index.max() >= self.capacity:
            raise IndexError(f"sum-tree leaf index out of range [0, {self.capacity})")
        if not np.all(np.isfinite(values)) or values.min() < 0:
            raise ValueError("sum-tree priorities must be finite and >= 0")
        node = self.first_leaf + index
        self.nodes[node] = values
        for _ in range(self.depth):  # duplicate parents get identical sums: no np.unique needed
            node = node >> 1
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]

    def find(self, value: np.ndarray) -> np.ndarray:
        """Leaf i with prefix(i) <= v < prefix(i + 1) for each v in [0, total); never a 0 leaf."""
        v = np.array(value, dtype=np.float64, ndmin=1)
        node = np.ones(v.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * node
            left_sum = self.nodes[left]
            # Rounding can put v at or past a subtree's sum: never step into an empty subtree.
            go_right = (v >= left_sum) & (self.nodes[left + 1] > 0)
            v = np.where(go_right, v - left_sum, v)
            node = left + go_right
        return node - self.first_leaf

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `batch_size` leaves independently with probability priority / total."""
        if self.total <= 0:
            raise ValueError("cannot sample from a sum-tree whose priorities are all 0")
        return self.find(rng.random(batch_size) * self.total)

    def rebuild(self) -> None:
        """Recompute every inner node from the leaves."""
        for level in range(self.depth - 1, -1, -1):
            lo, hi = 1 << level, 2 << level
            self.nodes[lo:hi] = (
                self.nodes[2 * lo : 2 * hi : 2] + self.nodes[2 * lo + 1 : 2 * hi : 2]
            )

    def leaves(self) -> np.ndarray:
        """A copy of the priorities of leaves [0, capacity)."""
        return self.nodes[self.first_leaf : self.first_leaf + self.capacity].copy()

    def load_leaves(self, priorities: np.ndarray) -> None:
        """Replace all priorities at once (as returned by `leaves`)."""
        if priorities.shape != (self.capacity,):
            raise ValueError(f"expected {self.capacity} priorities, got shape {priorities.shape}")
        self.nodes[:] = 0.0
        self.nodes[self.first_leaf : self.first_leaf + self.capacity] = priorities
        self.rebuild()


def sum_tree_bytes(capacity: int) -> int:
    """Bytes a SumTree of `capacity` leaves allocates."""
    return 2 * (1 << (capacity - 1).bit_length()) * np.dtype(np.float64).itemsize


class SlotSampler:
    """Which replay slots may be sampled, and how: uniformly or proportionally to priority.

    A slot is either invalid (empty, overwritten or its n-step window is incomplete) or valid.
    With `prioritized`, valid slots carry priority p ** alpha in a SumTree (invalid ones 0), new
    ones enter with the largest p seen so far, and `update` sets p = |td| + eps.
    """

    def __init__(self, num_slots: int, prioritized: bool, alpha: float, eps: float) -> None:
        self.valid = np.zeros(num_slots, dtype=bool)
        self.num_valid = 0
        self.alpha, self.eps = alpha, eps
        self.max_priority = 1.0
        self.tree = SumTree(num_slots) if prioritized else None

    @property
    def nbytes(self) -> int:
        """Bytes of the validity mask and the sum-tree."""
        return int(self.valid.nbytes) + (self.tree.nbytes if self.tree is not None else 0)

    def validate(self, index: np.ndarray) -> None:
        """Make slots `index` sampleable, with the maximum priority seen so far."""
        index = _distinct(index)
        new = index[~self.valid[index]]
        self.valid[new] = True
        self.num_valid += len(new)
        if self.tree is not None:
            self.tree.set(new, self.max_priority**self.alpha)

    def invalidate(self, index: np.ndarray) -> None:
        """Make slots `index` unsampleable (about to be overwritten, or their data is gone)."""
        index = _distinct(index)
        old = index[self.valid[index]]
        self.valid[old] = False
        self.num_valid -= len(old)
        if self.tree is not None:
            self.tree.set(old, 0.0)

    def update(self, index: np.ndarray, td_abs: np.ndarray) -> None:
        """Set the priority of still-valid slots `index` to (|td| + eps) ** alpha."""
        if self.tree is None:
            return
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        priority = np.abs(np.asarray(td_abs, dtype=np.float64).reshape(-1)) + self.eps
        if priority.shape != index.shape or not np.all(np.isfinite(priority)):
            raise ValueError("priorities must be finite and one per index")
        keep = self.valid[index]
        if keep.any():
            self.max_priority = max(self.max_priority, float(priority[keep].max()))
            self.tree.set(index[keep], priority[keep] ** self.alpha)

    def sample(
        self, batch_size: int, rng: np.random.Generator, beta: float, sizes: np.ndarray, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw slot indices and importance weights; streams of `length` slots hold `sizes`."""
        if self.num_valid == 0:
            raise ValueError("cannot sample: the replay holds no complete transition yet")
        if self.tree is None:
            index = self._uniform(batch_size, rng, sizes, length)
            return index, np.ones(batch_size, dtype=np.float32)
        index = self.tree.sample(batch_size, rng)
        probability = self.tree.get(index) / self.tree.total
        weight = (self.num_valid * probability) ** -beta
        return index, (weight / weight.max()).astype(np.float32)

    def _uniform(
        self, batch_size: int, rng: np.random.Generator, sizes: np.ndarray, length: int
    ) -> np.ndarray:
        """Uniform over valid slots: rejection from the written slots, exact fallback."""
        ends = np.cumsum(sizes)
        out = np.empty(batch_size, dtype=np.int64)
        filled = 0
        for _ in range(_MAX_REJECTION_ROUNDS):
            u = rng.integers(ends[-1], size=batch_size - filled)
            stream = np.searchsorted(ends, u, side="right")
            candidate = stream * length + u - (ends[stream] - sizes[stream])
            accepted = candidate[self.valid[candidate]]
            out[filled : filled + len(accepted)] = accepted
            filled += len(accepted)
            if filled == batch_size:
                return out
        out[filled:] = rng.choice(np.flatnonzero(self.valid), batch_size - filled)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Validity, the largest priority and the tree's leaves."""
        state: dict[str, Any] = {"valid": self.valid.copy(), "max_priority": self.max_priority}
        if self.tree is not None:
            state["priorities"] = self.tree.leaves()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        np.copyto(self.valid, state["valid"])
        self.num_valid = int(self.valid.sum())
        self.max_priority = float(state["max_priority"])
        if self.tree is not None:
            self.tree.load_leaves(np.asarray(state["priorities"], dtype=np.float64))


def _distinct(index: np.ndarray) -> np.ndarray:
    """`index` without repeats (np.unique costs ~15 us a call; one env adds one slot a step)."""
    return index if len(index) <= 1 else np.unique(index)
