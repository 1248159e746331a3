"""Grouped-query self-attention with rotary embeddings and an optional static-shape KV cache."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.nn.dense import dense
from astra_jax.nn.rope import apply_rope

DType = Any


class GQAttention(nn.Module):
    """Self-attention with ``num_heads`` query heads sharing ``num_kv_heads`` key/value heads.

    Projections are named as in Hugging Face Qwen2 (``q_proj``, ``k_proj``, ``v_proj``,
    ``o_proj``); ``qkv_bias`` adds biases to the first three (Qwen2 has them, ``o_proj`` never).
    The attention itself is ``jax.nn.dot_product_attention`` (cuDNN flash attention on GPU when
    ``implementation="cudnn"``), which handles the head grouping without repeating K/V.

    Call with:
      x: (B, S, E) inputs.
      cos, sin: (B, S, D) rotary tables for these S tokens (see ``astra_jax.nn.rope``).
      mask: (B, 1, S, T) bool, True where query s may attend to key slot t. T is S without a
        cache and the cache length with one.
      cache: None, or ``(k, v)`` each (B, T, num_kv_heads, D); the S new keys/values are written
        at slots ``[cache_index, cache_index + S)`` before attending.
      cache_index: int32 scalar, the first slot to write.
    Returns (B, S, E) and the updated ``(k, v)`` (None without a cache).
    """

    num_heads: int
    num_kv_heads: int
    head_dim: int
    qkv_bias: bool = True
    init_std: float = 0.02
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32
    implementation: str | None = None  # None/"xla" or "cudnn"

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        mask: jax.Array,
        cache: tuple[jax.Array, jax.Array] | None = None,
        cache_index: jax.Array | int = 0,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        b, s, e = x.shape
        h, kvh, d = self.num_heads, self.num_kv_heads, self.head_dim
        kw = dict(init_std=self.init_std, dtype=self.dtype, param_dtype=self.param_dtype)
        q = dense(h * d, ("embed", "q_heads"), use_bias=self.qkv_bias, name="q_proj", **kw)(x)
        k = dense(kvh * d, ("embed", "kv_heads"), use_bias=self.qkv_bias, name="k_proj", **kw)(x)
        v = dense(kvh * d, ("embed", "kv_heads"), use_bias=self.qkv_bias, name="v_proj", **kw)(x)
        q = apply_rope(q.reshape(b, s, h, d), cos, sin)
        k = apply_rope(k.reshape(b, s, kvh, d), cos, sin)
        v = v.reshape(b, s, kvh, d)

        new_cache = None
        if cache is not None:
            k_cache, v_cache = cache
            start = (0, cache_index, 0, 0)
            k = jax.lax.dynamic_update_slice(k_cache, k.astype(k_cache.dtype), start)
            v = jax.lax.dynamic_update_slice(v_cache, v.astype(v_cache.dtype), start)
            new_cache = (k, v)
            k, v = k.astype(q.dtype), v.astype(q.dtype)

        out = jax.nn.dot_product_attention(q, k, v, mask=mask, implementation=self.implementation)
        out = dense(e, ("q_heads", "embed"), use_bias=False, name="o_proj", **kw)(
            out.reshape(b, s, h * d)
        )
        return out, new_cache
