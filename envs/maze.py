"""DeceptiveMaze: a point robot whose distance-to-goal reward leads into a cul-de-sac.

The robot starts at (5, 3) inside a cup of walls that opens away from the goal at (5, 9):
heading for the goal ends under the cup's top wall (distance 2, return 4), the trap. Reaching
the goal needs a detour that first moves away from it (down out of the cup, round an arm, up
past the top and back in), and every position beside or below the cup is farther from the goal
than the trap. Reward per step = previous distance - new distance to the goal, so an episode's
return is d(start, goal) - d(final position, goal) = 6 - final distance: the fitness of the
deceptive mazes of novelty search. Reaching the goal (within 0.5) terminates the episode
(return >= 5.5); the registered time limit truncates it after 60 steps.

Actions: Discrete(8) headings (0 = +y "up", then clockwise in 45-degree steps), each a move of
0.5 that stops just short of any wall in its way. Observations (all in [-1, 1]): position
scaled to [-1, 1], four range finders (up, right, down, left; distance to the nearest wall / 10)
and the vector to the goal / 10. Everything is deterministic; `behaviour(final_obs)` returns the
final (x, y) position for novelty search.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

SIZE = 10.0
START = (5.0, 3.0)
GOAL = (5.0, 9.0)
GOAL_RADIUS = 0.5
STEP = 0.5
MAX_STEPS = 60
CLEARANCE = 1e-3  # a move stops this far short of a wall, so the robot is never on a face
WALLS = np.array(  # (x0, y0, x1, y1): a cup opening downward around the start
    [
        [3.0, 7.0, 7.0, 7.5],  # top, between the start and the goal
        [3.0, 2.0, 3.5, 7.5],  # left arm
        [6.5, 2.0, 7.0, 7.5],  # right arm
    ]
)
_DIAGONAL = np.sqrt(0.5)
HEADINGS = np.array(
    [[0, 1], [1, 1], [1, 0], [1, -1], [0, -1], [-1, -1], [-1, 0], [-1, 1]], dtype=np.float64
) * np.array([[1.0], [_DIAGONAL]] * 4)
_HEADING_TUPLES = [(float(x), float(y)) for x, y in HEADINGS]
_SENSOR_TUPLES = _HEADING_TUPLES[0::2]  # up, right, down, left
_WALL_TUPLES = [(float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in WALLS]


def ray_distance(origin: tuple[float, float], direction: tuple[float, float]) -> float:
    """Distance from `origin` along unit `direction` to the first wall or the arena's edge."""
    (ox, oy), (dx, dy) = origin, direction
    best = min(((SIZE if d > 0 else 0.0) - o) / d for o, d in ((ox, dx), (oy, dy)) if d != 0.0)
    for x0, y0, x1, y1 in _WALL_TUPLES:  # slab test; plain floats: numpy is slower for 3 walls
        enter_x, leave_x = _slab(ox, dx, x0, x1)
        enter_y, leave_y = _slab(oy, dy, y0, y1)
        enter, leave = max(enter_x, enter_y), min(leave_x, leave_y)
        if 0.0 <= enter <= leave and enter < best:
            best = enter
    return best


def _slab(o: float, d: float, lo: float, hi: float) -> tuple[float, float]:
    """Ray parameters where the ray enters and leaves the slab lo < coordinate < hi."""
    if d == 0.0:  # parallel: inside for all t if strictly between the faces, else never
        return (-math.inf, math.inf) if lo < o < hi else (math.inf, -math.inf)
    t1, t2 = (lo - o) / d, (hi - o) / d
    return (t1, t2) if t1 < t2 else (t2, t1)


class DeceptiveMazeEnv(gym.Env[np.ndarray, np.int64]):
    """Reach the goal above the cup; greedy progress toward it ends in the cup (the trap)."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 10}  # noqa: RUF012

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: {render_mode!r} is not supported; use 'ansi', 'rgb_array' or None"
            )
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (8,), np.float32)
        self.action_space = gym.spaces.Discrete(len(HEADINGS))
        self.x, self.y = START

    @property
    def position(self) -> np.ndarray:
        """The robot's (x, y)."""
        return np.array([self.x, self.y])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Put the robot at the start (always the same place)."""
        super().reset(seed=seed)
        self.x, self.y = START
        return self._observe(), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move up to STEP along the heading; reward = the decrease in distance to the goal."""
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, 7], got {action!r}")
        dx, dy = _HEADING_TUPLES[int(action)]
        before = self.distance_to_goal()
        x, y = self.x, self.y
        move = min(max(ray_distance((x, y), (dx, dy)) - CLEARANCE, 0.0), STEP)
        self.x, self.y = x + dx * move, y + dy * move
        after = self.distance_to_goal()
        return self._observe(), before - after, after <= GOAL_RADIUS, False, {}

    def distance_to_goal(self) -> float:
        """Euclidean distance from the robot to the goal."""
        return math.hypot(self.x - GOAL[0], self.y - GOAL[1])

    def behaviour(self, final_obs: np.ndarray) -> np.ndarray:
        """The final (x, y) position, read back from an observation."""
        scaled = np.asarray(final_obs, dtype=np.float64)[:2]
        return (scaled + 1.0) * (SIZE / 2.0)

    def _observe(self) -> np.ndarray:
        x, y = self.x, self.y
        obs = [x / (SIZE / 2.0) - 1.0, y / (SIZE / 2.0) - 1.0]
        obs += [ray_distance((x, y), s) / SIZE for s in _SENSOR_TUPLES]
        obs += [(GOAL[0] - x) / SIZE, (GOAL[1] - y) / SIZE]
        return np.clip(np.array(obs, dtype=np.float32), -1.0, 1.0)

    def render(self) -> str | np.ndarray | None:
        """ansi: a text map (# wall, G goal, R robot); rgb_array: a 100x100 image."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; use 'ansi' or 'rgb_array'")
            return None
        if self.render_mode == "ansi":
            return self._text()
        return self._image()

    def _cells(self, per_unit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks of wall, goal and robot cells on a grid of `per_unit` cells per unit length."""
        n = int(SIZE * per_unit)
        centres = (np.arange(n) + 0.5) / per_unit
        x, y = np.meshgrid(centres, centres[::-1])  # row 0 is the top of the maze
        wall = np.zeros((n, n), dtype=bool)
        for x0, y0, x1, y1 in WALLS:
            wall |= (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
        goal = np.hypot(x - GOAL[0], y - GOAL[1]) <= GOAL_RADIUS
        robot = np.maximum(abs(x - self.x), abs(y - self.y)) <= 0.5 / per_unit
        robot |= np.hypot(x - self.x, y - self.y) <= 0.2
        return wall, goal, robot

    def _text(self) -> str:
        wall, goal, robot = self._cells(2)
        grid = np.where(wall, "#", np.where(goal, "G", "."))
        grid[robot] = "R"
        return "\n".join("".join(row) for row in grid) + "\n"

    def _image(self) -> np.ndarray:
        wall, goal, robot = self._cells(10)
        image = np.full((*wall.shape, 3), 255, dtype=np.uint8)
        image[wall] = (90, 90, 90)
        image[goal] = (40, 180, 60)
        image[robot] = (220, 40, 40)
        return image


if "rlkit/DeceptiveMaze-v0" not in gym.registry:
    gym.register(
        id="rlkit/DeceptiveMaze-v0",
        entry_point="rlkit.envs.maze:DeceptiveMazeEnv",
        max_episode_steps=MAX_STEPS,
    )
