"""The rig's turn between two frames, measured by matching their depth as 2-D scans.

A robot with depth cameras sees the room's walls and furniture rotate about it as it turns.
Flattening each rig frame's depth returns onto the floor plane gives a 2-D scan (a laser
scanner's view built from depth images); aligning two scans gives the relative SE(2) pose of
the rig between the frames, and its yaw is a turn measured against the world, independent
of the gyro's scale. :mod:`astra_jax.maps.scan_gyro_calibration` uses it to calibrate the gyro.

Steps, numpy and scipy:

1. **Scan** (:func:`depth_scan`): every valid depth pixel lifted into the ego frame
   (:func:`geometry.unproject`, the extrinsics ``T_ego_cam``); returns in the height band
   ``[z_min, z_max]`` (floor and ceiling left out: they do not turn with the robot in the
   plane) within ``max_range`` m horizontally of their camera; averaged per ``cell`` m square
   (one point per cell: the mean of its returns, which also averages the depth noise down).
2. **Match** (:func:`match_scans`): point-to-line ICP (Censi 2008, "An ICP variant using a
   point-to-line metric"), the Gauss-Newton step on the residuals along the target's normals;
   normals from the PCA of each target point's ``normal_neighbours`` nearest points, and only
   points on a line (smallest eigenvalue below ``line_ratio`` x the largest) are matched;
   pairs farther apart than ``max_distance`` m are dropped, the rest weighted by Huber's rule
   (``huber`` m). Starts from a guess (the wheels' translation, the gyro's turn), since a few
   tenths of a radian and of a metre between frames 0.5 s apart are far from ICP's basin.

Shapes and units: scans are (M, 2) metres in their own ego frame; a pose is (x, y, theta)
metres and radians, the second frame's ego pose in the first's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from astra_jax.geometry import pixel_centers, se3_apply, unproject
from astra_jax.validation import (
    check_non_negative_numbers,
    check_positive_ints,
    check_positive_numbers,
    fail_field,
)


@dataclasses.dataclass(frozen=True)
class ScanMatchConfig:
    """How depth becomes a scan and how two scans are aligned.

    Attributes:
      z_min, z_max: the height band (m above the floor) of the returns a scan keeps.
      max_range: m, the farthest return (horizontal, from its camera) a scan keeps.
      cell: m, the side of the squares returns are averaged in.
      normal_neighbours: target points in each normal's PCA.
      line_ratio: a target point is on a line when its PCA's smaller eigenvalue is below this
        fraction of the larger one; only those are matched.
      max_distance: m, matched pairs farther apart are dropped.
      huber: m, residuals beyond this are down-weighted (Huber).
      iterations: the most Gauss-Newton steps; ICP stops earlier once a step moves less than
        ``tolerance`` (m and rad).
      settled: m and rad; a match whose last step, at the ``iterations`` cap, still moved more
        than this has not converged and fails (None): on two val drives, 2 of 103 matches
        (a 2-cycle of correspondences, 0.3-2 mm apart); the rest settled within the cap.
      min_matches: fewer matched pairs than this is a failed match (None).
    """

    z_min: float = 0.15
    z_max: float = 1.9
    max_range: float = 6.0
    cell: float = 0.15
    normal_neighbours: int = 8
    line_ratio: float = 0.05
    max_distance: float = 0.3
    huber: float = 0.05
    iterations: int = 30
    tolerance: float = 1e-6
    settled: float = 1e-4
    min_matches: int = 30

    def __post_init__(self) -> None:
        check_non_negative_numbers(self, "z_min")
        check_positive_numbers(self, "z_max", "max_range", "cell", "line_ratio",
                               "max_distance", "huber", "tolerance", "settled")  # fmt: skip
        if self.line_ratio >= 1:
            fail_field(self, "line_ratio", "below 1 (at 1 every point counts as on a line)")
        check_positive_ints(self, "normal_neighbours", "iterations", "min_matches")
        if self.settled < self.tolerance:
            fail_field(self, "settled", f"at least tolerance = {self.tolerance}")
        if self.normal_neighbours < 3:
            fail_field(self, "normal_neighbours", "at least 3 (a line's PCA)")
        if not self.z_min < self.z_max:
            fail_field(self, "z_min", f"below z_max = {self.z_max}")


def depth_scan(
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    config: ScanMatchConfig = ScanMatchConfig(),
) -> np.ndarray:
    """(M, 2) the rig frame's scan: ego-frame (x, y) metres, one point per occupied cell.

    Args:
      depth: (N, H, W) z-depth in metres per camera; non-finite or <= 0 is missing.
      intrinsics: (N, 3, 3) pinhole K at (H, W).
      extrinsics: (N, 4, 4) ``T_ego_cam`` (OpenCV camera frame -> ego frame).
      config: the band, range and cell.
    """
    depth = np.asarray(depth, np.float64)
    if depth.ndim != 3:
        raise ValueError(f"depth shape {depth.shape}: expected (N, H, W) metres")
    n, h, w = depth.shape
    if np.shape(intrinsics) != (n, 3, 3) or np.shape(extrinsics) != (n, 4, 4):
        raise ValueError(
            f"intrinsics {np.shape(intrinsics)} / extrinsics {np.shape(extrinsics)}: expected "
            f"({n}, 3, 3) / ({n}, 4, 4) for {n} cameras"
        )
    valid = np.isfinite(depth) & (depth > 0)
    pts_cam = unproject(np.asarray(intrinsics, np.float64)[:, None, None],
                        pixel_centers(h, w)[None], np.where(valid, depth, 1.0))  # fmt: skip
    ext = np.asarray(extrinsics, np.float64)
    pts = se3_apply(ext[:, None, None], pts_cam)[valid]  # (R, 3)
    cam = np.broadcast_to(ext[:, None, None, :3, 3], (n, h, w, 3))[valid]
    horiz = np.linalg.norm((pts - cam)[:, :2], axis=1)
    keep = (pts[:, 2] >= config.z_min) & (pts[:, 2] <= config.z_max) & (horiz <= config.max_range)
    xy = pts[keep, :2]
    if len(xy) == 0:
        return np.zeros((0, 2))
    _, cell_of, count = np.unique(np.floor(xy / config.cell).astype(np.int64), axis=0,
                                  return_inverse=True, return_counts=True)  # fmt: skip
    sums = np.zeros((len(count), 2))
    np.add.at(sums, cell_of.ravel(), xy)
    return sums / count[:, None]


def _line_normals(points: np.ndarray, tree: cKDTree, config: ScanMatchConfig
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(M, 2) unit normals and (M,) bool "on a line" of each target point."""
    k = min(config.normal_neighbours, len(points))
    _, nearest = tree.query(points, k)
    nb = points[nearest] - points[nearest].mean(1, keepdims=True)
    eigval, eigvec = np.linalg.eigh(np.einsum("mki,mkj->mij", nb, nb))
    return eigvec[:, :, 0], eigval[:, 0] < config.line_ratio * eigval[:, 1]


