"""Every transform of astra-jax: SE(2), SE(3), rotations, pinhole cameras, the rig, frustums.

Conventions (see ``docs/design.md``):

* World and ego frames are REP-103: x forward, y left, z up. Planar poses are ``(x, y, yaw)``
  in metres and radians, yaw counter-clockwise from +x.
* Camera frames are OpenCV: x right, y down, z forward (the optical axis).
* ``T_a_b`` is a 4x4 homogeneous matrix mapping points in frame b to frame a
  (``p_a = T_a_b @ p_b``). The rig's extrinsics are ``T_ego_cam``.
* Pixel ``(u, v)`` is a continuous image coordinate; the centre of pixel (row i, column j) is
  at ``(j + 0.5, i + 0.5)`` and the principal point of an ideal camera is ``(W/2, H/2)``
  (the same convention as MuJoCo's and OpenGL's rasteriser).
* Quaternions are ``(w, x, y, z)``, unit norm.

Every function is written once against an array namespace: numpy inputs give numpy outputs
(float64 stays float64, handy in the simulator), jax inputs give jax outputs and can be
jitted and differentiated. All functions broadcast over leading batch dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.config import CameraConfig, DepthBinsConfig, VoxelGridConfig

Array = Any  # np.ndarray | jax.Array


def _xp(*arrays: Any) -> Any:
    """numpy when every input is a numpy array or Python number, else jax.numpy."""
    for a in arrays:
        if isinstance(a, jax.Array | jax.core.Tracer):
            return jnp
    return np


def _asarray(xp: Any, a: Any) -> Array:
    a = xp.asarray(a)
    if not xp.issubdtype(a.dtype, xp.floating):
        a = a.astype(xp.float32 if xp is jnp else xp.float64)
    return a


# ----------------------------------------------------------------------------- angles


def wrap_angle(angle: Array) -> Array:
    """Wrap angles (rad) into [-pi, pi)."""
    xp = _xp(angle)
    angle = _asarray(xp, angle)
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


# ----------------------------------------------------------------------------- SE(2)


def se2_compose(a: Array, b: Array) -> Array:
    """Compose planar poses: ``a ⊕ b`` (b expressed in a's frame). Shapes (..., 3)."""
    xp = _xp(a, b)
    a, b = _asarray(xp, a), _asarray(xp, b)
    c, s = xp.cos(a[..., 2]), xp.sin(a[..., 2])
    x = a[..., 0] + c * b[..., 0] - s * b[..., 1]
    y = a[..., 1] + s * b[..., 0] + c * b[..., 1]
    return xp.stack([x, y, wrap_angle(a[..., 2] + b[..., 2])], axis=-1)


def se2_inverse(a: Array) -> Array:
    """Inverse planar pose, (..., 3)."""
    xp = _xp(a)
    a = _asarray(xp, a)
    c, s = xp.cos(a[..., 2]), xp.sin(a[..., 2])
    x = -(c * a[..., 0] + s * a[..., 1])
    y = s * a[..., 0] - c * a[..., 1]
    return xp.stack([x, y, wrap_angle(-a[..., 2])], axis=-1)


def se2_relative(a: Array, b: Array) -> Array:
    """Pose of b in a's frame: ``a⁻¹ ⊕ b``. Shapes (..., 3)."""
    return se2_compose(se2_inverse(a), b)


def se2_apply(pose: Array, points: Array) -> Array:
    """Map 2D points (..., 2) from the pose's frame to its parent frame."""
    xp = _xp(pose, points)
    pose, points = _asarray(xp, pose), _asarray(xp, points)
    c, s = xp.cos(pose[..., 2:3]), xp.sin(pose[..., 2:3])
    x = pose[..., 0:1] + c * points[..., 0:1] - s * points[..., 1:2]
    y = pose[..., 1:2] + s * points[..., 0:1] + c * points[..., 1:2]
    return xp.concatenate([x, y], axis=-1)


def _sinc_terms(xp: Any, theta: Array) -> tuple[Array, Array]:
    """A = sin(t)/t and B = (1 - cos(t))/t, with Taylor series near 0 (safe for gradients)."""
    small = xp.abs(theta) < 1e-4
    t = xp.where(small, xp.ones_like(theta), theta)
    t2 = theta * theta
    a = xp.where(small, 1.0 - t2 / 6.0, xp.sin(t) / t)
    b = xp.where(small, theta / 2.0 - theta * t2 / 24.0, (1.0 - xp.cos(t)) / t)
    return a, b


def se2_exp(xi: Array) -> Array:
    """Exponential map: twist ``(v_x, v_y, omega)`` integrated over unit time → pose (..., 3)."""
    xp = _xp(xi)
    xi = _asarray(xp, xi)
    vx, vy, w = xi[..., 0], xi[..., 1], xi[..., 2]
    a, b = _sinc_terms(xp, w)
    x = a * vx - b * vy
    y = b * vx + a * vy
    return xp.stack([x, y, wrap_angle(w)], axis=-1)


def se2_log(pose: Array) -> Array:
    """Logarithm map, the inverse of :func:`se2_exp` for yaw in [-pi, pi). (..., 3)."""
    xp = _xp(pose)
    pose = _asarray(xp, pose)
    w = wrap_angle(pose[..., 2])
    a, b = _sinc_terms(xp, w)
    det = a * a + b * b  # V = [[a, -b], [b, a]], V⁻¹ = [[a, b], [-b, a]] / det
    vx = (a * pose[..., 0] + b * pose[..., 1]) / det
    vy = (-b * pose[..., 0] + a * pose[..., 1]) / det
    return xp.stack([vx, vy, w], axis=-1)


def se2_to_matrix(pose: Array) -> Array:
    """(..., 3) planar pose → (..., 3, 3) homogeneous matrix."""
    xp = _xp(pose)
    pose = _asarray(xp, pose)
    c, s = xp.cos(pose[..., 2]), xp.sin(pose[..., 2])
    zero, one = xp.zeros_like(c), xp.ones_like(c)
    rows = [
        xp.stack([c, -s, pose[..., 0]], axis=-1),
        xp.stack([s, c, pose[..., 1]], axis=-1),
        xp.stack([zero, zero, one], axis=-1),
    ]
    return xp.stack(rows, axis=-2)


def se2_from_matrix(m: Array) -> Array:
    """(..., 3, 3) homogeneous matrix → (..., 3) planar pose."""
    xp = _xp(m)
    m = _asarray(xp, m)
    return xp.stack([m[..., 0, 2], m[..., 1, 2], xp.arctan2(m[..., 1, 0], m[..., 0, 0])], axis=-1)


# ----------------------------------------------------------------------------- rotations


def rot_x(angle: Array) -> Array:
    """Rotation matrices (..., 3, 3) about x by ``angle`` rad."""
    return _axis_rotation(angle, 0)


def rot_y(angle: Array) -> Array:
    """Rotation matrices (..., 3, 3) about y by ``angle`` rad."""
    return _axis_rotation(angle, 1)


def rot_z(angle: Array) -> Array:
    """Rotation matrices (..., 3, 3) about z by ``angle`` rad."""
    return _axis_rotation(angle, 2)


def _axis_rotation(angle: Array, axis: int) -> Array:
    xp = _xp(angle)
    angle = _asarray(xp, angle)
    c, s = xp.cos(angle), xp.sin(angle)
    zero, one = xp.zeros_like(c), xp.ones_like(c)
    if axis == 0:
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == 1:
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return xp.stack([xp.stack(r, axis=-1) for r in rows], axis=-2)


def rotmat_from_ypr(yaw: Array, pitch: Array, roll: Array) -> Array:
    """Intrinsic z-y'-x'' (yaw, pitch, roll) angles → rotation (..., 3, 3): Rz @ Ry @ Rx."""
    return rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)


