"""BEV splat (Lift-Splat-Shoot voxel pooling): reference, interval, Pallas GPU, Pallas TPU.

``bev_splat(depth_prob (B, N, D, h, w), feat (B, N, h, w, C), plan) -> (B, X, Y, Z, C)`` sums
``depth_prob ⊗ feat`` of every frustum point into its voxel. The plan holds the rig's static
geometry (:func:`plan_for_rig`). See ``docs/design.md`` for the algorithms and measurements.
"""

from astra_jax.kernels.bev_splat.dispatch import (
    AUTO_BY_PLATFORM,
    EXPORT_DISABLED_CHECKS,
    IMPLEMENTATIONS,
    auto_impl,
    bev_splat,
    bev_splat_p,
)
from astra_jax.kernels.bev_splat.interval import bev_splat_interval
from astra_jax.kernels.bev_splat.pallas_gpu import bev_splat_pallas_gpu
from astra_jax.kernels.bev_splat.pallas_tpu import bev_splat_pallas_tpu
from astra_jax.kernels.bev_splat.plan import SplatPlan, make_plan, plan_for_rig
from astra_jax.kernels.bev_splat.reference import bev_splat_reference

__all__ = [
    "AUTO_BY_PLATFORM",
    "EXPORT_DISABLED_CHECKS",
    "IMPLEMENTATIONS",
    "SplatPlan",
    "auto_impl",
    "bev_splat",
    "bev_splat_interval",
    "bev_splat_p",
    "bev_splat_pallas_gpu",
    "bev_splat_pallas_tpu",
    "bev_splat_reference",
    "make_plan",
    "plan_for_rig",
]
