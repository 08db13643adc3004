"""`rlkit plot` of run directories: smoothing over episodes in a trailing window of env steps
(hand-computed values), the default window, raw points behind the curve, labelled axes,
evaluations with their spread, and the sweep plot's labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rlkit.plot import (
    default_window,
    draw_runs,
    moving_average,
    plot_runs,
    read_series,
    readable,
    window_mean,
    x_axis,
)
from rlkit.sweeps.plots import GENERIC_X_LABEL, sweep_x_label

Scalars = dict[str, list[tuple[int, float]]]


def write_run(run_dir: Path, scalars: Scalars, config: str | None = None) -> Path:
    """A run directory holding only TensorBoard scalars (and a config.toml if given)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()
    if config is not None:
        (run_dir / "config.toml").write_text(config)
    return run_dir


@pytest.fixture
def figures() -> Iterator[list]:
    """Figures a test draws, closed after it."""
    import matplotlib.pyplot as plt

    drawn: list = []
    yield drawn
    for fig in drawn:
        plt.close(fig)


# --- window_mean: hand-computed -----------------------------------------------------------------

STEPS = np.array([100, 200, 300, 500, 600])  # nothing logged at 400: a window without episodes
MEANS = np.array([10.0, 20.0, 40.0, 80.0, 0.0])
EPISODES = np.array([1, 3, 2, 1, 4])


def test_window_mean_is_the_mean_over_the_episodes_that_ended_in_the_window() -> None:
    smoothed = window_mean(STEPS, MEANS, 200, EPISODES)
    expected = [
        10.0,  # (-100, 100]: 10 x 1 episode
        (10 * 1 + 20 * 3) / 4,  # (0, 200] = 17.5
        (20 * 3 + 40 * 2) / 5,  # (100, 300]: the point at 100 is out (left end open) = 28
        80.0,  # (300, 500]: only 500, the gap at 400 holds no episode
        (80 * 1 + 0 * 4) / 5,  # (400, 600] = 16
    ]
    np.testing.assert_allclose(smoothed, expected)


def test_window_mean_without_counts_weighs_each_point_once() -> None:
    np.testing.assert_allclose(window_mean(STEPS, MEANS, 200), [10, 15, 30, 80, 40])


def test_window_mean_is_not_a_running_mean_from_the_start() -> None:
    """The old moving average over 50 logged points kept early returns in every value of a
    short run; the window in steps forgets them once they are W steps behind."""
    steps = np.arange(1, 11) * 100
    values = np.array([0.0] * 5 + [100.0] * 5)
    assert moving_average(values, 50)[-1] == pytest.approx(50.0)
    np.testing.assert_allclose(window_mean(steps, values, 300)[-4:], [200 / 3, 100, 100, 100])
    np.testing.assert_allclose(window_mean(steps, values, 1), values)  # a window of one point


def test_window_mean_rejects_an_empty_window() -> None:
    with pytest.raises(ValueError, match="positive"):
        window_mean(STEPS, MEANS, 0)


# --- the default window -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "up", "expected"),
    [
        (0.3, False, 1),
        (1225, False, 1000),  # 1225 is nearer 1000 than 2000 on a log scale
        (1450, False, 2000),
        (3400, False, 5000),
        (7000, False, 5000),
        (500, True, 500),
        (501, True, 1000),
        (1200, True, 2000),
    ],
)
def test_readable(x: float, up: bool, expected: int) -> None:
    assert readable(x, up=up) == expected


def test_default_window_is_5_percent_of_the_longest_run_and_at_least_the_log_interval() -> None:
    cartpole = np.arange(500, 25_001, 500)  # 24,500 steps: 5% = 1,225 -> 1,000
    short = np.arange(1000, 5001, 1000)  # 4,000 steps: 5% = 200 < the log interval 1,000
    assert default_window([cartpole]) == 1000
    assert default_window([short]) == 1000
    assert default_window([short, np.arange(0, 200_001, 1000)]) == 10_000
    assert default_window([np.array([300])]) == 1  # one point: any window holds just it


# --- runs drawn from TensorBoard events ---------------------------------------------------------


