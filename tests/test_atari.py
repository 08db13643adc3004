"""Atari vector envs: ids, options, native vs wrapper builds, training vs evaluation, SAME_STEP."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlkit.config import from_dict
from rlkit.envs.atari import AtariOptions, is_atari_id, make_atari_vector_env, rom_id
from rlkit.errors import ConfigError
from rlkit.rollout import RolloutState, rollout

Step = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


@pytest.mark.parametrize(
    ("env_id", "rom"),
    [
        ("ALE/Pong-v5", "pong"),
        ("PongNoFrameskip-v4", "pong"),
        ("Pong", "pong"),
        ("pong", "pong"),
        ("BreakoutDeterministic-v4", "breakout"),
        ("ALE/MsPacman-v5", "ms_pacman"),
        ("SpaceInvaders", "space_invaders"),
        ("TicTacToe3D", "tic_tac_toe_3d"),
    ],
)
def test_ids_name_their_rom(env_id: str, rom: str) -> None:
    assert rom_id(env_id) == rom
    assert is_atari_id(env_id)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Blackjack-v1", "rlkit/GridWorld-v0", "Taxi"])
def test_other_ids_are_not_atari(env_id: str) -> None:
    assert not is_atari_id(env_id)


def test_unknown_game_lists_close_matches() -> None:
    with pytest.raises(ConfigError, match="did you mean 'Pong'") as err:
        rom_id("Pongg")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="'Breakout'"):
        make_atari_vector_env("ALE/Breakot-v5", 1)
    with pytest.raises(ConfigError, match="RAM"):
        rom_id("Pong-ramNoFrameskip-v4")


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="frame_skip"):
        AtariOptions(frame_skip=0)
    with pytest.raises(ValueError, match="repeat_action_probability"):
        AtariOptions(repeat_action_probability=1.5)
    assert from_dict(AtariOptions, {"noop_max": 0}, "env.kwargs").noop_max == 0
    with pytest.raises(ConfigError, match="did you mean 'frame_skip'"):
        from_dict(AtariOptions, {"frameskip": 4}, "env.kwargs")


def play(
    envs: Any, actions: np.ndarray, seed: int = 3
) -> tuple[np.ndarray, dict[str, Any], list[Step]]:
    """Reset with `seed`, step through `actions` (steps, num_envs), close; what they returned."""
    obs, info = envs.reset(seed=seed)
    steps = [envs.step(a) for a in actions]
    envs.close()
    return obs, info, steps


def random_actions(envs: Any, steps: int, seed: int = 0) -> np.ndarray:
    n = envs.single_action_space.n
    return np.random.default_rng(seed).integers(0, n, (steps, envs.num_envs))


@pytest.mark.parametrize(
    ("game", "options", "training"),
    [
        ("Pong", AtariOptions(noop_max=0), False),
        # lives, FIRE, sticky actions, episodic life, clipping and a 1,002-frame limit that
        # truncates in the middle of a 4-frame step
        (
            "Breakout",
            AtariOptions(noop_max=0, repeat_action_probability=0.25, max_episode_frames=1002),
            True,
        ),
        ("Breakout", AtariOptions(noop_max=0, fire_after_life_loss=True), True),
    ],
)
def test_native_and_wrapper_builds_are_identical(
    game: str, options: AtariOptions, training: bool
) -> None:
    native = make_atari_vector_env(game, 2, options, training=training, native=True)
    wrapped = make_atari_vector_env(game, 2, options, training=training, native=False)
    assert native.single_observation_space == wrapped.single_observation_space
    assert native.single_observation_space.shape == (4, 84, 84)
    actions = random_actions(native, 280)
    first_n, _, steps_n = play(native, actions)
    first_w, _, steps_w = play(wrapped, actions)
    assert first_n.dtype == np.uint8
    np.testing.assert_array_equal(first_n, first_w)
    ends = 0
    for (obs_n, r_n, te_n, tr_n, info_n), (obs_w, r_w, te_w, tr_w, info_w) in zip(
        steps_n, steps_w, strict=True
    ):
        np.testing.assert_array_equal(obs_n, obs_w)
        np.testing.assert_array_equal(r_n, r_w)
        np.testing.assert_array_equal(te_n, te_w)
        np.testing.assert_array_equal(tr_n, tr_w)
        for i in np.flatnonzero(te_n | tr_n):
            np.testing.assert_array_equal(info_n["final_obs"][i], info_w["final_obs"][i])
            ends += 1
    assert ends > 0 or not training


def test_training_ends_episodes_on_life_loss_and_clips_rewards() -> None:
    """Same seed and actions: the emulator plays the same game; only the episodes differ."""
    options = AtariOptions(noop_max=0)
    train = make_atari_vector_env("SpaceInvaders", 2, options, training=True)
    evaluate = make_atari_vector_env("SpaceInvaders", 2, options, training=False)
    actions = random_actions(train, 250)
    _, _, steps_t = play(train, actions)
    _, reset_info, steps_e = play(evaluate, actions)
    rewards_e = np.array([s[1] for s in steps_e])
    assert rewards_e.max() > 1  # true scores (5 to 30 points an invader)
    np.testing.assert_array_equal(np.array([s[1] for s in steps_t]), np.sign(rewards_e))
    lives = np.array([s[4]["lives"] for s in steps_e])
    previous = np.vstack([reset_info["lives"][None], lives[:-1]])
    lost = (lives < previous) & (lives > 0)
    assert lost.any()
    terminated_e = np.array([s[2] for s in steps_e])
    assert not (terminated_e & lost).any()  # evaluation plays on
    np.testing.assert_array_equal(np.array([s[2] for s in steps_t]), terminated_e | lost)
    for t, i in zip(*np.nonzero(lost), strict=True):
        obs_t, _, _, _, info_t = steps_t[t]
        obs_e = steps_e[t][0]
        np.testing.assert_array_equal(info_t["final_obs"][i], obs_e[i])  # the stack so far
        assert (obs_t[i] == obs_e[i][-1]).all()  # the next life starts from that frame, repeated


def lives_lost(reset_info: dict[str, Any], steps: list[Step]) -> np.ndarray:
    """(steps, num_envs): where a life was lost and the game went on."""
    lives = np.array([s[4]["lives"] for s in steps])
    previous = np.vstack([reset_info["lives"][None], lives[:-1]])
    return (lives < previous) & (lives > 0)


@pytest.mark.parametrize("native", [True, False])
def test_fire_after_life_loss_serves_the_ball(native: bool) -> None:
    """An agent that only plays NOOP loses a life, then waits for ever; with the option the
    step after each lost life plays FIRE, exactly as if the agent had chosen it."""
    options = AtariOptions(noop_max=0, fire_after_life_loss=True)
    noops = np.zeros((600, 2), dtype=np.int64)
    _, info_f, steps_f = play(make_atari_vector_env("Breakout", 2, options, native=native), noops)
    lost_f = lives_lost(info_f, steps_f)
    assert (lost_f.sum(axis=0) >= 8).all()  # served after every lost life: game after game
    plain = AtariOptions(noop_max=0)
    _, info_p, steps_p = play(make_atari_vector_env("Breakout", 2, plain, native=native), noops)
    assert (lives_lost(info_p, steps_p).sum(axis=0) == 1).all()  # never served again
    chosen = noops.copy()
    chosen[1:][lost_f[:-1]] = 1  # FIRE on the step after each lost life
    _, _, steps_c = play(make_atari_vector_env("Breakout", 2, plain, native=native), chosen)
    for step_f, step_c in zip(steps_f, steps_c, strict=True):
        for got, expected in zip(step_f[:4], step_c[:4], strict=True):
            np.testing.assert_array_equal(got, expected)


def test_fire_after_life_loss_needs_a_fire_action() -> None:
    options = AtariOptions(fire_after_life_loss=True)
    assert type(make_atari_vector_env("Pong", 1, options)).__name__ == "FireAfterLifeLoss"
    envs = make_atari_vector_env("Freeway", 1, options)  # no FIRE in Freeway's action set
    assert type(envs).__name__ == "NativeStackedFrames"
    envs.close()


@pytest.mark.parametrize("native", [True, False])
def test_same_step_contract_on_truncation(native: bool) -> None:
    options = AtariOptions(max_episode_frames=400)  # 100 steps of 4 frames
    envs = make_atari_vector_env("Pong", 2, options, training=False, native=native)
    first, _, steps = play(envs, np.ones((101, 2), dtype=np.int64))
    assert (first == first[:, :1]).all()  # reset: the first frame repeated
    before = steps[98][0]
    obs, _, terminated, truncated, info = steps[99]
    assert all(not s[3].any() for s in steps[:99])
    assert truncated.all()
    assert not terminated.any()
    assert info["_final_obs"].all()
    final = np.stack([info["final_obs"][i] for i in range(2)])
    np.testing.assert_array_equal(final[:, :3], before[:, 1:])  # the final frame shifted in
    assert (obs == obs[:, :1]).all()  # a new episode, padded with its first frame
    assert not (obs == final).all()
    assert not steps[100][3].any()


class Random:
    """Just enough of an agent for rollout: uniform random actions."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rng = np.random.default_rng(0)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return self.rng.integers(0, self.n, len(obs))


