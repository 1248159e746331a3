"""Occupancy prediction on Astra-Local's voxels (the paper's Table 5 fine-tuning): a per-voxel
MLP from the encoder's voxel features to an occupancy logit, trained with binary cross-entropy
against the simulator's occupancy (:mod:`astra_jax.sim.voxel_occupancy` labels: any of
structure or obstacle counts as occupied), over the voxel columns inside the building.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from astra_jax.nn.dense import lecun_dense
from astra_jax.validation import check_positive_ints, check_positive_numbers

FREE, STRUCTURE, OBSTACLE = 0, 1, 2  # the label values of astra_jax.sim.voxel_occupancy


@dataclasses.dataclass(frozen=True)
class OccupancyHeadConfig:
    """``hidden``: MLP width; ``pos_weight``: weight of occupied voxels in the cross-entropy
    (a fifth to a quarter of the voxels are occupied)."""

    hidden: int = 32
    pos_weight: float = 2.0

    def __post_init__(self) -> None:
        check_positive_ints(self, "hidden")
        check_positive_numbers(self, "pos_weight")


class OccupancyHead(nn.Module):
    """Voxels (B, X, Y, Z, C) -> occupancy logits (B, X, Y, Z) float32."""

    config: OccupancyHeadConfig

    @nn.compact
    def __call__(self, voxels: jax.Array) -> jax.Array:
        h = nn.gelu(lecun_dense(self.config.hidden, ("channels", "mlp"), "hidden")(voxels), False)
        return lecun_dense(1, ("mlp", "output"), "logit")(h)[..., 0].astype(jnp.float32)


def occupancy_loss(
    logits: jax.Array, labels: jax.Array, valid: jax.Array, pos_weight: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted binary cross-entropy over valid columns, and batch IoUs.

    Args:
      logits: (B, X, Y, Z) occupancy logits.
      labels: (B, X, Y, Z) uint8 FREE / STRUCTURE / OBSTACLE.
      valid: (B, X, Y) bool columns inside the building.
      pos_weight: weight of occupied voxels.

    Returns:
      ``(loss, metrics)``: ``accuracy``, ``total_iou`` (occupied vs predicted occupied) and
      ``obstacle_iou`` (obstacles vs predicted occupied, wall voxels left out), over the batch.
    """
    occupied = labels != FREE
    mask = jnp.broadcast_to(valid[..., None], labels.shape)
    weight = jnp.where(occupied, pos_weight, 1.0) * mask
    ce = optax.sigmoid_binary_cross_entropy(logits, occupied.astype(jnp.float32))
    loss = jnp.sum(weight * ce) / jnp.maximum(jnp.sum(weight), 1.0)
    pred = logits > 0
    inter = jnp.sum(pred & occupied & mask)
    union = jnp.sum((pred | occupied) & mask)
    region = mask & (labels != STRUCTURE)
    obstacle = labels == OBSTACLE
    o_inter = jnp.sum(pred & obstacle & region)
    o_union = jnp.sum((pred | obstacle) & region)
    count = jnp.maximum(jnp.sum(mask), 1)
    return loss, {
        "occupancy_loss": loss,
        "accuracy": jnp.sum((pred == occupied) & mask) / count,
        "total_iou": inter / jnp.maximum(union, 1),
        "obstacle_iou": o_inter / jnp.maximum(o_union, 1),
    }
