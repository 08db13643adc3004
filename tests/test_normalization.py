"""Observation and reward normalisation (rlkit.normalization) against hand-computed values, the
closed form of the parallel update, numpy over the concatenated batches, and SB3's VecNormalize."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlkit import checkpoint
from rlkit.normalization import ObservationNormalizer, RewardScaler, RunningMeanStd

C = 1e-4  # SB3's count epsilon: the pseudo-batch of mean 0, variance 1 the statistics start from


def with_prior(rows: np.ndarray, c: float = C) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the pseudo-batch (count c, mean 0, var 1) merged with `rows`, in
    closed form: what any sequence of parallel updates must arrive at."""
    rows = np.asarray(rows, dtype=np.float64)
    mean = rows.sum(axis=0) / (c + len(rows))
    m2 = c * (1.0 + mean**2) + ((rows - mean) ** 2).sum(axis=0)
    return mean, m2 / (c + len(rows))


# --- RunningMeanStd -------------------------------------------------------------------------


def test_starts_as_the_pseudo_batch() -> None:
    rms = RunningMeanStd((2,))
    np.testing.assert_array_equal(rms.mean, [0.0, 0.0])
    np.testing.assert_array_equal(rms.var, [1.0, 1.0])
    assert rms.count == C
    assert rms.mean.dtype == rms.var.dtype == np.float64
    assert RunningMeanStd(3).shape == (3,)


def test_one_batch_by_hand() -> None:
    # Batch [1, 3]: mean 2, var 1, n 2, merged with (count c, mean 0, var 1):
    # mean = 0 + 2 * 2 / (c + 2); M2 = c * 1 + 2 * 1 + 2**2 * c * 2 / (c + 2); var = M2 / (c + 2).
    rms = RunningMeanStd()
    rms.update(np.array([1.0, 3.0]))
    assert rms.mean == pytest.approx(4 / (2 + C), rel=1e-15)
    assert rms.var == pytest.approx((C + 2 + 8 * C / (2 + C)) / (2 + C), rel=1e-15)
    assert rms.count == 2 + C
    # Nearly numpy's mean 2 and var 1: the pseudo-batch weighs 1e-4 against 2 rows.
    assert rms.mean == pytest.approx(2.0, rel=1e-4)
    assert rms.var == pytest.approx(1.0, rel=1e-3)


def test_batches_match_the_closed_form_with_the_epsilon_count() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (1, 5, 2, 17, 1)]
    rms = RunningMeanStd((3,))
    for batch in batches:
        rms.update(batch)
    mean, var = with_prior(np.concatenate(batches))
    np.testing.assert_allclose(rms.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(rms.var, var, rtol=1e-12)
    assert rms.count == pytest.approx(C + 26, rel=1e-15)


def test_batches_equal_numpy_over_the_concatenation() -> None:
    # With a negligible pseudo-batch the running statistics are numpy's over all rows at once.
    rng = np.random.default_rng(1)
    batches = [rng.normal(-1.0, 5.0, size=(n, 2, 2)) for n in (4, 1, 9, 3)]
    rms = RunningMeanStd((2, 2), epsilon=1e-30)
    for batch in batches:
        rms.update(batch)
    rows = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean, rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rms.var, rows.var(axis=0), rtol=1e-12)


def test_integer_and_float32_batches_are_taken_in_float64() -> None:
    rms = RunningMeanStd((2,), epsilon=1e-30)
    rms.update(np.array([[0, 255], [255, 255]], dtype=np.uint8))  # no uint8 wrap-around
    np.testing.assert_allclose(rms.mean, [127.5, 255.0])
    np.testing.assert_allclose(rms.var, [127.5**2, 0.0], atol=1e-9)
    assert rms.mean.dtype == np.float64
    f32 = RunningMeanStd(epsilon=1e-30)
    f32.update(np.array([0.1, 0.2, 0.3], dtype=np.float32))
    exact = (float(np.float32(0.1)) + float(np.float32(0.2)) + float(np.float32(0.3))) / 3
    assert f32.mean == pytest.approx(exact, rel=1e-15)


def test_an_empty_batch_changes_nothing() -> None:
    rms = RunningMeanStd((2,))
    rms.update(np.ones((3, 2)))
    before = rms.state_dict()
    rms.update(np.zeros((0, 2)))
    assert_state_equal(rms.state_dict(), before)