def match_scans(
    source: np.ndarray,
    target: np.ndarray,
    initial: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
    config: ScanMatchConfig = ScanMatchConfig(),
) -> tuple[np.ndarray, int] | None:
    """The pose (3,) of ``source``'s frame in ``target``'s, and the matched pairs; None when
    fewer than ``min_matches`` points match or the pose has not settled within the
    ``iterations`` cap.

    Args:
      source: (M, 2) the later frame's scan, in its own ego frame.
      target: (M', 2) the earlier frame's scan, in its own ego frame.
      initial: the first guess (x m, y m, theta rad): the wheels' translation and the gyro's
        turn. A slide along a wall is barely observable, so a guess a few tenths of a metre
        off can settle in the wrong place (the turn stays right when walls of two directions
        are in view).
      config: the matcher's settings.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    for name, scan in (("source", source), ("target", target)):
        if scan.ndim != 2 or scan.shape[1] != 2:
            raise ValueError(f"{name} scan {scan.shape}: expected (M, 2) points")
        if not np.all(np.isfinite(scan)):
            raise ValueError(f"{name} scan: expected finite points (found NaN or inf)")
    initial = np.asarray(initial, np.float64)
    if initial.shape != (3,) or not np.all(np.isfinite(initial)):
        raise ValueError(f"initial = {initial}: expected a finite (x m, y m, theta rad) guess")
    if len(source) < config.min_matches or len(target) < max(config.min_matches, 3):
        return None
    tree = cKDTree(target)
    normal, on_line = _line_normals(target, tree, config)
    pose = initial.copy()
    matched = 0
    for _ in range(config.iterations):
        c, s = np.cos(pose[2]), np.sin(pose[2])
        moved = source @ np.array([[c, s], [-s, c]]) + pose[:2]
        dist, j = tree.query(moved)
        use = (dist < config.max_distance) & on_line[j]
        matched = int(use.sum())
        if matched < config.min_matches:
            return None
        p, n = moved[use], normal[j[use]]
        residual = np.einsum("mi,mi->m", p - target[j[use]], n)
        # d(moved)/d(theta) = the moved point's offset from the pose's origin, turned by 90 deg
        arm = np.stack([-(p[:, 1] - pose[1]), p[:, 0] - pose[0]], 1)
        jac = np.stack([n[:, 0], n[:, 1], np.einsum("mi,mi->m", n, arm)], 1)
        # Huber's IRLS weights; each row scaled by the weight's square root
        root = np.sqrt(1.0 / np.maximum(1.0, np.abs(residual) / config.huber))
        step = np.linalg.lstsq(jac * root[:, None], -residual * root, rcond=None)[0]
        pose = pose + step
        if np.abs(step).max() < config.tolerance:
            return pose, matched
    return (pose, matched) if np.abs(step).max() <= config.settled else None
