"""The rendering head and the 3D pre-training loss: shapes, the BEV-to-voxel layout, occupancy
from the SDF's sign, the eikonal term, and which rays the loss supervises."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.config import ConfigError, VoxelGridConfig
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.render_head import (
    RenderConfig,
    RenderHead,
    eikonal_penalty,
    occupancy_from_sdf,
    voxels_from_features,
)
from astra_jax.local_model.render_pretrain import RenderPretrain, ray_plan, ray_targets


def test_bev_channels_unfold_to_voxels_z_major():
    grid = VoxelGridConfig(4, 5, 3, 0.5)
    voxels = jnp.arange(2 * 4 * 5 * 3 * 7, dtype=jnp.float32).reshape(2, 4, 5, 3, 7)
    bev = voxels.reshape(2, 4, 5, 21)  # channel = z * C + c
    np.testing.assert_array_equal(voxels_from_features(bev, grid), voxels)
    assert voxels_from_features(voxels, grid) is voxels
    with pytest.raises(ValueError, match="multiple of nz"):
        voxels_from_features(jnp.zeros((1, 4, 5, 20)), grid)


def test_head_outputs_and_free_space_at_init():
    cfg = RenderConfig(hidden=8, beta_init=0.3, sdf_bias_init=0.5)
    voxels = jax.random.normal(jax.random.key(0), (2, 4, 4, 2, 6))
    params = RenderHead(cfg).init(jax.random.key(1), voxels)["params"]
    assert set(params) == {"sdf_0", "sdf_1", "colour_0", "colour_1", "log_beta"}
    sdf, colour, beta = RenderHead(cfg).apply({"params": params}, voxels)
    assert sdf.shape == (2, 4, 4, 2) and colour.shape == (2, 4, 4, 2, 3)
    assert float(beta) == pytest.approx(0.3)
    assert float(colour.min()) >= 0 and float(colour.max()) <= 1
    assert abs(float(jnp.mean(sdf)) - 0.5) < 0.5  # starts near the free-space bias
    np.testing.assert_array_equal(occupancy_from_sdf(jnp.asarray([-0.1, 0.0, 0.2])),
                                  [True, False, False])  # fmt: skip


def test_eikonal_is_zero_for_a_distance_field_and_not_otherwise():
    grid = VoxelGridConfig(16, 16, 8, 0.25)
    x = (np.arange(16) + 0.5) * 0.25
    plane = np.broadcast_to((x - 2.0)[:, None, None], (16, 16, 8))[None]  # |grad| = 1
    assert float(eikonal_penalty(jnp.asarray(plane), grid)) < 1e-10
    assert float(eikonal_penalty(jnp.asarray(2 * plane), grid)) == pytest.approx(1.0, rel=1e-5)


def test_ray_targets_keep_only_surfaces_inside_the_grid():
    enc = EncoderConfig.from_preset("tiny")
    render = RenderConfig.for_preset("tiny")
    plan = ray_plan(enc, render)
    n, (h, w) = enc.num_cameras, enc.rig.image_hw
    images = jnp.zeros((1, enc.num_frames, n, h, w, 3), jnp.uint8).at[:, -1].set(255)
    far = plan.grid.extent_xy[0]  # beyond the half extent whatever the direction
    depth = np.full((1, n, h, w), 2.0, np.float32)
    depth.reshape(-1)[plan.rays.pixels[:5]] = far
    depth.reshape(-1)[plan.rays.pixels[5:8]] = np.nan
    d, rgb, valid = ray_targets(plan, images, jnp.asarray(depth))
    assert d.shape == valid.shape == (1, plan.num_rays) and rgb.shape == (1, plan.num_rays, 3)
    np.testing.assert_array_equal(np.asarray(valid[0, :8]), False)
    np.testing.assert_allclose(rgb, 1.0)
    # 2 m deep surfaces count where their point is between the floor and 2 m up (the box's
    # sides are 6.4 m away): about a quarter of a 120 deg camera's rays
    point = plan.rays.origins + 2.0 * plan.rays.directions
    expected = (point[:, 2] >= 0) & (point[:, 2] < 2) & (np.abs(point[:, :2]).max(-1) < 6.4)
    np.testing.assert_array_equal(np.asarray(valid[0, 8:]), expected[8:])
    assert 0.1 < expected.mean() < 0.9


def test_loss_shapes_switches_and_bad_batches():
    enc = EncoderConfig.from_preset("tiny")
    task = RenderPretrain(enc, RenderConfig.for_preset("tiny"))
    params = nn.unbox(jax.eval_shape(task.init, jax.random.key(0)))
    assert set(params) == {"encoder", "render"} and set(params["encoder"]) == {"lift", "fusion"}
    batch = task.batch_spec(2)
    loss, metrics = jax.eval_shape(task.loss_fn, params, batch, jax.random.key(1))
    assert loss.shape == () and {"depth_l1", "colour_l1", "eikonal", "abs_rel"} <= set(metrics)
    bad = {**batch, "depth": jax.ShapeDtypeStruct((2, 3, 16, 16), jnp.float32)}
    with pytest.raises(ValueError, match="depth"):
        jax.eval_shape(task.loss_fn, params, bad, jax.random.key(1))
    with pytest.raises((ValueError, ConfigError), match="samples_per_ray"):
        dataclasses.replace(task.render, samples_per_ray=0)
