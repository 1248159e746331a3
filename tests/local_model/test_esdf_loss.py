"""The masked ESDF loss: its gradient pushes a waypoint out of an obstacle, the ground-truth
corridor scales the cost by (1 - alpha), open space beyond the safety distance costs nothing,
and the crop convention, corridor and weighting are what the docstrings say."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.config import ConfigError
from astra_jax.local_model.esdf_loss import (
    EsdfLossConfig,
    cell_centers,
    corridor_mask,
    esdf_loss,
    lookup,
    path_clearance,
    path_points,
)
from astra_jax.local_model.trajectory import rollout

RES = 0.1
SHAPE = (40, 40)  # 4 m x 4 m around the robot
CENTER = np.array([1.0, 0.0])  # a round obstacle ahead
RADIUS = 0.3
CFG = EsdfLossConfig(subdivisions=1)  # waypoints only: each test controls its points
FAR_GT = jnp.asarray([[[0.0, 0.8, 0.0], [0.0, 1.6, 0.0]]])  # expert went left, far from x = 1


def _centres() -> np.ndarray:
    """(40, 40, 2) cell centres by the documented convention, computed independently."""
    xs = -0.5 * SHAPE[0] * RES + (np.arange(SHAPE[0]) + 0.5) * RES
    ys = -0.5 * SHAPE[1] * RES + (np.arange(SHAPE[1]) + 0.5) * RES
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), -1)


# (1, 40, 40) exact signed distance to the disc (negative inside)
ESDF = jnp.asarray(np.linalg.norm(_centres() - CENTER, axis=-1) - RADIUS, jnp.float32)[None]


def _phi(p: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(p)[:2] - CENTER) - RADIUS)


_jit_loss = jax.jit(esdf_loss, static_argnames=("resolution", "config"))


def _loss(deltas, gt=FAR_GT, t=1.0, config=CFG):
    t = jnp.full((deltas.shape[0],), t)
    return _jit_loss(deltas, ESDF, resolution=RES, gt_poses=gt, t=t, config=config)


def test_gradient_pushes_a_waypoint_out_of_the_obstacle() -> None:
    deltas = jnp.asarray([[[0.5, 0.0, 0.0], [0.37, 0.13, 0.0]]])  # waypoint 2 at (0.87, 0.13)
    end = np.asarray(rollout(deltas))[0, 1]
    assert _phi(end) < -0.1  # well inside
    grad_fn = jax.jit(jax.grad(lambda d: _loss(d).loss))
    grad = grad_fn(deltas)
    # waypoint 1 (heading 0) moves waypoint 2 by the same (dx, dy): the descent direction of
    # waypoint 2's own delta is (about) the outward normal of the disc at the waypoint
    outward = (end[:2] - CENTER) / np.linalg.norm(end[:2] - CENTER)
    descent = -np.asarray(grad)[0, 1, :2]
    assert np.dot(descent, outward) / np.linalg.norm(descent) > 0.8
    stepped = rollout(deltas - 0.05 * grad)
    assert _phi(np.asarray(stepped)[0, 1]) > _phi(end) + 0.01
    # descending a few steps walks it out of the obstacle
    d = deltas
    for _ in range(30):
        d = d - 0.1 * grad_fn(d)
    assert _phi(np.asarray(rollout(d))[0, 1]) > 0.0


def test_corridor_scales_the_cost_by_one_minus_alpha() -> None:
    # one waypoint exactly on the centre of cell (26, 20): (0.65, 0.05), 0.05 m from the disc
    deltas = jnp.asarray([[[0.65, 0.05, 0.0]]])
    raw = CFG.safe_distance - _phi([0.65, 0.05])
    outside = _loss(deltas, gt=FAR_GT[:, :1])
    np.testing.assert_allclose(outside.cost, raw, rtol=1e-5)  # full cost outside U_gt
    on_gt = jnp.asarray([[[0.65, 0.05, 0.0]]])  # the expert drove through that point
    inside = _loss(deltas, gt=on_gt)
    np.testing.assert_allclose(inside.cost, (1 - CFG.alpha) * raw, rtol=1e-5)
    for alpha in (0.0, 1.0, -0.5):
        cfg = EsdfLossConfig(subdivisions=1, alpha=alpha)
        np.testing.assert_allclose(_loss(deltas, on_gt, config=cfg).cost, (1 - alpha) * raw,
                                   rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(inside.loss, CFG.weight * inside.cost[0], rtol=1e-6)


def test_open_space_beyond_the_safety_distance_costs_nothing() -> None:
    deltas = jnp.asarray([[[-0.5, 0.5, 0.0], [0.2, 0.3, 0.0]]])  # behind-left, > 1 m away
    assert all(_phi(p) > CFG.safe_distance for p in np.asarray(rollout(deltas))[0])
    out = _loss(deltas)
    assert float(out.loss) == 0.0
    np.testing.assert_array_equal(jax.grad(lambda d: _loss(d).loss)(deltas), 0.0)
    assert float(out.clearance[0]) > CFG.safe_distance


def test_time_weighting() -> None:
    deltas = jnp.asarray([[[0.95, 0.08, 0.0]]])
    full = float(_loss(deltas, t=1.0).loss)
    assert full > 0
    np.testing.assert_allclose(float(_loss(deltas, t=0.5).loss), 0.25 * full, rtol=1e-5)
    assert float(_loss(deltas, t=0.0).loss) == 0.0
    # t is a weight, not something to optimise
    grad_t = jax.grad(lambda t: _jit_loss(deltas, ESDF, resolution=RES, gt_poses=FAR_GT, t=t,
                                          config=CFG).loss)  # fmt: skip
    dt = jax.jit(grad_t)(jnp.asarray([0.7]))
    np.testing.assert_array_equal(dt, 0.0)


def test_outside_the_crop_is_an_obstacle() -> None:
    deltas = jnp.asarray([[[5.0, 0.0, 0.0]]])  # 5 m ahead of a 4 m crop
    out = _loss(deltas)
    np.testing.assert_allclose(out.cost, CFG.safe_distance - CFG.outside_value, rtol=1e-6)
    np.testing.assert_allclose(out.clearance, CFG.outside_value)


def test_lookup_follows_the_crop_convention() -> None:
    """Cell (i, j) is centred at (-Ex r/2 + (i + 0.5) r, -Ey r/2 + (j + 0.5) r): a field equal
    to 2x - y at the centres reads 2x - y anywhere inside."""
    c = cell_centers(SHAPE, RES)
    np.testing.assert_allclose(c, _centres(), atol=1e-6)
    np.testing.assert_allclose(c[0, 0], [-1.95, -1.95], atol=1e-6)
    np.testing.assert_allclose(c[26, 20], [0.65, 0.05], atol=1e-6)
    field = (2 * c[..., 0] - c[..., 1])[None]
    pts = jax.random.uniform(jax.random.key(0), (1, 50, 2), minval=-1.9, maxval=1.9)
    np.testing.assert_allclose(
        lookup(field, pts, RES, -1.0), 2 * pts[..., 0] - pts[..., 1], atol=1e-5
    )
    # far outside: the fill value
    np.testing.assert_allclose(lookup(field, jnp.asarray([[[9.0, 9.0]]]), RES, -1.0), -1.0)


def test_corridor_mask_is_the_dilated_polyline() -> None:
    gt = jnp.asarray([[[1.0, 0.0, 0.0], [1.0, 1.0, 1.57]]])  # ahead 1 m, then left 1 m
    mask = np.asarray(corridor_mask(gt, SHAPE, RES, 0.3))[0]
    c = _centres()
    x, y = c[..., 0], c[..., 1]
    seg1 = np.hypot(np.clip(x, 0, 1) - x, y)  # origin -> (1, 0)
    seg2 = np.hypot(1 - x, np.clip(y, 0, 1) - y)  # (1, 0) -> (1, 1)
    expected = np.minimum(seg1, seg2) <= 0.3
    # cells exactly at the boundary may round either way
    boundary = np.abs(np.minimum(seg1, seg2) - 0.3) < 1e-5
    np.testing.assert_array_equal(mask[~boundary], expected[~boundary])
    assert mask[20, 20] == 1 and mask[20, 35] == 0  # origin's cell in, (-0.05, 1.55) out


def test_path_points_subdivide_each_segment() -> None:
    poses = jnp.asarray([[[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]])
    pts = np.asarray(path_points(poses, 2))[0]
    np.testing.assert_allclose(pts, [[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 1.0]])


def test_midpoints_catch_a_corner_cut_between_waypoints() -> None:
    # both waypoints clear of the disc, the segment between them crosses it
    deltas = jnp.asarray([[[1.0, -0.8, 0.0], [0.0, 1.6, 0.0]]])  # midpoint (1, 0): the centre
    assert all(_phi(p) > CFG.safe_distance for p in np.asarray(rollout(deltas))[0])
    assert float(_loss(deltas).loss) == 0.0
    dense = EsdfLossConfig(subdivisions=2)
    assert float(_loss(deltas, config=dense).loss) > 0.1


def test_path_clearance_for_best_of_n() -> None:
    safe = [[0.5, 0.5, 0.0], [0.5, 0.2, 0.0]]
    crash = [[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]]
    deltas = jnp.asarray([[safe, crash, safe]])  # (B=1, S=3, n=2, 3)
    clear = np.asarray(path_clearance(deltas, ESDF, RES))
    assert clear.shape == (1, 3)
    assert clear[0, 1] < 0 < clear[0, 0] and clear[0, 0] == pytest.approx(clear[0, 2])
    assert int(np.argmax(clear[0])) != 1


def test_bad_inputs_raise() -> None:
    esdf, t = ESDF, jnp.ones((1,))
    d = jnp.zeros((1, 2, 3))
    with pytest.raises(ValueError, match=r"deltas shape \(1, 2\): expected \(B, n, 3\)"):
        esdf_loss(jnp.zeros((1, 2)), esdf, RES, FAR_GT, t)
    with pytest.raises(ValueError, match=r"esdf shape \(40, 40\): expected \(1, Ex, Ey\)"):
        esdf_loss(d, esdf[0], RES, FAR_GT, t)
    with pytest.raises(ValueError, match=r"gt_poses shape \(1, 2, 2\): expected \(1, n, 3\)"):
        esdf_loss(d, esdf, RES, FAR_GT[..., :2], t)
    with pytest.raises(ValueError, match=r"t shape \(\): expected \(1,\)"):
        esdf_loss(d, esdf, RES, FAR_GT, jnp.ones(()))
    with pytest.raises(ValueError, match="resolution = 0"):
        esdf_loss(d, esdf, 0, FAR_GT, t)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (dict(alpha=1.5), r"alpha = 1.5: expected a number in \[-1.0, 1.0\]"),
        (dict(subdivisions=0), r"subdivisions = 0: expected a positive integer"),
        (dict(outside_value=0.5), r"outside_value = 0.5: expected a number <= 0"),
        (dict(robot_radius=0.0), r"robot_radius = 0.0: expected a positive number"),
        (dict(weight=-1.0), r"weight = -1.0: expected a non-negative number"),
    ],
)
def test_bad_config_raises(override, match) -> None:
    with pytest.raises(ConfigError, match=match):
        EsdfLossConfig(**override)
