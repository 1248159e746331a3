"""Bidirectional multi-head self-attention for vision transformers."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

DType = Any


class SelfAttention(nn.Module):
    """Multi-head self-attention over all tokens (no mask, no positions: the caller adds them).

    Q, K and V are one ``DenseGeneral`` to (3, heads, head_dim) with kernel axes
    ``(embed, None, heads, kv)``; the output projection has axes ``(heads, kv, embed)``. The
    attention is ``jax.nn.dot_product_attention`` (XLA by default; ``implementation="cudnn"``
    selects cuDNN's fused kernel on GPUs).

    Call with ``x`` (B, S, E); returns (B, S, E).
    """

    num_heads: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32
    implementation: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        e = x.shape[-1]
        if e % self.num_heads:
            raise ValueError(f"SelfAttention: width {e} is not divisible by {self.num_heads} heads")
        head_dim = e // self.num_heads
        # DenseGeneral calls the initialiser with the flattened (in, out) shape.
        init = nn.initializers.lecun_normal()
        qkv = nn.DenseGeneral(
            (3, self.num_heads, head_dim),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=nn.with_logical_partitioning(init, ("embed", None, "heads", "kv")),
            bias_init=nn.with_logical_partitioning(
                nn.initializers.zeros_init(), (None, "heads", "kv")
            ),
            name="qkv",
        )(x)  # (B, S, 3, H, K)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        y = jax.nn.dot_product_attention(q, k, v, implementation=self.implementation)
        return nn.DenseGeneral(
            e,
            axis=(-2, -1),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=nn.with_logical_partitioning(init, ("heads", "kv", "embed")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
            name="out",
        )(y)