@pytest.mark.parametrize(
    ("shape", "batch"),
    [((3,), np.zeros(3)), ((3,), np.zeros((2, 4))), ((), np.zeros((2, 1))), ((), np.float64(1.0))],
    ids=["one-obs-not-a-batch", "wrong-width", "extra-dim", "scalar"],
)
def test_a_batch_of_the_wrong_shape_is_refused(shape: tuple[int, ...], batch: Any) -> None:
    with pytest.raises(ValueError, match=r"must have shape \(n, \*"):
        RunningMeanStd(shape).update(batch)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_before_they_poison_the_statistics(bad: float) -> None:
    rms = RunningMeanStd()
    with pytest.raises(ValueError, match="NaN or infinite"):
        rms.update(np.array([1.0, bad]))
    assert rms.count == C  # unchanged


# --- ObservationNormalizer ------------------------------------------------------------------


def obs_normalizer(mean: list[float], var: list[float], **kwargs: float) -> ObservationNormalizer:
    norm = ObservationNormalizer(len(mean), **kwargs)
    norm.load_state_dict({"mean": np.array(mean), "var": np.array(var), "count": 10.0})
    return norm


def test_normalize_and_clip_by_hand() -> None:
    # mean [1, -2], std [2, 0.5]: (5 - 1) / 2 = 2, (-2.5 + 2) / 0.5 = -1.
    norm = obs_normalizer([1.0, -2.0], [4.0, 0.25])
    out = norm.normalize(np.array([5.0, -2.5]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [2.0, -1.0], rtol=1e-7)
    # Beyond +-10 standard deviations: clipped to the default 10.
    np.testing.assert_array_equal(norm.normalize(np.array([101.0, -102.0])), [10.0, -10.0])
    # A batch, with clip 1.5: [2, -1] -> [1.5, -1]; [1, -2] (the mean) -> [0, 0].
    tight = obs_normalizer([1.0, -2.0], [4.0, 0.25], clip=1.5)
    np.testing.assert_allclose(
        tight.normalize(np.array([[5.0, -2.5], [1.0, -2.0]])), [[1.5, -1.0], [0.0, 0.0]], rtol=1e-7
    )


def test_epsilon_keeps_a_constant_feature_finite() -> None:
    # var 0: (x - mean) / sqrt(0 + 1e-8) = (x - mean) * 1e4, then clipped.
    norm = obs_normalizer([3.0], [0.0])
    np.testing.assert_allclose(norm.normalize(np.array([3.0002])), [2.0], rtol=1e-5)
    np.testing.assert_array_equal(norm.normalize(np.array([3.0])), [0.0])
    np.testing.assert_array_equal(norm.normalize(np.array([4.0])), [10.0])


def test_normalize_uses_the_updated_statistics_and_does_not_update() -> None:
    norm = ObservationNormalizer(1)
    batch = np.array([[1.0], [3.0]])
    norm.update(batch)
    mean, var = with_prior(batch)
    expected = np.clip((batch - mean) / np.sqrt(var + 1e-8), -10, 10).astype(np.float32)
    np.testing.assert_array_equal(norm.normalize(batch), expected)
    count = norm.rms.count
    norm.normalize(batch)
    assert norm.rms.count == count


def test_frozen_observation_statistics_do_not_move() -> None:
    norm = ObservationNormalizer(2)
    norm.update(np.array([[1.0, 2.0], [3.0, 5.0]]))
    before = norm.state_dict()
    norm.frozen = True
    norm.update(np.array([[100.0, -100.0]]))
    assert_state_equal(norm.state_dict(), before)
    norm.frozen = False
    norm.update(np.array([[100.0, -100.0]]))
    assert norm.rms.count == before["count"] + 1


def test_normalize_refuses_observations_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"must end in that shape"):
        ObservationNormalizer((2, 3)).normalize(np.zeros((4, 3, 2)))


# --- RewardScaler ---------------------------------------------------------------------------