def test_rollout_runs_on_native_atari() -> None:
    envs = make_atari_vector_env("Pong", 2, AtariOptions(max_episode_frames=200), training=True)
    state = RolloutState.reset(envs, seed=0)
    steps = rollout(envs, Random(6), state, explore=True)  # type: ignore[arg-type]
    for _ in range(49):
        transition, episodes = next(steps)
        assert not episodes
    transition, episodes = next(steps)
    assert [(e.length, e.truncated) for e in episodes] == [(50, True), (50, True)]
    assert transition.next_obs.shape == (2, 4, 84, 84)
    np.testing.assert_array_equal(transition.next_obs[:, :3], transition.obs[:, 1:])
    assert (state.obs == state.obs[:, :1]).all()
    envs.close()


def test_random_starts_differ_per_env() -> None:
    envs = make_atari_vector_env("Breakout", 4, AtariOptions(noop_max=30), training=False)
    _, info = envs.reset(seed=1)
    frames = info["episode_frame_number"]
    assert ((frames >= 1) & (frames <= 29)).all()  # FIRE, then up to noop_max - 2 no-ops
    assert len(set(frames.tolist())) > 1
    envs.close()


def test_wrapper_build_renders_rgb_frames() -> None:
    envs = make_atari_vector_env("Pong", 2, native=False, render_mode="rgb_array")
    envs.reset(seed=0)
    images = envs.render()
    assert images is not None
    assert [image.shape for image in images] == [(210, 160, 3)] * 2
    envs.close()
    with pytest.raises(ConfigError, match="native=False"):
        make_atari_vector_env("Pong", 1, render_mode="rgb_array")
