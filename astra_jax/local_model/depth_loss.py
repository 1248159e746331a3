"""Depth supervision of the lift: LSS depth distribution vs the simulator's depth, binned.

The paper pre-trains its encoder with pseudo-depth (Depth-Anything-V2, RANSAC-aligned to
metric depth). Our simulator renders exact metric depth, which stands in for it.

Target per feature cell (a ``p x p`` image patch): the **median** of the patch's valid depths,
binned to the nearest depth-bin centre. Median rather than BEVDepth's minimum: the lift
predicts *one* distribution for the whole patch, whose context feature describes what most of
the patch shows; the minimum labels a patch by a single nearest pixel (often a thin
foreground edge) and the median is also robust to isolated bad pixels. A patch counts only if
at least half of its pixels have a valid depth (finite, > 0) and the median lies within half a
bin of the bin range; the loss is the cross-entropy averaged over counted patches.

Depth is z-depth (distance along the optical axis), the quantity the frustum points are
built from (``geometry.unproject``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax import geometry
from astra_jax.config import DepthBinsConfig


def bin_width(bins: DepthBinsConfig) -> float:
    """Spacing (m) of the linearly spaced bin centres (the whole range for a single bin)."""
    return (bins.d_max - bins.d_min) / max(bins.num_bins - 1, 1)


def depth_targets(
    depth: jax.Array, bins: DepthBinsConfig, feature_hw: tuple[int, int]
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Bin labels per feature cell from a dense depth image.

    Args:
      depth: (..., H, W) float z-depth in metres; <= 0, inf or nan mark missing depth.
      bins: the depth bins.
      feature_hw: (h, w) feature map; H and W must be multiples of h and w.

    Returns:
      labels: (..., h, w) int32 bin index (0 where invalid).
      valid: (..., h, w) bool, whether the cell has a label.
      median: (..., h, w) float32 median depth of the cell (nan where no pixel is valid).
    """
    hi, wi = depth.shape[-2:]
    h, w = feature_hw
    if hi % h or wi % w:
        raise ValueError(f"depth_targets: depth {hi}x{wi} is not a multiple of features {h}x{w}")
    sh, sw = hi // h, wi // w
    d = depth.astype(jnp.float32)
    good = jnp.isfinite(d) & (d > 0)
    patches = jnp.where(good, d, jnp.nan).reshape(*d.shape[:-2], h, sh, w, sw)
    patches = jnp.moveaxis(patches, -3, -2).reshape(*d.shape[:-2], h, w, sh * sw)
    count = jnp.sum(~jnp.isnan(patches), axis=-1)
    median = jnp.nanmedian(patches, axis=-1)
    step = bin_width(bins)
    index = jnp.round((median - bins.d_min) / step)
    valid = (
        (2 * count >= sh * sw)
        & (median >= bins.d_min - 0.5 * step)
        & (median <= bins.d_max + 0.5 * step)
    )
    labels = jnp.where(valid, jnp.clip(index, 0, bins.num_bins - 1), 0).astype(jnp.int32)
    return labels, valid, median


def depth_loss(
    depth_logits: jax.Array, depth: jax.Array, bins: DepthBinsConfig
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Cross-entropy of the predicted depth distribution against binned depth.

    Args:
      depth_logits: (..., D, h, w) logits over the depth bins.
      depth: (..., H, W) depth in metres, same leading dims.
      bins: the depth bins (D of them).

    Returns:
      ``(loss, metrics)``: float32 mean cross-entropy over valid cells (0 when there are
      none), and ``accuracy`` (argmax bin = label), ``within_one_bin``, ``abs_rel`` of the
      expected depth against the cell's median depth, ``valid_fraction``.
    """
    d = bins.num_bins
    if depth_logits.shape[-3] != d:
        raise ValueError(
            f"depth_loss: depth_logits shape {depth_logits.shape}: expected {d} bins at axis -3"
        )
    feature_hw = depth_logits.shape[-2:]
    labels, valid, median = depth_targets(depth, bins, feature_hw)
    logp = jax.nn.log_softmax(depth_logits.astype(jnp.float32), axis=-3)
    picked = jnp.take_along_axis(logp, labels[..., None, :, :], axis=-3)[..., 0, :, :]
    weight = valid.astype(jnp.float32)
    count = jnp.sum(weight)
    denom = jnp.maximum(count, 1.0)
    loss = -jnp.sum(picked * weight) / denom
    pred = jnp.argmax(logp, axis=-3)
    centers = jnp.asarray(geometry.depth_bin_centers(bins), jnp.float32)
    expected = jnp.einsum("...dhw,d->...hw", jnp.exp(logp), centers)
    abs_rel = jnp.abs(expected - median) / jnp.where(valid, median, 1.0)
    metrics = {
        "depth_ce": loss,
        "accuracy": jnp.sum((pred == labels) * weight) / denom,
        "within_one_bin": jnp.sum((jnp.abs(pred - labels) <= 1) * weight) / denom,
        "abs_rel": jnp.sum(jnp.where(valid, abs_rel, 0.0)) / denom,
        "valid_fraction": count / np.prod(weight.shape),
    }
    return loss, metrics
