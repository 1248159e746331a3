"""Depth pre-training of the encoder's lift (ViT + camera embedding + depth head).

Stands in for the paper's self-supervised 3D pre-training: the lift's depth distribution is
trained against the simulator's metric depth (:mod:`~astra_jax.local_model.depth_loss`).

Batches are ``{"rgb": (B, N, H, W, 3) uint8, "depth": (B, N, H, W) float32 metres}`` with N the
rig's cameras in config order; :func:`examples_from_episode` cuts simulator episodes into such
examples. :class:`DepthPretrain` has the ``init`` / ``loss_fn`` / ``eval_fn`` / ``batch_spec``
methods of the training engine's ``Trainable`` (the engine's registry adds ``dataset``).

Its parameters are ``{"lift": ...}``, the same subtree (same names and shapes) as
``LocalEncoder``'s ``params["lift"]``, so a pre-trained lift drops into the full encoder.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.depth_loss import depth_loss
from astra_jax.local_model.lift import ImageLift

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def _check_batch(config: EncoderConfig, batch: Batch) -> None:
    n, (h, w) = config.num_cameras, config.rig.image_hw
    rgb, depth = batch["rgb"], batch["depth"]
    if rgb.ndim != 5 or rgb.shape[1:] != (n, h, w, 3) or rgb.dtype != jnp.uint8:
        raise ValueError(
            f"depth batch: rgb {rgb.shape} {rgb.dtype}: expected (batch, {n}, {h}, {w}, 3) uint8"
        )
    if depth.shape != rgb.shape[:-1]:
        raise ValueError(f"depth batch: depth {depth.shape}: expected {rgb.shape[:-1]}")


def depth_pretrain_loss(
    config: EncoderConfig, params: Any, batch: Batch, rng: jax.Array | None = None
) -> tuple[jax.Array, Metrics]:
    """``(loss, metrics)`` of the lift on one batch; pure in ``params`` and ``batch``.

    Args:
      config: the encoder config.
      params: ``{"lift": ...}`` (or a full encoder's params; only ``lift`` is read).
      batch: ``{"rgb": (B, N, H, W, 3) uint8, "depth": (B, N, H, W) float32}``.
      rng: unused (the lift has no dropout); kept for the engine's signature.

    Returns:
      float32 mean depth cross-entropy and the metrics of
      :func:`~astra_jax.local_model.depth_loss.depth_loss` plus ``loss``.
    """
    del rng
    _check_batch(config, batch)
    depth_logits, _ = ImageLift(config).apply({"params": params["lift"]}, batch["rgb"])
    loss, metrics = depth_loss(depth_logits, batch["depth"], config.local.depth_bins)
    return loss, {"loss": loss, **metrics}


@dataclasses.dataclass(frozen=True)
class DepthPretrain:
    """The depth pre-training task bound to one encoder config."""

    config: EncoderConfig

    def init(self, rng: jax.Array) -> Any:
        """``{"lift": params}`` boxed with logical axis names."""
        spec = self.batch_spec(1)["rgb"]
        variables = jax.jit(ImageLift(self.config).init)(rng, jnp.zeros(spec.shape, spec.dtype))
        return {"lift": variables["params"]}

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        return depth_pretrain_loss(self.config, params, batch, rng)

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return depth_pretrain_loss(self.config, params, batch)[1]

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        n, (h, w) = self.config.num_cameras, self.config.rig.image_hw
        return {
            "rgb": jax.ShapeDtypeStruct((batch_size, n, h, w, 3), jnp.uint8),
            "depth": jax.ShapeDtypeStruct((batch_size, n, h, w), jnp.float32),
        }


def examples_from_episode(
    rgb: np.ndarray, depth: np.ndarray, config: EncoderConfig, *, frame_stride: int = 1
) -> list[dict[str, np.ndarray]]:
    """Cut an episode into depth pre-training examples, one per kept time step.

    Args:
      rgb: (T, N, H, W, 3) uint8 camera images of the episode.
      depth: (T, N, H, W) float32 z-depth in metres (<= 0, inf or nan where missing).
      config: the encoder config; N, H and W must match its rig.
      frame_stride: keep every ``frame_stride``-th step (consecutive frames are redundant).

    Returns:
      ``[{"rgb": (N, H, W, 3) uint8, "depth": (N, H, W) float32}, ...]``.
    """
    rgb, depth = np.asarray(rgb), np.asarray(depth)
    n, (h, w) = config.num_cameras, config.rig.image_hw
    if rgb.ndim != 5 or rgb.shape[1:] != (n, h, w, 3) or rgb.dtype != np.uint8:
        raise ValueError(
            f"episode rgb: shape {rgb.shape} dtype {rgb.dtype}: expected (T, {n}, {h}, {w}, 3) "
            "uint8 matching the preset's rig"
        )
    if depth.shape != rgb.shape[:-1] or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(
            f"episode depth: shape {depth.shape} dtype {depth.dtype}: expected "
            f"{rgb.shape[:-1]} float metres"
        )
    if not isinstance(frame_stride, int) or frame_stride <= 0:
        raise ValueError(f"frame_stride = {frame_stride!r}: expected a positive integer")
    return [
        {"rgb": rgb[t], "depth": depth[t].astype(np.float32)}
        for t in range(0, rgb.shape[0], frame_stride)
    ]
