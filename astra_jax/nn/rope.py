"""Rotary position embeddings: 1-D, multimodal (M-RoPE, Qwen2-VL) and axial 2-D (vision).

All variants use the "rotate half" layout of GPT-NeoX / Hugging Face: a head vector of size D
is split into halves ``(x1, x2)`` and rotated as ``x * cos + (-x2, x1) * sin``, with
``cos``/``sin`` of size D made of the D/2 angles repeated twice. Angles are computed in float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def inverse_frequencies(dim: int, theta: float) -> jax.Array:
    """``1 / theta^(2i/dim)`` for i in [0, dim/2): (dim/2,) float32."""
    if dim % 2:
        raise ValueError(f"rotary dim = {dim}: expected an even number")
    exponents = jnp.arange(0, dim, 2, dtype=jnp.float32) / dim
    return 1.0 / (jnp.float32(theta) ** exponents)


def rotate_half(x: jax.Array) -> jax.Array:
    """``(x1, x2) -> (-x2, x1)`` over the last axis."""
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate ``x`` (..., S, H, D) by angles ``cos``/``sin`` (..., S, D), shared by the H heads.

    Computed in float32 and cast back to ``x.dtype``.
    """
    x32 = x.astype(jnp.float32)
    cos = cos[..., None, :].astype(jnp.float32)
    sin = sin[..., None, :].astype(jnp.float32)
    return (x32 * cos + rotate_half(x32) * sin).astype(x.dtype)


def rope_cos_sin(positions: jax.Array, dim: int, theta: float) -> tuple[jax.Array, jax.Array]:
    """Plain 1-D RoPE tables: ``positions`` (...,) -> cos, sin (..., dim)."""
    freqs = positions[..., None].astype(jnp.float32) * inverse_frequencies(dim, theta)
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


def mrope_cos_sin(
    positions: jax.Array, dim: int, theta: float, sections: Sequence[int]
) -> tuple[jax.Array, jax.Array]:
    """Multimodal RoPE (Qwen2-VL): ``positions`` (3, B, S) holds temporal, height and width ids.

    The D/2 frequencies are cut into ``sections`` (t, h, w), e.g. (16, 24, 24) for D = 128:
    the first ``sections[0]`` frequencies rotate by the temporal id, the next ``sections[1]`` by
    the height id and the last ``sections[2]`` by the width id. For text tokens the three ids
    are equal and M-RoPE reduces to 1-D RoPE. Returns cos, sin (B, S, D).
    """
    if len(sections) != 3 or sum(sections) != dim // 2:
        raise ValueError(
            f"mrope sections {tuple(sections)}: expected 3 sizes summing to {dim // 2}"
        )
    freqs = positions[..., None].astype(jnp.float32) * inverse_frequencies(
        dim, theta
    )  # (3,B,S,D/2)
    axis_of_freq = np.repeat(np.arange(3), sections)  # which of t/h/w drives each frequency
    picked = jnp.where(
        axis_of_freq == 0, freqs[0], jnp.where(axis_of_freq == 1, freqs[1], freqs[2])
    )
    emb = jnp.concatenate([picked, picked], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


def axial_rope_cos_sin(
    hw_positions: jax.Array, dim: int, theta: float
) -> tuple[jax.Array, jax.Array]:
    """Axial 2-D RoPE of the Qwen2.5-VL vision tower: ``hw_positions`` (N, 2) row/column ids.

    The frequencies come from a rotary dim of D/2 (D/4 of them); the row angles fill the first
    D/4 slots and the column angles the next D/4, and the D/2 angles repeat twice.
    Returns cos, sin (N, D).
    """
    if dim % 4:
        raise ValueError(f"axial rotary dim = {dim}: expected a multiple of 4")
    inv = inverse_frequencies(dim // 2, theta)  # (D/4,)
    freqs = hw_positions[..., None].astype(jnp.float32) * inv  # (N, 2, D/4)
    hw = freqs.reshape(*freqs.shape[:-2], dim // 2)  # rows then columns
    emb = jnp.concatenate([hw, hw], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)