def test_reward_scaling_by_hand_with_gamma_half_and_resets() -> None:
    # Two envs, gamma 0.5. The returns the statistics see, step by step:
    #   step 1: r = [1, 2]                  returns [1, 2]; env 1 terminated -> [1, 0] after
    #   step 2: r = [2, 4]                  returns [1 * .5 + 2, 0 * .5 + 4] = [2.5, 4]
    #           (without the reset env 1 would have 2 * .5 + 4 = 5)
    #   step 3: r = [0, -2], env 0 truncated  returns [1.25, 0]; env 0 -> 0 after
    scaler = RewardScaler(2, gamma=0.5)
    seen: list[float] = []

    def step(rewards: list[float], terminated: list[bool], truncated: list[bool]) -> np.ndarray:
        scaler.update(np.array(rewards), np.array(terminated), np.array(truncated))
        return scaler.normalize(np.array(rewards))

    def expected(rewards: list[float], returns: list[float]) -> np.ndarray:
        seen.extend(returns)
        _, var = with_prior(np.array(seen))
        assert scaler.rms.var == pytest.approx(var, rel=1e-12)
        return np.clip(np.array(rewards) / math.sqrt(var + 1e-8), -10, 10).astype(np.float32)

    out = step([1.0, 2.0], [False, True], [False, False])
    # Returns {1, 2}: mean ~1.5, var ~0.25 (std ~0.5), so the rewards double: ~[2, 4].
    np.testing.assert_allclose(out, [2.0, 4.0], rtol=1e-3)
    np.testing.assert_array_equal(out, expected([1.0, 2.0], [1.0, 2.0]))
    np.testing.assert_array_equal(scaler.returns, [1.0, 0.0])  # reset after the update

    out = step([2.0, 4.0], [False, False], [False, False])
    np.testing.assert_array_equal(out, expected([2.0, 4.0], [2.5, 4.0]))
    np.testing.assert_array_equal(scaler.returns, [2.5, 4.0])

    out = step([0.0, -2.0], [False, False], [True, False])
    np.testing.assert_array_equal(out, expected([0.0, -2.0], [1.25, 0.0]))
    assert out[1] < 0  # not centred: the sign of a reward survives
    np.testing.assert_array_equal(scaler.returns, [0.0, 0.0])
    assert scaler.rms.count == pytest.approx(C + 6)


def test_reward_clipping() -> None:
    # Returns {1, 2} give std ~0.5, so rewards [1, 2] scale to ~[2, 4]; clip 3 -> [~2, 3].
    scaler = RewardScaler(2, gamma=0.5, clip=3.0)
    scaler.update(np.array([1.0, 2.0]), np.zeros(2, bool), np.zeros(2, bool))
    out = scaler.normalize(np.array([1.0, 2.0]))
    assert out.dtype == np.float32
    assert out[0] == pytest.approx(2.0, rel=1e-3)
    assert out[1] == 3.0
    assert scaler.normalize(np.array([-50.0]))[0] == -3.0


def test_frozen_reward_statistics_and_returns_do_not_move() -> None:
    scaler = RewardScaler(2, gamma=0.9)
    scaler.update(np.array([1.0, 3.0]), np.zeros(2, bool), np.zeros(2, bool))
    before = scaler.state_dict()
    scaler.frozen = True
    scaler.update(np.array([50.0, -7.0]), np.zeros(2, bool), np.zeros(2, bool))
    assert_state_equal(scaler.state_dict(), before)
    # An episode end still restarts its accumulator, as in SB3 with training=False.
    scaler.update(np.array([50.0, -7.0]), np.array([True, False]), np.zeros(2, bool))
    np.testing.assert_array_equal(scaler.returns, [0.0, 3.0])
    assert_state_equal(scaler.state_dict()["return_stats"], before["return_stats"])


def test_reset_restarts_every_accumulator() -> None:
    scaler = RewardScaler(3, gamma=0.9)
    scaler.update(np.array([1.0, 2.0, 3.0]), np.zeros(3, bool), np.zeros(3, bool))
    scaler.reset()
    np.testing.assert_array_equal(scaler.returns, [0.0, 0.0, 0.0])
    assert scaler.rms.count == pytest.approx(C + 3)


@pytest.mark.parametrize(
    ("rewards", "terminated", "truncated", "message"),
    [
        (np.zeros(3), np.zeros(2, bool), np.zeros(2, bool), r"rewards must have shape \(2,\)"),
        (np.zeros(2), np.zeros(1, bool), np.zeros(2, bool), r"terminated must have shape"),
        (np.zeros(2), np.zeros(2, bool), np.zeros((2, 1), bool), r"truncated must have shape"),
        (np.array([0.0, math.nan]), np.zeros(2, bool), np.zeros(2, bool), "NaN or infinite"),
    ],
    ids=["rewards", "terminated", "truncated", "nan"],
)
def test_reward_update_refuses_bad_input(
    rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, message: str
) -> None:
    scaler = RewardScaler(2, gamma=0.9)
    with pytest.raises(ValueError, match=message):
        scaler.update(rewards, terminated, truncated)
    np.testing.assert_array_equal(scaler.returns, [0.0, 0.0])


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RunningMeanStd(2, epsilon=0.0), r"epsilon must be finite and > 0, got 0.0"),
        (lambda: ObservationNormalizer(2, clip=0.0), r"clip must be > 0, got 0.0"),
        (lambda: ObservationNormalizer(2, clip=-1.0), r"clip must be > 0"),
        (lambda: ObservationNormalizer(2, clip=math.nan), r"clip must be > 0, got nan"),
        (lambda: ObservationNormalizer(2, epsilon=-1e-8), r"epsilon must be finite and > 0"),
        (lambda: ObservationNormalizer(2, epsilon=math.inf), r"epsilon must be finite and > 0"),
        (lambda: RewardScaler(2, gamma=0.0), r"gamma must be in \(0, 1\], got 0.0"),
        (lambda: RewardScaler(2, gamma=1.01), r"gamma must be in \(0, 1\], got 1.01"),
        (lambda: RewardScaler(2, gamma=math.nan), r"gamma must be in \(0, 1\], got nan"),
        (lambda: RewardScaler(2, gamma=0.9, clip=0.0), r"clip must be > 0"),
        (lambda: RewardScaler(2, gamma=0.9, epsilon=0.0), r"epsilon must be finite and > 0"),
        (lambda: RewardScaler(0, gamma=0.9), r"num_envs must be >= 1, got 0"),
    ],
)
def test_bad_settings_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_the_edges_of_the_valid_settings() -> None:
    assert RewardScaler(1, gamma=1.0).gamma == 1.0
    unclipped = obs_normalizer([0.0], [1.0], clip=math.inf)
    assert unclipped.normalize(np.array([1e6]))[0] == pytest.approx(1e6)


