"""The plain jax.numpy splat: materialise the frustum features, then scatter-add.

This is Lift-Splat-Shoot's voxel pooling written the obvious way. It is the oracle of the tests
and the baseline of ``bench/bev_splat.py``. Its gradients come from JAX's autodiff of the
scatter-add (a gather), so it also checks the hand-written VJP of the other implementations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from astra_jax.kernels.bev_splat.plan import SplatPlan


def bev_splat_reference(depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan) -> jax.Array:
    """Sum ``depth_prob ⊗ feat`` of every frustum point into its voxel.

    Args:
      depth_prob: (B, N, D, h, w) weights of each depth bin (a softmax over D in LSS).
      feat: (B, N, h, w, C) context features of each feature-map cell.
      plan: the rig's geometry (N, D, h, w must match).

    Returns:
      (B, X, Y, Z, C) voxel features in the dtype of ``feat``; voxels no point falls into
      are zero, points outside the grid are dropped.
    """
    plan.check_inputs(depth_prob.shape, feat.shape)
    b, c = feat.shape[0], feat.shape[-1]
    frustum = depth_prob[..., None].astype(feat.dtype) * feat[:, :, None]  # (B, N, D, h, w, C)
    index = jnp.asarray(plan.voxel_index.reshape(-1))
    # -1 (outside) becomes an out-of-bounds index that mode="drop" discards.
    index = jnp.where(index < 0, plan.num_voxels, index)
    out = jnp.zeros((b, plan.num_voxels, c), feat.dtype)
    out = out.at[:, index].add(frustum.reshape(b, -1, c), mode="drop")
    return out.reshape(b, *plan.grid_shape, c)
