"""Classical planning baselines in the planning head's action format.

Both return ``deltas`` (n, 3): the relative motions (dx, dy, dtheta) between n waypoints spaced
``interval_s`` seconds apart, each in the previous waypoint's frame (see
:mod:`astra_jax.local_model.trajectory`; ``rollout(deltas)`` gives the ego poses). The robot
starts at the ego origin, and everything is in the ego frame (x forward, y left; m, rad, s).

* :func:`straight_line`: constant speed along the line to the subgoal, heading along it, stopping
  at the subgoal. It ignores obstacles: the floor of the comparison.
* :func:`astar_plan`: A* on the run-time ESDF (:class:`~astra_jax.local_model.depth_occupancy.
  EgoESDF`) with networkx. Cells whose ESDF exceeds ``radius + margin`` are free; 8-connected
  moves without cutting corners; a step costs its length times ``1 + w * p`` with ``p`` rising
  linearly from 0 to 1 as the clearance falls from ``radius + margin + penalty_range`` to
  ``radius + margin`` (the simulator's expert uses the same shape, so the baseline keeps to the
  middle of free space as the expert does). The octile distance is the (admissible) heuristic.
  The search runs from the free cell nearest the robot to the subgoal's cell or, when that is
  not reachable, the reachable cell nearest the subgoal. The cell path is shortcut wherever the
  straight segment keeps the clearance (checked every 2 cm), then time-parameterised at
  ``speed`` with the heading along the path. It returns None when there is no free cell within
  ``start_search`` m of the robot (the fallback has nothing to offer), and a plan that stays put
  when no reachable cell is nearer the subgoal than the start cell.

  Narrow passages (off by default): when the plan with the margin does not reach the subgoal,
  A* plans again with ``relaxed_margin`` (e.g. 0.05 m) and takes that plan where the margin's
  cannot move the robot (no free start cell, or it would stay put), or where it ends nearer the
  subgoal by more than the margins' difference plus a cell (through a passage, not just closer
  to a wall). A 0.9 m door leaves a 0.6 m robot 0.15 m a side, and the run-time ESDF
  reads ~0.05 m short: with the 0.1 m margin the door's centre is not free, and once both
  jambs are in view (or in the run-time map's memory) the robot stopped before a door and
  waited there for good. It is off because without the memory the jambs next to the robot are
  unseen and the relaxed plans hit them (closed-loop figures: docs/design.md, section 15).
"""

from __future__ import annotations

import dataclasses
import math

import networkx as nx
import numpy as np
from scipy import ndimage

from astra_jax.config import ConfigError
from astra_jax.local_model.depth_occupancy import EgoESDF
from astra_jax.local_model.trajectory import deltas_from_poses
from astra_jax.validation import check_non_negative_numbers, check_positive_numbers

SQRT2 = math.sqrt(2.0)


@dataclasses.dataclass(frozen=True)
class AStarConfig:
    """A* on the ego ESDF. Lengths in metres.

    ``radius``: the robot's (``RobotConfig.radius``); ``margin``: extra clearance of free cells;
    ``penalty_range`` and ``penalty_weight``: the low-clearance cost (module docstring);
    ``check_step``: spacing of the clearance checks along shortcut segments; ``start_search``:
    how far from the robot a free start cell may be when the robot's own cell is not free;
    ``relaxed_margin``: the margin of the second search when the first does not reach the
    subgoal (module docstring; None: no second search).
    """

    radius: float = 0.30
    # The run-time ESDF reads free space ~0.05 m short of the truth (median, offices; see
    # depth_occupancy); 0.1 m over it keeps ~0.15 m of true clearance, what 0.05 m kept when
    # that ESDF measured to the surface cells' edges (~0.09 m short).
    margin: float = 0.10
    penalty_range: float = 0.6
    penalty_weight: float = 3.0
    check_step: float = 0.02
    start_search: float = 0.6
    relaxed_margin: float | None = None

    def __post_init__(self) -> None:
        check_positive_numbers(self, "radius", "penalty_range", "check_step")
        check_non_negative_numbers(self, "margin", "penalty_weight", "start_search")
        if self.relaxed_margin is not None:
            check_non_negative_numbers(self, "relaxed_margin")
            if self.relaxed_margin >= self.margin:
                raise ConfigError(
                    f"AStarConfig.relaxed_margin = {self.relaxed_margin!r}: expected less than "
                    f"margin = {self.margin!r} (None: no second search)"
                )

    @property
    def clearance(self) -> float:
        return self.radius + self.margin


