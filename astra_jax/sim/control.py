"""Kinematic robot motion: unicycle (differential-drive) integration and pure pursuit.

The robot's state is its planar pose; its inputs are the body velocities (v, omega), held
constant over each physics step of ``dt = 1 / physics_rate_hz`` and integrated exactly
(a circular arc, :func:`astra_jax.geometry.se2_exp`). The pure-pursuit controller runs at
:data:`CONTROL_RATE_HZ` and respects speed, acceleration and lateral-acceleration limits; when
the path turns back on itself it stops and turns in place.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from astra_jax.config import RobotConfig
from astra_jax.geometry import se2_compose, se2_exp, wrap_angle

CONTROL_RATE_HZ = 50.0


@dataclasses.dataclass(frozen=True)
class MotionLimits:
    """Speed limits (m/s, rad/s) and accelerations (m/s^2, rad/s^2) of the expert driver."""

    max_speed: float = 0.8
    max_turn_rate: float = 1.2
    accel: float = 0.6
    turn_accel: float = 2.0
    lateral_accel: float = 0.5
    lookahead: float = 0.7

    @staticmethod
    def for_robot(robot: RobotConfig, max_speed: float | None = None) -> MotionLimits:
        return MotionLimits(
            max_speed=min(robot.max_linear_speed, max_speed or 0.8),
            max_turn_rate=min(robot.max_angular_speed, 1.2),
        )


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Motion at the physics rate: ``pose`` (N+1, 3) at t_i = i*dt; commands ``v``, ``omega``
    (N,) held over [t_i, t_i + dt)."""

    dt: float
    pose: np.ndarray
    v: np.ndarray
    omega: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.v) * self.dt

    @property
    def num_steps(self) -> int:
        return len(self.v)

    def pose_at(self, times: np.ndarray) -> np.ndarray:
        """Exact poses (M, 3) at arbitrary times in [0, duration]."""
        times = np.clip(np.asarray(times, np.float64), 0.0, self.duration)
        i = np.minimum((times / self.dt).astype(np.int64), self.num_steps - 1)
        i = np.maximum(i, 0)
        tau = times - i * self.dt
        xi = np.stack([self.v[i] * tau, np.zeros_like(tau), self.omega[i] * tau], -1)
        return se2_compose(self.pose[i], se2_exp(xi))

    def velocity_at(self, times: np.ndarray) -> np.ndarray:
        """Commanded (v, omega) (M, 2) in effect at ``times``."""
        i = np.clip((np.asarray(times) / self.dt).astype(np.int64), 0, self.num_steps - 1)
        return np.stack([self.v[i], self.omega[i]], -1)

    @staticmethod
    def concatenate(parts: list[Trajectory]) -> Trajectory:
        dt = parts[0].dt
        pose = np.concatenate([parts[0].pose] + [p.pose[1:] for p in parts[1:]])
        return Trajectory(
            dt, pose, np.concatenate([p.v for p in parts]), np.concatenate([p.omega for p in parts])
        )


def integrate(pose0: np.ndarray, v: np.ndarray, omega: np.ndarray, dt: float) -> np.ndarray:
    """Exact unicycle poses (N+1, 3) from ``pose0`` under piecewise-constant (v, omega)."""
    steps = se2_exp(np.stack([v * dt, np.zeros_like(v), omega * dt], -1))
    out = np.empty((len(v) + 1, 3))
    out[0] = pose0
    p = np.asarray(pose0, np.float64)
    for k in range(len(v)):  # sequential by nature; se2_compose on 3-vectors is cheap
        p = se2_compose(p, steps[k])
        out[k + 1] = p
    return out


