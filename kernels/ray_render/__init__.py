"""Volume rendering of depth and colour from SDF and colour voxel volumes (Astra-Local's 3D
pre-training, paper Eq. 6; VolSDF's SDF-to-density conversion).

``render_reference`` renders any rays, plainly (the oracle and the benchmark's baseline);
``render_planned`` renders the rig's rays from a static :class:`RayPlan` (``plan_rays``), the
fast path. Both return ``(depth (R,) m, colour (R, 3), opacity (R,))``. See docs/design.md.
"""

from astra_jax.kernels.ray_render.compositing import composite, composite_weights, sdf_to_density
from astra_jax.kernels.ray_render.plan import RayPlan, make_plan, plan_rays
from astra_jax.kernels.ray_render.planned import render_planned
from astra_jax.kernels.ray_render.rays import (
    RigRays,
    ray_pixels,
    rig_rays,
    sample_depths,
    sample_steps,
)
from astra_jax.kernels.ray_render.reference import cell_coordinates, render_reference, trilinear

__all__ = [
    "RayPlan",
    "RigRays",
    "cell_coordinates",
    "composite",
    "composite_weights",
    "make_plan",
    "plan_rays",
    "ray_pixels",
    "render_planned",
    "render_reference",
    "rig_rays",
    "sample_depths",
    "sample_steps",
    "sdf_to_density",
    "trilinear",
]