def ypr_from_rotmat(r: Array) -> Array:
    """Rotation (..., 3, 3) → (yaw, pitch, roll) (..., 3), the inverse of
    :func:`rotmat_from_ypr` away from the gimbal lock at pitch = ±pi/2."""
    xp = _xp(r)
    r = _asarray(xp, r)
    yaw = xp.arctan2(r[..., 1, 0], r[..., 0, 0])
    pitch = xp.arcsin(xp.clip(-r[..., 2, 0], -1.0, 1.0))
    roll = xp.arctan2(r[..., 2, 1], r[..., 2, 2])
    return xp.stack([yaw, pitch, roll], axis=-1)


def quat_to_rotmat(q: Array) -> Array:
    """Unit quaternion (..., 4) as (w, x, y, z) → rotation (..., 3, 3). Normalises first."""
    xp = _xp(q)
    q = _asarray(xp, q)
    q = q / xp.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return xp.stack([xp.stack(r, axis=-1) for r in rows], axis=-2)


def rotmat_to_quat(r: Array) -> Array:
    """Rotation (..., 3, 3) → unit quaternion (..., 4) (w, x, y, z) with w >= 0.

    Uses the largest-diagonal branch for numerical stability (Shepperd's method), evaluated for
    all four branches and selected, so it vectorises and traces under jit.
    """
    xp = _xp(r)
    r = _asarray(xp, r)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    tr = m00 + m11 + m22
    cands = [
        xp.stack([1 + tr, r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0],
                  r[..., 1, 0] - r[..., 0, 1]], axis=-1),
        xp.stack([r[..., 2, 1] - r[..., 1, 2], 1 + m00 - m11 - m22, r[..., 0, 1] + r[..., 1, 0],
                  r[..., 0, 2] + r[..., 2, 0]], axis=-1),
        xp.stack([r[..., 0, 2] - r[..., 2, 0], r[..., 0, 1] + r[..., 1, 0], 1 - m00 + m11 - m22,
                  r[..., 1, 2] + r[..., 2, 1]], axis=-1),
        xp.stack([r[..., 1, 0] - r[..., 0, 1], r[..., 0, 2] + r[..., 2, 0],
                  r[..., 1, 2] + r[..., 2, 1], 1 - m00 - m11 + m22], axis=-1),
    ]  # fmt: skip
    branch = xp.argmax(xp.stack([tr, m00, m11, m22], axis=-1), axis=-1)
    q = xp.stack(cands, axis=-2)  # (..., 4 branches, 4)
    q = xp.take_along_axis(q, branch[..., None, None], axis=-2)[..., 0, :]
    q = q / xp.linalg.norm(q, axis=-1, keepdims=True)
    return xp.where(q[..., :1] < 0, -q, q)


