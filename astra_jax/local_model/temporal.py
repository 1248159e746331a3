"""Temporal fusion (wave-1 4D): warp past features into the current ego frame, then fuse.

Features live on the ego-centred grid of :class:`~astra_jax.config.VoxelGridConfig`: cell
(ix, iy) has its centre at ``x = -X_extent/2 + (ix + 0.5) * r`` (likewise y). A past frame's
features are resampled at the current cells' centres mapped into that past ego frame, with
bilinear interpolation in x and y (the robot moves in the plane, so z is untouched) and zeros
outside the past grid.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from astra_jax import geometry
from astra_jax.config import VoxelGridConfig

DType = jnp.dtype


def cell_centers_xy(grid: VoxelGridConfig) -> np.ndarray:
    """(X, Y, 2) ego-frame (x, y) of every cell centre, in metres."""
    ex, ey = grid.extent_xy
    r = grid.xy_resolution
    xs = -0.5 * ex + (np.arange(grid.nx) + 0.5) * r
    ys = -0.5 * ey + (np.arange(grid.ny) + 0.5) * r
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1)


def bilinear_sample_xy(features: jax.Array, coords: jax.Array) -> jax.Array:
    """Sample a grid at continuous cell coordinates, zero outside.

    Args:
      features: (X, Y, F) values at integer cell coordinates.
      coords: (..., 2) float (ix, iy) positions; integer values hit cell centres exactly.

    Returns:
      (..., F) bilinear interpolation; corners outside the grid contribute zero.
    """
    nx, ny = features.shape[:2]
    i0 = jnp.floor(coords[..., 0])
    j0 = jnp.floor(coords[..., 1])
    di = coords[..., 0] - i0
    dj = coords[..., 1] - j0
    i0 = i0.astype(jnp.int32)
    j0 = j0.astype(jnp.int32)
    out = jnp.zeros((*coords.shape[:-1], features.shape[-1]), features.dtype)
    for oi, oj, weight in (
        (0, 0, (1 - di) * (1 - dj)),
        (1, 0, di * (1 - dj)),
        (0, 1, (1 - di) * dj),
        (1, 1, di * dj),
    ):
        i, j = i0 + oi, j0 + oj
        inside = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
        vals = features[jnp.clip(i, 0, nx - 1), jnp.clip(j, 0, ny - 1)]
        out = out + jnp.where(inside, weight, 0.0)[..., None].astype(features.dtype) * vals
    return out


def past_in_current(poses: jax.Array) -> jax.Array:
    """Odometry poses (B, T, 3) of T frames, current last -> (B, T-1, 3) pose of each past
    ego frame in the current ego frame."""
    return geometry.se2_relative(poses[:, -1:], poses[:, :-1])


def warp_to_current(
    features: jax.Array, past_in_current: jax.Array, grid: VoxelGridConfig
) -> jax.Array:
    """Resample past grid features into the current ego frame.

    Args:
      features: (B, X, Y, Z, C) features of a past frame, in that frame's ego grid.
      past_in_current: (B, 3) pose (x, y, yaw) of the past ego frame in the current one, i.e.
        ``geometry.se2_relative(current_pose, past_pose)`` for odometry poses.
      grid: the voxel grid (the same for both frames).

    Returns:
      (B, X, Y, Z, C): the past features where the current grid sees them. A robot that drove
      forward by d metres sees the past features shifted by d / r cells toward -x.
    """
    _, nx, ny, nz, c = features.shape
    centers = jnp.asarray(cell_centers_xy(grid), jnp.float32)  # (X, Y, 2) current frame
    ex, ey = grid.extent_xy
    r = grid.xy_resolution

    def one(feat, pose):
        # Current cell centre -> past ego frame -> continuous past cell coordinate.
        p = geometry.se2_apply(geometry.se2_inverse(pose), centers)
        coords = jnp.stack([(p[..., 0] + 0.5 * ex) / r - 0.5, (p[..., 1] + 0.5 * ey) / r - 0.5], -1)
        return bilinear_sample_xy(feat.reshape(nx, ny, nz * c), coords).reshape(nx, ny, nz, c)

    return jax.vmap(one)(features, past_in_current.astype(jnp.float32))


def warp_frames(features: jax.Array, poses: jax.Array, grid: VoxelGridConfig) -> jax.Array:
    """:func:`warp_to_current` for J frames at once: features (B, J, X, Y, Z, C), each frame's
    pose (B, J, 3) in the target frame -> (B, J, X, Y, Z, C) in the target frame."""
    return jax.vmap(warp_to_current, in_axes=(1, 1, None), out_axes=1)(features, poses, grid)


def warp_history(frames: jax.Array, poses: jax.Array, grid: VoxelGridConfig) -> jax.Array:
    """Every past frame of a history warped into the newest one's ego frame.

    Args:
      frames: (B, T, X, Y, Z, C) per-frame features, oldest first, the current frame last.
      poses: (B, T, 3) odometry poses (x, y, yaw) of those frames.
      grid: the voxel grid.

    Returns:
      (B, T-1, X, Y, Z, C), what :class:`TemporalFusion` reads as ``past``. The batch encoder
      and the streaming tick (``astra_jax.serve.tick``) both call this.
    """
    return warp_frames(frames[:, :-1], past_in_current(poses), grid)


class TemporalFusion(nn.Module):
    """Fuse the current frame's features with warped past ones: a 1x1x1 projection of their
    channel concatenation, then a pre-activation 3D convolutional residual block.

    Call with ``current`` (B, X, Y, Z, C) and ``past`` (B, P, X, Y, Z, C) already warped into
    the current frame (P may be 0). Returns (B, X, Y, Z, C). The kernel is 3x3 in x, y and
    min(3, Z) in z (3x3x1 for a BEV map, where Z = 1). The block's last convolution starts at
    zero, so at initialisation the block is the identity on the projection.
    """

    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, current: jax.Array, past: jax.Array) -> jax.Array:
        b, nx, ny, nz, c = current.shape
        stacked = jnp.concatenate(
            [current[:, None], past], axis=1
        )  # (B, P+1, X, Y, Z, C), current first
        x = jnp.moveaxis(stacked, 1, -2).reshape(b, nx, ny, nz, -1).astype(self.dtype)
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        x = nn.Dense(
            c,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.lecun_normal(), ("conv_in", "channels")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("channels",)),
            name="project",
            **kw,
        )(x)
        kernel = (3, 3, min(3, nz))
        conv_axes = ("conv_x", "conv_y", "conv_z", "conv_in", "channels")
        y = x
        for i, init in enumerate((nn.initializers.lecun_normal(), nn.initializers.zeros_init())):
            y = nn.LayerNorm(
                epsilon=1e-6,
                scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("channels",)),
                bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("channels",)),
                name=f"norm{i}",
                **kw,
            )(y)
            y = nn.Conv(
                c,
                kernel,
                padding="SAME",
                kernel_init=nn.with_logical_partitioning(init, conv_axes),
                bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("channels",)),
                name=f"conv{i}",
                **kw,
            )(nn.gelu(y, approximate=False))
        return x + y
