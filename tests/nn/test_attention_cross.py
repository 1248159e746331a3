"""CrossAttention: with the context equal to the queries and SelfAttention's weights it is
SelfAttention; each query attends to the context independently of the other queries."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.nn.attention import CrossAttention, SelfAttention

E, HEADS = 16, 4


def _x(shape, seed):
    return jax.random.normal(jax.random.key(seed), shape)


def test_cross_attention_to_itself_is_self_attention() -> None:
    x = _x((2, 5, E), 0)
    self_params = nn.unbox(SelfAttention(HEADS).init(jax.random.key(1), x)["params"])
    qkv = self_params["qkv"]
    # SelfAttention's fused output splits as (3, heads, head_dim): q, k, v are thirds of it
    cross_params = {
        name: {
            "kernel": qkv["kernel"][:, i * E : (i + 1) * E],
            "bias": qkv["bias"][i * E : (i + 1) * E],
        }
        for i, name in enumerate(("q", "k", "v"))
    }
    cross_params["out"] = self_params["out"]
    want = SelfAttention(HEADS).apply({"params": self_params}, x)
    got = CrossAttention(HEADS).apply({"params": cross_params}, x, x)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_queries_are_independent_and_context_length_is_free() -> None:
    x, ctx = _x((2, 6, E), 2), _x((2, 11, E), 3)
    module = CrossAttention(HEADS)
    params = module.init(jax.random.key(4), x, ctx)
    y = module.apply(params, x, ctx)
    assert y.shape == (2, 6, E)
    # one query alone gets the same answer as among the others
    np.testing.assert_allclose(module.apply(params, x[:, 2:3], ctx), y[:, 2:3], atol=1e-5)
    # and the answer depends on the context
    assert np.abs(np.asarray(module.apply(params, x, ctx + 1.0) - y)).max() > 1e-3
    boxed = jax.tree.leaves(params, is_leaf=lambda a: isinstance(a, nn.LogicallyPartitioned))
    assert {n for b in boxed for n in b.names} == {"embed", "heads"}


def test_bad_shapes_raise() -> None:
    module = CrossAttention(HEADS)
    with pytest.raises(ValueError, match=r"context shape \(3, 4, 16\): expected \(2, L, Ec\)"):
        module.init(jax.random.key(0), jnp.zeros((2, 5, E)), jnp.zeros((3, 4, E)))
    with pytest.raises(ValueError, match="width 18 is not divisible by 4 heads"):
        module.init(jax.random.key(0), jnp.zeros((2, 5, 18)), jnp.zeros((2, 4, 18)))