# ----------------------------------------------------------------------------- SE(3)


def se3_from_rt(rotation: Array, translation: Array) -> Array:
    """Rotation (..., 3, 3) and translation (..., 3) → homogeneous (..., 4, 4)."""
    xp = _xp(rotation, translation)
    rotation, translation = _asarray(xp, rotation), _asarray(xp, translation)
    batch = xp.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    top = xp.concatenate(
        [
            xp.broadcast_to(rotation, (*batch, 3, 3)),
            xp.broadcast_to(translation, (*batch, 3))[..., None],
        ],
        axis=-1,
    )
    bottom = xp.broadcast_to(xp.asarray([0.0, 0.0, 0.0, 1.0], dtype=top.dtype), (*batch, 1, 4))
    return xp.concatenate([top, bottom], axis=-2)


def se3_compose(a: Array, b: Array) -> Array:
    """``T_x_z = T_x_y @ T_y_z`` for (..., 4, 4)."""
    xp = _xp(a, b)
    return _asarray(xp, a) @ _asarray(xp, b)


def se3_inverse(t: Array) -> Array:
    """Inverse of rigid transforms (..., 4, 4), using Rᵀ rather than a general inverse."""
    xp = _xp(t)
    t = _asarray(xp, t)
    rt = xp.swapaxes(t[..., :3, :3], -1, -2)
    return se3_from_rt(rt, -(rt @ t[..., :3, 3:4])[..., 0])


def se3_apply(t: Array, points: Array) -> Array:
    """Apply (..., 4, 4) to points (..., 3). Batch dimensions broadcast."""
    xp = _xp(t, points)
    t, points = _asarray(xp, t), _asarray(xp, points)
    return xp.einsum("...ij,...j->...i", t[..., :3, :3], points) + t[..., :3, 3]


def se3_from_se2(pose: Array, z: float = 0.0) -> Array:
    """Planar pose (..., 3) → (..., 4, 4) at height ``z`` (m)."""
    xp = _xp(pose)
    pose = _asarray(xp, pose)
    t = xp.stack([pose[..., 0], pose[..., 1], xp.full_like(pose[..., 0], z)], axis=-1)
    return se3_from_rt(rot_z(pose[..., 2]), t)


def se2_from_se3(t: Array) -> Array:
    """Project (..., 4, 4) onto the ground plane: (x, y, yaw of the x axis)."""
    xp = _xp(t)
    t = _asarray(xp, t)
    return xp.stack([t[..., 0, 3], t[..., 1, 3], xp.arctan2(t[..., 1, 0], t[..., 0, 0])], axis=-1)


# ----------------------------------------------------------------------------- pinhole camera