def issue_run(run_dir: Path, with_counts: bool = True) -> Path:
    """Issue 19's case: 100 logged windows of 500 steps, returns 10 then 500 for the last 20%,
    uneven episode counts; evaluations with their std, the final one at the last step."""
    returns = [(500 * (i + 1), 10.0 if i < 80 else 500.0) for i in range(100)]
    scalars: Scalars = {"train/episode_return": returns}
    if with_counts:
        scalars["train/episodes"] = [(s, float(1 + i % 3)) for i, (s, _) in enumerate(returns)]
    scalars["eval/mean_return"] = [(10_000 * k, 100.0 * k) for k in range(1, 6)] + [(50_000, 480)]
    scalars["eval/std_return"] = [(10_000 * k, 5.0 * k) for k in range(1, 6)] + [(50_000, 7.0)]
    return write_run(run_dir, scalars)


def test_the_issue_run_ends_at_500_with_the_default_window(tmp_path: Path, figures: list) -> None:
    run = issue_run(tmp_path / "dqn")
    fig = draw_runs([run], ("train/episode_return", "eval/mean_return"))
    figures.append(fig)
    train, evaluation = fig.axes
    smoothed, raw = train.lines
    assert smoothed.get_ydata()[-1] == pytest.approx(500.0)  # the old moving average: 206
    # the window is 2,000 steps (5% of 49,500, readable): 500 from 4 points past the switch on
    assert smoothed.get_ydata()[83] == pytest.approx(500.0)
    assert 10 < smoothed.get_ydata()[81] < 500
    assert "mean over episodes ending in the last 2,000 env steps" in train.get_title()
    assert raw.get_alpha() == pytest.approx(0.25)
    assert raw.get_color() == smoothed.get_color()
    np.testing.assert_allclose(raw.get_ydata(), [10.0] * 80 + [500.0] * 20)
    assert train.get_xlabel() == "environment steps"
    assert train.get_ylabel() == "episode return (training)"
    assert evaluation.get_ylabel() == "greedy evaluation return"
    assert "± std over each evaluation's episodes" in evaluation.get_title()
    (line,) = evaluation.lines
    assert line.get_marker() == "o"
    # the final evaluation replaces the periodic one logged at the same step
    np.testing.assert_allclose(line.get_xdata(), [10_000, 20_000, 30_000, 40_000, 50_000])
    np.testing.assert_allclose(line.get_ydata(), [100, 200, 300, 400, 480])
    (band,) = evaluation.collections
    low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert (low, high) == pytest.approx((95.0, 487.0))


def test_read_series_weights_by_episodes_and_falls_back_to_one(tmp_path: Path) -> None:
    counted = read_series(issue_run(tmp_path / "new"), "train/episode_return")
    old = read_series(issue_run(tmp_path / "old", with_counts=False), "train/episode_return")
    assert counted.weights is not None
    np.testing.assert_allclose(counted.weights[:4], [1, 2, 3, 1])
    assert old.weights is None
    evaluation = read_series(tmp_path / "new", "eval/mean_return")
    assert evaluation.spread is not None
    np.testing.assert_allclose(evaluation.spread, [5, 10, 15, 20, 7])


def test_missing_counts_weigh_1_and_missing_spreads_are_nan(tmp_path: Path) -> None:
    """As the Deep GA and AlphaZero log: per-generation (iteration) evaluations without their
    std, the final evaluation with it, at the step of the last one."""
    run = write_run(
        tmp_path / "ga",
        {
            "train/episode_return": [(100, 10.0), (200, 40.0), (300, 70.0)],
            "train/episodes": [(100, 3.0), (300, 2.0)],
            "eval/mean_return": [(100, 1.0), (200, 2.0), (300, 3.0), (300, 4.0)],
            "eval/std_return": [(300, 0.5)],
        },
    )
    train = read_series(run, "train/episode_return")
    assert train.weights is not None
    np.testing.assert_allclose(train.weights, [3, 1, 2])
    # (100, 300]: (40 x 1 + 70 x 2) / 3 = 60; (0, 200]: (10 x 3 + 40 x 1) / 4 = 17.5
    np.testing.assert_allclose(
        window_mean(train.steps, train.values, 200, train.weights)[1:], [17.5, 60]
    )
    evaluation = read_series(run, "eval/mean_return")
    np.testing.assert_allclose(evaluation.values, [1, 2, 4])
    assert evaluation.spread is not None
    np.testing.assert_allclose(evaluation.spread, [np.nan, np.nan, 0.5])


