"""Fuse SfM node poses with odometry in a planar pose graph (robust least squares).

SfM is precise locally (millimetres between neighbouring keyframes) but can bend or break
where the scene is repetitive (identical racks, U-turns in dead-end aisles). Wheel + gyro
odometry (:mod:`astra_jax.maps.odometry`) drifts slowly and never breaks. The graph has one
node per map node (x, y, yaw) and three kinds of edges, each a relative pose with a standard
deviation:

* SfM, between consecutive nodes and between co-visible nodes further apart (SfM's loop
  closures): tight (1 cm, 0.1 deg), but under a Cauchy loss, so a step SfM got wrong is
  outvoted;
* odometry, between consecutive nodes, under a plain quadratic loss (it drifts but does not
  break): distance to 1 cm + 2% (wheel scale), heading to 0.3 deg per step (gyro);
* a prior holding the first node (the gauge).

``scipy.optimize.least_squares`` (trust region, sparse Jacobian) solves it in well under a
second for a few hundred nodes. Where SfM is consistent with odometry the result is SfM's
(the tight SfM edges dominate); where a block of SfM is bent or shifted, the odometry edges
and the robust loss put it back.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from astra_jax.geometry import se2_relative, wrap_angle


@dataclasses.dataclass(frozen=True)
class PoseGraphOptions:
    """Standard deviations of the edges (m, rad) and the loop-closure selection."""

    sfm_xy: float = 0.01
    sfm_yaw: float = math.radians(0.1)
    odom_xy: float = 0.01
    odom_xy_per_m: float = 0.02
    odom_yaw: float = math.radians(0.3)
    loop_min_shared_points: int = 40  # co-visibility needed for an SfM loop edge
    loops_per_node: int = 4  # strongest co-visible partners kept per node


def _cauchy(z: np.ndarray) -> np.ndarray:
    """Residuals whose squares are the Cauchy loss ``log(1 + z^2)`` of the whitened ``z``
    (so that a plain least-squares solver applies the robust loss to these edges only)."""
    return np.sign(z) * np.sqrt(np.log1p(z * z))


def loop_edges(node_points: list[set[int]], options: PoseGraphOptions) -> list[tuple[int, int]]:
    """Pairs (i, j), j > i + 1, of nodes sharing the most SfM points (at least
    ``loop_min_shared_points``), up to ``loops_per_node`` partners per node."""
    n = len(node_points)
    best: set[tuple[int, int]] = set()
    for i in range(n):
        shared = [
            (len(node_points[i] & node_points[j]), j)
            for j in range(n)
            if abs(j - i) > 1 and node_points[j]
        ]
        shared = [s for s in shared if s[0] >= options.loop_min_shared_points]
        shared.sort(reverse=True)
        best.update((min(i, j), max(i, j)) for _, j in shared[: options.loops_per_node])
    return sorted(best)


def fuse(
    sfm: np.ndarray,
    odom: np.ndarray,
    loops: list[tuple[int, int]],
    init: np.ndarray | None = None,
    options: PoseGraphOptions = PoseGraphOptions(),
) -> tuple[np.ndarray, dict]:
    """Fused planar poses (N, 3) and a summary.

    Args:
      sfm: (N, 3) SfM node poses (x, y, yaw) in the metric map frame.
      odom: (N, 3) odometry poses of the same nodes (any frame; only steps are used).
      loops: SfM loop-closure pairs (i, j) beyond consecutive nodes.
      init: (N, 3) starting point (default: ``sfm``), e.g. after bridging.
    """
    sfm, odom = np.asarray(sfm, np.float64), np.asarray(odom, np.float64)
    n = len(sfm)
    if sfm.shape != (n, 3) or odom.shape != (n, 3):
        raise ValueError(f"pose graph: sfm {sfm.shape} and odometry {odom.shape}: expected (N, 3)")
    if n < 2:
        return sfm.copy(), {"edges": 0}
    o = options
    seq = np.stack([np.arange(n - 1), np.arange(1, n)], 1)
    pairs = np.concatenate([seq, np.asarray(loops, np.int64).reshape(-1, 2)])
    z_sfm = se2_relative(sfm[pairs[:, 0]], sfm[pairs[:, 1]])
    z_odom = se2_relative(odom[:-1], odom[1:])
    d_odom = np.linalg.norm(z_odom[:, :2], axis=1)
    s_sfm = np.array([o.sfm_xy, o.sfm_xy, o.sfm_yaw])
    s_odom = np.stack(
        [o.odom_xy + o.odom_xy_per_m * d_odom] * 2 + [np.full(n - 1, o.odom_yaw)], axis=1
    )
    anchor = sfm[0]

    def residuals(flat: np.ndarray) -> np.ndarray:
        x = flat.reshape(n, 3)
        r_sfm = se2_relative(x[pairs[:, 0]], x[pairs[:, 1]]) - z_sfm
        r_sfm[:, 2] = wrap_angle(r_sfm[:, 2])
        r_odom = se2_relative(x[:-1], x[1:]) - z_odom
        r_odom[:, 2] = wrap_angle(r_odom[:, 2])
        r_prior = x[0] - anchor
        r_prior[2] = wrap_angle(r_prior[2])
        whitened = [_cauchy(r_sfm / s_sfm).ravel(), (r_odom / s_odom).ravel(), r_prior / 1e-3]
        return np.concatenate(whitened)

    blocks = [*pairs.tolist(), *seq.tolist()]
    sparsity = lil_matrix((3 * len(blocks) + 3, 3 * n), dtype=np.int8)
    for b, (i, j) in enumerate(blocks):
        sparsity[3 * b : 3 * b + 3, 3 * i : 3 * i + 3] = 1
        sparsity[3 * b : 3 * b + 3, 3 * j : 3 * j + 3] = 1
    sparsity[-3:, 0:3] = 1
    x0 = np.asarray(sfm if init is None else init, np.float64)
    sol = least_squares(
        residuals, x0.ravel(), jac_sparsity=sparsity, ftol=1e-10, xtol=1e-10, max_nfev=500
    )
    x = sol.x.reshape(n, 3)
    x[:, 2] = wrap_angle(x[:, 2])
    r = sol.fun[: 3 * len(pairs)].reshape(-1, 3)
    outliers = int(np.sum(np.abs(r).max(1) > _cauchy(np.array(3.0))))
    return x, {
        "edges_sfm": len(pairs),
        "edges_odometry": n - 1,
        "sfm_edges_over_3_sigma": outliers,
        "iterations": int(sol.nfev),
        "max_shift_m": float(np.linalg.norm(x[:, :2] - x0[:, :2], axis=1).max()),
    }
