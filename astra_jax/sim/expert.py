"""The expert driver among people: it slows for a person ahead, stops short of one in its way,
and replans around one who keeps blocking it (the paper's Fig. 11: an approaching person
shortens the planned trajectory).

:func:`drive_among_people` wraps :func:`astra_jax.sim.control.follow_path`: a speed cap from
the nearest person in the corridor ahead, and a stop rule that ends a drive once the robot has
stood ``patience`` s with someone in its way. It then plans again with every person, as of
that moment, as a disc obstacle (:func:`astra_jax.sim.people.with_people`), and drives on from
where it stood. The people give way in turn (:class:`astra_jax.sim.people.YieldingCrowd`,
advanced at every control step). Without people it is exactly ``follow_path``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any

import numpy as np

from astra_jax.sim.control import MotionLimits, Trajectory, follow_path
from astra_jax.sim.occupancy import OccupancyMap
from astra_jax.sim.people import YieldingCrowd, with_people
from astra_jax.sim.planning import NoPathError, plan_path, resample


@dataclasses.dataclass(frozen=True)
class CrowdRules:
    """How the expert treats people.

    Attributes:
      person_radius: a person's disc (m), as the walkers' planner keeps it clear.
      corridor: margin (m) beyond both radii: a person whose centre is in front of the robot
        and within both radii plus this of the path's next ``look_ahead`` m is "in the way".
      look_ahead: how much of the path ahead (m) the robot watches.
      stop_gap: the robot stops when the gap between the discs ahead falls to this (m).
      slow_gain: speed cap (m/s) per metre of gap beyond ``stop_gap``, over 0.1 m/s (0.25:
        0.8 m/s at a 3.15 m gap).
      patience: seconds stopped with someone in the way before replanning around them.
      inflate: extra clearance (m) around people when replanning.
      max_replans: replans per drive; past it the robot waits for the way to clear.
      max_detour: a replanned path may be at most this much (m) longer than the rest of the
        current one; a longer way round is not taken (the robot waits).
    """

    person_radius: float = 0.25
    corridor: float = 0.1
    look_ahead: float = 2.5
    stop_gap: float = 0.35
    slow_gain: float = 0.25
    patience: float = 1.0
    inflate: float = 0.3
    max_replans: int = 10
    max_detour: float = 8.0


@dataclasses.dataclass(frozen=True)
class CrowdDrive:
    """A drive among people: the trajectory and what the people made the expert do."""

    trajectory: Trajectory
    path: np.ndarray  # (N, 2) the last path driven (the first when nothing blocked it)
    replans: int
    blocked_s: float  # time stood still with someone in the way (s)


def gap_ahead(pose: np.ndarray, ahead: np.ndarray, people_xy: np.ndarray, robot_radius: float,
              rules: CrowdRules) -> float:  # fmt: skip
    """The gap (m) between the robot's disc at ``pose`` and the nearest person in its way
    (inf: nobody): a person is in the way when their centre lies in front of the robot and
    within both radii plus ``corridor`` of the (M, 2) ``ahead`` points (the path's next
    metres). ``people_xy`` (P, 2) world positions."""
    if len(people_xy) == 0:
        return math.inf
    reach = robot_radius + rules.person_radius
    d = people_xy - pose[:2]
    front = d[:, 0] * math.cos(pose[2]) + d[:, 1] * math.sin(pose[2]) > 0
    to_path = np.linalg.norm(people_xy[:, None] - ahead[None], axis=-1).min(axis=1)
    in_way = front & (to_path < reach + rules.corridor)
    if not in_way.any():
        return math.inf
    return float(np.linalg.norm(d[in_way], axis=1).min()) - reach


def _length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def path_ahead(points: np.ndarray, xy: np.ndarray, length: float) -> np.ndarray:
    """The next ``length`` m of a path resampled every 0.1 m (``points`` (N, 2)), from the
    point nearest to ``xy``."""
    i = int(np.argmin(np.linalg.norm(points - xy, axis=1)))
    return points[i : i + max(2, round(length / 0.1))]


def drive_among_people(occ: OccupancyMap, path: np.ndarray, pose0: np.ndarray, goal: np.ndarray,
                       crowd: YieldingCrowd | None, physics_rate_hz: float, limits: MotionLimits,
                       robot_radius: float, goal_yaw: float | None = None, max_time: float = 600.0,
                       clock0: float = 0.0, rules: CrowdRules = CrowdRules()) -> CrowdDrive:  # fmt: skip
    """Drive ``path`` (N, 2) from ``pose0`` to ``goal`` (x, y) among ``crowd``, whose clock
    reads ``clock0`` s at the drive's start (``crowd`` has advanced to it); see the module
    docstring. Stops at ``max_time`` s (of the drive) at the latest."""
    esdf = lambda xy: float(occ.esdf_at(xy))  # noqa: E731
    if not crowd:
        traj = follow_path(path, pose0, physics_rate_hz, limits, goal_yaw, max_time,
                           clearance=esdf, radius=robot_radius)  # fmt: skip
        return CrowdDrive(traj, path, 0, 0.0)

    dense = {"path": resample(path, 0.1)}  # the path now driven, every 0.1 m

    def cap(t: float, pose: np.ndarray) -> float:
        ahead = path_ahead(dense["path"], pose[:2], rules.look_ahead)
        people = crowd.current()[:, :2]  # advanced to this control step by stop_when
        gap = gap_ahead(pose, ahead, people, robot_radius, rules)
        return 0.1 + rules.slow_gain * (gap - rules.stop_gap) if gap > rules.stop_gap else 0.0

    parts: list[Trajectory] = []
    pose, v, w, t, replans = np.asarray(pose0, np.float64), 0.0, 0.0, 0.0, 0
    # since: when the robot last came to stand in someone's way; last: the previous control
    # step's time; blocked: total time stood in someone's way (s)
    state: dict[str, Any] = {"since": None, "fired": False, "last": 0.0, "blocked": 0.0}

    def in_way(now: float, here: np.ndarray, speed: float) -> bool:
        far = np.linalg.norm(here[:2] - goal[:2]) > 0.3  # not the final turn at the goal
        return bool(far and abs(speed) < 0.02 and cap(now, here) <= 0.0)

    def stop_when(now: float, here: np.ndarray, speed: float) -> bool:
        crowd.advance(clock0 + now, here[:2])  # every control step: the people react
        step, state["last"] = now - state["last"], now
        if not in_way(now, here, speed):
            state["since"] = None
            return False
        state["blocked"] += step
        state["since"] = now if state["since"] is None else state["since"]
        state["fired"] = replans < rules.max_replans and now - state["since"] >= rules.patience
        return bool(state["fired"])

    while t < max_time:
        state["since"], state["fired"] = None, False
        part = follow_path(path, pose, physics_rate_hz, limits, goal_yaw, max_time - t, v0=v,
                           clearance=esdf, radius=robot_radius, w0=w, t0=t, speed_cap=cap,
                           stop_when=stop_when)  # fmt: skip
        parts.append(part)
        t, pose = t + part.duration, part.pose[-1]
        v, w = float(part.v[-1]), float(part.omega[-1])
        if not state["fired"]:  # arrived, or out of time
            break
        replans += 1
        people = crowd.current()[:, :2]
        around = with_people(occ, people, rules.person_radius + rules.inflate)
        # when the way is shut (a corridor, a doorway) or the way round is long, wait on the rest
        # of the old path (follow_path starts tracking at a path's first metre: never resume
        # the whole path); the person turns away (YieldingCrowd)
        rest = path_ahead(dense["path"], pose[:2], 1e9)
        path = np.vstack([pose[:2], rest[1:]]) if len(rest) > 1 else np.vstack([pose[:2], rest])
        with contextlib.suppress(NoPathError):
            detour = plan_path(around, pose[:2], goal[:2], robot_radius)
            if _length(detour) <= _length(rest) + rules.max_detour:
                path = detour
        dense["path"] = resample(path, 0.1)
    return CrowdDrive(Trajectory.concatenate(parts), path, replans, float(state["blocked"]))
