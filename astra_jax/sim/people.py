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

from astra_jax.config import PeopleConfig
from astra_jax.sim import seeds
from astra_jax.sim.occupancy import OccupancyMap
from astra_jax.sim.planning import NoPathError, free_mask, plan_path, resample, room_anchor
from astra_jax.sim.world import World

PERSON_ID_BASE = 10_000  # seg ids of people: PERSON_ID_BASE + k, never a landmark id


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


def walkable(occ: OccupancyMap, config: PeopleConfig) -> np.ndarray:
    """(H, W) bool: cells where a walker may start or aim (clear of obstacles by the body's
    radius plus 0.1 m)."""
    return free_mask(occ, config.radius + 0.1)


def walker_count(occ: OccupancyMap, config: PeopleConfig) -> int:
    """How many walk in a world: ``density`` per 100 m^2 of walkable floor, at least one when
    the density is above 0 (the same for every episode of the world: its scene holds that many
    bodies)."""
    if not config.active:
        return 0
    area = float(walkable(occ, config).sum()) * occ.grid.resolution**2
    return max(1, round(config.density * area / 100.0))


class YieldingCrowd:
    """Walkers who give way to the robot, as people do: each walker keeps its own clock along
    its planned trajectory, and the clock stops while walking on would bring it closer than
    ``gap`` m to the robot's disc. A walker kept waiting ``patience`` s turns away: it plans a
    new walk from where it stands with the robot as an obstacle (in a corridor, it goes back).

    :meth:`advance` moves the crowd to the robot's time and pose (the expert calls it at every
    control step); :meth:`poses_at` gives the walkers' poses at any time so far (afterwards,
    everyone walks on unhindered). Deterministic in its inputs and the robot's motion.
    """

    def __init__(self, world: World, occ: OccupancyMap, config: PeopleConfig,
                 walkers: tuple[Walker, ...], robot_radius: float, seed: int = 0,
                 gap: float = 0.3, patience: float = 2.0) -> None:  # fmt: skip
        self.world, self.occ, self.config, self.seed = world, occ, config, seed
        self.walkers = list(walkers)
        self.robot_radius, self.gap, self.patience = robot_radius, gap, patience
        self.keep = robot_radius + config.radius + gap  # centre distance a walker keeps
        self.turned_away = 0
        self._waited = np.zeros(len(walkers))
        self._t = [0.0]
        self._clock = [np.zeros(len(walkers))]

    def __len__(self) -> int:
        return len(self.walkers)

    def _poses(self, clocks: np.ndarray) -> np.ndarray:
        """(P, 3) walker k at its own clock ``clocks[k]``."""
        return np.stack([w.pose_at(c) for w, c in zip(self.walkers, clocks, strict=True)])

    def advance(self, t: float, robot_xy: np.ndarray) -> None:
        """Move every walker on to time ``t`` (s, after the last call) unless that brings it
        towards the robot at ``robot_xy`` inside the kept distance."""
        dt = t - self._t[-1]
        if dt <= 0 or not self.walkers:
            return
        clock = self._clock[-1]
        now, ahead = self._poses(clock)[:, :2], self._poses(clock + dt)[:, :2]
        d_now = np.linalg.norm(now - robot_xy, axis=1)
        d_next = np.linalg.norm(ahead - robot_xy, axis=1)
        wait = (d_next < self.keep) & (d_next < d_now)
        self._waited = np.where(wait, self._waited + dt, 0.0)
        for k in np.nonzero(self._waited >= self.patience)[0]:
            self._turn_away(int(k), clock[k], now[k], robot_xy)
            self._waited[k] = 0.0
        self._t.append(t)
        self._clock.append(np.where(wait, clock, clock + dt))

    def _turn_away(self, k: int, clock: float, here: np.ndarray, robot_xy: np.ndarray) -> None:
        """Walker ``k`` (at its own ``clock``, at ``here``) walks somewhere else from now on,
        around the robot; its past is kept."""
        w = self.walkers[k]
        self.turned_away += 1
        rng = seeds.rng_for(
            self.world.key, self.world.seed, seeds.STREAM_PEOPLE, self.seed, 1 + k, self.turned_away
        )
        blocked = with_people(self.occ, robot_xy[None], self.robot_radius + self.gap)
        times, points = walk(self.world, self.occ, self.config, rng, here, clock,
                             max(w.times[-1], clock + 1.0), first_occ=blocked)  # fmt: skip
        past = w.times < clock
        self.walkers[k] = Walker(
            w.id, np.concatenate([w.times[past], times]), np.vstack([w.positions[past], points])
        )

    def current(self) -> np.ndarray:
        """(P, 3) the walkers' (x, y, heading) at the time of the last :meth:`advance`."""
        if not self.walkers:
            return np.zeros((0, 3))
        return self._poses(self._clock[-1])

    def poses_at(self, times: np.ndarray) -> np.ndarray:
        """(T, P, 3) the walkers' (x, y, heading) at ``times`` (s)."""
        times = np.asarray(times, np.float64)
        if not self.walkers:
            return np.zeros((len(times), 0, 3))
        t, clock = np.asarray(self._t), np.stack(self._clock)  # (K,), (K, P)
        past = np.minimum(times, t[-1])
        own = np.stack([np.interp(past, t, clock[:, k]) for k in range(len(self))], axis=1)
        own += np.maximum(times - t[-1], 0.0)[:, None]  # after the last call: walk on
        return np.stack([w.pose_at(own[:, k]) for k, w in enumerate(self.walkers)], axis=1)


