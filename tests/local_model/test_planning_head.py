"""Planning head: shapes per preset, the extra-channel slot, the sample axis, clear errors."""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.config import ConfigError
from astra_jax.local_model.planning_head import PlanningHead, PlanningHeadConfig, sincos_2d
from astra_jax.nn.axes import LOGICAL_AXES

SMALL = dict(
    num_waypoints=3,
    bev_shape=(8, 8, 6),
    bev_resolution=0.5,
    token_patch=2,
    width=32,
    encoder_depth=1,
    decoder_depth=1,
    num_heads=2,
    mlp_ratio=2,
)


def _inputs(cfg: PlanningHeadConfig, batch: int = 2, seed: int = 0) -> dict[str, jax.Array]:
    spec = cfg.inputs_spec(batch)
    keys = jax.random.split(jax.random.key(seed), len(spec))
    out = {k: jax.random.normal(r, v.shape, v.dtype) for r, (k, v) in zip(keys, spec.items())}
    out["t"] = jax.random.uniform(keys[-1], (batch,))
    return out


def _live(params, seed: int = 1):
    """Parameters with a non-zero output layer (it starts at zero, so v = 0 everywhere)."""
    params = nn.unbox(params)
    noise = jax.random.normal(jax.random.key(seed), (params["decoder"]["head_out"]["kernel"].shape))
    params["decoder"]["head_out"]["kernel"] = 0.3 * noise
    return params


@dataclasses.dataclass(frozen=True)
class Head:
    """One small head, its parameters and jitted calls, shared by the tests of this file so
    that each call compiles once."""

    cfg: PlanningHeadConfig
    head: PlanningHead
    params: dict  # unboxed, with a live (non-zero) output layer
    zero_params: dict  # unboxed, as initialised
    x: dict  # inputs for batch 2

    def call(self, params: dict, **x: jax.Array) -> jax.Array:
        return _CALL(self.head, params, x)

    def encode(self, params: dict, x: dict) -> jax.Array:
        return _ENCODE(self.head, params, x["bev"], x["subgoal"], x["velocity"])

    def field(self, params: dict, cond: jax.Array, x_t: jax.Array, t: jax.Array) -> jax.Array:
        return _FIELD(self.head, params, cond, x_t, t)


@functools.partial(jax.jit, static_argnums=0)
def _CALL(head, params, x):
    return head.apply({"params": params}, **x)


@functools.partial(jax.jit, static_argnums=0)
def _ENCODE(head, params, *a):
    return head.apply({"params": params}, *a, method=PlanningHead.encode)


@functools.partial(jax.jit, static_argnums=0)
def _FIELD(head, params, *a):
    return head.apply({"params": params}, *a, method=PlanningHead.velocity_field)


@pytest.fixture(scope="module")
def small_head() -> Head:
    cfg = PlanningHeadConfig(**SMALL)
    head, params = cfg.create(jax.random.key(0))
    return Head(cfg, head, _live(params), nn.unbox(params), _inputs(cfg))


def _raises_at_trace(h: Head, **x: jax.Array) -> None:
    """Trace (no compile) the head on ``x``: shape errors surface here."""
    jax.eval_shape(lambda p, x: h.head.apply({"params": p}, **x), h.zero_params, x)


@pytest.mark.parametrize(
    ("preset", "tokens", "waypoints", "bev"),
    [
        ("tiny", 64, 4, (16, 16, 32)),
        ("small", 256, 8, (64, 64, 256)),
        ("base", 1024, 8, (128, 128, 8, 128)),  # voxels, folded to (128, 128, 1024)
    ],
)
def test_preset_shapes(preset, tokens, waypoints, bev) -> None:
    cfg = PlanningHeadConfig.for_preset(preset)
    assert cfg.num_condition_tokens == tokens + 2
    assert cfg.action_shape == (waypoints, 3) and cfg.waypoint_interval == 0.5
    head = cfg.module()
    b = 2
    args = (
        jax.ShapeDtypeStruct((b, *bev), jnp.float32),
        jax.ShapeDtypeStruct((b, 2), jnp.float32),
        jax.ShapeDtypeStruct((b, 2), jnp.float32),
    )
    x_t = jax.ShapeDtypeStruct((b, waypoints, 3), jnp.float32)
    t = jax.ShapeDtypeStruct((b,), jnp.float32)
    params = jax.eval_shape(
        lambda r, *a: head.init(r, *a)["params"], jax.random.key(0), *args, x_t, t
    )
    cond = jax.eval_shape(
        lambda p, *a: head.apply({"params": p}, *a, method=PlanningHead.encode), params, *args
    )
    assert cond.shape == (b, tokens + 2, cfg.width)
    v = jax.eval_shape(lambda p, *a: head.apply({"params": p}, *a), params, *args, x_t, t)
    assert v.shape == (b, waypoints, 3) and v.dtype == jnp.float32
    # every parameter is boxed with names from the shared vocabulary
    leaves = jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert all(isinstance(x, nn.LogicallyPartitioned) for x in leaves)
    assert {n for x in leaves for n in x.names} <= set(LOGICAL_AXES)
    assert {"encoder", "decoder"} == set(params)


def test_forward_is_finite_and_depends_on_every_input(small_head) -> None:
    h = small_head
    v = h.call(h.params, **h.x)
    assert v.shape == (2, 3, 3) and np.all(np.isfinite(np.asarray(v)))
    for i, name in enumerate(("bev", "subgoal", "velocity", "x_t", "t")):
        changed = dict(h.x, **{name: h.x[name] + 0.5 * _inputs(h.cfg, seed=i + 1)[name]})
        dv = np.abs(np.asarray(h.call(h.params, **changed) - v)).max()
        assert dv > 1e-4, f"v does not depend on {name}"


