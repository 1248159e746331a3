"""Root-mean-square layer norm (T5 / Llama / Qwen style: no mean subtraction, no bias)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

DType = Any


class RMSNorm(nn.Module):
    """``y = scale * x / sqrt(mean(x^2) + eps)`` over the last axis.

    The statistics are computed in float32 whatever the input dtype; the normalised value is
    cast back to the input dtype before the scale multiplies it (Hugging Face's order, which
    matters in bfloat16). ``scale`` starts at ones and is named ``axis_name`` for sharding.
    """

    eps: float = 1e-6
    param_dtype: DType = jnp.float32
    axis_name: str = "norm"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param(
            "scale",
            nn.with_logical_partitioning(nn.initializers.ones_init(), (self.axis_name,)),
            (x.shape[-1],),
            self.param_dtype,
        )
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + self.eps)
        return jnp.asarray(scale, x.dtype) * normed.astype(x.dtype)
