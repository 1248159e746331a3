"""People who walk: deterministic pedestrian trajectories in a world (issue 18).

A walker starts at a free place, walks to a goal (a room's most open point or a random free
place elsewhere), pauses, turns and walks to the next, for the whole duration. Paths come from
the simulator's planner (:func:`astra_jax.sim.planning.plan_path`: A* with clearance, smoothed)
with the walker's radius, so they never cross walls or furniture; the speed of each leg is drawn
from ``speed_range`` (0.5-1.5 m/s), pauses from ``pause_range``. Everything is drawn from the
world's ``STREAM_PEOPLE`` generator: the same world, seed and config give the same walkers.

A :class:`Walker` holds its trajectory as time knots; :meth:`Walker.pose_at` interpolates
(x, y, heading). Walkers do not avoid each other (they are drawn independently).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from astra_jax.sim import seeds
from astra_jax.sim.occupancy import OccupancyMap
from astra_jax.sim.planning import NoPathError, free_mask, plan_path, resample, room_anchor
from astra_jax.sim.world import World
from astra_jax.validation import check_non_negative_numbers, check_positive_numbers

PERSON_ID_BASE = 10_000  # seg ids of people: PERSON_ID_BASE + k, never a landmark id


@dataclasses.dataclass(frozen=True)
class PeopleConfig:
    """How many people walk and how.

    Attributes:
      density: people per 100 m^2 of free floor (0: none).
      speed_range: walking speeds (m/s) drawn per leg.
      pause_range: pauses (s) drawn at each goal.
      radius: body radius (m) the paths keep clear of obstacles.
    """

    density: float = 0.0
    speed_range: tuple[float, float] = (0.5, 1.5)
    pause_range: tuple[float, float] = (0.5, 3.0)
    radius: float = 0.25

    def __post_init__(self) -> None:
        check_non_negative_numbers(self, "density")
        check_positive_numbers(self, "radius")
        for name in ("speed_range", "pause_range"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name == "speed_range" and lo <= 0):
                raise ValueError(f"PeopleConfig.{name} = {(lo, hi)}: expected 0 < lo <= hi")


@dataclasses.dataclass(frozen=True, eq=False)
class Walker:
    """One person's trajectory: positions (K, 2) m at increasing times (K,) s; between knots
    the person moves in a straight line (a pause is two knots at one place)."""

    id: int
    times: np.ndarray
    positions: np.ndarray

    def pose_at(self, t: float | np.ndarray) -> np.ndarray:
        """(..., 3) (x, y, heading) at times ``t`` (clamped to the trajectory's span); the
        heading is the direction of the current (or, in a pause, the last) movement."""
        t = np.clip(np.asarray(t, np.float64), self.times[0], self.times[-1])
        x = np.interp(t, self.times, self.positions[:, 0])
        y = np.interp(t, self.times, self.positions[:, 1])
        step = np.diff(self.positions, axis=0)
        moving = np.linalg.norm(step, axis=1) > 1e-9
        # heading of each segment: its own direction, or the last movement's in a pause
        yaw = np.arctan2(step[:, 1], step[:, 0])
        last = np.maximum.accumulate(np.where(moving, np.arange(len(step)), -1))
        yaw = np.where(last >= 0, yaw[np.maximum(last, 0)], 0.0)
        seg = np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(step) - 1)
        return np.stack([x, y, yaw[seg]], axis=-1)


def _goal(occ: OccupancyMap, free: np.ndarray, here: np.ndarray, rng: np.random.Generator,
          rooms: int) -> np.ndarray:  # fmt: skip
    """A room's most open point (half the time) or a random free place, at least 3 m away."""
    for _ in range(20):
        if rooms and rng.random() < 0.5:
            goal = room_anchor(occ, int(rng.integers(rooms)))
        else:
            cells = np.argwhere(free)
            goal = occ.grid.to_world(cells[rng.integers(len(cells))].astype(np.float64))
        if np.linalg.norm(goal - here) > 3.0:
            return goal
    return goal


def plan_walkers(
    world: World, occ: OccupancyMap, config: PeopleConfig, duration: float, seed: int = 0
) -> tuple[Walker, ...]:
    """The world's walkers for ``duration`` seconds (deterministic in world, config, seed)."""
    if config.density == 0:
        return ()
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_PEOPLE, seed)
    free = free_mask(occ, config.radius + 0.1)
    area = float(free.sum()) * occ.grid.resolution**2
    count = max(1, round(config.density * area / 100.0))
    rooms = len(world.plan.rooms)
    walkers = []
    for k in range(count):
        cells = np.argwhere(free)
        here = occ.grid.to_world(cells[rng.integers(len(cells))].astype(np.float64))
        times, points, t, failures = [0.0], [here], 0.0, 0
        while t < duration:
            goal = _goal(occ, free, here, rng, rooms)
            try:
                path = plan_path(occ, here, goal, config.radius)
                failures = 0
            except NoPathError:
                failures += 1
                if failures >= 10:  # boxed in: stand still for the rest
                    times.append(duration)
                    points.append(here)
                    break
                continue
            speed = rng.uniform(*config.speed_range)
            pts = resample(path, 0.25)[1:]
            legs = np.linalg.norm(np.diff(np.vstack([here, pts]), axis=0), axis=1)
            times += list(t + np.cumsum(legs) / speed)
            points += list(pts)
            t = times[-1] + rng.uniform(*config.pause_range)
            times.append(t)
            points.append(pts[-1])
            here = pts[-1]
        walkers.append(Walker(PERSON_ID_BASE + k, np.asarray(times), np.asarray(points)))
    return tuple(walkers)