def intrinsics_from_fov(width: int, height: int, hfov: float) -> np.ndarray:
    """Pinhole intrinsics (3, 3) for an image of ``width`` x ``height`` px with horizontal field
    of view ``hfov`` rad, square pixels and the principal point at the image centre."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height}: expected positive width and height")
    if not 0.0 < hfov < math.pi:
        raise ValueError(f"hfov = {hfov}: expected a field of view in (0, pi) rad")
    f = 0.5 * width / math.tan(0.5 * hfov)
    return np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])


def vertical_fov(intrinsics: Array, height: int) -> float:
    """Vertical field of view (rad) of a camera, e.g. for MuJoCo's ``fovy``."""
    return 2.0 * math.atan(0.5 * height / float(intrinsics[1, 1]))


def project(intrinsics: Array, points_cam: Array) -> tuple[Array, Array]:
    """Project camera-frame points (..., 3) → (pixels (..., 2) as (u, v), depth (...) = z).

    Points behind the camera get a negative depth; callers mask them.
    """
    xp = _xp(intrinsics, points_cam)
    k, p = _asarray(xp, intrinsics), _asarray(xp, points_cam)
    z = p[..., 2]
    safe = xp.where(xp.abs(z) < 1e-12, 1e-12, z)
    u = k[..., 0, 0] * p[..., 0] / safe + k[..., 0, 2]
    v = k[..., 1, 1] * p[..., 1] / safe + k[..., 1, 2]
    return xp.stack([u, v], axis=-1), z


def unproject(intrinsics: Array, pixels: Array, depth: Array) -> Array:
    """Lift pixels (..., 2) with z-depth (...) (m) to camera-frame points (..., 3)."""
    xp = _xp(intrinsics, pixels, depth)
    k, uv, d = _asarray(xp, intrinsics), _asarray(xp, pixels), _asarray(xp, depth)
    x = (uv[..., 0] - k[..., 0, 2]) / k[..., 0, 0] * d
    y = (uv[..., 1] - k[..., 1, 2]) / k[..., 1, 1] * d
    return xp.stack([x, y, d], axis=-1)


def pixel_centers(height: int, width: int) -> np.ndarray:
    """(H, W, 2) array of pixel-centre coordinates (u, v) = (j + 0.5, i + 0.5)."""
    v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return np.stack([u, v], axis=-1)


# ----------------------------------------------------------------------------- the rig

# Columns are the optical axes (x right, y down, z forward) written in a REP-103 body frame
# (x forward, y left, z up): right = -y, down = -z, forward = +x.
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_extrinsics(camera: CameraConfig) -> np.ndarray:
    """``T_ego_cam`` (4, 4): maps OpenCV camera-frame points into the ego frame.

    The camera body is turned by ``yaw`` about ego z, then pitched down by ``pitch_down``
    (positive rotation about the body's y axis points x toward the floor).
    """
    r = rot_z(camera.yaw) @ rot_y(camera.pitch_down) @ R_BODY_OPTICAL
    return se3_from_rt(r, np.array([camera.x, camera.y, camera.z]))


def rig_extrinsics(cameras: Sequence[CameraConfig]) -> np.ndarray:
    """(C, 4, 4) stack of ``T_ego_cam`` for the rig's cameras, in config order."""
    return np.stack([camera_extrinsics(c) for c in cameras])


def rig_intrinsics(cameras: Sequence[CameraConfig], image_hw: tuple[int, int]) -> np.ndarray:
    """(C, 3, 3) intrinsics of the rig's cameras at image size (H, W)."""
    h, w = image_hw
    return np.stack([intrinsics_from_fov(w, h, c.hfov) for c in cameras])


# ----------------------------------------------------------------------------- frustums


def depth_bin_centers(bins: DepthBinsConfig) -> np.ndarray:
    """(D,) depth-bin centres in metres, linearly spaced from d_min to d_max."""
    return np.linspace(bins.d_min, bins.d_max, bins.num_bins)


