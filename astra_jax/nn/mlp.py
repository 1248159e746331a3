"""SwiGLU feed-forward block: ``down(silu(gate(x)) * up(x))``."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.nn.dense import dense

DType = Any


class SwiGLU(nn.Module):
    """Gated MLP of the Llama/Qwen family (``gate_proj``, ``up_proj``, ``down_proj``).

    ``x``: (..., E) -> (..., E). The hidden width is ``hidden``; kernels are named
    ``(embed_axis, hidden_axis)`` and ``(hidden_axis, embed_axis)``. Qwen2's language model has no biases;
    the Qwen2.5-VL vision tower has them (``use_bias=True``).
    """

    hidden: int
    use_bias: bool = False
    init_std: float = 0.02
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32
    embed_axis: str = "embed"
    hidden_axis: str = "mlp"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kw = dict(
            use_bias=self.use_bias,
            init_std=self.init_std,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )
        into = (self.embed_axis, self.hidden_axis)
        gate = dense(self.hidden, into, name="gate_proj", **kw)(x)
        up = dense(self.hidden, into, name="up_proj", **kw)(x)
        out = (self.hidden_axis, self.embed_axis)
        return dense(x.shape[-1], out, name="down_proj", **kw)(jax.nn.silu(gate) * up)
