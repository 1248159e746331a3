"""The SfM + odometry pose graph keeps good SfM and repairs broken SfM."""

from __future__ import annotations

import math

import numpy as np

from astra_jax.geometry import se2_compose
from astra_jax.maps.pose_graph import PoseGraphOptions, fuse, loop_edges


def _loop_path() -> np.ndarray:
    """A 6 x 4 m rectangle driven once, 0.25 m per node, turning 90 deg at the corners."""
    poses = [np.zeros(3)]
    for side in (6.0, 4.0, 6.0, 4.0):
        for _ in range(int(side / 0.25)):
            poses.append(se2_compose(poses[-1], np.array([0.25, 0.0, 0.0])))
        poses.append(se2_compose(poses[-1], np.array([0.0, 0.0, math.pi / 2])))
    return np.array(poses[:-1])


def _odometry(truth: np.ndarray, rng) -> np.ndarray:
    """1% long distances and a slowly drifting heading (0.05 deg per step)."""
    out = [truth[0]]
    for k in range(1, len(truth)):
        a, b = truth[k - 1], truth[k]
        c, s = math.cos(a[2]), math.sin(a[2])
        d = b[:2] - a[:2]
        rel = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1], b[2] - a[2]])
        rel[:2] *= 1.01
        rel[2] += math.radians(0.05) + rng.normal(0, math.radians(0.02))
        out.append(se2_compose(out[-1], rel))
    return np.array(out)


def _err(x: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(x[:, :2] - truth[:, :2], axis=1).max())


def test_consistent_sfm_wins_over_drifting_odometry():
    truth = _loop_path()
    odom = _odometry(truth, np.random.default_rng(0))
    sfm = truth + np.random.default_rng(1).normal(0, [0.003, 0.003, 0.0005], truth.shape)
    loops = [(0, len(truth) - 1), (1, len(truth) - 2)]
    fused, info = fuse(sfm, odom, loops)
    assert _err(odom, truth) > 0.2  # odometry alone has drifted
    assert _err(fused, truth) < 0.03  # the fused graph stays with SfM
    assert info["edges_sfm"] == len(truth) - 1 + 2 and info["edges_odometry"] == len(truth) - 1


def test_a_broken_sfm_block_is_outvoted_by_odometry():
    truth = _loop_path()
    odom = _odometry(truth, np.random.default_rng(0))
    sfm = truth.copy()
    # SfM registered nodes 40.. one metre back along the way and turned by 5 deg
    k = 40
    ang = math.radians(5.0)
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    sfm[k:, :2] = (sfm[k:, :2] - sfm[k, :2]) @ rot.T + sfm[k, :2] - [0.0, 1.0]
    sfm[k:, 2] += ang
    fused, info = fuse(sfm, odom, [])
    assert _err(sfm, truth) > 0.9
    assert _err(fused, truth) < 0.25  # only odometry's drift over the block remains
    assert info["sfm_edges_over_3_sigma"] >= 1  # the broken step is an outlier


def test_loop_edges_pick_the_most_co_visible_non_neighbours():
    pts = [set(range(i * 10, i * 10 + 100)) for i in range(8)]
    pts[7] |= set(range(0, 60))  # the last node sees the first one again
    loops = loop_edges(pts, PoseGraphOptions(loop_min_shared_points=40, loops_per_node=1))
    assert (0, 7) in loops
    assert all(j - i > 1 for i, j in loops)


def test_analytic_jacobian_matches_finite_differences(monkeypatch):
    import astra_jax.maps.pose_graph as pg

    captured = {}
    solve = pg.least_squares

    def spy(fun, x0, jac, **kwargs):
        captured.update(fun=fun, jac=jac, x0=x0)
        return solve(fun, x0, jac=jac, **kwargs)

    monkeypatch.setattr(pg, "least_squares", spy)
    rng = np.random.default_rng(0)
    sfm = np.cumsum(rng.normal(0, 0.3, (6, 3)), 0)
    pg.fuse(sfm, sfm + rng.normal(0, 0.05, sfm.shape), [(0, 3), (1, 5)])
    f, jac = captured["fun"], captured["jac"]
    x = captured["x0"] + rng.normal(0, 0.05, captured["x0"].shape)  # residuals of both signs
    h = 1e-6
    numeric = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))], axis=1)
    np.testing.assert_allclose(jac(x).toarray(), numeric, atol=1e-5 * np.abs(numeric).max())


def test_fused_map_poses_are_planar():
    """SfM's height and tilt drift is dropped: a wheeled robot's fused poses lie on the floor."""
    from scipy.spatial.transform import Rotation

    from astra_jax.geometry import se3_from_se2
    from astra_jax.maps.build import _fuse

    truth = _loop_path()
    sfm = se3_from_se2(truth)
    n = len(sfm)
    # SfM with a slow vertical drift (up to 0.5 m) and a drifting 2-3 deg tilt
    sfm[:, 2, 3] = np.linspace(0.0, 0.5, n)
    tilt = Rotation.from_euler("xy", np.c_[np.linspace(0, 0.04, n), np.full(n, 0.05)])
    sfm[:, :3, :3] = sfm[:, :3, :3] @ tilt.as_matrix()
    points = [set(range(k, k + 30)) for k in range(n)]
    fused, info = _fuse(sfm, truth, [], points)
    np.testing.assert_allclose(fused[:, 2, 3], 0.0, atol=1e-12)
    np.testing.assert_allclose(fused[:, :3, 2], np.tile([0.0, 0.0, 1.0], (n, 1)), atol=1e-12)
    assert _err(np.c_[fused[:, :2, 3], np.zeros(n)], truth) < 0.01
    assert info["edges_odometry"] == n - 1