def test_zero_initialised_output(small_head) -> None:
    """The action head starts at zero, so an untrained field is v = 0 (loss = E|x1 - x0|^2)."""
    h = small_head
    np.testing.assert_array_equal(np.asarray(h.call(h.zero_params, **h.x)), 0.0)


def test_encode_then_field_equals_call(small_head) -> None:
    h = small_head
    cond = h.encode(h.params, h.x)
    assert cond.shape == (2, h.cfg.num_condition_tokens, h.cfg.width)
    v = h.field(h.params, cond, h.x["x_t"], h.x["t"])
    np.testing.assert_allclose(v, h.call(h.params, **h.x), atol=1e-5)


def test_sample_axis_shares_the_condition_without_mixing(small_head) -> None:
    """x_t (B, S, n, 3): each of the S samples gets exactly the field it would get alone."""
    h = small_head
    cond = h.encode(h.params, h.x)
    xs = jax.random.normal(jax.random.key(3), (2, 4, 3, 3))
    together = h.field(h.params, cond, xs, h.x["t"])
    assert together.shape == (2, 4, 3, 3)
    for s in range(4):
        alone = h.field(h.params, cond, xs[:, s], h.x["t"])
        np.testing.assert_allclose(together[:, s], alone, atol=1e-5)


def test_extra_channel_slot() -> None:
    cfg = PlanningHeadConfig(**SMALL, extra_channels=2)
    assert cfg.inputs_spec(1)["extra"].shape == (1, 8, 8, 2)
    head, params = cfg.create(jax.random.key(0))
    h = Head(cfg, head, _live(params), nn.unbox(params), _inputs(cfg))
    assert "extra_conv0" in h.params["encoder"]
    v = h.call(h.params, **h.x)
    moved = h.call(h.params, **dict(h.x, extra=h.x["extra"] + _inputs(cfg, seed=5)["extra"]))
    assert np.abs(np.asarray(moved - v)).max() > 1e-4, "the extra channels are ignored"
    with pytest.raises(ValueError, match=r"extra shape None: expected \(2, 8, 8, 2\)"):
        _raises_at_trace(h, **{k: a for k, a in h.x.items() if k != "extra"})
    with pytest.raises(ValueError, match=r"extra shape \(2, 8, 8, 1\)"):
        _raises_at_trace(h, **dict(h.x, extra=h.x["extra"][..., :1]))


def test_extra_without_slot_raises(small_head) -> None:
    with pytest.raises(ValueError, match="extra given but extra_channels = 0"):
        _raises_at_trace(small_head, **small_head.x, extra=jnp.zeros((2, 8, 8, 1)))


@pytest.mark.parametrize(
    ("name", "shape", "match"),
    [
        ("bev", (2, 8, 4, 6), r"bev shape \(2, 8, 4, 6\): expected \(B, 8, 8, 6\)"),
        ("bev", (2, 8, 8), r"bev shape \(2, 8, 8\): expected \(B, X, Y, C\)"),
        ("subgoal", (2, 3), r"subgoal shape \(2, 3\): expected \(2, 2\)"),
        ("velocity", (1, 2), r"velocity shape \(1, 2\): expected \(2, 2\)"),
        ("x_t", (2, 4, 3), r"x_t shape \(2, 4, 3\): expected \(2, n, 3\)"),
        ("t", (3,), r"t shape \(3,\): expected \(\) or \(2,\)"),
    ],
)
def test_bad_shapes_raise(small_head, name, shape, match) -> None:
    with pytest.raises(ValueError, match=match):
        _raises_at_trace(small_head, **dict(small_head.x, **{name: jnp.zeros(shape)}))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (dict(token_patch=3), r"token_patch = 3: expected a divisor of X = 8 and Y = 8"),
        (dict(num_heads=3), r"num_heads = 3: expected a divisor of width = 32"),
        (dict(width=30, num_heads=3), r"width = 30: expected a multiple of 4"),
        (dict(bev_shape=(8, 8)), r"bev_shape = \(8, 8\): expected \(X, Y, C\)"),
        (dict(action_scale=(0.5, 0.1)), r"action_scale = \(0.5, 0.1\): expected a tuple of 3"),
        (dict(waypoint_interval=0.0), r"waypoint_interval = 0.0: expected a positive number"),
        (dict(extra_channels=-1), r"extra_channels = -1: expected a non-negative integer"),
        (dict(dtype="float64"), r"dtype = 'float64': expected one of float32"),
    ],
)
def test_bad_config_raises(override, match) -> None:
    with pytest.raises(ConfigError, match=match):
        PlanningHeadConfig(**dict(SMALL, **override))


def test_normalisation_round_trip_and_defaults() -> None:
    cfg = PlanningHeadConfig.for_preset("small")
    # full speed for one 0.5 s step is 1 normalised unit; lateral a quarter; half-rate turn 1
    assert cfg.action_scale == pytest.approx((0.5, 0.125, 0.375))
    assert cfg.velocity_scale == pytest.approx((1.0, 1.5))
    d = jnp.asarray([[0.5, 0.125, 0.375], [0.25, -0.25, 0.0]])
    np.testing.assert_allclose(cfg.normalize_action(d)[0], 1.0)
    np.testing.assert_allclose(cfg.denormalize_action(cfg.normalize_action(d)), d, rtol=1e-6)
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        PlanningHeadConfig.for_preset("huge")


def test_sincos_2d_is_unique_per_token() -> None:
    e = sincos_2d(4, 3, 16)
    assert e.shape == (12, 16)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    assert np.all(d[~np.eye(12, dtype=bool)] > 1e-3)
