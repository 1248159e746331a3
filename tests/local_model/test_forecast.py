"""The 4D module: shapes, copy-forward at initialisation, and the future timestamps'
conditioning (each future depends on its own timestamp, and on nothing else of the others)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.local_model.forecast import ForecastConfig, ForecastModule

CFG = ForecastConfig(past=2, future=3, widths=(8, 16), dit_width=16, num_heads=2, tokens_side=2)
SHAPE = (2, CFG.past + 1, 8, 8, 2, 5)  # B, P+1, X, Y, Z, C


def _perturbed(params, seed: int = 0):
    """Every parameter, zero-initialised ones included, moved off its initial value."""
    rng = np.random.default_rng(seed)  # numpy: a jax draw per shape would compile per shape
    return jax.tree_util.tree_map(
        lambda p: p + np.float32(0.1) * rng.standard_normal(p.shape, np.float32), params
    )


@functools.cache
def _apply(module):
    """One jitted apply per module (params as an argument: no constant folding of weights)."""
    return jax.jit(lambda params, times, past: module.apply({"params": params}, past, times))


@pytest.fixture(scope="module")
def model():
    past = jax.random.normal(jax.random.key(0), SHAPE)
    times = jnp.asarray([[0.5, 1.0, 1.5]] * 2)
    module = ForecastModule(CFG)
    params = jax.jit(module.init)(jax.random.key(1), past, times)["params"]
    return module, jax.tree_util.tree_map(lambda p: p.value, params,
                                          is_leaf=lambda p: hasattr(p, "value")), past  # fmt: skip


def test_shapes_and_copy_forward_at_init(model):
    module, params, past = model
    out = _apply(module)(params, jnp.asarray([[0.5, 1.0, 1.5]] * 2), past)
    assert out.shape == (2, 3, 8, 8, 2, 5) and out.dtype == jnp.float32
    # the zero-initialised head: every future starts as the current frame
    np.testing.assert_array_equal(out, jnp.broadcast_to(past[:, -1:], out.shape))
    assert {"dit0", "dit1", "down0", "down1", "lateral0", "smooth1", "head"} <= set(params)
    # any number of futures with the same weights
    two = jax.eval_shape(module.apply, {"params": params}, past, jnp.ones((2, 5)))
    assert two.shape == (2, 5, 8, 8, 2, 5)


def test_each_future_follows_its_own_timestamp(model):
    module, params, past = model
    trained = _perturbed(params)
    apply = _apply(module)
    f = lambda t: apply(trained, t, past)  # noqa: E731
    times = jnp.asarray([[0.5, 1.0, 1.5], [0.5, 1.0, 1.5]])
    out = np.asarray(f(times))
    assert np.abs(out[:, 0] - out[:, 2]).max() > 1e-3  # different times, different futures
    # permuting the timestamps permutes the futures: a future depends on its time only
    swapped = np.asarray(f(times[:, ::-1]))
    np.testing.assert_allclose(swapped, out[:, ::-1], atol=1e-5)
    # changing one future's time changes that future and leaves the others
    moved = np.asarray(f(times.at[:, 1].set(1.2)))
    np.testing.assert_allclose(moved[:, [0, 2]], out[:, [0, 2]], atol=1e-5)
    assert np.abs(moved[:, 1] - out[:, 1]).max() > 1e-4
    # and the examples of a batch stay apart
    other = np.asarray(f(times.at[1].set(jnp.asarray([2.0, 2.0, 2.0]))))
    np.testing.assert_allclose(other[0], out[0], atol=1e-5)


def test_bad_inputs_are_named(model):
    module, params, past = model
    with pytest.raises(ValueError, match="input frames"):
        jax.eval_shape(module.apply, {"params": params}, past[:, 1:], jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="future_times"):
        jax.eval_shape(module.apply, {"params": params}, past, jnp.ones((3,)))
    with pytest.raises(ValueError, match="token patches"):
        CFG.check_grid(10, 16)
    with pytest.raises(ValueError, match="widths"):
        ForecastConfig(widths=())
    assert ForecastConfig().future_times() == (0.5, 1.0, 1.5, 2.0)