def test_smooth_sets_the_window_and_zero_draws_the_raw_points(
    tmp_path: Path, figures: list
) -> None:
    run = issue_run(tmp_path / "dqn")
    fig = draw_runs([run], ("train/episode_return",), smooth=5000)
    figures.append(fig)
    assert "the last 5,000 env steps" in fig.axes[0].get_title()
    raw = draw_runs([run], ("train/episode_return",), smooth=0)
    figures.append(raw)
    (line,) = raw.axes[0].lines
    np.testing.assert_allclose(line.get_ydata(), [10.0] * 80 + [500.0] * 20)
    assert "mean of its log window's episodes" in raw.axes[0].get_title()


def test_plot_runs_writes_a_png_with_two_runs(tmp_path: Path) -> None:
    import matplotlib.image

    runs = [issue_run(tmp_path / "a"), issue_run(tmp_path / "b", with_counts=False)]
    out = plot_runs(runs, tmp_path / "plots" / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).ndim == 3


@pytest.mark.parametrize(
    ("config", "label"),
    [
        (None, "environment steps"),
        ('[agent]\nname = "dqn"\n[env]\nid = "CartPole-v1"\n', "environment steps"),
        ('[agent]\nname = "ga"\n[env]\nid = "CartPole-v1"\n', "environment steps"),
        (
            '[agent]\nname = "ga"\n[env]\nid = "ALE/Frostbite-v5"\n[env.kwargs]\nframe_skip = 4\n',
            "emulator frames (env steps × frame skip 4)",
        ),
        ('[agent]\nname = "alphazero"\n', "training iterations (self-play, training, arena)"),
    ],
)
def test_x_axis_follows_the_run_kind(tmp_path: Path, config: str | None, label: str) -> None:
    if config is not None:
        (tmp_path / "config.toml").write_text(config)
    assert x_axis(tmp_path)[0] == label


def test_other_tags_are_smoothed_per_point_and_labelled_by_tag(
    tmp_path: Path, figures: list
) -> None:
    ga = write_run(
        tmp_path / "ga",
        {"ga/max_fitness": [(1000, 1.0), (2000, 3.0), (3000, 5.0)]},
        '[agent]\nname = "ga"\n[env]\nid = "ALE/Frostbite-v5"\n',
    )
    fig = draw_runs([ga], ("ga/max_fitness", "eval/mean_return"), smooth=2000)
    figures.append(fig)
    fitness, evaluation = fig.axes
    np.testing.assert_allclose(fitness.lines[0].get_ydata(), [1, 2, 4])
    assert "mean of the logged values in the last 2,000 frames" in fitness.get_title()
    assert fitness.get_ylabel() == "ga/max_fitness"
    assert fitness.get_xlabel() == "emulator frames (env steps × frame skip 4)"
    assert not evaluation.lines  # this run logged no evaluation: the panel says so


def test_plot_of_runs_without_the_tags_fails(tmp_path: Path) -> None:
    from rlkit.errors import RlkitError

    run = write_run(tmp_path / "empty", {"agent/loss": [(1, 1.0)]})
    with pytest.raises(RlkitError, match="has the tags"):
        plot_runs([run], tmp_path / "out.png")


# --- the sweep plot's x label -------------------------------------------------------------------


def test_sweep_x_label_names_the_runs_steps(tmp_path: Path) -> None:
    for name, agent in (("lr=0.1", "dqn"), ("lr=0.2", "dqn")):
        (tmp_path / name / "seed-0").mkdir(parents=True)
        (tmp_path / name / "experiment.toml").write_text("")
        (tmp_path / name / "seed-0" / "config.toml").write_text(f'[agent]\nname = "{agent}"\n')
    assert sweep_x_label(tmp_path) == "environment steps"
    (tmp_path / "lr=0.2" / "seed-0" / "config.toml").write_text('[agent]\nname = "alphazero"\n')
    assert sweep_x_label(tmp_path) == GENERIC_X_LABEL
