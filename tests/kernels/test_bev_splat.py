"""Every BEV splat implementation against the scatter-add reference: forward, gradients,
determinism, edge cases (empty voxels, out-of-grid points, one camera, batches).

The Pallas kernels run in interpret mode on the CPU here; the ``accelerator`` tests run them
compiled on a GPU or TPU.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.config import get_preset
from astra_jax.kernels.bev_splat import (
    bev_splat,
    bev_splat_reference,
    make_plan,
    plan_for_rig,
)
from astra_jax.kernels.bev_splat.pallas_gpu import gpu_tables
from astra_jax.kernels.bev_splat.pallas_tpu import tpu_tables

TOL = dict(rtol=1e-5, atol=1e-5)


def _rig_plan(preset: str, num_cameras: int | None = None):
    cfg = get_preset(preset)
    cams = cfg.rig.cameras[:num_cameras] if num_cameras else cfg.rig.cameras
    p = cfg.local.vit.patch_size
    fhw = (cfg.rig.image_hw[0] // p, cfg.rig.image_hw[1] // p)
    return plan_for_rig(cams, cfg.rig.image_hw, fhw, cfg.local.depth_bins, cfg.local.voxel)


def _random_plan(seed: int = 0):
    """2 cameras, 5 bins, 3x4 cells into a 5x6x3 grid (V = 90: not a multiple of 8 or of a
    large power of two). About 30% of the points fall outside, several share voxels (up to
    intervals of length > 4), and most voxels stay empty."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, 30, size=(2, 5, 3, 4))
    index = np.where(rng.random(index.shape) < 0.3, -1, index)
    index[0, :, 0, 0] = 7  # one long interval (5 points of one pixel)
    return make_plan(index, (5, 6, 3))


PLANS = {
    "tiny_rig": lambda: _rig_plan("tiny"),
    "one_camera": lambda: _rig_plan("tiny", num_cameras=1),
    "random": _random_plan,
}
IMPLS = {
    "interval": dict(impl="interval"),
    "pallas_gpu": dict(impl="pallas_gpu", interpret=True),
    "pallas_tpu": dict(impl="pallas_tpu", interpret=True),
    "auto": dict(impl="auto"),
}


