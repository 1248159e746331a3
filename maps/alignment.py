"""Sim(3) similarity transforms, their least-squares (Umeyama) fit, and the alignment of an
SfM trajectory to wheel odometry.

SfM recovers a trajectory up to an unknown similarity: rotation, translation and scale. The
map fixes it with the tour's odometry (metric, z up). Wheel odometry is accurate over a few
metres but drifts without bound (a 1 % difference between the wheels bends the path by about
2 deg per metre), so a plain Umeyama fit to a long tour's odometry would inherit that bend. The
default, :func:`align_to_odometry` with ``method="anchored"``, takes from odometry only what it
knows well:

* gravity from the rig: the mean "up" axis of the SfM ego poses (the cameras' mounting on a
  ground robot is known) is rotated onto +z;
* scale as the median ratio of odometry to SfM displacement over short stretches
  (``scale_window`` metres of path), where odometry has not drifted yet;
* heading and position from a rigid 2D fit to the first ``anchor_distance`` metres of the
  tour, where odometry is still close to the truth.

``method="umeyama"`` fits all camera centres at once (fine for short tours or good odometry).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from evo.core.geometry import GeometryException, umeyama_alignment


@dataclasses.dataclass(frozen=True)
class Sim3:
    """``p_b = scale * rotation @ p_a + translation`` (the map from frame a to frame b)."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)
    scale: float

    @staticmethod
    def identity() -> Sim3:
        return Sim3(np.eye(3), np.zeros(3), 1.0)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points (..., 3)."""
        return self.scale * np.asarray(points) @ self.rotation.T + self.translation

    def apply_pose(self, t_a: np.ndarray) -> np.ndarray:
        """Transform rigid poses (..., 4, 4) ``T_a_x`` into ``T_b_x``: the rotation turns, the
        translation is mapped as a point; the result stays rigid (scale acts on positions)."""
        out = np.array(t_a, dtype=np.float64, copy=True)
        out[..., :3, :3] = self.rotation @ out[..., :3, :3]
        out[..., :3, 3] = self.apply(out[..., :3, 3])
        return out

    def inverse(self) -> Sim3:
        r_inv = self.rotation.T
        return Sim3(r_inv, -(r_inv @ self.translation) / self.scale, 1.0 / self.scale)

    def to_json(self) -> dict[str, Any]:
        return {
            "rotation": [[float(v) for v in row] for row in self.rotation],
            "translation": [float(v) for v in self.translation],
            "scale": float(self.scale),
        }

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Sim3:
        return Sim3(
            np.asarray(d["rotation"], dtype=np.float64),
            np.asarray(d["translation"], dtype=np.float64),
            float(d["scale"]),
        )


def umeyama(source: np.ndarray, target: np.ndarray, *, with_scale: bool = True) -> Sim3:
    """Least-squares similarity with ``target ≈ s R source + t`` (Umeyama 1991, via evo).

    Args:
        source, target: (N, 3) corresponding points, N >= 3 and not all on one line.
        with_scale: fit the scale too (Sim(3)); False gives SE(3).
    Raises:
        ValueError: mismatched shapes, too few points, or a degenerate (collinear) set.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(f"umeyama: shapes {source.shape} and {target.shape}: expected (N, 3) each")
    if source.shape[0] < 3:
        raise ValueError(f"umeyama: {source.shape[0]} points: expected at least 3")
    # A line of points leaves the rotation about it free; evo only catches exact degeneracy.
    for name, pts in (("source", source), ("target", target)):
        sv = np.linalg.svd(pts - pts.mean(0), compute_uv=False)
        if sv[0] <= 0 or sv[1] < 1e-6 * sv[0]:
            raise ValueError(f"umeyama: the {name} points are (nearly) collinear")
    try:
        r, t, c = umeyama_alignment(source.T, target.T, with_scale)
    except GeometryException as e:
        raise ValueError(f"umeyama: {e}") from None
    return Sim3(np.asarray(r), np.asarray(t), float(c))


def alignment_residuals(sim: Sim3, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N,) distances between ``sim(source)`` and ``target``."""
    return np.linalg.norm(sim.apply(source) - np.asarray(target), axis=-1)


def umeyama_2d(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid 2D fit ``target ≈ R source + t`` of (N, 2) points, N >= 2, not all coincident.
    Returns (R (2, 2), t (2,))."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if len(source) < 2 or np.ptp(source, axis=0).max() < 1e-9:
        raise ValueError("umeyama_2d: expected at least 2 distinct points")
    r, t, _ = umeyama_alignment(source.T, target.T, False)
    return np.asarray(r), np.asarray(t)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking unit vector ``a`` onto unit vector ``b``."""
    v = np.cross(a, b)
    cos = float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        if cos > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(a, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + cos)