def _check_motion(subgoal_xy: np.ndarray, num_waypoints: int, interval_s: float, speed: float
                  ) -> np.ndarray:  # fmt: skip
    g = np.asarray(subgoal_xy, np.float64)
    if g.shape != (2,) or not np.all(np.isfinite(g)):
        raise ValueError(f"subgoal_xy = {subgoal_xy!r}: expected a finite ego (x, y) in metres")
    if isinstance(num_waypoints, bool) or not isinstance(num_waypoints, int) or num_waypoints < 1:
        raise ValueError(f"num_waypoints = {num_waypoints!r}: expected a positive integer")
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval_s = {interval_s!r}: expected seconds > 0")
    if not (math.isfinite(speed) and speed >= 0):
        raise ValueError(f"speed = {speed!r}: expected m/s >= 0")
    return g


def time_parameterize(path_xy: np.ndarray, num_waypoints: int, interval_s: float, speed: float
                      ) -> np.ndarray:  # fmt: skip
    """Ego poses (n, 3) reached at times k * interval_s (k = 1..n) driving the polyline
    ``path_xy`` (M, 2) at constant ``speed`` from its start, stopping at its end. The heading is
    the direction of the segment being driven (at the end: the last segment's); a path of zero
    length keeps heading 0."""
    path = np.asarray(path_xy, np.float64)
    seg = np.diff(path, axis=0)
    length = np.linalg.norm(seg, axis=1)
    keep = length > 1e-9
    seg, length = seg[keep], length[keep]
    if len(seg) == 0:
        poses = np.zeros((num_waypoints, 3))
        poses[:, :2] = path[0]
        return poses
    pts = np.concatenate([path[:1], path[:1] + np.cumsum(seg, axis=0)])
    s_cum = np.concatenate([[0.0], np.cumsum(length)])
    s = np.minimum(speed * interval_s * np.arange(1, num_waypoints + 1), s_cum[-1])
    k = np.clip(np.searchsorted(s_cum, s, side="right") - 1, 0, len(seg) - 1)
    xy = pts[k] + seg[k] * ((s - s_cum[k]) / length[k])[:, None]
    heading = np.arctan2(seg[k, 1], seg[k, 0])
    return np.concatenate([xy, heading[:, None]], axis=1)


def straight_line(subgoal_xy: np.ndarray, num_waypoints: int, interval_s: float, speed: float
                  ) -> np.ndarray:  # fmt: skip
    """Deltas (n, 3) driving straight at ``speed`` (m/s) toward ``subgoal_xy`` (ego, m), heading
    along the line and stopping at the subgoal."""
    g = _check_motion(subgoal_xy, num_waypoints, interval_s, speed)
    poses = time_parameterize(np.stack([np.zeros(2), g]), num_waypoints, interval_s, speed)
    return deltas_from_poses(poses)


def astar_path(esdf: EgoESDF, subgoal_xy: np.ndarray, cfg: AStarConfig | None = None
               ) -> np.ndarray | None:  # fmt: skip
    """The shortcut A* polyline (M, 2) in ego metres from the robot (the origin) toward
    ``subgoal_xy``; (1, 2) zeros to stay put; None without a free start cell (module docstring).
    When that search does not reach the subgoal, one with ``cfg.relaxed_margin`` may replace it."""
    cfg = cfg or AStarConfig()
    g = np.asarray(subgoal_xy, np.float64)
    path = _astar_path(esdf, g, cfg)
    if cfg.relaxed_margin is None:
        return path
    if path is not None and np.linalg.norm(path[-1] - g) <= 0.75 * esdf.resolution:
        return path  # the subgoal is reached with the margin
    relaxed = _astar_path(
        esdf, g, dataclasses.replace(cfg, margin=cfg.relaxed_margin, relaxed_margin=None)
    )
    if relaxed is None or len(relaxed) == 1:  # it does not move the robot either
        return path
    if path is None or len(path) == 1:
        return relaxed
    # both move: the relaxed one only where it gets nearer than the smaller clearance alone
    # would bring any plan toward an obstacle-side subgoal (a narrow passage, not a wall)
    gain = np.linalg.norm(path[-1] - g) - np.linalg.norm(relaxed[-1] - g)
    return relaxed if gain > cfg.margin - cfg.relaxed_margin + esdf.resolution else path


def _astar_path(esdf: EgoESDF, g: np.ndarray, cfg: AStarConfig) -> np.ndarray | None:
    """One search of :func:`astar_path` at ``cfg``'s clearance."""
    free = esdf.values > cfg.clearance
    start = _start_cell(esdf, free, cfg.start_search)
    if start is None:
        return None
    # reachable set: without corner cutting, 8-connected moves connect what 4-connectivity does
    comp, _ = ndimage.label(free)
    reach = np.argwhere(comp == comp[start])
    dist = np.linalg.norm(esdf.to_ego(reach) - g, axis=1)
    goal = tuple(int(v) for v in reach[int(np.argmin(dist))])
    if goal == start:  # no reachable cell is nearer the subgoal: stay put
        return np.zeros((1, 2))
    cells = _astar_cells(esdf, free, start, goal, cfg)
    pts = esdf.to_ego(np.asarray(cells, np.float64))
    pts = np.concatenate([np.zeros((1, 2)), pts])  # the robot is at the origin
    if np.linalg.norm(g - pts[-1]) <= 0.75 * esdf.resolution:
        pts[-1] = g  # the subgoal lies in the goal cell: end exactly on it
    return _shortcut(esdf, pts, cfg)


