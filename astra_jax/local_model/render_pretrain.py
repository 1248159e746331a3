"""Astra-Local's self-supervised 3D pre-training (paper Eq. 4-7): the whole encoder (lift,
splat and temporal fusion) learns from rendering the current frame's depth and colour.

The encoder's fused features become voxels (:func:`~astra_jax.local_model.render_head
.voxels_from_features`), the :class:`~astra_jax.local_model.render_head.RenderHead` turns them
into SDF and colour volumes, and the rig's rays (every ``ray_stride``-th pixel of each camera of
the current frame) are rendered with the static ray plan
(:func:`~astra_jax.kernels.ray_render.render_planned`). Loss: L1 of depth (m) and of colour
(in [0, 1]) over the rays whose true surface point lies in the voxel grid's box (the volumes can
only explain those), plus the eikonal term. The simulator's depth stands in for the paper's
RANSAC-aligned Depth-Anything pseudo-depth.

Batch: ``{"images": (B, T, N, H, W, 3) uint8, "poses": (B, T, 3) float32 odometry poses,
"depth": (B, N, H, W) float32 z-depth (m) of the current (last) frame}``.
Params: ``{"encoder": LocalEncoder params, "render": RenderHead params}``: the encoder subtree
drops into every later stage unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from astra_jax.kernels.ray_render import RayPlan, cell_coordinates, plan_rays, render_planned
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.render_head import (
    RenderConfig,
    RenderHead,
    eikonal_penalty,
    voxels_from_features,
)

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def ray_plan(encoder: EncoderConfig, render: RenderConfig) -> RayPlan:
    """The rig's ray plan for the pre-training (cached per geometry)."""
    bins = encoder.local.depth_bins
    return plan_rays(encoder.rig.cameras, encoder.rig.image_hw, render.ray_stride, bins.d_min,
                     bins.d_max, render.samples_per_ray, encoder.local.voxel)  # fmt: skip


def render_volumes(
    encoder: EncoderConfig, render: RenderConfig, params: Any, images: jax.Array, poses: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(sdf (B, X, Y, Z) m, colour (B, X, Y, Z, 3), beta ())`` of the current frame."""
    out = encoder.module().apply({"params": params["encoder"]}, images, poses)
    voxels = voxels_from_features(out.features, encoder.local.voxel)
    return RenderHead(render).apply({"params": params["render"]}, voxels)


def ray_targets(
    plan: RayPlan, images: jax.Array, depth: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(depth (B, R) m, colour (B, R, 3) in [0, 1], valid (B, R) bool)`` of the plan's rays
    in the current frame; valid: a finite depth within the rays' samples whose surface point
    lies in the grid's box."""
    b, n, h, w = depth.shape
    pixels = jnp.asarray(plan.rays.pixels)
    true_depth = depth.reshape(b, n * h * w)[:, pixels]
    rgb = images[:, -1].reshape(b, n * h * w, 3)[:, pixels].astype(jnp.float32) / 255.0
    origins = jnp.asarray(plan.rays.origins, jnp.float32)
    directions = jnp.asarray(plan.rays.directions, jnp.float32)
    finite = jnp.isfinite(true_depth) & (true_depth > 0)
    d = jnp.where(finite, true_depth, 0.0)
    _, inside = cell_coordinates(origins + d[..., None] * directions, plan.grid)
    near, far = plan.sample_range
    return d, rgb, finite & inside & (d >= near) & (d <= far)


def render_pretrain_loss(
    encoder: EncoderConfig, render: RenderConfig, params: Any, batch: Batch
) -> tuple[jax.Array, Metrics]:
    """``(loss, metrics)`` of one batch; pure in ``params`` and ``batch``."""
    _check_batch(encoder, batch)
    plan = ray_plan(encoder, render)
    sdf, colour, beta = render_volumes(encoder, render, params, batch["images"], batch["poses"])
    depth, rgb, opacity = jax.vmap(lambda s, c: render_planned(s, c, beta, plan))(sdf, colour)
    true_depth, true_rgb, valid = ray_targets(plan, batch["images"], batch["depth"])
    count = jnp.maximum(jnp.sum(valid), 1)
    depth_err = jnp.abs(depth - true_depth)
    depth_l1 = jnp.sum(jnp.where(valid, depth_err, 0.0)) / count
    colour_l1 = jnp.sum(jnp.where(valid[..., None], jnp.abs(rgb - true_rgb), 0.0)) / (3 * count)
    eikonal = eikonal_penalty(sdf, encoder.local.voxel)
    loss = (render.depth_weight * depth_l1 + render.colour_weight * colour_l1
            + render.eikonal_weight * eikonal)  # fmt: skip
    abs_rel = jnp.sum(jnp.where(valid, depth_err / jnp.maximum(true_depth, 1e-3), 0.0)) / count
    return loss, {
        "loss": loss,
        "depth_l1": depth_l1,
        "colour_l1": colour_l1,
        "eikonal": eikonal,
        "abs_rel": abs_rel,
        "valid_fraction": jnp.mean(valid.astype(jnp.float32)),
        "opacity": jnp.sum(jnp.where(valid, opacity, 0.0)) / count,
        "occupied_fraction": jnp.mean((sdf < 0).astype(jnp.float32)),
        "beta": beta,
    }


def _check_batch(config: EncoderConfig, batch: Batch) -> None:
    spec = RenderPretrain.spec(config, 1)
    for name, s in spec.items():
        if name not in batch:
            raise ValueError(f"3D pre-training batch: no {name!r}; expected {', '.join(spec)}")
        a = batch[name]
        if a.shape[1:] != s.shape[1:] or a.dtype != s.dtype:
            raise ValueError(
                f"3D pre-training batch: {name} {a.shape} {a.dtype}: expected "
                f"(batch, {', '.join(map(str, s.shape[1:]))}) {s.dtype}"
            )


@dataclasses.dataclass(frozen=True)
class RenderPretrain:
    """The 3D pre-training bound to an encoder and a render config (init / loss_fn / eval_fn /
    batch_spec of the engine's Trainable)."""

    encoder: EncoderConfig
    render: RenderConfig

    def init(self, rng: jax.Array) -> Any:
        """``{"encoder": ..., "render": ...}`` boxed with logical axis names."""
        enc_rng, head_rng = jax.random.split(rng)
        _, encoder = self.encoder.create(enc_rng)
        voxels = jnp.zeros((1, *self.encoder.voxel_shape), jnp.float32)
        render = jax.jit(RenderHead(self.render).init)(head_rng, voxels)["params"]
        return {"encoder": encoder, "render": render}

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        del rng  # deterministic: every ray of the plan, no dropout
        return render_pretrain_loss(self.encoder, self.render, params, batch)

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return render_pretrain_loss(self.encoder, self.render, params, batch)[1]

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return self.spec(self.encoder, batch_size)

    @staticmethod
    def spec(config: EncoderConfig, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        inputs = config.inputs_spec(batch_size)
        n, (h, w) = config.num_cameras, config.rig.image_hw
        return {**inputs, "depth": jax.ShapeDtypeStruct((batch_size, n, h, w), jnp.float32)}
