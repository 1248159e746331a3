"""One entry point, :func:`bev_splat`, that picks the splat implementation by backend.

``impl="auto"`` (the default) binds the primitive ``bev_splat_p``, whose lowering is registered
per platform:

==========  ==========================================================
platform    forward
==========  ==========================================================
cpu         interval (jnp gathers, :mod:`.interval`)
cuda        Pallas GPU (Triton, :mod:`.pallas_gpu`)
tpu         Pallas TPU (Mosaic, :mod:`.pallas_tpu`); interval if the features do not fit VMEM
other       interval
==========  ==========================================================

and the gradient is the shared gather VJP (:mod:`.vjp`). Any other ``impl`` forces one
implementation, for tests and benchmarks.

Why a primitive rather than ``lax.platform_dependent`` (jax issue 28594): when a function is
exported for several platforms at once, ``platform_dependent`` keeps one branch per platform,
but lowers each kept branch with the module's whole platform list. A ``pallas_call`` in the
cuda branch is then lowered for cpu too, and its cpu rule raises "Only interpret mode is
supported on CPU backend". ``mlir.lower_per_platform`` instead lowers each platform's rule with
``ctx.replace(platforms=[that platform])``, and ``mlir.lower_fun`` passes that restriction on to
the ``pallas_call`` inside, so each kernel is only lowered for its own platform.
"""

from __future__ import annotations

import functools

import jax
from jax import export
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from astra_jax.kernels.bev_splat.interval import bev_splat_interval, splat_interval_forward
from astra_jax.kernels.bev_splat.pallas_gpu import bev_splat_pallas_gpu, splat_pallas_gpu_forward
from astra_jax.kernels.bev_splat.pallas_tpu import (
    bev_splat_pallas_tpu,
    fits_vmem,
    splat_pallas_tpu_forward,
)
from astra_jax.kernels.bev_splat.plan import SplatPlan
from astra_jax.kernels.bev_splat.reference import bev_splat_reference
from astra_jax.kernels.bev_splat.vjp import with_gather_vjp

IMPLEMENTATIONS = ("auto", "reference", "interval", "pallas_gpu", "pallas_tpu")

# The Triton custom call of Pallas GPU kernels carries serialized Triton IR and no
# compatibility guarantee, so jax.export refuses it unless this check is disabled. Mosaic's
# tpu_custom_call is on export's allow-list.
TRITON_CUSTOM_CALL = "__gpu$xla.gpu.triton"
EXPORT_DISABLED_CHECKS = (export.DisabledSafetyCheck.custom_call(TRITON_CUSTOM_CALL),)

# Forward implementation per lowering platform, for impl="auto".
AUTO_BY_PLATFORM = {"cpu": "interval", "cuda": "pallas_gpu", "tpu": "pallas_tpu"}


def auto_impl(platform: str | None = None) -> str:
    """The implementation ``impl="auto"`` runs on ``platform`` (default: jax's default backend)."""
    platform = platform or jax.default_backend()
    platform = "cuda" if platform == "gpu" else platform
    return AUTO_BY_PLATFORM.get(platform, "interval")


# ----------------------------------------------------------------------------- the primitive

bev_splat_p = Primitive("bev_splat")


def _abstract_eval(depth_prob, feat, *, plan: SplatPlan):
    plan.check_inputs(depth_prob.shape, feat.shape)
    return jax.core.ShapedArray((feat.shape[0], *plan.grid_shape, feat.shape[-1]), feat.dtype)


def _tpu_forward(depth_prob, feat, *, plan: SplatPlan):
    if fits_vmem(plan, feat.shape[-1], feat.dtype.itemsize):
        return splat_pallas_tpu_forward(depth_prob, feat, plan)
    return splat_interval_forward(depth_prob, feat, plan)


def _batch_rule(args, dims, *, plan: SplatPlan):
    """vmap: fold the mapped axis into the batch axis (an unmapped operand has dim None)."""
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    moved = [batching.bdim_at_front(a, d, size) for a, d in zip(args, dims)]
    moved = [a.reshape(size * a.shape[1], *a.shape[2:]) for a in moved]
    out = bev_splat_p.bind(*moved, plan=plan)
    return out.reshape(size, -1, *out.shape[1:]), 0


bev_splat_p.def_abstract_eval(_abstract_eval)
bev_splat_p.def_impl(
    lambda depth_prob, feat, *, plan: jax.jit(functools.partial(bev_splat_p.bind, plan=plan))(
        depth_prob, feat
    )
)
batching.primitive_batchers[bev_splat_p] = _batch_rule
mlir.register_lowering(
    bev_splat_p,
    mlir.lower_fun(lambda dp, f, *, plan: splat_interval_forward(dp, f, plan), False),
)
mlir.register_lowering(
    bev_splat_p,
    mlir.lower_fun(lambda dp, f, *, plan: splat_pallas_gpu_forward(dp, f, plan), False),
    platform="cuda",
)
mlir.register_lowering(bev_splat_p, mlir.lower_fun(_tpu_forward, False), platform="tpu")

_bev_splat_auto = with_gather_vjp(lambda dp, f, plan: bev_splat_p.bind(dp, f, plan=plan))


# ----------------------------------------------------------------------------- entry point


def bev_splat(
    depth_prob: jax.Array,
    feat: jax.Array,
    plan: SplatPlan,
    *,
    impl: str = "auto",
    interpret: bool = False,
) -> jax.Array:
    """Splat lifted features into the voxel grid: ``out[v] = sum_{p in v} depth_prob[p] *
    feat[pixel(p)]``, points outside the grid dropped, empty voxels zero.

    Args:
      depth_prob: (B, N, D, h, w) depth-bin weights per camera and feature cell.
      feat: (B, N, h, w, C) context features.
      plan: the rig's geometry (:func:`~astra_jax.kernels.bev_splat.plan.plan_for_rig`).
      impl: one of :data:`IMPLEMENTATIONS`; ``auto`` chooses by the platform it is lowered for.
      interpret: run a forced Pallas implementation in the Pallas interpreter (CPU tests).

    Returns:
      (B, X, Y, Z, C) voxel features in the dtype of ``feat``.
    """
    if impl == "auto":
        return _bev_splat_auto(depth_prob, feat, plan)
    if impl == "reference":
        return bev_splat_reference(depth_prob, feat, plan)
    if impl == "interval":
        return bev_splat_interval(depth_prob, feat, plan)
    if impl == "pallas_gpu":
        return bev_splat_pallas_gpu(depth_prob, feat, plan, interpret=interpret)
    if impl == "pallas_tpu":
        return bev_splat_pallas_tpu(depth_prob, feat, plan, interpret=interpret)
    raise ValueError(f"bev_splat: impl = {impl!r}: expected one of {', '.join(IMPLEMENTATIONS)}")
