"""The splat's backward pass, by gathers from the voxel gradients (no scatter), as a custom VJP.

With ``out[v] = sum_{p in v} depth_prob[p] * feat[pixel(p)]`` and cotangent ``g = dL/dout``:

* ``dL/dfeat[q] = sum over in-grid points p of pixel q of depth_prob[p] * g[voxel(p)]``:
  for each pixel a ragged sum over its depth bins, gathered from ``g``
  (:class:`~astra_jax.kernels.bev_splat.ragged.RaggedSum` with pixels as segments);
* ``dL/ddepth_prob[p] = <g[voxel(p)], feat[pixel(p)]>`` for in-grid points, 0 outside:
  two row gathers and a dot product per point.

Each output element is written once, so the backward is deterministic too. Every forward
implementation (interval, Pallas GPU, Pallas TPU, the dispatcher's primitive) shares it, the way
``jax.experimental.pallas.ops.gpu.layer_norm`` can switch its backward to XLA.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.kernels.bev_splat.plan import SplatPlan
from astra_jax.kernels.bev_splat.ragged import RaggedSum

SplatFn = Callable[[jax.Array, jax.Array, SplatPlan], jax.Array]


@functools.lru_cache(maxsize=32)
def pixel_table(plan: SplatPlan) -> RaggedSum:
    """Ragged sum over the in-grid depth bins of each pixel: weights are depth_prob points,
    rows are voxels."""
    _, d, h, w = plan.voxel_index.shape
    flat = plan.voxel_index.reshape(-1)
    points = np.flatnonzero(flat >= 0)  # already in (n, d, h, w) order
    cam, rem = np.divmod(points, d * h * w)
    pixels = cam * (h * w) + rem % (h * w)
    order = np.argsort(pixels, kind="stable")  # by pixel, then by depth bin
    return RaggedSum.build(pixels[order], points[order], flat[points[order]], plan.num_pixels)


@functools.lru_cache(maxsize=32)
def point_placement(plan: SplatPlan) -> np.ndarray:
    """(N*D*h*w,) position of each point in ``plan.sorted_points``, or Pv when out of grid."""
    placement = np.full(plan.num_points, plan.num_valid, np.int32)
    placement[plan.sorted_points] = np.arange(plan.num_valid, dtype=np.int32)
    return placement


def splat_backward(
    plan: SplatPlan, depth_prob: jax.Array, feat: jax.Array, g: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Gradients of the splat.

    Args:
      plan: the geometry.
      depth_prob: (B, N, D, h, w) forward input.
      feat: (B, N, h, w, C) forward input.
      g: (B, X, Y, Z, C) cotangent of the output.

    Returns:
      (d depth_prob (B, N, D, h, w), d feat (B, N, h, w, C)) in the inputs' dtypes.
    """
    b, c = feat.shape[0], feat.shape[-1]
    g_flat = g.reshape(b, plan.num_voxels, c)
    feat_flat = feat.reshape(b, plan.num_pixels, c)
    d_feat = pixel_table(plan).gather(depth_prob.reshape(b, plan.num_points), g_flat)
    per_point = jnp.sum(
        g_flat[:, plan.sorted_voxels].astype(jnp.float32)
        * feat_flat[:, plan.sorted_pixels].astype(jnp.float32),
        axis=-1,
    )  # (B, Pv)
    per_point = jnp.concatenate([per_point, jnp.zeros((b, 1), jnp.float32)], axis=1)
    d_depth = per_point[:, point_placement(plan)]
    return (
        d_depth.reshape(depth_prob.shape).astype(depth_prob.dtype),
        d_feat.reshape(feat.shape).astype(feat.dtype),
    )


def with_gather_vjp(forward: SplatFn) -> SplatFn:
    """Wrap a splat forward ``(depth_prob, feat, plan) -> out`` in a ``jax.custom_vjp`` whose
    backward is :func:`splat_backward`. The plan is a static (non-differentiable) argument."""

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
    def splat(depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan) -> jax.Array:
        return forward(depth_prob, feat, plan)

    def splat_fwd(depth_prob, feat, plan):
        return forward(depth_prob, feat, plan), (depth_prob, feat)

    def splat_bwd(plan, residuals, g):
        return splat_backward(plan, *residuals, g)

    splat.defvjp(splat_fwd, splat_bwd)
    return splat
