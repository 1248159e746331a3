"""Astra-Local's 3D rendering head (paper Eq. 6): voxel features -> SDF and colour volumes.

Two per-voxel MLPs, as the paper describes: one maps a voxel's features to its signed distance
(m, > 0 in free space) and one to its colour (RGB in [0, 1]); a learned VolSDF scale ``beta``
(m) turns distances into density when rays are rendered
(:mod:`astra_jax.kernels.ray_render`). Occupancy is the sign of the SDF
(:func:`occupancy_from_sdf`). :class:`RenderConfig` also holds how the pre-training renders
(ray stride, samples per ray) and weighs its losses (:mod:`~astra_jax.local_model.render_pretrain`).
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.config import VoxelGridConfig
from astra_jax.nn.dense import lecun_dense
from astra_jax.validation import (
    check_non_negative_numbers,
    check_positive_ints,
    check_positive_numbers,
)


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """The rendering head and how the 3D pre-training renders.

    Attributes:
      hidden: width of the SDF and colour MLPs.
      beta_init: initial VolSDF scale (m); learned in log space.
      sdf_bias_init: initial SDF everywhere (m): free space, so first rays pass the volume.
      ray_stride: render the rig's pixels ``(s//2 + i*s, s//2 + j*s)``, every example, every step.
      samples_per_ray: evenly spaced z-depths from the depth bins' ``d_min`` to ``d_max``.
      depth_weight, colour_weight: the paper's Eq. 7 L1 terms (1 : 1).
      eikonal_weight: ``(|grad s| - 1)^2`` on the SDF volume (MonoSDF's 0.1; not in Eq. 7, it
        keeps the SDF a distance so that its sign and zero level mean occupancy).
    """

    hidden: int = 32
    beta_init: float = 0.2
    sdf_bias_init: float = 1.0
    ray_stride: int = 4
    samples_per_ray: int = 64
    depth_weight: float = 1.0
    colour_weight: float = 1.0
    eikonal_weight: float = 0.1

    def __post_init__(self) -> None:
        check_positive_ints(self, "hidden", "ray_stride", "samples_per_ray")
        check_positive_numbers(self, "beta_init")
        check_non_negative_numbers(self, "depth_weight", "colour_weight", "eikonal_weight")
        if not math.isfinite(self.sdf_bias_init):
            raise ValueError(f"RenderConfig.sdf_bias_init = {self.sdf_bias_init}: expected finite")

    @classmethod
    def for_preset(cls, preset: str) -> RenderConfig:
        """Per preset: samples about half a voxel apart along the rays (tiny 0.8 m voxels, 32
        samples over 0.3-8 m; small 0.2 m, 64; base 0.1 m over 0.3-12 m, 128), beta a quarter
        voxel, and a ray for every 16 (tiny: 4) pixels: tiny 768 rays, small 1,728, base 2,352."""
        sizes = {"tiny": (32, 0.2, 2, 32), "small": (64, 0.05, 4, 64), "base": (128, 0.025, 8, 128)}
        if preset not in sizes:
            raise ValueError(
                f"RenderConfig.for_preset({preset!r}): expected one of {', '.join(sizes)}"
            )
        hidden, beta, stride, samples = sizes[preset]
        return cls(hidden=hidden, beta_init=beta, ray_stride=stride, samples_per_ray=samples)


class RenderHead(nn.Module):
    """Voxel features (B, X, Y, Z, C) -> ``(sdf (B, X, Y, Z) m, colour (B, X, Y, Z, 3),
    beta () m)``, float32. Params: ``sdf_0``, ``sdf_1``, ``colour_0``, ``colour_1``,
    ``log_beta``."""

    config: RenderConfig

    @nn.compact
    def __call__(self, voxels: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        cfg = self.config
        x = voxels.astype(jnp.float32)
        h = nn.gelu(lecun_dense(cfg.hidden, ("channels", "mlp"), "sdf_0")(x), approximate=False)
        sdf = lecun_dense(1, ("mlp", "output"), "sdf_1", bias=cfg.sdf_bias_init)(h)[..., 0]
        h = nn.gelu(lecun_dense(cfg.hidden, ("channels", "mlp"), "colour_0")(x), approximate=False)
        colour = nn.sigmoid(lecun_dense(3, ("mlp", "output"), "colour_1")(h))
        log_beta = self.param(
            "log_beta",
            nn.with_logical_partitioning(nn.initializers.constant(math.log(cfg.beta_init)), ()),
            (),
        )
        return sdf, colour, jnp.exp(log_beta)


def voxels_from_features(features: jax.Array, grid: VoxelGridConfig) -> jax.Array:
    """The encoder's output (B, X, Y, Z*C) BEV (channel = z*C + c) or (B, X, Y, Z, C) voxels ->
    (B, X, Y, Z, C) voxels."""
    if features.ndim == 5:
        return features
    b, x, y, zc = features.shape
    if zc % grid.nz:
        raise ValueError(
            f"BEV features {features.shape}: channels not a multiple of nz = {grid.nz}"
        )
    return features.reshape(b, x, y, grid.nz, zc // grid.nz)


def occupancy_from_sdf(sdf: jax.Array) -> jax.Array:
    """Occupied voxels (bool, same shape): where the SDF is negative (the paper's V_o)."""
    return sdf < 0


def eikonal_penalty(sdf: jax.Array, grid: VoxelGridConfig) -> jax.Array:
    """Mean ``(|grad s| - 1)^2`` of SDF volumes (B, X, Y, Z) by finite differences over the
    voxel spacing (central inside, one-sided at the borders; z skipped when nz == 1)."""
    spacing = (grid.xy_resolution, grid.xy_resolution, grid.z_resolution)
    axes = [1, 2, 3] if grid.nz > 1 else [1, 2]
    grads = [jnp.gradient(sdf, spacing[a - 1], axis=a) for a in axes]
    norm = jnp.sqrt(sum(g * g for g in grads) + 1e-12)
    return jnp.mean((norm - 1.0) ** 2)
