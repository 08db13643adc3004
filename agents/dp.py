"""Dynamic programming on a known TabularModel: policy evaluation, policy and value iteration.

Backups are synchronous: every sweep computes all states from the previous sweep's values,
q = rewards + gamma * transitions @ v (terminating moves carry no mass in `transitions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rlkit.agent import TABULAR, Agent, EnvSpec, discrete_sizes, register_agent, require_discrete
from rlkit.errors import SpaceError
from rlkit.tabular_model import TabularModel

TIE_TOLERANCE = 1e-12
Method = Literal["value_iteration", "policy_iteration"]


@dataclass(frozen=True)
class DPResult:
    """What a DP method found."""

    values: np.ndarray
    """(S,) state values."""
    policy: np.ndarray
    """(S, A) deterministic one-hot policy, greedy with respect to the values."""
    iterations: int
    """Sweeps (value iteration) or evaluate-improve rounds (policy iteration)."""


def _check_common(gamma: float, theta: float, horizon: int | None, min_horizon: int) -> None:
    """Range checks shared by the DP functions."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma: {gamma!r} is not in [0, 1]")
    if not theta > 0.0:
        raise ValueError(f"theta: {theta!r} must be > 0")
    if horizon is not None and horizon < min_horizon:
        raise ValueError(f"horizon: {horizon!r} must be None or an integer >= {min_horizon}")


def _no_convergence(what: str, gamma: float, max_iterations: int) -> ValueError:
    """The error for a sweep loop that hit max_iterations."""
    hint = (
        " (with gamma = 1 an improper policy, one that may never terminate, has no finite "
        "value: use gamma < 1 or a finite horizon)"
        if gamma == 1.0
        else " (raise max_iterations or theta)"
    )
    return ValueError(f"{what} did not converge within max_iterations={max_iterations}{hint}")


def q_from_v(model: TabularModel, v: np.ndarray, gamma: float) -> np.ndarray:
    """(S, A) action values: q(s, a) = r(s, a) + gamma * sum_s2 p(s2 | s, a) v(s2)."""
    return np.asarray(model.rewards + gamma * model.transitions @ v)


def greedy(q: np.ndarray, tolerance: float = TIE_TOLERANCE) -> np.ndarray:
    """(S, A) one-hot policy of the best action; lowest index among actions within tolerance."""
    best = q >= q.max(axis=1, keepdims=True) - tolerance
    policy = np.zeros_like(q, dtype=np.float64)
    policy[np.arange(len(q)), best.argmax(axis=1)] = 1.0
    return policy


def _policy_model(model: TabularModel, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,) expected reward and (S, S) non-terminating transitions under `policy`."""
    if policy.shape != model.rewards.shape:
        raise ValueError(f"policy: shape {policy.shape} is not (S, A) = {model.rewards.shape}")
    r_pi = (policy * model.rewards).sum(axis=1)
    p_pi = np.einsum("sa,sat->st", policy, model.transitions)
    return r_pi, p_pi


def policy_evaluation(
    model: TabularModel,
    policy: np.ndarray,
    gamma: float,
    theta: float = 1e-10,
    max_iterations: int = 100_000,
    horizon: int | None = None,
    initial_values: np.ndarray | None = None,
) -> np.ndarray:
    """(S,) value of `policy` ((S, A) action probabilities), to accuracy theta or N steps.

    horizon=N gives the exact N-step value: N synchronous backups from V = 0. Otherwise
    sweeps until the largest change is below theta, starting from `initial_values` (or 0).
    """
    _check_common(gamma, theta, horizon, min_horizon=0)
    r_pi, p_pi = _policy_model(model, policy)
    if horizon is not None:
        v = np.zeros(model.num_states)
        for _ in range(horizon):
            v = r_pi + gamma * p_pi @ v
        return v
    v = np.zeros(model.num_states) if initial_values is None else initial_values.copy()
    for _ in range(max_iterations):
        new_v = r_pi + gamma * p_pi @ v
        delta = float(np.abs(new_v - v).max(initial=0.0))
        v = new_v
        if delta < theta:
            return np.asarray(v)
    raise _no_convergence("policy evaluation", gamma, max_iterations)


def _always_terminates(p_pi: np.ndarray) -> bool:
    """True if every state can reach termination, i.e. the policy is proper (I - P invertible)."""
    can_end = p_pi.sum(axis=1) < 1.0 - 1e-12
    edges = p_pi > 0.0
    while True:
        grown = can_end | (edges @ can_end)
        if np.array_equal(grown, can_end):
            return bool(can_end.all())
        can_end = grown


def _evaluate_exactly(
    model: TabularModel, policy: np.ndarray, gamma: float, theta: float, v: np.ndarray
) -> np.ndarray:
    """Solve v = r_pi + gamma P_pi v; sweep from `v` where it has no unique solution."""
    r_pi, p_pi = _policy_model(model, policy)
    if gamma < 1.0 or _always_terminates(p_pi):
        return np.asarray(np.linalg.solve(np.eye(model.num_states) - gamma * p_pi, r_pi))
    return policy_evaluation(model, policy, gamma, theta, initial_values=v)


def _improve(q: np.ndarray, policy: np.ndarray, tolerance: float) -> np.ndarray:
    """Greedy policy in q, keeping a deterministic policy's action unless beaten by > tolerance."""
    new_policy = greedy(q)
    current = policy.argmax(axis=1)
    current_q = q[np.arange(len(q)), current]
    keep = (policy.max(axis=1) == 1.0) & (current_q >= q.max(axis=1) - tolerance)
    new_policy[keep] = policy[keep]
    return new_policy