def astar_plan(
    esdf: EgoESDF,
    subgoal_xy: np.ndarray,
    num_waypoints: int,
    interval_s: float,
    speed: float,
    cfg: AStarConfig | None = None,
) -> np.ndarray | None:
    """Deltas (n, 3) following :func:`astar_path` at ``speed`` (m/s), or None (no path)."""
    g = _check_motion(subgoal_xy, num_waypoints, interval_s, speed)
    if not isinstance(esdf, EgoESDF):
        raise ValueError(f"esdf: expected an EgoESDF, got {type(esdf).__name__}")
    path = astar_path(esdf, g, cfg)
    if path is None:
        return None
    return deltas_from_poses(time_parameterize(path, num_waypoints, interval_s, speed))


def _start_cell(esdf: EgoESDF, free: np.ndarray, search: float) -> tuple[int, int] | None:
    """The free cell nearest the ego origin, if one lies within ``search`` m of it."""
    cand = np.argwhere(free)
    if len(cand) == 0:
        return None
    d = np.linalg.norm(esdf.to_ego(cand), axis=1)
    k = int(np.argmin(d))
    if d[k] > search + 0.75 * esdf.resolution:
        return None
    return (int(cand[k, 0]), int(cand[k, 1]))


def _astar_cells(esdf: EgoESDF, free: np.ndarray, start: tuple[int, int], goal: tuple[int, int],
                 cfg: AStarConfig) -> list[tuple[int, int]]:  # fmt: skip
    """networkx A* over the free cells (8-connected, no corner cutting); start and goal are
    connected (same component)."""
    nx_, ny_ = free.shape
    # cost factor of entering a cell; an edge uses the mean of its two cells (undirected graph)
    low = np.clip((cfg.clearance + cfg.penalty_range - esdf.values) / cfg.penalty_range, 0, 1)
    factor = 1.0 + cfg.penalty_weight * low
    graph = nx.Graph()
    for di, dj, step in ((1, 0, 1.0), (0, 1, 1.0), (1, 1, SQRT2), (1, -1, SQRT2)):
        i0, i1 = 0, nx_ - di
        j0, j1 = max(0, -dj), ny_ - max(0, dj)
        a = free[i0:i1, j0:j1]
        b = free[i0 + di : i1 + di, j0 + dj : j1 + dj]
        ok = a & b
        if di and dj:  # both orthogonal neighbours free: no cutting corners
            ok &= free[i0 + di : i1 + di, j0:j1] & free[i0:i1, j0 + dj : j1 + dj]
        ii, jj = np.nonzero(ok)
        ii, jj = ii + i0, jj + j0
        u, v = ii * ny_ + jj, (ii + di) * ny_ + (jj + dj)
        w = step * 0.5 * (factor[ii, jj] + factor[ii + di, jj + dj])
        graph.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist()))

    def octile(p: int, q: int) -> float:
        dx, dy = abs(p // ny_ - q // ny_), abs(p % ny_ - q % ny_)
        return (dx + dy) + (SQRT2 - 2.0) * min(dx, dy)

    s, t = start[0] * ny_ + start[1], goal[0] * ny_ + goal[1]
    nodes = nx.astar_path(graph, s, t, heuristic=octile, weight="weight")
    return [(n // ny_, n % ny_) for n in nodes]


def _segment_clear(esdf: EgoESDF, a: np.ndarray, b: np.ndarray, cfg: AStarConfig) -> bool:
    n = max(2, math.ceil(float(np.linalg.norm(b - a)) / cfg.check_step) + 1)
    pts = a + (b - a) * np.linspace(0.0, 1.0, n)[:, None]
    return bool(np.all(esdf.at(pts) > cfg.clearance))


def _shortcut(esdf: EgoESDF, pts: np.ndarray, cfg: AStarConfig) -> np.ndarray:
    """Greedy shortcut: from each kept point, jump to the farthest later point whose straight
    segment keeps the clearance (or to the next point when none does, e.g. leaving the robot's
    cell when it starts near an obstacle)."""
    out = [pts[0]]
    i = 0
    while i < len(pts) - 1:
        j = len(pts) - 1
        while j > i + 1 and not _segment_clear(esdf, pts[i], pts[j], cfg):
            j -= 1
        out.append(pts[j])
        i = j
    return np.asarray(out)
