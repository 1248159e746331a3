"""Geometry: group laws, camera round trips and frame conventions, on numpy and jax inputs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from astra_jax import geometry as g
from astra_jax.config import CameraConfig, get_preset

finite = st.floats(-20.0, 20.0, allow_nan=False)
angle = st.floats(-math.pi, math.pi - 1e-6, allow_nan=False)
se2 = st.tuples(finite, finite, angle).map(np.array)
ypr = st.tuples(angle, st.floats(-1.5, 1.5), angle)


def _se3(yaw: float, pitch: float, roll: float, t: tuple[float, float, float]) -> np.ndarray:
    return g.se3_from_rt(g.rotmat_from_ypr(yaw, pitch, roll), np.array(t))


@settings(max_examples=60, deadline=None)
@given(se2)
def test_se2_compose_with_inverse_is_identity(p: np.ndarray) -> None:
    np.testing.assert_allclose(g.se2_compose(p, g.se2_inverse(p)), 0.0, atol=1e-9)
    np.testing.assert_allclose(g.se2_compose(g.se2_inverse(p), p), 0.0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(se2, se2, st.tuples(finite, finite).map(np.array))
def test_se2_compose_matches_matrices_and_apply(
    a: np.ndarray, b: np.ndarray, pt: np.ndarray
) -> None:
    m = g.se2_to_matrix(a) @ g.se2_to_matrix(b)
    ab = g.se2_compose(a, b)
    np.testing.assert_allclose(g.se2_to_matrix(ab), m, atol=1e-9)
    np.testing.assert_allclose(g.se2_from_matrix(m)[:2], ab[:2], atol=1e-9)
    np.testing.assert_allclose(g.se2_apply(ab, pt), g.se2_apply(a, g.se2_apply(b, pt)), atol=1e-8)
    np.testing.assert_allclose(g.se2_relative(a, ab), b, atol=1e-8)


@settings(max_examples=80, deadline=None)
@given(se2)
def test_se2_log_exp_round_trip(p: np.ndarray) -> None:
    np.testing.assert_allclose(g.se2_exp(g.se2_log(p)), p, atol=1e-8)


@settings(max_examples=80, deadline=None)
@given(st.tuples(finite, finite, st.floats(-3.1, 3.1)).map(np.array))
def test_se2_exp_log_round_trip(xi: np.ndarray) -> None:
    np.testing.assert_allclose(g.se2_log(g.se2_exp(xi)), xi, atol=1e-8)


def test_se2_exp_is_constant_twist_integration() -> None:
    # A quarter circle of radius 1: v = pi/2 m, omega = pi/2 rad over unit time.
    np.testing.assert_allclose(
        g.se2_exp(np.array([math.pi / 2, 0.0, math.pi / 2])), [1, 1, math.pi / 2], atol=1e-12
    )


def test_wrap_angle_range() -> None:
    a = g.wrap_angle(np.array([math.pi, -math.pi, 3 * math.pi + 0.1, -0.2]))
    np.testing.assert_allclose(a, [-math.pi, -math.pi, -math.pi + 0.1, -0.2], atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(ypr, st.tuples(finite, finite, finite))
def test_se3_compose_with_inverse_is_identity(r: tuple, t: tuple) -> None:
    tr = _se3(*r, t)
    np.testing.assert_allclose(g.se3_compose(tr, g.se3_inverse(tr)), np.eye(4), atol=1e-9)
    np.testing.assert_allclose(g.se3_compose(g.se3_inverse(tr), tr), np.eye(4), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(ypr)
def test_ypr_and_quaternion_round_trips(r: tuple) -> None:
    rot = g.rotmat_from_ypr(*r)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(g.rotmat_from_ypr(*g.ypr_from_rotmat(rot)), rot, atol=1e-9)
    q = g.rotmat_to_quat(rot)
    assert q[0] >= 0.0
    np.testing.assert_allclose(np.linalg.norm(q), 1.0, atol=1e-12)
    np.testing.assert_allclose(g.quat_to_rotmat(q), rot, atol=1e-9)


def test_quaternion_convention_is_wxyz() -> None:
    q = np.array([math.cos(0.25), 0.0, 0.0, math.sin(0.25)])  # 0.5 rad about z
    np.testing.assert_allclose(g.quat_to_rotmat(q), g.rot_z(0.5), atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.floats(10.0, 630.0), st.floats(10.0, 470.0), st.floats(0.1, 50.0), st.floats(0.3, 2.8))
def test_project_after_unproject_gives_the_same_pixel(
    u: float, v: float, d: float, fov: float
) -> None:
    k = g.intrinsics_from_fov(640, 480, fov)
    uv = np.array([u, v])
    pix, depth = g.project(k, g.unproject(k, uv, np.array(d)))
    np.testing.assert_allclose(pix, uv, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(depth, d)


def test_intrinsics_from_fov() -> None:
    k = g.intrinsics_from_fov(320, 240, math.radians(90.0))
    np.testing.assert_allclose(k, [[160, 0, 160], [0, 160, 120], [0, 0, 1]], atol=1e-9)
    # A 90 deg horizontal FOV at 4:3 is 73.74 deg vertical (MuJoCo's fovy).
    assert abs(math.degrees(g.vertical_fov(k, 240)) - 73.74) < 0.01


def test_camera_frame_conventions() -> None:
    # A level front camera: optical z is ego +x, optical x (right) is ego -y, optical y is down.
    front = g.camera_extrinsics(CameraConfig("front", 0.2, 0.0, 1.0, 0.0, 0.0))
    np.testing.assert_allclose(front[:3, :3] @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(front[:3, :3] @ [1, 0, 0], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(front[:3, :3] @ [0, 1, 0], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(g.se3_apply(front, np.zeros(3)), [0.2, 0.0, 1.0])
    # A camera yawed to the left and pitched down looks left and toward the floor.
    left = g.camera_extrinsics(CameraConfig("left", 0.0, 0.0, 1.0, math.pi / 2, 0.3))
    np.testing.assert_allclose(
        left[:3, :3] @ [0, 0, 1], [0, math.cos(0.3), -math.sin(0.3)], atol=1e-12
    )


def test_rig_covers_the_circle() -> None:
    rig = get_preset("small").rig
    t = g.rig_extrinsics(rig.cameras)
    k = g.rig_intrinsics(rig.cameras, rig.image_hw)
    assert t.shape == (3, 4, 4) and k.shape == (3, 3, 3)
    headings = np.degrees(np.arctan2(t[:, 1, 2], t[:, 0, 2]))
    np.testing.assert_allclose(headings, [0.0, 120.0, -120.0], atol=1e-9)


def test_frustum_points_lie_on_pixel_rays_at_bin_depths() -> None:
    cfg = get_preset("tiny")
    cams, (h, w) = cfg.rig.cameras, cfg.rig.image_hw
    k, t = g.rig_intrinsics(cams, (h, w)), g.rig_extrinsics(cams)
    depths = g.depth_bin_centers(cfg.local.depth_bins)
    feat_hw = (h // 8, w // 8)
    pts = g.frustum_points_ego(k, t, (h, w), feat_hw, depths)
    assert pts.shape == (3, 8, 4, 4, 3)
    # Back in each camera frame the points have the bin depth and project to patch centres.
    for c in range(3):
        cam_pts = g.se3_apply(g.se3_inverse(t[c]), pts[c])
        pix, z = g.project(k[c], cam_pts)
        np.testing.assert_allclose(z, np.broadcast_to(depths[:, None, None], z.shape), atol=1e-9)
        np.testing.assert_allclose(pix[0, 0, 0], [4.0, 4.0], atol=1e-9)
        np.testing.assert_allclose(pix[0, -1, -1], [28.0, 28.0], atol=1e-9)


def test_voxel_index_of_known_points() -> None:
    grid = get_preset("tiny").local.voxel  # 16x16x2 @ 0.8 m, z 0-2 m
    pts = np.array([[0.1, 0.1, 0.5], [-6.3, -6.3, 1.9], [6.5, 0.0, 0.5], [0.0, 0.0, -0.1]])
    ijk, inside = g.voxel_coords(pts, grid)
    np.testing.assert_array_equal(ijk[0], [8, 8, 0])
    np.testing.assert_array_equal(ijk[1], [0, 0, 1])
    np.testing.assert_array_equal(inside, [True, True, False, False])
    np.testing.assert_array_equal(g.voxel_flat_index(pts, grid), [(8 * 16 + 8) * 2, 1, -1, -1])


def test_jax_inputs_give_jax_outputs_that_jit_and_differentiate() -> None:
    p = jnp.array([1.0, -2.0, 0.4])
    out = jax.jit(lambda x: g.se2_compose(x, g.se2_inverse(x)))(p)
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(out, 0.0, atol=1e-6)
    # se2_log is smooth at zero rotation (Taylor branch): finite gradients.
    grad = jax.grad(lambda x: g.se2_log(x).sum())(jnp.array([1.0, 2.0, 0.0]))
    assert bool(jnp.all(jnp.isfinite(grad)))
    assert isinstance(g.se2_compose(np.zeros(3), np.zeros(3)), np.ndarray)
