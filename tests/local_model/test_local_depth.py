"""Depth supervision: binned patch-median targets, the cross-entropy, and pre-training."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from astra_jax.config import DepthBinsConfig
from astra_jax.local_model import (
    DepthPretrain,
    EncoderConfig,
    depth_loss,
    depth_targets,
    examples_from_episode,
)

BINS = DepthBinsConfig(num_bins=5, d_min=1.0, d_max=5.0)  # centres 1, 2, 3, 4, 5 m


def test_targets_are_binned_patch_medians() -> None:
    depth = np.zeros((4, 6), np.float32)  # (H, W) -> 2x3 patches of 2x2 pixels
    depth[0:2, 0:2] = [[2.0, 2.2], [2.1, 9.0]]  # median 2.15 -> bin 1; the outlier is ignored
    depth[0:2, 2:4] = [[3.6, np.nan], [3.6, 0.0]]  # half valid, median 3.6 -> bin 3
    depth[0:2, 4:6] = [[4.0, np.inf], [-1.0, 0.0]]  # one valid pixel of four: no label
    depth[2:4, 0:2] = 0.4  # below the first bin by more than half a bin: no label
    depth[2:4, 2:4] = 5.4  # within half a bin above the last centre -> bin 4
    depth[2:4, 4:6] = 1.2  # -> bin 0
    labels, valid, median = depth_targets(jnp.asarray(depth), BINS, (2, 3))
    np.testing.assert_array_equal(np.asarray(valid), [[True, True, False], [False, True, True]])
    np.testing.assert_array_equal(np.asarray(labels)[np.asarray(valid)], [1, 3, 4, 0])
    np.testing.assert_allclose(float(median[0, 0]), 2.15, rtol=1e-6)


def test_loss_of_perfect_and_uniform_predictions() -> None:
    depth = jnp.full((2, 3, 8, 8), 3.0)  # every patch -> bin 2
    uniform = jnp.zeros((2, 3, 5, 4, 4))
    loss, metrics = depth_loss(uniform, depth, BINS)
    np.testing.assert_allclose(float(loss), math.log(5), rtol=1e-6)
    assert float(metrics["valid_fraction"]) == 1.0
    sharp = uniform.at[:, :, 2].set(30.0)
    loss, metrics = depth_loss(sharp, depth, BINS)
    assert float(loss) < 1e-6 and float(metrics["accuracy"]) == 1.0
    np.testing.assert_allclose(float(metrics["abs_rel"]), 0.0, atol=1e-6)
    loss, metrics = depth_loss(uniform, jnp.zeros_like(depth), BINS)  # nothing valid
    assert float(loss) == 0.0 and float(metrics["valid_fraction"]) == 0.0


@pytest.fixture(scope="module")
def task():
    return DepthPretrain(EncoderConfig.from_preset("tiny"))


def _scene_batch(cfg: EncoderConfig, batch: int, seed: int):
    """Images whose brightness encodes depth, so depth is learnable from the pixels."""
    rng = np.random.default_rng(seed)
    n, (h, w) = cfg.num_cameras, cfg.rig.image_hw
    depth = rng.uniform(0.5, 7.5, (batch, n, 4, 4)).repeat(h // 4, 2).repeat(w // 4, 3)
    rgb = np.clip(depth / 8.0 * 255 + rng.normal(0, 4, depth.shape), 0, 255).astype(np.uint8)
    return {
        "rgb": jnp.asarray(np.repeat(rgb[..., None], 3, -1)),
        "depth": jnp.asarray(depth.astype(np.float32)),
    }


def test_pretraining_steps_lower_the_loss(task) -> None:
    params = task.init(jax.random.key(0))
    opt = optax.adam(3e-3)
    state = opt.init(params)
    batch = _scene_batch(task.config, 4, seed=0)

    @jax.jit
    def step(params, state, rng):
        (_, metrics), grads = jax.value_and_grad(task.loss_fn, has_aux=True)(params, batch, rng)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, metrics

    first = float(task.loss_fn(params, batch, jax.random.key(1))[0])
    for i in range(20):
        params, state, metrics = step(params, state, jax.random.key(i))
    held_out = task.eval_fn(params, _scene_batch(task.config, 4, seed=1))
    assert float(metrics["loss"]) < 0.7 * first
    assert float(held_out["loss"]) < first  # the brightness-depth rule generalises
    assert set(held_out) >= {"loss", "accuracy", "abs_rel", "valid_fraction"}


def test_lift_params_slot_into_the_encoder(task) -> None:
    spec = task.batch_spec(2)
    assert spec["rgb"].shape == (2, 3, 32, 32, 3) and spec["depth"].shape == (2, 3, 32, 32)
    lift = jax.eval_shape(task.init, jax.random.key(0))["lift"]
    module = task.config.module()
    full = jax.eval_shape(module.init, jax.random.key(0), *task.config.inputs_spec(1).values())
    assert jax.tree.structure(lift) == jax.tree.structure(full["params"]["lift"])
    assert jax.tree.map(lambda a: a.shape, lift) == jax.tree.map(
        lambda a: a.shape, full["params"]["lift"]
    )


def test_examples_from_episode(task) -> None:
    cfg = task.config
    rgb = np.zeros((7, 3, 32, 32, 3), np.uint8)
    depth = np.ones((7, 3, 32, 32), np.float32)
    examples = examples_from_episode(rgb, depth, cfg, frame_stride=3)
    assert len(examples) == 3
    assert examples[0]["rgb"].shape == (3, 32, 32, 3) and examples[0]["depth"].dtype == np.float32
    with pytest.raises(ValueError, match="episode rgb"):
        examples_from_episode(rgb[:, :2], depth, cfg)
    with pytest.raises(ValueError, match="episode depth"):
        examples_from_episode(rgb, depth[..., :16], cfg)
    with pytest.raises(ValueError, match="frame_stride"):
        examples_from_episode(rgb, depth, cfg, frame_stride=0)
    with pytest.raises(ValueError, match="depth batch"):
        bad = {"rgb": jnp.asarray(rgb[:2, :2]), "depth": jnp.asarray(depth[:2, :2])}
        task.loss_fn({"lift": {}}, bad, None)  # checked before the parameters are read