def follow_path(path: np.ndarray, pose0: np.ndarray, physics_rate_hz: float, limits: MotionLimits,
                goal_yaw: float | None = None, max_time: float = 600.0, v0: float = 0.0,
                stop_distance: float = 0.06, clearance: Callable[[np.ndarray], float] | None = None,
                radius: float = 0.3, w0: float = 0.0, t0: float = 0.0,
                speed_cap: Callable[[float, np.ndarray], float] | None = None,
                stop_when: Callable[[float, np.ndarray, float], bool] | None = None,
                ) -> Trajectory:  # fmt: skip
    """Drive along ``path`` (N, 2) from ``pose0`` with pure pursuit; optionally turn to
    ``goal_yaw`` at the end. Returns the trajectory at the physics rate.

    The lookahead shrinks with speed (tighter tracking when slow); ``clearance`` (the ESDF at a
    point, m) slows the robot near obstacles: v <= 0.15 + 1.5 (clearance - radius).
    ``speed_cap(t, pose)`` caps the forward speed further (0 stops the robot); ``stop_when(t,
    pose, v)`` ends the drive early, still moving (the caller continues from the last pose
    with ``v0``, ``w0``: :mod:`astra_jax.sim.expert`). Times ``t`` count from ``t0`` (s).
    """
    dt = 1.0 / physics_rate_hz
    hold = max(1, round(physics_rate_hz / CONTROL_RATE_HZ))
    dtc = hold * dt
    path = np.asarray(path, np.float64)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1) if len(path) > 1 else np.zeros(0)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    total = s[-1]
    pose = np.asarray(pose0, np.float64).copy()
    v, w = v0, w0
    stopped_early = False
    vs: list[float] = []
    ws: list[float] = []
    poses = [pose.copy()]
    idx = 0
    phase = "drive" if total > stop_distance else "turn"
    t = 0.0
    while t < max_time:
        if stop_when is not None and stop_when(t0 + t, pose, v):
            stopped_early = True
            break
        if phase == "drive":
            # progress: nearest path point within the next metre of arc (never backwards)
            hi = int(np.searchsorted(s, s[idx] + 1.0)) + 1
            window = path[idx:hi]
            idx += int(np.argmin(np.linalg.norm(window - pose[:2], axis=1)))
            remaining = (
                total
                - s[idx]
                + float(np.linalg.norm(path[idx] - pose[:2])) * (idx == len(path) - 1)
            )
            lookahead = float(np.clip(0.25 + 0.6 * abs(v), 0.3, limits.lookahead))
            target_s = s[idx] + lookahead
            j = min(int(np.searchsorted(s, target_s)), len(path) - 1)
            target = path[j]
            d = target - pose[:2]
            dist = float(np.hypot(*d))
            to_end = float(np.linalg.norm(path[-1] - pose[:2]))
            if to_end < stop_distance or (
                idx >= len(path) - 2 and to_end < 2 * stop_distance and abs(v) < 0.05
            ):
                v_cmd, w_cmd = 0.0, 0.0
                if abs(v) < 1e-6 and abs(w) < 1e-6:
                    phase = "turn"
                    continue
            else:
                alpha = float(wrap_angle(math.atan2(d[1], d[0]) - pose[2]))
                if abs(alpha) > 1.0:  # the path turns back: stop, then turn in place
                    v_cmd = 0.0
                    w_cmd = (
                        math.copysign(limits.max_turn_rate * 0.8, alpha) if abs(v) < 0.05 else 0.0
                    )
                else:
                    kappa = 2.0 * math.sin(alpha) / max(dist, 1e-3)
                    v_cmd = min(
                        limits.max_speed,
                        math.sqrt(2.0 * limits.accel * 0.8 * max(remaining, to_end, 0.0)) + 0.02,
                        math.sqrt(limits.lateral_accel / max(abs(kappa), 1e-6)),
                    )
                    if clearance is not None:
                        v_cmd = min(v_cmd, max(0.1, 0.15 + 1.5 * (clearance(pose[:2]) - radius)))
                    if speed_cap is not None:
                        v_cmd = min(v_cmd, max(0.0, speed_cap(t0 + t, pose)))
                    w_cmd = v_cmd * kappa
        else:  # final in-place turn
            if goal_yaw is None:
                break
            err = float(wrap_angle(goal_yaw - pose[2]))
            if abs(err) < 0.03 and abs(w) < 0.05:
                break
            v_cmd = 0.0
            w_cmd = float(np.clip(2.0 * err, -limits.max_turn_rate, limits.max_turn_rate))
            w_cmd = math.copysign(
                min(abs(w_cmd), math.sqrt(2 * limits.turn_accel * 0.8 * abs(err))), err
            )
        v = _ramp(v, v_cmd, limits.accel * dtc)
        w = _ramp(
            w,
            float(np.clip(w_cmd, -limits.max_turn_rate, limits.max_turn_rate)),
            limits.turn_accel * dtc,
        )
        step = se2_exp(np.array([v * dt, 0.0, w * dt]))
        for _ in range(hold):
            pose = se2_compose(pose, step)
            poses.append(pose)
            vs.append(v)
            ws.append(w)
        t += dtc
    # come to rest (decelerate within the limits) if time ran out while moving
    while not stopped_early and (abs(v) > 1e-9 or abs(w) > 1e-9):
        v, w = _ramp(v, 0.0, limits.accel * dtc), _ramp(w, 0.0, limits.turn_accel * dtc)
        step = se2_exp(np.array([v * dt, 0.0, w * dt]))
        for _ in range(hold):
            pose = se2_compose(pose, step)
            poses.append(pose)
            vs.append(v)
            ws.append(w)
    if not vs:  # already there: one still step keeps every trajectory non-empty
        vs, ws = [0.0], [0.0]
        poses.append(pose)
    return Trajectory(dt, np.asarray(poses), np.asarray(vs), np.asarray(ws))


def _ramp(x: float, target: float, max_step: float) -> float:
    return x + float(np.clip(target - x, -max_step, max_step))
