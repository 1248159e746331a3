"""The interval splat (the BEVPoolv2 idea) in jax.numpy: the fast path on the CPU.

The rig's geometry is fixed, so the in-grid frustum points are sorted by voxel once (in numpy,
see :class:`~astra_jax.kernels.bev_splat.plan.SplatPlan`) and each occupied voxel owns an
interval of that order. A voxel's output is the sum over its interval of
``depth_prob[p] * feat[pixel(p)]``. The (B, N, D, h, w, C) outer product is never formed; only
in-grid points are touched (21% of them for the small preset's rig, 14% for base). The
intervals are summed with gathers and small batched products
(:class:`~astra_jax.kernels.bev_splat.ragged.RaggedSum`), not with ``segment_sum``: XLA lowers
``segment_sum`` to a scatter-add, an element-wise loop on the CPU that uses atomics, hence is
nondeterministic, on GPUs. The occupied voxels (4% of the base grid) are then written into a
zero-filled output with a scatter-*set* of unique, sorted rows when few voxels are occupied
(4% of the base grid), else gathered into place.
"""

from __future__ import annotations

import functools

import jax

from astra_jax.kernels.bev_splat.plan import SplatPlan
from astra_jax.kernels.bev_splat.ragged import RaggedSum
from astra_jax.kernels.bev_splat.vjp import with_gather_vjp

# Placement of the occupied voxels' sums (see RaggedSum): a gather writes every output row from
# a table; a zero fill (a memset) plus a scatter-set of the occupied rows is cheaper when few
# rows are occupied. Measured on XLA:CPU: the scatter wins at the base grid's 4% occupancy and
# the gather at the small grid's 12%.
SCATTER_BELOW_OCCUPANCY = 0.08


@functools.lru_cache(maxsize=32)
def interval_table(plan: SplatPlan) -> RaggedSum:
    """Ragged sum over the interval of each voxel: weights are points, rows are pixels."""
    return RaggedSum.build(
        plan.sorted_voxels, plan.sorted_points, plan.sorted_pixels, plan.num_voxels
    )


def splat_interval_forward(depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan) -> jax.Array:
    """Forward of the interval splat; same contract as
    :func:`~astra_jax.kernels.bev_splat.reference.bev_splat_reference`.

    Args:
      depth_prob: (B, N, D, h, w).
      feat: (B, N, h, w, C).
      plan: the geometry.

    Returns:
      (B, X, Y, Z, C) in the dtype of ``feat``, accumulated in float32.
    """
    plan.check_inputs(depth_prob.shape, feat.shape)
    b, c = feat.shape[0], feat.shape[-1]
    table = interval_table(plan)
    place = (
        table.scatter
        if plan.num_occupied < SCATTER_BELOW_OCCUPANCY * plan.num_voxels
        else table.gather
    )
    out = place(depth_prob.reshape(b, plan.num_points), feat.reshape(b, plan.num_pixels, c))
    return out.reshape(b, *plan.grid_shape, c).astype(feat.dtype)


bev_splat_interval = with_gather_vjp(splat_interval_forward)
bev_splat_interval.__doc__ = """Interval splat with the gather backward: ``(depth_prob (B, N, D,
h, w), feat (B, N, h, w, C), plan) -> (B, X, Y, Z, C)``."""