# --- state ----------------------------------------------------------------------------------


def assert_state_equal(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, dict):
            assert_state_equal(got[key], value)
        else:
            assert type(got[key]) is type(value), key
            np.testing.assert_array_equal(got[key], value, err_msg=key)


def trained() -> tuple[ObservationNormalizer, RewardScaler, RunningMeanStd]:
    rng = np.random.default_rng(2)
    norm = ObservationNormalizer((2, 3))
    scaler = RewardScaler(4, gamma=0.99)
    scalar = RunningMeanStd()
    for _ in range(5):
        norm.update(rng.normal(size=(4, 2, 3)))
        scaler.update(rng.normal(size=4), rng.random(4) < 0.3, rng.random(4) < 0.1)
        scalar.update(rng.normal(size=7))
    return norm, scaler, scalar


def fresh() -> tuple[ObservationNormalizer, RewardScaler, RunningMeanStd]:
    return ObservationNormalizer((2, 3)), RewardScaler(4, gamma=0.99), RunningMeanStd()


def test_state_holds_plain_numpy_arrays_and_floats() -> None:
    norm, scaler, scalar = trained()
    state = norm.state_dict()
    assert isinstance(state["mean"], np.ndarray)
    assert state["mean"].shape == (2, 3)
    assert isinstance(state["count"], float)
    assert isinstance(scaler.state_dict()["returns"], np.ndarray)
    # Shape () statistics are floats (the checkpoint encoding would make 0-d arrays (1,)).
    assert isinstance(scaler.state_dict()["return_stats"]["var"], float)
    assert isinstance(scalar.state_dict()["mean"], float)
    # A copy, not a view: later updates do not change a state already taken.
    norm.update(np.ones((1, 2, 3)))
    assert not np.array_equal(state["mean"], norm.rms.mean)


def test_state_round_trip_continues_identically() -> None:
    originals = trained()
    copies = fresh()
    for original, copy in zip(originals, copies, strict=True):
        copy.load_state_dict(original.state_dict())
        assert_state_equal(copy.state_dict(), original.state_dict())
    norm, scaler, _ = originals
    norm_copy, scaler_copy, _ = copies
    obs = np.arange(12.0).reshape(2, 2, 3)
    rewards, ended = np.array([1.0, -1.0, 0.5, 2.0]), np.array([True, False, False, False])
    for n, s in ((norm, scaler), (norm_copy, scaler_copy)):
        n.update(obs)
        s.update(rewards, ended, ~ended)
    np.testing.assert_array_equal(norm_copy.normalize(obs), norm.normalize(obs))
    np.testing.assert_array_equal(scaler_copy.normalize(rewards), scaler.normalize(rewards))
    assert_state_equal(scaler_copy.state_dict(), scaler.state_dict())


def test_state_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    originals = trained()
    payload = {
        "obs": originals[0].state_dict(),
        "reward": originals[1].state_dict(),
        "scalar": originals[2].state_dict(),
    }
    checkpoint.save(tmp_path / "step-1.pt", payload)
    loaded = checkpoint.load(tmp_path / "step-1.pt")  # torch.load(weights_only=True)
    copies = fresh()
    for key, original, copy in zip(("obs", "reward", "scalar"), originals, copies, strict=True):
        assert_state_equal(loaded[key], original.state_dict())
        copy.load_state_dict(loaded[key])
        assert_state_equal(copy.state_dict(), original.state_dict())


