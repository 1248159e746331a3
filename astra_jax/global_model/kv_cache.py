"""Static-shape key/value cache for batched decoding with left padding.

Every row of a batch shares the same slot index: prompts are left-padded to one length S, the
prefill writes slots [0, S), and decode step i writes slot S + i for all rows. Padding slots
stay in the cache but are marked invalid in ``key_valid``, so no query attends to them.

M-RoPE positions are not slot indices: an image of h x w merged tokens advances the text
position by max(h, w) only, and left padding shifts the slots. ``next_position`` therefore
keeps, per row, the position id of the next token (one past the largest id so far); a text
token's temporal, height and width ids are all equal to it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from astra_jax.global_model.config import TextConfig


@struct.dataclass
class KVCache:
    """Keys/values of every layer for ``max_len`` slots.

    k, v: one (B, max_len, num_kv_heads, head_dim) array per layer, or for a model with
    ``scan_layers`` one stacked (layers, B, max_len, num_kv_heads, head_dim) array; either way
    ``k[i]`` is layer i's keys.
    key_valid: (B, max_len) bool, True for slots holding a real (non-padding) token.
    length: () int32, slots written so far (the same for every row).
    next_position: (B,) int32, M-RoPE position id of each row's next token.
    """

    k: tuple[jax.Array, ...] | jax.Array
    v: tuple[jax.Array, ...] | jax.Array
    key_valid: jax.Array
    length: jax.Array
    next_position: jax.Array

    @classmethod
    def zeros(
        cls,
        config: TextConfig,
        batch_size: int,
        max_len: int,
        dtype: jnp.dtype = jnp.float32,
        stacked: bool = False,
    ) -> KVCache:
        """An empty cache of ``max_len`` slots per row; ``stacked`` for a scanned model."""
        if batch_size <= 0 or max_len <= 0:
            raise ValueError(
                f"KV cache of batch {batch_size} x {max_len} slots: expected positive sizes"
            )
        shape = (batch_size, max_len, config.num_kv_heads, config.head_dim)
        layers = config.num_layers
        if stacked:
            k = v = jnp.zeros((layers, *shape), dtype)
        else:
            k = v = tuple(jnp.zeros(shape, dtype) for _ in range(layers))
        return cls(
            k=k,
            v=v,
            key_valid=jnp.zeros((batch_size, max_len), jnp.bool_),
            length=jnp.zeros((), jnp.int32),
            next_position=jnp.zeros((batch_size,), jnp.int32),
        )

    @property
    def max_len(self) -> int:
        return int(self.key_valid.shape[1])

    @property
    def batch_size(self) -> int:
        return int(self.key_valid.shape[0])
