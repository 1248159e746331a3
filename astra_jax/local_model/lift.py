"""Lift: per camera and feature cell, a depth distribution over D bins and C context features.

The ViT is shared across cameras; a learned per-camera embedding is added to its tokens so the
features can depend on where the camera looks. A linear head (LSS's 1x1 conv) maps each token
to D depth logits and C context features.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.local_model.config import EncoderConfig
from astra_jax.nn.vit import ViT

# ImageNet statistics, the usual normalisation for ViT backbones.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def normalize_images(images: jax.Array, dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """uint8 RGB images (..., H, W, 3) -> float ``(x / 255 - mean) / std``.

    This is the one place the local model normalises images.
    """
    if images.dtype != jnp.uint8:
        raise ValueError(f"images: dtype {images.dtype}: expected uint8 RGB in [0, 255]")
    if images.shape[-1] != 3:
        raise ValueError(f"images: shape {images.shape}: expected 3 channels last")
    x = images.astype(jnp.float32) / 255.0
    x = (x - jnp.asarray(IMAGE_MEAN)) / jnp.asarray(IMAGE_STD)
    return x.astype(dtype)


class ImageLift(nn.Module):
    """Images of a rig -> depth logits and context features.

    Call with ``images`` (B, N, H, W, 3) uint8, N the rig's cameras in config order.

    Returns:
      depth_logits: (B, N, D, h, w) float32, softmax over D gives the depth distribution.
      context: (B, N, h, w, C) float32 context features.
    """

    config: EncoderConfig

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        cfg = self.config
        b, n = images.shape[:2]
        if images.shape[1:] != (cfg.num_cameras, *cfg.rig.image_hw, 3):
            raise ValueError(
                f"ImageLift: images shape {images.shape}: expected (batch, {cfg.num_cameras}, "
                f"{cfg.rig.image_hw[0]}, {cfg.rig.image_hw[1]}, 3)"
            )
        dtype, param_dtype = cfg.compute_dtype, cfg.parameter_dtype
        width = cfg.local.vit.width
        camera_embed = self.param(
            "camera_embed",
            nn.with_logical_partitioning(nn.initializers.normal(0.02), (None, "embed")),
            (n, width),
            param_dtype,
        )
        x = normalize_images(images, dtype).reshape(b * n, *images.shape[2:])
        cond = jnp.broadcast_to(camera_embed[None], (b, n, width)).reshape(b * n, width)
        tokens = ViT(cfg.local.vit, dtype=dtype, param_dtype=param_dtype, name="vit")(x, cond)
        d, c = cfg.local.depth_bins.num_bins, cfg.local.context_channels
        out = nn.Dense(
            d + c,
            dtype=dtype,
            param_dtype=param_dtype,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.lecun_normal(), ("embed", "output")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("output",)),
            name="head",
        )(tokens).astype(jnp.float32)  # (B*N, h, w, D + C)
        h, w = out.shape[1:3]
        out = out.reshape(b, n, h, w, d + c)
        depth_logits = jnp.moveaxis(out[..., :d], -1, 2)  # (B, N, D, h, w)
        return depth_logits, out[..., d:]
