"""Rendering depth and colour from voxel volumes, written plainly: the oracle and the baseline.

For any rays (not only the rig's), every sample point is converted to continuous cell
coordinates and read trilinearly from the volumes; samples outside the grid's box contribute
no density. :mod:`astra_jax.kernels.ray_render.planned` computes the same numbers from a
precomputed :class:`~astra_jax.kernels.ray_render.plan.RayPlan`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from astra_jax.config import VoxelGridConfig
from astra_jax.kernels.ray_render.compositing import composite, composite_weights, sdf_to_density


def cell_coordinates(points: jax.Array, grid: VoxelGridConfig) -> tuple[jax.Array, jax.Array]:
    """Continuous cell coordinates (..., 3) of ego points (..., 3) m (an integer is a cell
    centre, as in :mod:`astra_jax.local_model.temporal`) and the in-box mask (...), the box
    being ``[-X/2, X/2) x [-Y/2, Y/2) x [z_min, z_max)``."""
    ex, ey = grid.extent_xy
    f = jnp.stack(
        [
            (points[..., 0] + 0.5 * ex) / grid.xy_resolution,
            (points[..., 1] + 0.5 * ey) / grid.xy_resolution,
            (points[..., 2] - grid.z_min) / grid.z_resolution,
        ],
        axis=-1,
    )
    size = jnp.asarray([grid.nx, grid.ny, grid.nz], f.dtype)
    inside = jnp.all((f >= 0) & (f < size), axis=-1)
    return f - 0.5, inside


def trilinear(volume: jax.Array, coords: jax.Array) -> jax.Array:
    """Trilinear read of ``volume`` (X, Y, Z, C) at cell coordinates ``coords`` (..., 3) ->
    (..., C). Coordinates are clamped to the cell centres' range, so the half cell at each
    border reads the border cells' values."""
    size = jnp.asarray(volume.shape[:3])
    f = jnp.clip(coords, 0.0, (size - 1).astype(coords.dtype))
    i0 = jnp.minimum(jnp.floor(f).astype(jnp.int32), jnp.maximum(size - 2, 0))
    frac = f - i0
    i1 = jnp.minimum(i0 + 1, size - 1)
    out = 0.0
    for cx in (0, 1):
        for cy in (0, 1):
            for cz in (0, 1):
                ix = (i1 if cx else i0)[..., 0]
                iy = (i1 if cy else i0)[..., 1]
                iz = (i1 if cz else i0)[..., 2]
                w = (
                    (frac[..., 0] if cx else 1 - frac[..., 0])
                    * (frac[..., 1] if cy else 1 - frac[..., 1])
                    * (frac[..., 2] if cz else 1 - frac[..., 2])
                )
                out = out + w[..., None] * volume[ix, iy, iz]
    return out


def render_reference(
    sdf: jax.Array,
    colour: jax.Array,
    beta: jax.Array,
    origins: jax.Array,
    directions: jax.Array,
    sample_z: jax.Array,
    grid: VoxelGridConfig,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Render rays through one example's volumes.

    Args:
      sdf: (X, Y, Z) signed distance (m) at the cell centres, > 0 in free space.
      colour: (X, Y, Z, 3) colour in [0, 1] at the cell centres.
      beta: () VolSDF scale (m).
      origins, directions: (R, 3) rays in the ego frame; directions with unit camera z.
      sample_z: (S,) z-depths (m) of the samples, increasing, evenly spaced.
      grid: the volumes' voxel grid.

    Returns:
      ``(depth (R,) m, colour (R, 3), opacity (R,))`` as in
      :func:`~astra_jax.kernels.ray_render.compositing.composite`.
    """
    points = origins[:, None, :] + sample_z[None, :, None] * directions[:, None, :]
    coords, inside = cell_coordinates(points, grid)
    values = trilinear(jnp.concatenate([sdf[..., None], colour], axis=-1), coords)
    dz = jnp.concatenate([jnp.diff(sample_z), jnp.diff(sample_z)[-1:]])
    step = dz[None, :] * jnp.linalg.norm(directions, axis=-1)[:, None] * inside
    weights = composite_weights(sdf_to_density(values[..., 0], beta), step)
    z = jnp.broadcast_to(sample_z, weights.shape)
    return composite(weights, z, values[..., 1:])