def _inputs(plan, batch: int, channels: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    n, d, h, w = plan.voxel_index.shape
    logits = rng.standard_normal((batch, n, d, h, w)).astype(np.float32)
    depth_prob = jax.nn.softmax(jnp.asarray(logits), axis=2)
    feat = jnp.asarray(rng.standard_normal((batch, n, h, w, channels)).astype(np.float32))
    g = jnp.asarray(rng.standard_normal((batch, *plan.grid_shape, channels)).astype(np.float32))
    return depth_prob, feat, g


def _forward_and_grads(fn, depth_prob, feat, g):
    out, pull = jax.vjp(fn, depth_prob, feat)
    return (out, *pull(g))


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize(
    ("plan_name", "batch"), [("tiny_rig", 2), ("one_camera", 1), ("random", 1), ("random", 3)]
)
def test_matches_reference(impl: str, plan_name: str, batch: int) -> None:
    plan = PLANS[plan_name]()
    depth_prob, feat, g = _inputs(plan, batch, channels=6)
    kw = IMPLS[impl]
    want = _forward_and_grads(lambda a, b: bev_splat_reference(a, b, plan), depth_prob, feat, g)
    got = jax.jit(
        lambda a, b, c: _forward_and_grads(lambda x, y: bev_splat(x, y, plan, **kw), a, b, c)
    )(depth_prob, feat, g)
    for name, w_, g_ in zip(("out", "d_depth_prob", "d_feat"), want, got):
        assert g_.shape == w_.shape and g_.dtype == w_.dtype, name
        np.testing.assert_allclose(np.asarray(g_), np.asarray(w_), **TOL, err_msg=name)


def test_reference_semantics_by_hand() -> None:
    """The oracle itself: a 2-point voxel, an out-of-grid point and empty voxels."""
    index = np.array([[[[0, 3]], [[0, -1]]]])  # (N=1, D=2, h=1, w=2)
    plan = make_plan(index, (2, 2, 1))
    depth_prob = jnp.asarray([[[[[0.25, 0.5]], [[0.75, 0.5]]]]])  # (1, 1, 2, 1, 2)
    feat = jnp.asarray([[[[[1.0, 2.0], [3.0, 4.0]]]]])  # (1, 1, 1, 2, C=2)
    out = np.asarray(bev_splat_reference(depth_prob, feat, plan)).reshape(4, 2)
    # voxel 0 gets pixel 0 at both depths (0.25 + 0.75) * (1, 2); voxel 3 gets 0.5 * (3, 4);
    # the point at depth 1 of pixel 1 is outside; voxels 1 and 2 are empty.
    np.testing.assert_array_equal(out, [[1.0, 2.0], [0, 0], [0, 0], [1.5, 2.0]])


@pytest.mark.parametrize("impl", list(IMPLS))
def test_empty_and_outside(impl: str) -> None:
    """All points outside: zero output and zero gradients."""
    plan = make_plan(np.full((1, 3, 2, 2), -1), (2, 3, 4))
    depth_prob, feat, g = _inputs(plan, 2, channels=4)
    out, d_dp, d_feat = _forward_and_grads(
        lambda a, b: bev_splat(a, b, plan, **IMPLS[impl]), depth_prob, feat, g
    )
    assert out.shape == (2, 2, 3, 4, 4)
    for x in (out, d_dp, d_feat):
        np.testing.assert_array_equal(np.asarray(x), 0.0)


def test_empty_voxels_are_zero_and_occupied_are_not() -> None:
    plan = _rig_plan("tiny")
    depth_prob, feat, _ = _inputs(plan, 1, channels=4)
    out = np.asarray(bev_splat(depth_prob, feat, plan, impl="interval")).reshape(-1, 4)
    occupied = np.zeros(plan.num_voxels, bool)
    occupied[plan.interval_voxels] = True
    assert 0 < occupied.sum() < plan.num_voxels
    np.testing.assert_array_equal(out[~occupied], 0.0)
    assert np.all(np.abs(out[occupied]).sum(axis=1) > 0)


@pytest.mark.parametrize("impl", list(IMPLS))
def test_bitwise_deterministic(impl: str) -> None:
    """Same inputs -> identical bits, across calls and across separate compilations."""
    plan = _rig_plan("tiny")
    depth_prob, feat, g = _inputs(plan, 2, channels=8)

    def run():
        fn = jax.jit(
            lambda a, b, c: _forward_and_grads(
                lambda x, y: bev_splat(x, y, plan, **IMPLS[impl]), a, b, c
            )
        )
        return [np.asarray(x) for x in fn(depth_prob, feat, g)], fn

    first, fn = run()
    again = [np.asarray(x) for x in fn(depth_prob, feat, g)]
    recompiled, _ = run()
    for a, b, c in zip(first, again, recompiled):
        assert a.tobytes() == b.tobytes() == c.tobytes()


def test_real_small_rig_interval() -> None:
    """The small preset's real rig geometry (C = 64) through the CPU fast path."""
    plan = _rig_plan("small")
    depth_prob, feat, g = _inputs(plan, 1, channels=64)
    want = _forward_and_grads(lambda a, b: bev_splat_reference(a, b, plan), depth_prob, feat, g)
    got = jax.jit(lambda a, b, c: _forward_and_grads(lambda x, y: bev_splat(x, y, plan), a, b, c))(
        depth_prob, feat, g
    )
    for w_, g_ in zip(want, got):
        np.testing.assert_allclose(np.asarray(g_), np.asarray(w_), **TOL)


def test_vmap_of_auto_matches_loop() -> None:
    plan = _random_plan()
    depth_prob, feat, _ = _inputs(plan, 2, channels=3)
    stacked = jax.vmap(lambda a, b: bev_splat(a, b, plan))(depth_prob[:, None], feat[:, None])
    for i in range(2):
        np.testing.assert_allclose(
            np.asarray(stacked[i, 0]),
            np.asarray(bev_splat_reference(depth_prob[i : i + 1], feat[i : i + 1], plan)[0]),
            **TOL,
        )


def test_bfloat16_inputs_keep_dtype() -> None:
    plan = _random_plan()
    depth_prob, feat, _ = _inputs(plan, 1, channels=4)
    out = bev_splat(depth_prob.astype(jnp.bfloat16), feat.astype(jnp.bfloat16), plan)
    want = bev_splat_reference(depth_prob, feat, plan)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(want), rtol=0.05, atol=0.05)