def frustum_points_cam(
    intrinsics: Array, image_hw: tuple[int, int], feature_hw: tuple[int, int], depths: Array
) -> Array:
    """Frustum points (D, h, w, 3) in the camera frame.

    For each depth ``depths[d]`` (m, z-depth) and each feature-map cell (h, w) of a feature map
    that downsamples an image of ``image_hw`` by an integer stride, the 3D point on the ray
    through the centre of that cell's image patch.
    """
    xp = _xp(intrinsics, depths)
    hi, wi = image_hw
    hf, wf = feature_hw
    if hi % hf or wi % wf:
        raise ValueError(f"feature map {feature_hw} does not evenly divide image {image_hw}")
    # A feature cell (i, j) covers image rows [i*s, (i+1)*s); its centre is at (i + 0.5) * s.
    sy, sx = hi / hf, wi / wf
    v, u = np.meshgrid((np.arange(hf) + 0.5) * sy, (np.arange(wf) + 0.5) * sx, indexing="ij")
    uv = xp.asarray(np.stack([u, v], axis=-1))  # (h, w, 2)
    d = _asarray(xp, depths)
    return unproject(intrinsics, uv[None], xp.broadcast_to(d[:, None, None], (d.shape[0], hf, wf)))


def frustum_points_ego(
    intrinsics: Array,
    extrinsics: Array,
    image_hw: tuple[int, int],
    feature_hw: tuple[int, int],
    depths: Array,
) -> Array:
    """Frustum points (C, D, h, w, 3) in the ego frame for a rig.

    ``intrinsics`` (C, 3, 3), ``extrinsics`` (C, 4, 4) as ``T_ego_cam``, ``depths`` (D,) m.
    """
    xp = _xp(intrinsics, extrinsics, depths)
    k, t = _asarray(xp, intrinsics), _asarray(xp, extrinsics)
    pts = xp.stack(
        [frustum_points_cam(k[c], image_hw, feature_hw, depths) for c in range(k.shape[0])]
    )
    return se3_apply(t[:, None, None, None], pts)


def voxel_coords(points_ego: Array, grid: VoxelGridConfig) -> tuple[Array, Array]:
    """Integer voxel coordinates (..., 3) as (ix, iy, iz) and an in-grid mask (...).

    The grid is centred on the ego origin in x and y and spans [z_min, z_max) in z. Cell
    (ix, iy, iz) covers x in [-X/2 + ix*r, -X/2 + (ix+1)*r), likewise y, with r the xy
    resolution and X the grid's extent.
    """
    xp = _xp(points_ego)
    p = _asarray(xp, points_ego)
    ex, ey = grid.extent_xy
    fx = (p[..., 0] + 0.5 * ex) / grid.xy_resolution
    fy = (p[..., 1] + 0.5 * ey) / grid.xy_resolution
    fz = (p[..., 2] - grid.z_min) / grid.z_resolution
    ijk = xp.stack([xp.floor(fx), xp.floor(fy), xp.floor(fz)], axis=-1).astype(xp.int32)
    inside = (
        (ijk[..., 0] >= 0)
        & (ijk[..., 0] < grid.nx)
        & (ijk[..., 1] >= 0)
        & (ijk[..., 1] < grid.ny)
        & (ijk[..., 2] >= 0)
        & (ijk[..., 2] < grid.nz)
    )
    return ijk, inside


def voxel_flat_index(points_ego: Array, grid: VoxelGridConfig) -> Array:
    """Flat voxel index (...) in row-major (X, Y, Z) order, or -1 for points outside the grid."""
    xp = _xp(points_ego)
    ijk, inside = voxel_coords(points_ego, grid)
    flat = (ijk[..., 0] * grid.ny + ijk[..., 1]) * grid.nz + ijk[..., 2]
    return xp.where(inside, flat, -1)


# ----------------------------------------------------------------------------- distance fields


def signed_distance(occupied: np.ndarray, resolution: float) -> np.ndarray:
    """Signed ESDF (float32, metres) of a boolean occupancy grid (nx, ny): > 0 free, < 0 occupied.

    Positive in free space (distance to the nearest obstacle), negative inside obstacles (minus
    the distance to the nearest free space). Distances run between cell centres
    (:func:`scipy.ndimage.distance_transform_edt`), minus half a cell so that the zero level
    lies on the obstacle boundary; values are accurate to about half a cell. A grid with no
    obstacle reads +1000 m everywhere, one with no free cell -1000 m. numpy only.
    """
    from scipy import ndimage  # here, not at the top: most users of geometry never need scipy

    occupied = np.asarray(occupied, bool)
    if not occupied.any():
        return np.full(occupied.shape, np.float32(1e3))
    if occupied.all():
        return np.full(occupied.shape, np.float32(-1e3))
    outside = ndimage.distance_transform_edt(~occupied) * resolution
    inside = ndimage.distance_transform_edt(occupied) * resolution
    half = 0.5 * resolution
    return np.where(occupied, -(inside - half), outside - half).astype(np.float32)
