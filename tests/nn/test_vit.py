"""The ViT and its self-attention: shapes, conditioning, attention math, partitioning names."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.config import ViTConfig
from astra_jax.nn.attention import SelfAttention
from astra_jax.nn.vit import ViT

CFG = ViTConfig(patch_size=8, width=32, depth=2, num_heads=4)


@pytest.fixture(scope="module")
def vit_and_params():
    vit = ViT(CFG)
    images = jax.random.normal(jax.random.key(0), (2, 24, 32, 3))
    return vit, vit.init(jax.random.key(1), images, jnp.zeros((2, 32))), images


def test_vit_shapes_and_conditioning(vit_and_params) -> None:
    vit, params, images = vit_and_params
    out = jax.jit(vit.apply)(params, images, None)
    assert out.shape == (2, 3, 4, 32) and out.dtype == jnp.float32
    zero = vit.apply(params, images, jnp.zeros((2, 32)))
    np.testing.assert_allclose(np.asarray(out), np.asarray(zero), atol=1e-6)
    # (A constant vector would be invisible: every LayerNorm removes a shift of all channels.)
    cond = jnp.stack([jnp.zeros(32), jax.random.normal(jax.random.key(7), (32,))])
    shifted = vit.apply(params, images, cond)
    assert np.allclose(shifted[0], out[0], atol=1e-6)  # image 0 got zero conditioning
    assert not np.allclose(shifted[1], out[1], atol=1e-3)


def test_vit_parameter_count_and_axis_names(vit_and_params) -> None:
    _, params, _ = vit_and_params
    leaves = jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert all(isinstance(x, nn.LogicallyPartitioned) for x in leaves)
    e, m, n_tok = CFG.width, CFG.width * CFG.mlp_ratio, 12
    block = 4 * e + (3 * e * e + 3 * e) + (e * e + e) + (e * m + m) + (m * e + e)
    expected = (8 * 8 * 3 * e + e) + n_tok * e + CFG.depth * block + 2 * e
    assert sum(np.prod(x.value.shape) for x in leaves) == expected


def test_patch_size_must_divide_image() -> None:
    with pytest.raises(ValueError, match="not divisible by the patch size 8"):
        ViT(CFG).init(jax.random.key(0), jnp.zeros((1, 20, 16, 3)))


def test_self_attention_matches_manual_softmax() -> None:
    attn = SelfAttention(num_heads=2)
    x = jax.random.normal(jax.random.key(2), (2, 5, 8))
    params = nn.unbox(attn.init(jax.random.key(3), x))["params"]
    w, b = params["qkv"]["kernel"], params["qkv"]["bias"]  # (8, 24), (24,): 2-D, as in nn/
    assert w.shape == (8, 24) and b.shape == (24,) and params["out"]["kernel"].shape == (8, 8)
    w, b = w.reshape(8, 3, 2, 4), b.reshape(3, 2, 4)  # (embed, q/k/v, heads, head_dim)
    qkv = jnp.einsum("bse,ethk->bsthk", x, w) + b
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    logits = jnp.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(4.0)
    y = jnp.einsum("bhqs,bshk->bqhk", jax.nn.softmax(logits, -1), v)
    out = params["out"]["kernel"].reshape(2, 4, 8)
    want = jnp.einsum("bqhk,hke->bqe", y, out) + params["out"]["bias"]
    got = attn.apply({"params": params}, x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_self_attention_is_permutation_equivariant() -> None:
    attn = SelfAttention(num_heads=2)
    x = jax.random.normal(jax.random.key(4), (1, 6, 8))
    params = attn.init(jax.random.key(5), x)
    perm = np.array([3, 0, 5, 1, 4, 2])
    np.testing.assert_allclose(
        np.asarray(attn.apply(params, x[:, perm])),
        np.asarray(attn.apply(params, x)[:, perm]),
        rtol=1e-5,
        atol=1e-5,
    )
