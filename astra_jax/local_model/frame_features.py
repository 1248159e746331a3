"""The frozen encoder's per-frame features: what the heads read when they train on a cache.

The depth pre-training trains the encoder's lift (ViT + depth/context head); its temporal
fusion is trained only end to end. So the frozen features of a frame are the lift's splat of
that frame alone (``EncoderOutput.frame_features``), with z folded into channels for the heads:
(X, Y, Z'*C') = (16, 16, 32) tiny, (64, 64, 256) small, (128, 128, 1024) base. The odometry head
needs exactly these (unwarped features of consecutive frames); the planning head reads the
current tick's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.encoder import LocalEncoder
from astra_jax.local_model.lift import ImageLift


def feature_shape(config: EncoderConfig) -> tuple[int, int, int]:
    """(X, Y, C) of one frame's folded features."""
    x, y, zp, cp = config.fused_shape
    return x, y, zp * cp


def splat_frames(config: EncoderConfig, lift_params: Any, rgb: jax.Array) -> jax.Array:
    """Each frame's own splat, traceable: ``rgb`` (F, N, H, W, 3) uint8 -> (F, X, Y, Z', C')
    (``config.fused_shape``) for the lift parameters ``lift_params`` (unboxed)."""
    logits, context = ImageLift(config).apply({"params": lift_params}, rgb)
    return LocalEncoder(config).apply(
        {"params": {}}, logits, context, method=LocalEncoder.splat_frames
    )


def frame_feature_fn(config: EncoderConfig, lift_params: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A jitted ``rgb (F, N, H, W, 3) uint8 -> features (F, X, Y, C) float32`` for the lift
    parameters ``lift_params`` (the ``params["lift"]`` subtree, unboxed)."""

    @jax.jit
    def features(rgb: jax.Array) -> jax.Array:
        voxels = splat_frames(config, lift_params, rgb)
        return voxels.reshape(voxels.shape[0], *feature_shape(config)).astype(jnp.float32)

    return lambda rgb: np.asarray(features(jnp.asarray(rgb)))


def encoder_fingerprint(config: EncoderConfig, lift_params: Any) -> str:
    """12 hex digits naming the frozen encoder: its config and every parameter's bytes."""
    h = hashlib.sha256(json.dumps(repr(config), sort_keys=True).encode())
    for path, leaf in jax.tree_util.tree_leaves_with_path(lift_params):
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()[:12]