def policy_iteration(
    model: TabularModel, gamma: float, theta: float = 1e-10, max_iterations: int = 1_000
) -> DPResult:
    """Evaluate and improve from the equiprobable random policy until the policy is stable.

    Policies are evaluated exactly (a linear solve; sweeps to theta for an improper policy
    with gamma = 1). An action is only replaced by one better by more than theta, so float
    noise between equally good actions cannot make the loop cycle.
    """
    _check_common(gamma, theta, None, min_horizon=0)
    policy = np.full(model.rewards.shape, 1.0 / model.num_actions)
    v = np.zeros(model.num_states)
    for iteration in range(1, max_iterations + 1):
        v = _evaluate_exactly(model, policy, gamma, theta, v)
        new_policy = _improve(q_from_v(model, v, gamma), policy, theta)
        if np.array_equal(new_policy, policy):
            return DPResult(v, policy, iteration)
        policy = new_policy
    raise _no_convergence("policy iteration", gamma, max_iterations)


def value_iteration(
    model: TabularModel,
    gamma: float,
    theta: float = 1e-10,
    horizon: int | None = None,
    max_iterations: int = 100_000,
) -> DPResult:
    """Optimal values by Bellman optimality backups from V = 0.

    horizon=N runs exactly N backups (the optimal N-step values); the policy is greedy in the
    last backup's q, i.e. the optimal first action with N steps to go. Otherwise sweeps until
    the largest change is below theta.
    """
    _check_common(gamma, theta, horizon, min_horizon=1)
    limit = horizon if horizon is not None else max_iterations
    v = np.zeros(model.num_states)
    for iteration in range(1, limit + 1):
        q = q_from_v(model, v, gamma)
        new_v = q.max(axis=1)
        delta = float(np.abs(new_v - v).max(initial=0.0))
        v = new_v
        if iteration == horizon or (horizon is None and delta < theta):
            return DPResult(v, greedy(q), iteration)
    raise _no_convergence("value iteration", gamma, max_iterations)


@dataclass
class DPConfig:
    """Plan once with dynamic programming on the env's known model, then act greedily."""

    method: Method = "value_iteration"
    """Planning algorithm."""
    gamma: float = 0.99
    """Discount in [0, 1]; < 1 so planning converges even if a policy never ends (book: 1.0)."""
    theta: float = 1e-9
    """Stop sweeping when no state value changes by more than this (> 0)."""
    horizon: int | None = None
    """value_iteration only: plan for exactly this many steps (>= 1) instead of converging."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma: {self.gamma!r} is not in [0, 1]")
        if not self.theta > 0.0:
            raise ValueError(f"theta: {self.theta!r} must be > 0")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"horizon: {self.horizon!r} must be omitted or an integer >= 1")
        if self.horizon is not None and self.method != "value_iteration":
            raise ValueError(
                f"horizon: {self.horizon!r} is only valid with method = 'value_iteration' "
                f"(got {self.method!r}); omit it for policy_iteration"
            )


@register_agent("dp")
class DPAgent(Agent[DPConfig]):
    """Plans once in __init__ from `spec.model` and plays the resulting greedy policy."""

    family = TABULAR

    config_class = DPConfig

    def __init__(self, config: DPConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.check_spaces(spec)
        assert spec.model is not None  # checked above
        self.model = spec.model
        self.result = self._plan(config, spec.model)
        self.actions = self.result.policy.argmax(axis=1)
        self.reported = False

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        """Needs Discrete spaces and a known transition table matching them."""
        if spec.model is None:
            raise SpaceError(
                "agent 'dp' needs an environment with a known transition table (Gymnasium "
                "toy-text envs such as FrozenLake-v1, Taxi-v4, CliffWalking-v1, or "
                f"rlkit/GridWorld-v0); {spec.env_id} has none"
            )
        require_discrete(spec, "dp", observations=True, actions=True)
        sizes = discrete_sizes(spec)
        if (spec.model.num_states, spec.model.num_actions) != sizes:
            raise SpaceError(
                f"agent 'dp': the model of {spec.env_id} has (states, actions) = "
                f"{(spec.model.num_states, spec.model.num_actions)}, the spaces have {sizes}"
            )

    @staticmethod
    def _plan(config: DPConfig, model: TabularModel) -> DPResult:
        """Run the configured DP method."""
        if config.method == "policy_iteration":
            return policy_iteration(model, config.gamma, config.theta)
        return value_iteration(model, config.gamma, config.theta, horizon=config.horizon)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """The planned action for each observation (there is nothing to explore)."""
        return np.asarray(self.actions[np.asarray(obs, dtype=np.int64).reshape(-1)])

    def update(self) -> dict[str, float]:
        """Report the plan once (sweeps and expected initial value); nothing to learn."""
        if self.reported:
            return {}
        self.reported = True
        return {
            "dp/iterations": float(self.result.iterations),
            "dp/value_initial": float(self.model.initial @ self.result.values),
        }

    def state_dict(self) -> dict[str, Any]:
        """The plan (policy, values, iterations), whether it was reported, and the RNG."""
        return {
            **super().state_dict(),
            "policy": self.result.policy.copy(),
            "values": self.result.values.copy(),
            "iterations": self.result.iterations,
            "reported": self.reported,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        super().load_state_dict(state)
        policy = np.asarray(state["policy"], dtype=np.float64)
        values = np.asarray(state["values"], dtype=np.float64)
        self.result = DPResult(values, policy, int(state["iterations"]))
        self.actions = policy.argmax(axis=1)
        self.reported = bool(state["reported"])
