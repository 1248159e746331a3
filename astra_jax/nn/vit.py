"""Vision transformer (ViT): patch embedding, learned positions, pre-norm blocks.

``ViT(config)(images (B, H, W, 3) float) -> (B, H/p, W/p, width)`` feature map, with ``p`` the
patch size. An optional ``conditioning`` vector per image (e.g. Astra-Local's learned camera
embedding) is added to every token before the first block, so one set of weights serves
several cameras while each token still knows which camera it came from.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.config import ViTConfig
from astra_jax.nn.attention import SelfAttention

DType = Any


def layer_norm(dtype: DType, param_dtype: DType, name: str | None = None) -> nn.LayerNorm:
    """LayerNorm whose scale and bias carry the ``embed`` logical axis."""
    return nn.LayerNorm(
        epsilon=1e-6,
        dtype=dtype,
        param_dtype=param_dtype,
        scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("embed",)),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
        name=name,
    )


class ViTBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` with exact GELU.

    ``x``: (B, S, E) -> (B, S, E); ``key_valid`` (B, S) bool masks keys (see
    :class:`~astra_jax.nn.attention.SelfAttention`).
    """

    num_heads: int
    mlp_dim: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, key_valid: jax.Array | None = None) -> jax.Array:
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        e = x.shape[-1]
        y = layer_norm(**kw, name="norm1")(x)
        x = x + SelfAttention(self.num_heads, name="attn", **kw)(y, key_valid)
        y = layer_norm(**kw, name="norm2")(x)
        y = nn.Dense(
            self.mlp_dim,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.xavier_uniform(), ("embed", "mlp")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("mlp",)),
            name="mlp_in",
            **kw,
        )(y)
        y = nn.Dense(
            e,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.xavier_uniform(), ("mlp", "embed")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
            name="mlp_out",
            **kw,
        )(nn.gelu(y, approximate=False))
        return x + y


class ViT(nn.Module):
    """The ViT of ``config`` (patch size, width, depth, heads, MLP ratio).

    Call with:
      images: (B, H, W, 3) float, already normalised; H and W divisible by the patch size.
      conditioning: optional (B, width) vector added to every token.

    Returns:
      (B, H/p, W/p, width) tokens after the final LayerNorm, in ``dtype``.
    """

    config: ViTConfig
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array, conditioning: jax.Array | None = None) -> jax.Array:
        c = self.config
        b, hi, wi, _ = images.shape
        p = c.patch_size
        if hi % p or wi % p:
            raise ValueError(f"ViT: image {hi}x{wi} is not divisible by the patch size {p}")
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        # A stride-p p x p convolution is the usual patch embedding (a Dense on each patch).
        x = nn.Conv(
            c.width,
            (p, p),
            strides=(p, p),
            padding="VALID",
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.lecun_normal(), ("conv_y", "conv_x", "input", "embed")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
            name="patch_embed",
            **kw,
        )(images.astype(self.dtype))
        h, w = x.shape[1:3]
        x = x.reshape(b, h * w, c.width)
        pos = self.param(
            "pos_embed",
            nn.with_logical_partitioning(nn.initializers.normal(0.02), ("seq", "embed")),
            (h * w, c.width),
            self.param_dtype,
        )
        x = x + pos.astype(self.dtype)
        if conditioning is not None:
            x = x + conditioning.astype(self.dtype)[:, None, :]
        for i in range(c.depth):
            x = ViTBlock(c.num_heads, c.width * c.mlp_ratio, name=f"block{i}", **kw)(x)
        x = layer_norm(**kw, name="norm")(x)
        return x.reshape(b, h, w, c.width)
