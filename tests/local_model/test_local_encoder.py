"""Astra-Local's encoder: config, forward under jit per preset, shapes, export."""

from __future__ import annotations

import dataclasses
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

from astra_jax.config import ConfigError, RigConfig
from astra_jax.kernels.bev_splat import EXPORT_DISABLED_CHECKS
from astra_jax.local_model import EncoderConfig, EncoderOutput

# Documented output shapes (encoder.py's table), batch 1.
EXPECTED = {
    "tiny": ((1, 16, 16, 32), (1, 3, 16, 16, 1, 32), (1, 3, 3, 8, 4, 4)),
    "small": ((1, 64, 64, 256), (1, 5, 64, 64, 1, 256), (1, 5, 3, 32, 12, 12)),
    "base": ((1, 128, 128, 8, 128), (1, 5, 128, 128, 8, 128), (1, 5, 3, 64, 16, 16)),
}


def _inputs(cfg: EncoderConfig, batch: int = 1, seed: int = 0):
    spec = cfg.inputs_spec(batch)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, spec["images"].shape, dtype=np.uint8)
    poses = np.cumsum(rng.normal(0.0, 0.2, spec["poses"].shape), axis=1).astype(np.float32)
    return jnp.asarray(images), jnp.asarray(poses)


@pytest.fixture(scope="module")
def tiny():
    """The tiny encoder and its parameters, built once for this file."""
    cfg = EncoderConfig.from_preset("tiny")
    module, params = cfg.create(jax.random.key(0))
    return cfg, module, params, jax.jit(module.apply)


def _shapes(out: EncoderOutput):
    return out.features.shape, out.frame_features.shape, out.depth_logits.shape


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_forward_under_jit(preset: str, tiny) -> None:
    if preset == "tiny":
        cfg, _, params, apply = tiny
    else:
        cfg = EncoderConfig.from_preset(preset)
        module, params = cfg.create(jax.random.key(0))
        apply = jax.jit(module.apply)
    out = apply({"params": params}, *_inputs(cfg))
    assert _shapes(out) == EXPECTED[preset]
    assert out.features.shape[1:] == cfg.output_shape
    for x in jax.tree.leaves(out):
        assert x.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(x)))
    assert float(jnp.std(out.features)) > 0


def test_base_shapes_by_eval_shape() -> None:
    """base (ViT-S/14 on 224x224, 128x128x8 voxels): shapes and the ViT-S parameter count,
    abstractly."""
    cfg = EncoderConfig.from_preset("base")
    module = cfg.module()
    spec = cfg.inputs_spec(1)
    params = jax.eval_shape(module.init, jax.random.key(0), *spec.values())["params"]
    out = jax.eval_shape(module.apply, {"params": params}, *spec.values())
    assert _shapes(out) == EXPECTED["base"]
    lift = sum(np.prod(x.shape) for x in jax.tree.leaves(params["lift"]))
    assert 21.0e6 < lift < 22.5e6  # ViT-S/14 (~21.7M) plus camera embedding and lift head


@pytest.mark.slow  # 15 s on 2 cores: the base preset is for accelerators; tiny and small run in CI
def test_base_forward_under_jit() -> None:
    """A real base forward (about 10 s on two CPU cores, most of it compilation)."""
    cfg = EncoderConfig.from_preset("base")
    module, params = cfg.create(jax.random.key(0))
    out = jax.jit(module.apply)({"params": params}, *_inputs(cfg))
    assert _shapes(out) == EXPECTED["base"]
    assert bool(jnp.all(jnp.isfinite(out.features)))


def test_splat_implementations_agree_inside_the_encoder(tiny) -> None:
    cfg, _, params, apply = tiny
    images, poses = _inputs(cfg, batch=2, seed=1)
    auto = apply({"params": params}, images, poses)
    ref_module = dataclasses.replace(cfg, splat_impl="reference").module()
    ref = jax.jit(ref_module.apply)({"params": params}, images, poses)
    for a, b in zip(jax.tree.leaves(auto), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_one_camera_rig(tiny) -> None:
    """Only the camera embedding depends on the camera count: the tiny model's weights with
    the front camera's embedding run a one-camera rig."""
    tiny_cfg, _, params, _ = tiny
    rig = RigConfig(cameras=tiny_cfg.rig.cameras[:1], image_hw=tiny_cfg.rig.image_hw)
    cfg = EncoderConfig(local=tiny_cfg.local, rig=rig)
    params = nn.unbox(params)
    lift = {**params["lift"], "camera_embed": params["lift"]["camera_embed"][:1]}
    out = jax.jit(cfg.module().apply)({"params": {**params, "lift": lift}}, *_inputs(cfg))
    assert out.depth_logits.shape == (1, 3, 1, 8, 4, 4)
    assert out.features.shape == (1, 16, 16, 32)
    assert bool(jnp.all(jnp.isfinite(out.features)))


def test_gradients_reach_every_parameter_group(tiny) -> None:
    cfg, module, params, _ = tiny
    images, poses = _inputs(cfg, seed=3)

    def loss(p):
        out = module.apply({"params": p}, images, poses)
        return jnp.sum(out.features**2) + jnp.sum(out.depth_logits**2)

    grads = jax.jit(jax.grad(loss))(params)
    for group in ("lift", "fusion"):
        norm = sum(float(jnp.sum(jnp.square(g))) for g in jax.tree.leaves(grads[group]))
        assert norm > 0, group
    # The ViT receives gradient through the splat (context) and the depth logits.
    assert float(jnp.abs(grads["lift"]["vit"]["block0"]["attn"]["qkv"]["kernel"].value).sum()) > 0


def test_encoder_exports_for_cpu_cuda_tpu() -> None:
    cfg = EncoderConfig.from_preset("tiny")
    module = cfg.module()
    spec = cfg.inputs_spec(2)
    params = jax.eval_shape(module.init, jax.random.key(0), *spec.values())["params"]
    exported = export.export(
        jax.jit(lambda p, i, q: module.apply({"params": p}, i, q).features),
        platforms=("cpu", "cuda", "tpu"),
        disabled_checks=EXPORT_DISABLED_CHECKS,
    )(params, *spec.values())
    calls = set(re.findall(r"custom_call @([\w$.]+)", exported.mlir_module()))
    assert {"__gpu$xla.gpu.triton", "tpu_custom_call"} <= calls
    assert exported.out_avals[0].shape == (2, 16, 16, 32)


def test_config_validation_and_inputs_spec(tiny) -> None:
    cfg = EncoderConfig.from_preset("small")
    spec = cfg.inputs_spec(4)
    assert spec["images"].shape == (4, 5, 3, 96, 96, 3) and spec["images"].dtype == jnp.uint8
    assert spec["poses"].shape == (4, 5, 3)
    with pytest.raises(ConfigError, match="splat_impl"):
        EncoderConfig.from_preset("tiny", splat_impl="cuda")
    with pytest.raises(ConfigError, match="dtype"):
        EncoderConfig.from_preset("tiny", dtype="int8")
    with pytest.raises(ValueError, match="batch_size"):
        cfg.inputs_spec(0)
    tiny_cfg, module, params, _ = tiny
    images, poses = _inputs(tiny_cfg)
    with pytest.raises(ValueError, match="images shape"):
        module.apply({"params": params}, images[:, :2], poses)
    with pytest.raises(ValueError, match="uint8"):
        module.apply({"params": params}, images.astype(jnp.float32), poses)
