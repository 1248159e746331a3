"""Shared layers used by Astra-Global: RoPE variants, RMSNorm, SwiGLU, GQA with a KV cache."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.nn.gqa_attention import GQAttention
from astra_jax.nn.mlp import SwiGLU
from astra_jax.nn.rmsnorm import RMSNorm
from astra_jax.nn.rope import apply_rope, axial_rope_cos_sin, mrope_cos_sin, rope_cos_sin


def test_mrope_with_equal_ids_is_plain_rope():
    pos = jnp.arange(12).reshape(1, 12)
    cos1, sin1 = rope_cos_sin(pos, 16, 1e6)
    cos3, sin3 = mrope_cos_sin(jnp.broadcast_to(pos, (3, 1, 12)), 16, 1e6, (2, 3, 3))
    np.testing.assert_array_equal(cos1, cos3)
    np.testing.assert_array_equal(sin1, sin3)


def test_mrope_sections_pick_their_axis():
    pos = jnp.stack([jnp.full((1, 1), 5), jnp.full((1, 1), 7), jnp.full((1, 1), 11)])
    cos, _ = mrope_cos_sin(pos, 16, 1e4, (2, 3, 3))
    ref = [np.asarray(rope_cos_sin(jnp.full((1, 1), p), 16, 1e4)[0]) for p in (5, 7, 11)]
    axis = [0, 0, 1, 1, 1, 2, 2, 2] * 2
    np.testing.assert_allclose(cos[0, 0], [ref[a][0, 0, i] for i, a in enumerate(axis)])


def test_rope_scores_depend_on_relative_position_only():
    rng = np.random.default_rng(0)
    q, k = (jnp.asarray(rng.standard_normal((1, 1, 1, 8)), jnp.float32) for _ in range(2))

    def score(m, n):
        cq, sq = rope_cos_sin(jnp.array([[m]]), 8, 1e4)
        ck, sk = rope_cos_sin(jnp.array([[n]]), 8, 1e4)
        return float(jnp.sum(apply_rope(q, cq, sq) * apply_rope(k, ck, sk)))

    assert abs(score(3, 1) - score(10, 8)) < 1e-5
    assert abs(score(3, 1) - score(3, 2)) > 1e-3
    hw = jnp.array([[2, 3], [4, 1]])
    cos, sin = axial_rope_cos_sin(hw, 8, 1e4)
    np.testing.assert_allclose(cos**2 + sin**2, 1.0, atol=1e-6)


def test_rmsnorm_formula_and_dtype():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 8)), jnp.float32)
    norm = RMSNorm(eps=1e-6)
    params = norm.init(jax.random.key(0), x)
    ref = x / np.sqrt(np.mean(np.square(x), -1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(norm.apply(params, x), ref, rtol=1e-5)
    assert norm.apply(params, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_swiglu_matches_formula():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 6)), jnp.float32)
    mlp = SwiGLU(10, use_bias=True, init_std=0.5)
    p = nn.meta.unbox(mlp.init(jax.random.key(0), x)["params"])
    p = jax.tree.map(lambda a: a + 0.1, p)  # non-zero biases
    g, u, d = (p[n] for n in ("gate_proj", "up_proj", "down_proj"))
    h = jax.nn.silu(x @ g["kernel"] + g["bias"]) * (x @ u["kernel"] + u["bias"])
    np.testing.assert_allclose(mlp.apply({"params": p}, x), h @ d["kernel"] + d["bias"], atol=1e-5)


def test_gqa_cache_matches_full_attention():
    """Prefill 5 tokens into a cache, decode 1: same output as 6 tokens at once."""
    b, s, e, h, kvh, d = 2, 6, 32, 4, 2, 8
    attn = GQAttention(h, kvh, d, init_std=0.3)
    x = jnp.asarray(np.random.default_rng(2).standard_normal((b, s, e)), jnp.float32)
    cos, sin = rope_cos_sin(jnp.broadcast_to(jnp.arange(s), (b, s)), d, 1e4)
    causal = jnp.tril(jnp.ones((s, s), bool))[None, None].repeat(b, 0)
    params = attn.init(jax.random.key(0), x, cos, sin, causal)
    full, _ = attn.apply(params, x, cos, sin, causal)

    t = 8
    cache = (jnp.zeros((b, t, kvh, d)), jnp.zeros((b, t, kvh, d)))
    slots = jnp.arange(t)
    mask5 = (slots[None, :] <= jnp.arange(5)[:, None])[None, None].repeat(b, 0)
    out5, cache = attn.apply(params, x[:, :5], cos[:, :5], sin[:, :5], mask5, cache, 0)
    mask1 = (slots <= 5)[None, None, None].repeat(b, 0)
    out1, cache = attn.apply(params, x[:, 5:], cos[:, 5:], sin[:, 5:], mask1, cache, 5)
    np.testing.assert_allclose(jnp.concatenate([out5, out1], 1), full, atol=1e-5)
    assert (cache[0][:, 6:] == 0).all()  # untouched slots stay empty
