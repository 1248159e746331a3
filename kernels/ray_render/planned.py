"""Rendering from a :class:`~astra_jax.kernels.ray_render.plan.RayPlan`: the fast path.

Per bucket, one gather of the 8 corner rows of a (V, 4) table (SDF and colour side by side) per
sample and a weighted sum; no coordinate arithmetic, and only the samples inside the grid (the
plan dropped the rest). The same numbers as
:func:`~astra_jax.kernels.ray_render.reference.render_reference` on the plan's rays (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from astra_jax.kernels.ray_render.compositing import composite, composite_weights, sdf_to_density
from astra_jax.kernels.ray_render.plan import RayPlan


def render_planned(
    sdf: jax.Array, colour: jax.Array, beta: jax.Array, plan: RayPlan
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Render all of the plan's rays through one example's volumes.

    Args:
      sdf: (X, Y, Z) signed distance (m) at the cell centres of ``plan.grid``.
      colour: (X, Y, Z, 3) colour in [0, 1].
      beta: () VolSDF scale (m).
      plan: the rig's ray plan.

    Returns:
      ``(depth (R,) m, colour (R, 3), opacity (R,))``, rays in ``plan.rays`` order.
    """
    grid = plan.grid
    if sdf.shape != (grid.nx, grid.ny, grid.nz) or colour.shape != (*sdf.shape, 3):
        raise ValueError(
            f"render_planned: sdf {sdf.shape}, colour {colour.shape}: expected "
            f"{(grid.nx, grid.ny, grid.nz)} and {(grid.nx, grid.ny, grid.nz, 3)}"
        )
    table = jnp.concatenate([sdf[..., None], colour], axis=-1).reshape(-1, 4)
    outputs = []
    for b in plan.buckets:
        values = jnp.einsum("rkc,rkcd->rkd", b.corner_weight, table[b.corner_index])
        weights = composite_weights(sdf_to_density(values[..., 0], beta), b.step)
        outputs.append(composite(weights, b.sample_z, values[..., 1:]))
    order = jnp.asarray(plan.inverse_order)
    return tuple(jnp.concatenate(parts)[order] for parts in zip(*outputs))
