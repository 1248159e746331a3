"""Planned trajectories as the paper's action (Eq. 10): n relative motions between poses.

A trajectory of n waypoints is ``deltas`` (..., n, 3) = ``(dx_k, dy_k, dtheta_k)``, each the
motion from waypoint k-1 to waypoint k **in waypoint k-1's frame**; waypoint 0 is the robot's
current pose, the origin of the ego frame (x forward, y left; metres, radians). Rolling the
deltas out (the SE(2) integration under Eq. 13) gives the poses (..., n, 3) in the ego frame::

    [x_k, y_k] = [x_{k-1}, y_{k-1}] + R(theta_{k-1}) [dx_k, dy_k],   theta_k = theta_{k-1} + dtheta_k

Both functions accept numpy or jax arrays (numpy in, numpy out) and are differentiable in jax;
n is small (4-8), so the rollout is an unrolled loop.
"""

from __future__ import annotations

from typing import Any

from astra_jax.geometry import _xp, se2_compose, se2_relative

Array = Any


def rollout(deltas: Array) -> Array:
    """Ego-frame poses (..., n, 3) of the waypoints reached by ``deltas`` (..., n, 3)."""
    if deltas.ndim < 2 or deltas.shape[-1] != 3:
        raise ValueError(f"rollout: deltas shape {deltas.shape}: expected (..., n, 3)")
    pose = deltas[..., 0, :]
    poses = [pose]
    for k in range(1, deltas.shape[-2]):
        pose = se2_compose(pose, deltas[..., k, :])
        poses.append(pose)
    return _xp(deltas).stack(poses, axis=-2)


def deltas_from_poses(poses: Array) -> Array:
    """The deltas (..., n, 3) whose rollout is ``poses`` (..., n, 3), given in the ego frame
    (the current pose is the origin and is not included)."""
    if poses.ndim < 2 or poses.shape[-1] != 3:
        raise ValueError(f"deltas_from_poses: poses shape {poses.shape}: expected (..., n, 3)")
    rest = se2_relative(poses[..., :-1, :], poses[..., 1:, :])
    return _xp(poses).concatenate([poses[..., :1, :], rest], axis=-2)