def with_people(occ: OccupancyMap, people_xy: np.ndarray, radius: float) -> OccupancyMap:
    """``occ`` with a disc of ``radius`` m at each of the (P, 2) positions as an obstacle: the
    ESDF is the smaller of the world's and the distance to the nearest disc (exact outside
    discs; inside, the depth into the disc, as deep as the world's own obstacles read)."""
    people_xy = np.asarray(people_xy, np.float64).reshape(-1, 2)
    if len(people_xy) == 0:
        return occ
    gx, gy = occ.grid.centres()
    d = np.full(occ.esdf.shape, np.inf)
    for x, y in people_xy:
        d = np.minimum(d, np.hypot(gx[:, None] - x, gy[None, :] - y) - radius)
    esdf = np.minimum(occ.esdf, d).astype(np.float32)
    return dataclasses.replace(occ, occupied=occ.occupied | (d < 0), esdf=esdf)


def walk(world: World, occ: OccupancyMap, config: PeopleConfig, rng: np.random.Generator,
         here: np.ndarray, t: float, until: float, first_occ: OccupancyMap | None = None
         ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Knots (times (K,), positions (K, 2)) of a walk from ``here`` at time ``t`` to ``until``:
    legs to goals, walked at a speed drawn per leg, with a pause at each goal. The first leg is
    planned on ``first_occ`` when given (the world with the robot in it: a detour)."""
    free = walkable(occ, config)
    rooms = len(world.plan.rooms)
    times, points, failures = [t], [np.asarray(here, np.float64)], 0
    while t < until:
        goal = _goal(occ, free, here, rng, rooms)
        try:
            path = plan_path(first_occ or occ, here, goal, config.radius)
            failures, first_occ = 0, None
        except NoPathError:
            failures += 1
            if failures >= 10:  # boxed in: stand still for the rest
                times.append(max(until, t + 1e-3))
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
    return np.asarray(times), np.asarray(points)


def plan_walkers(world: World, occ: OccupancyMap, config: PeopleConfig, duration: float,
                 seed: int = 0, avoid: np.ndarray | None = None) -> tuple[Walker, ...]:  # fmt: skip
    """The world's walkers for ``duration`` seconds (deterministic in world, config, seed,
    avoid). Nobody starts within 1.5 m of the (N, 2) ``avoid`` points (the robot's start)."""
    count = walker_count(occ, config)
    if count == 0:
        return ()
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_PEOPLE, seed)
    free = walkable(occ, config)
    starts = free.copy()
    if avoid is not None:
        gx, gy = occ.grid.centres()
        for x, y in np.asarray(avoid, np.float64).reshape(-1, 2):
            starts &= np.hypot(gx[:, None] - x, gy[None, :] - y) > 1.5
    walkers = []
    cells = np.argwhere(starts if starts.any() else free)
    for k in range(count):
        here = occ.grid.to_world(cells[rng.integers(len(cells))].astype(np.float64))
        times, points = walk(world, occ, config, rng, here, 0.0, duration)
        walkers.append(Walker(PERSON_ID_BASE + k, times, points))
    return tuple(walkers)
