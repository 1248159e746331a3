"""Planning figures per trajectory, and the best-of-N cost (the paper's FM*).

A trajectory is its n ego poses (..., n, 3) at times k * interval_s, k = 1..n (or the deltas
that :func:`~astra_jax.local_model.trajectory.rollout` turns into them); the robot starts at
the ego origin. The ESDF is an :class:`~astra_jax.local_model.depth_occupancy.EgoESDF`: the
run-time one for best-of-N selection, the world's ``local_crop`` for the evaluation.

Figures (:func:`trajectory_metrics`):

* ``collision``: some point of the path, interpolated linearly from the origin through the
  waypoints at <= 2 cm spacing, is within ``radius`` of an obstacle (ESDF < radius).
* ``min_clearance``: the smallest ESDF along that path (m, robot centre to obstacle surface).
* ``final_distance``: from the last waypoint to the subgoal (m).
* ``mean_speed``: path length / horizon (n * interval_s), m/s.
* ``smoothness``: mean norm of the second difference of positions over the horizon, origin
  included, divided by interval_s**2: the mean acceleration (m/s^2) of a robot through the
  waypoints. Lower is smoother; a constant-velocity line scores 0, turns and speed changes
  score more. (It reads positions only, so a heading that jumps on a straight line is free.)

Best-of-N (:func:`score_trajectories`), lower is better, lexicographic in collision: every
colliding sample costs more than every clear one of the same batch. Within each group::

    cost = final_distance + 2.0 * max(0, comfort - min_clearance) + 0.1 * smoothness

with ``comfort = radius + 0.2`` m. Weights, and why: progress is the planner's job, so 1 m of
remaining distance costs 1; clearance below the comfort band costs 2 per metre, so that a
sample grazing an obstacle (0.2 m short) gives way to one ending 0.4 m farther from the subgoal;
smoothness (m/s^2) only breaks near-ties (a 1 m/s^2 wiggle costs as much as 0.1 m of progress).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from astra_jax.local_model.depth_occupancy import EgoESDF
from astra_jax.local_model.trajectory import rollout
from astra_jax.validation import check_non_negative_numbers

INTERP_SPACING = 0.02  # m: the collision check's spacing along the path
COMFORT_BAND = 0.2  # m of clearance beyond the radius before the clearance cost starts


@dataclasses.dataclass(frozen=True)
class ScoreWeights:
    """Weights of the best-of-N cost (module docstring)."""

    progress: float = 1.0
    clearance: float = 2.0
    smoothness: float = 0.1
    comfort_band: float = COMFORT_BAND

    def __post_init__(self) -> None:
        check_non_negative_numbers(self, "progress", "clearance", "smoothness", "comfort_band")


@dataclasses.dataclass(frozen=True)
class PlanMetrics:
    """Per-trajectory figures, each (...,) over the batch (module docstring for definitions)."""

    collision: np.ndarray  # bool
    min_clearance: np.ndarray  # m
    final_distance: np.ndarray  # m
    mean_speed: np.ndarray  # m/s
    smoothness: np.ndarray  # m/s^2


def _check_poses(poses: np.ndarray, name: str = "poses") -> np.ndarray:
    p = np.asarray(poses, np.float64)
    if p.ndim < 2 or p.shape[-1] != 3 or p.shape[-2] < 1:
        raise ValueError(f"{name} shape {p.shape}: expected (..., n, 3) with n >= 1")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name}: expected finite values")
    return p


def _check_common(subgoal_xy: np.ndarray, radius: float, interval_s: float) -> np.ndarray:
    g = np.asarray(subgoal_xy, np.float64)
    if g.shape != (2,) or not np.all(np.isfinite(g)):
        raise ValueError(f"subgoal_xy = {subgoal_xy!r}: expected a finite ego (x, y) in metres")
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius = {radius!r}: expected metres > 0")
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval_s = {interval_s!r}: expected seconds > 0")
    return g


def path_points(poses: np.ndarray, spacing: float = INTERP_SPACING) -> np.ndarray:
    """Points (..., M, 2) on the polyline from the origin through the waypoints (..., n, 3), no
    two consecutive ones more than ``spacing`` m apart (every segment gets the same number of
    samples, enough for the longest segment of the batch)."""
    p = _check_poses(poses)
    xy = np.concatenate([np.zeros((*p.shape[:-2], 1, 2)), p[..., :2]], axis=-2)
    a, b = xy[..., :-1, :], xy[..., 1:, :]
    longest = float(np.max(np.linalg.norm(b - a, axis=-1), initial=0.0))
    m = max(1, math.ceil(longest / spacing))
    t = np.arange(m) / m  # each segment's samples, its end excluded (the next one starts there)
    pts = a[..., None, :] + (b - a)[..., None, :] * t[:, None]  # (..., n, m, 2)
    pts = pts.reshape(*p.shape[:-2], -1, 2)
    return np.concatenate([pts, xy[..., -1:, :]], axis=-2)


def people_clearance(poses: np.ndarray, people: np.ndarray, person_radius: float) -> np.ndarray:
    """(...,) the least gap (m) between the path of ``poses`` (..., n, 3) and the moving people,
    each path point met at the time the robot reaches it (waypoint j at j intervals, linearly
    in between), ``people`` (n + 1, P, 2) their ego positions at waypoint times 0..n, discs of
    ``person_radius`` m (inf: nobody)."""
    p = _check_poses(poses)
    people = np.asarray(people, np.float64)
    n = p.shape[-2]
    if people.shape[:1] != (n + 1,) or people.ndim != 3 or people.shape[-1] != 2:
        raise ValueError(f"people shape {people.shape}: expected ({n + 1}, P, 2)")
    if people.shape[1] == 0:
        return np.full(p.shape[:-2], np.inf)
    pts = path_points(p)  # (..., n * m + 1, 2): every segment gets m points
    m = (pts.shape[-2] - 1) // n
    s = np.arange(pts.shape[-2]) / m  # each point's time, in waypoint intervals
    j = np.minimum(np.floor(s).astype(np.int64), n - 1)
    where = people[j] + (s - j)[:, None, None] * (people[j + 1] - people[j])  # (M, P, 2)
    gaps = np.linalg.norm(pts[..., :, None, :] - where, axis=-1).min(-1) - person_radius
    return gaps.min(-1)


def trajectory_metrics(poses: np.ndarray, esdf: EgoESDF, subgoal_xy: np.ndarray, radius: float,
                       interval_s: float, people: np.ndarray | None = None,
                       person_radius: float = 0.25) -> PlanMetrics:  # fmt: skip
    """Figures of trajectories ``poses`` (..., n, 3) (ego m, rad) on ``esdf`` toward
    ``subgoal_xy`` (2,) for a robot of ``radius`` m, waypoints ``interval_s`` s apart; with
    ``people`` (n + 1, P, 2), the clearance counts the moving people too
    (:func:`people_clearance`)."""
    p = _check_poses(poses)
    g = _check_common(subgoal_xy, radius, interval_s)
    n = p.shape[-2]
    clearance = esdf.at(path_points(p)).min(axis=-1)
    if people is not None:
        clearance = np.minimum(clearance, people_clearance(p, people, person_radius))
    xy = np.concatenate([np.zeros((*p.shape[:-2], 1, 2)), p[..., :2]], axis=-2)
    length = np.linalg.norm(np.diff(xy, axis=-2), axis=-1).sum(-1)
    accel = np.linalg.norm(xy[..., 2:, :] - 2.0 * xy[..., 1:-1, :] + xy[..., :-2, :], axis=-1)
    smooth = accel.mean(-1) / interval_s**2 if n >= 2 else np.zeros(p.shape[:-2])
    return PlanMetrics(
        collision=clearance < radius,
        min_clearance=clearance.astype(np.float64),
        final_distance=np.linalg.norm(p[..., -1, :2] - g, axis=-1),
        mean_speed=length / (n * interval_s),
        smoothness=np.asarray(smooth, np.float64),
    )


def trajectory_metrics_from_deltas(
    deltas: np.ndarray, esdf: EgoESDF, subgoal_xy: np.ndarray, radius: float, interval_s: float
) -> PlanMetrics:
    """:func:`trajectory_metrics` of the trajectories whose deltas (..., n, 3) are given."""
    return trajectory_metrics(
        rollout(_check_poses(deltas, "deltas")), esdf, subgoal_xy, radius, interval_s
    )


def score_trajectories(
    poses: np.ndarray,
    esdf: EgoESDF,
    subgoal_xy: np.ndarray,
    radius: float,
    interval_s: float,
    weights: ScoreWeights | None = None,
) -> np.ndarray:
    """Best-of-N costs (K,) of samples ``poses`` (K, n, 3); the best is ``argmin``.

    A colliding sample always costs more than a clear one: the colliding group is shifted
    above the clear group's maximum (module docstring for the cost within a group).
    """
    p = _check_poses(poses)
    if p.ndim != 3:
        raise ValueError(f"poses shape {p.shape}: expected (K, n, 3) samples")
    w = weights or ScoreWeights()
    m = trajectory_metrics(p, esdf, subgoal_xy, radius, interval_s)
    shortfall = np.maximum(0.0, radius + w.comfort_band - m.min_clearance)
    cost = w.progress * m.final_distance + w.clearance * shortfall + w.smoothness * m.smoothness
    if m.collision.any() and not m.collision.all():
        clear_max = cost[~m.collision].max()
        hit_min = cost[m.collision].min()
        cost = np.where(m.collision, cost + (clear_max - hit_min) + 1.0, cost)
    return cost
