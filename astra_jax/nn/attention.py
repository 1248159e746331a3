"""Bidirectional multi-head self-attention and cross-attention for transformers."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

DType = Any


class SelfAttention(nn.Module):
    """Multi-head self-attention over all tokens (no mask, no positions: the caller adds them).

    Two 2-D projections, as everywhere in ``nn/``: ``qkv`` (E, 3E) with kernel axes
    ``(embed, qkv)`` whose output splits into (3, heads, head_dim), and ``out`` (E, E) with axes
    ``(heads, embed)``. The attention is ``jax.nn.dot_product_attention`` (XLA by default;
    ``implementation="cudnn"`` selects cuDNN's fused kernel on GPUs).

    Call with ``x`` (B, S, E) and optionally ``key_valid`` (B, S) bool (each row with at least
    one True): masked keys get exactly zero attention weight. Returns (B, S, E).
    """

    num_heads: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32
    implementation: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, key_valid: jax.Array | None = None) -> jax.Array:
        b, s, e = x.shape
        if e % self.num_heads:
            raise ValueError(f"SelfAttention: width {e} is not divisible by {self.num_heads} heads")
        if key_valid is not None and key_valid.shape != (b, s):
            raise ValueError(
                f"SelfAttention: key_valid shape {key_valid.shape}: expected ({b}, {s})"
            )
        head_dim = e // self.num_heads
        init = nn.initializers.lecun_normal()
        zeros = nn.initializers.zeros_init()
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        qkv = nn.Dense(
            3 * e,
            kernel_init=nn.with_logical_partitioning(init, ("embed", "qkv")),
            bias_init=nn.with_logical_partitioning(zeros, ("qkv",)),
            name="qkv",
            **kw,
        )(x).reshape(b, s, 3, self.num_heads, head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        mask = None if key_valid is None else key_valid.astype(bool)[:, None, None, :]
        y = jax.nn.dot_product_attention(q, k, v, mask=mask, implementation=self.implementation)
        return nn.Dense(
            e,
            kernel_init=nn.with_logical_partitioning(init, ("heads", "embed")),
            bias_init=nn.with_logical_partitioning(zeros, ("embed",)),
            name="out",
            **kw,
        )(y.reshape(b, s, e))


class CrossAttention(nn.Module):
    """Multi-head cross-attention: queries from ``x``, keys and values from ``context``.

    Four 2-D projections with the names ``nn/`` uses for attention: ``q``, ``k``, ``v``
    (E_in, E) with kernel axes ``(embed, heads)`` and ``out`` (E, E) with ``(heads, embed)``,
    so tensor parallelism splits the heads as in :class:`SelfAttention`. Keys and values are
    separate kernels (not one fused ``kv``) because the context is a different sequence from
    the queries; a caller that re-runs the queries many times against a fixed context (the
    flow-matching decoder) pays the context projection once per call.

    Call with ``x`` (B, S, E) and ``context`` (B, L, Ec); returns (B, S, E). No mask: every
    query sees every context token.
    """

    num_heads: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32
    implementation: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array) -> jax.Array:
        b, s, e = x.shape
        if context.ndim != 3 or context.shape[0] != b:
            raise ValueError(
                f"CrossAttention: context shape {context.shape}: expected ({b}, L, Ec) for "
                f"queries of shape {x.shape}"
            )
        if e % self.num_heads:
            raise ValueError(
                f"CrossAttention: width {e} is not divisible by {self.num_heads} heads"
            )
        head_dim = e // self.num_heads
        init = nn.initializers.lecun_normal()
        zeros = nn.initializers.zeros_init()
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)

        def proj(name: str, axes: tuple[str, str]) -> nn.Dense:
            return nn.Dense(
                e,
                kernel_init=nn.with_logical_partitioning(init, axes),
                bias_init=nn.with_logical_partitioning(zeros, (axes[1],)),
                name=name,
                **kw,
            )

        n_ctx = context.shape[1]
        q = proj("q", ("embed", "heads"))(x).reshape(b, s, self.num_heads, head_dim)
        k = proj("k", ("embed", "heads"))(context).reshape(b, n_ctx, self.num_heads, head_dim)
        v = proj("v", ("embed", "heads"))(context).reshape(b, n_ctx, self.num_heads, head_dim)
        y = jax.nn.dot_product_attention(q, k, v, implementation=self.implementation)
        return proj("out", ("heads", "embed"))(y.reshape(b, s, e))