def test_plan_sorting_and_intervals() -> None:
    plan = _random_plan()
    assert np.all(np.diff(plan.sorted_voxels) >= 0)
    flat = plan.voxel_index.reshape(-1)
    np.testing.assert_array_equal(flat[plan.sorted_points], plan.sorted_voxels)
    assert plan.interval_lengths.sum() == plan.num_valid == np.sum(flat >= 0)
    np.testing.assert_array_equal(plan.sorted_voxels[plan.interval_starts], plan.interval_voxels)
    assert plan.interval_lengths.max() >= 5


def test_kernel_tables_cover_every_voxel_and_point() -> None:
    plan = _random_plan()
    g = gpu_tables(plan)
    assert plan.num_voxels % g.block_voxels == 0 and g.lengths.sum() == plan.num_valid
    t = tpu_tables(plan)
    assert t.num_tiles * t.tile_voxels >= plan.num_voxels and t.tile_voxels % 8 == 0
    assert set(t.chunk_tile.tolist()) == set(range(t.num_tiles))  # every tile written
    assert t.chunk_count.sum() == plan.num_valid
    real = t.points[t.points < plan.num_points]
    np.testing.assert_array_equal(np.sort(real), np.sort(plan.sorted_points))


def test_bad_inputs_raise() -> None:
    plan = _random_plan()
    depth_prob, feat, _ = _inputs(plan, 1, channels=4)
    with pytest.raises(ValueError, match="depth_prob shape"):
        bev_splat(depth_prob[:, :, :-1], feat, plan)
    with pytest.raises(ValueError, match="feat shape"):
        bev_splat(depth_prob, feat[:, :1], plan)
    with pytest.raises(ValueError, match="impl = 'cuda'"):
        bev_splat(depth_prob, feat, plan, impl="cuda")
    with pytest.raises(ValueError, match="voxel_index"):
        make_plan(np.array([[[[90]]]]), (5, 6, 3))
    with pytest.raises(ValueError, match="voxel_index"):
        make_plan(np.zeros((2, 3)), (5, 6, 3))


def test_plan_is_cached_and_hashable_by_identity() -> None:
    a, b = _rig_plan("tiny"), _rig_plan("tiny")
    assert a is b
    c = dataclasses.replace(a)  # same geometry, a different plan object
    assert c != a and len({a, c}) == 2
    np.testing.assert_array_equal(c.sorted_points, a.sorted_points)
    assert math.prod(a.grid_shape) == a.num_voxels


# ----------------------------------------------------------------------------- on device


def _platform() -> str:
    return jax.devices()[0].platform


@pytest.mark.accelerator
@pytest.mark.parametrize("plan_name", list(PLANS))
def test_compiled_kernel_on_device(plan_name: str) -> None:
    """The platform's Pallas kernel, compiled (not interpreted), and impl='auto'."""
    impl = {"gpu": "pallas_gpu", "cuda": "pallas_gpu", "tpu": "pallas_tpu"}[_platform()]
    plan = PLANS[plan_name]()
    depth_prob, feat, g = _inputs(plan, 2, channels=128)
    want = _forward_and_grads(lambda a, b: bev_splat_reference(a, b, plan), depth_prob, feat, g)
    for kw in (dict(impl=impl), dict(impl="auto"), dict(impl="interval")):
        got = jax.jit(
            lambda a, b, c, kw=kw: _forward_and_grads(
                lambda x, y: bev_splat(x, y, plan, **kw), a, b, c
            )
        )(depth_prob, feat, g)
        for w_, g_ in zip(want, got):
            np.testing.assert_allclose(np.asarray(g_), np.asarray(w_), **TOL, err_msg=str(kw))


@pytest.mark.accelerator
def test_compiled_kernel_deterministic_on_device() -> None:
    impl = {"gpu": "pallas_gpu", "cuda": "pallas_gpu", "tpu": "pallas_tpu"}[_platform()]
    plan = _rig_plan("small")
    depth_prob, feat, _ = _inputs(plan, 4, channels=64)
    fn = jax.jit(lambda a, b: bev_splat(a, b, plan, impl=impl))
    first = np.asarray(fn(depth_prob, feat))
    for _ in range(3):
        assert np.asarray(fn(depth_prob, feat)).tobytes() == first.tobytes()