def align_to_odometry(
    t_sfm_ego: np.ndarray,
    odom_xy: np.ndarray,
    *,
    method: str = "anchored",
    scale_window: float = 2.0,
    anchor_distance: float = 8.0,
    cam_centres: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Sim3, dict[str, Any]]:
    """The Sim(3) taking the SfM frame to the metric, gravity-aligned map frame.

    Args:
        t_sfm_ego: (N, 4, 4) SfM ego poses of the registered keyframes, in tour order.
        odom_xy: (N, 2) the same keyframes' odometry positions (m).
        method: ``"anchored"`` (default; see the module docstring) or ``"umeyama"``.
        scale_window: path length (m) of the stretches whose displacements give the scale.
        anchor_distance: path length (m) from the start used to fix heading and position.
        cam_centres: for ``"umeyama"``: (M, 3) SfM camera centres and (M, 3) the same
            cameras' centres placed by odometry.
    Returns:
        The transform and a JSON-able summary (method, scale, residuals).
    """
    if method == "umeyama":
        if cam_centres is None:
            raise ValueError("align_to_odometry(method='umeyama') needs cam_centres")
        src, dst = cam_centres
        sim = umeyama(src, dst, with_scale=True)
        res = alignment_residuals(sim, src, dst)
        return sim, {
            "method": "umeyama",
            "scale": sim.scale,
            "residual_rmse": float(np.sqrt(np.mean(res**2))),
        }
    if method != "anchored":
        raise ValueError(f"alignment method {method!r}: expected 'anchored' or 'umeyama'")
    t_sfm_ego = np.asarray(t_sfm_ego, dtype=np.float64)
    odom_xy = np.asarray(odom_xy, dtype=np.float64)
    if len(t_sfm_ego) < 3:
        raise ValueError(f"{len(t_sfm_ego)} registered keyframes: need 3 to align to odometry")
    # 1. gravity: the robot's up axis, averaged over the tour
    ups = t_sfm_ego[:, :3, 2]
    up = ups.mean(axis=0)
    up /= np.linalg.norm(up)
    r_up = rotation_between(up, np.array([0.0, 0.0, 1.0]))
    p = t_sfm_ego[:, :3, 3] @ r_up.T  # gravity-aligned SfM positions (SfM units)
    # 2. scale: odometry / SfM displacement over short stretches of path
    path = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(odom_xy, axis=0), axis=1))])
    ratios = []
    for i in range(len(path)):
        j = int(np.searchsorted(path, path[i] + scale_window))
        if j >= len(path):
            break
        d_sfm = np.linalg.norm(p[j, :2] - p[i, :2])
        d_odom = np.linalg.norm(odom_xy[j] - odom_xy[i])
        if d_sfm > 1e-9 and d_odom > 0.5 * scale_window:  # skip turns on the spot
            ratios.append(d_odom / d_sfm)
    if not ratios:
        raise ValueError(
            f"the tour moves less than {scale_window} m in a straight-ish line: no scale"
        )
    scale = float(np.median(ratios))
    # 3. heading and position: rigid 2D fit over the first metres of the tour
    n_anchor = max(int(np.searchsorted(path, anchor_distance)), 3)
    r2, t2 = umeyama_2d(scale * p[:n_anchor, :2], odom_xy[:n_anchor])
    rz = np.eye(3)
    rz[:2, :2] = r2
    rot = rz @ r_up
    z0 = float(np.median(scale * p[:, 2]))  # ego origins are on the floor: z = 0
    sim = Sim3(rot, np.array([t2[0], t2[1], -z0]), scale)
    tilt = np.degrees(np.arccos(np.clip(ups @ up / np.linalg.norm(ups, axis=1), -1, 1)))
    anchor_res = np.linalg.norm(
        sim.apply(t_sfm_ego[:n_anchor, :3, 3])[:, :2] - odom_xy[:n_anchor], axis=1
    )
    return sim, {
        "method": "anchored",
        "scale": scale,
        "scale_spread": float(np.percentile(ratios, 75) - np.percentile(ratios, 25)) / scale,
        "scale_windows": len(ratios),
        "anchor_keyframes": n_anchor,
        "anchor_residual_rmse": float(np.sqrt(np.mean(anchor_res**2))),
        "max_tilt_deg": float(tilt.max()),
    }