def test_loading_a_state_of_another_shape_is_refused() -> None:
    norm, scaler, _ = trained()
    with pytest.raises(ValueError, match=r"saved mean has shape \(2, 3\); this normaliser has"):
        ObservationNormalizer(6).load_state_dict(norm.state_dict())
    with pytest.raises(ValueError, match=r"saved returns has shape \(4,\)"):
        RewardScaler(3, gamma=0.99).load_state_dict(scaler.state_dict())
    state = norm.state_dict() | {"var": -np.ones((2, 3))}
    with pytest.raises(ValueError, match="negative"):
        ObservationNormalizer((2, 3)).load_state_dict(state)
    with pytest.raises(ValueError, match="count must be finite and > 0"):
        ObservationNormalizer((2, 3)).load_state_dict(norm.state_dict() | {"count": 0.0})


def test_loading_leaves_the_loaded_state_its_own() -> None:
    norm, _, _ = trained()
    state = norm.state_dict()
    copy = ObservationNormalizer((2, 3))
    copy.load_state_dict(state)
    copy.update(np.full((3, 2, 3), 9.0))
    assert_state_equal(state, norm.state_dict())


# --- against Stable-Baselines3 ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_running_mean_std_equals_sb3_on_random_batches(shape: tuple[int, ...]) -> None:
    sb3_rms = pytest.importorskip("stable_baselines3.common.running_mean_std")
    rng = np.random.default_rng(3)
    ours, theirs = RunningMeanStd(shape), sb3_rms.RunningMeanStd(shape=shape)
    for _ in range(50):
        size = (rng.integers(1, 9), *shape)
        batch = rng.normal(rng.normal(0, 10), rng.uniform(0.1, 5), size=size)
        ours.update(batch)
        theirs.update(batch)
        np.testing.assert_array_equal(ours.mean, theirs.mean)  # float64 batches: to the bit
        np.testing.assert_array_equal(ours.var, theirs.var)
        assert ours.count == theirs.count


def test_normalisers_equal_sb3_vec_normalize_over_episodes() -> None:
    """Our two normalisers, fed the raw envs' values, reproduce VecNormalize step by step:
    observations, rewards, the return accumulators (resets included) and the statistics, in
    training and then frozen (SB3's training=False)."""
    pytest.importorskip("stable_baselines3")
    gym = pytest.importorskip("gymnasium")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    class Scripted(gym.Env):  # type: ignore[misc]
        """Random float64 observations and rewards, episodes that terminate or truncate."""

        observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
        action_space = gym.spaces.Discrete(2)

        def __init__(self, seed: int) -> None:
            self.rng = np.random.default_rng(seed)

        def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[Any, dict]:
            return self.rng.normal(5.0, 3.0, size=3), {}

        def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
            obs = self.rng.normal(5.0, 3.0, size=3)
            reward = float(self.rng.normal(1.0, 2.0))
            return obs, reward, bool(self.rng.random() < 0.1), bool(self.rng.random() < 0.05), {}

    num_envs = 4
    venv = VecNormalize(DummyVecEnv([lambda i=i: Scripted(i) for i in range(num_envs)]), gamma=0.9)
    obs_norm = ObservationNormalizer(3)
    scaler = RewardScaler(num_envs, gamma=0.9)

    normalized = venv.reset()
    scaler.reset()
    obs_norm.update(venv.get_original_obs())
    np.testing.assert_array_equal(obs_norm.normalize(venv.get_original_obs()), normalized)
    for step in range(300):
        if step == 200:
            venv.training, obs_norm.frozen, scaler.frozen = False, True, True
        normalized, rewards, dones, infos = venv.step(np.zeros(num_envs, dtype=np.int64))
        truncated = np.array([info["TimeLimit.truncated"] for info in infos])
        obs_norm.update(venv.get_original_obs())
        scaler.update(venv.get_original_reward(), dones & ~truncated, truncated)
        np.testing.assert_array_equal(obs_norm.normalize(venv.get_original_obs()), normalized)
        np.testing.assert_array_equal(scaler.normalize(venv.get_original_reward()), rewards)
        np.testing.assert_array_equal(scaler.returns, venv.returns)
        np.testing.assert_array_equal(obs_norm.rms.mean, venv.obs_rms.mean)
        np.testing.assert_array_equal(obs_norm.rms.var, venv.obs_rms.var)
        assert scaler.rms.var == venv.ret_rms.var
        assert scaler.rms.count == venv.ret_rms.count
    assert scaler.rms.count == pytest.approx(C + 200 * num_envs)
