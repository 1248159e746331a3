"""The odometry head's vision tokenizer: a local correlation volume between consecutive BEV
feature maps (BEV-ODOM style), then a small strided CNN -> one token per frame pair.

Correlation convention. For maps ``a`` (frame k) and ``b`` (frame k+1) on the same ego-centred
grid, the volume holds, for every cell (x, y) and every offset (dx, dy) in the
(2r+1) x (2r+1) window, ``corr[x, y, o] = <a[x, y], b[x + dx, y + dy]>`` (zero where the
offset leaves the grid), with ``o = (dx + r) * (2r + 1) + (dy + r)``: dx is the slow index,
so the offsets run in the order of :func:`correlation_offsets`. If the content of ``b`` is
``a`` moved by (sx, sy) cells (``b[x + sx, y + sy] = a[x, y]``), every interior cell peaks at
the offset (sx, sy). A robot that drives forward d metres sees the world move by -d / r cells
along x, so forward motion peaks at dx = -d / r.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

DType = Any


def correlation_offsets(radius: int) -> np.ndarray:
    """(K, 2) int offsets (dx, dy) in cells of the volume's channels, K = (2r+1)^2, dx slow."""
    if radius < 0:
        raise ValueError(f"correlation_offsets: radius = {radius}: expected a non-negative int")
    r = np.arange(-radius, radius + 1)
    return np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)


def l2_normalize(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    """``x`` (..., C) divided by its L2 norm over the last axis (zero vectors stay zero)."""
    x = x.astype(jnp.float32)
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps * eps)


def _check_pair(name: str, a: jax.Array, b: jax.Array) -> None:
    if a.shape != b.shape or a.ndim < 3:
        raise ValueError(
            f"{name}: shapes {a.shape} and {b.shape}: expected two equal (..., X, Y, C)"
        )


def bev_correlation_reference(a: jax.Array, b: jax.Array, radius: int) -> jax.Array:
    """:func:`bev_correlation` as (2r+1)^2 shifted dot products: the plain definition, the
    test oracle. XLA's CPU code for a channel reduction of a shifted slice is slow (about 10x
    an aligned one), hence the matmul form used by the model."""
    _check_pair("bev_correlation_reference", a, b)
    nx, ny = a.shape[-3:-1]
    pad = [(0, 0)] * (b.ndim - 3) + [(radius, radius), (radius, radius), (0, 0)]
    bp = jnp.pad(b.astype(jnp.float32), pad)  # zeros outside the grid
    a = a.astype(jnp.float32)
    out = []
    for dx, dy in correlation_offsets(radius):
        shifted = bp[..., radius + dx : radius + dx + nx, radius + dy : radius + dy + ny, :]
        out.append(jnp.sum(a * shifted, axis=-1))
    return jnp.stack(out, axis=-1)


def bev_correlation(a: jax.Array, b: jax.Array, radius: int, block: int = 16) -> jax.Array:
    """Local correlation volume between two BEV maps (see the module docstring).

    Args:
      a: (..., X, Y, C) features of the earlier frame.
      b: (..., X, Y, C) features of the later frame, same shape.
      radius: r, the half-width of the search window in cells (3 -> 7x7).
      block: cells of y per matmul (raised to 2r when smaller); see below.

    Returns:
      (..., X, Y, (2r+1)^2) float32 dot products, channel o = offset ``correlation_offsets(r)[o]``.

    Computed as 2r+1 batched matmuls, one per dx. Each row of ``a`` is cut into blocks of
    ``block`` cells along y; a block against the matching window of ``block + 2r`` cells of the
    zero-padded row of ``b`` gives all its (y, y') products, and the band y' - y in [0, 2r] is
    cut out by the skew trick (flatten, pad by ``block``, reshape to (block, block + 2r + 1),
    keep the first 2r + 1 columns). It computes (block + 2r) / (2r + 1) times the needed
    products (3.1x at r = 3; a whole row at once, 64 cells, costs 10x) but reads each row once
    per dx instead of once per offset: on a loaded 2-core CPU, forward + backward over 8 x 10
    pairs of 64x64x64 cells, 1.2x faster than one matmul per whole row and 1.5x faster than
    :func:`bev_correlation_reference` (``bench/local_heads.py``).
    """
    _check_pair("bev_correlation", a, b)
    if not (isinstance(block, int) and block > 0):
        raise ValueError(f"bev_correlation: block = {block!r}: expected a positive int")
    *lead, nx, ny, c = a.shape
    k, by = 2 * radius + 1, max(block, 2 * radius)
    nb = -(-ny // by)  # blocks per row; the last one zero padded
    w = by + 2 * radius  # cells of b one block of a is compared with
    lead_pad = [(0, 0)] * len(lead)
    a = jnp.pad(a.astype(jnp.float32), [*lead_pad, (0, 0), (0, nb * by - ny), (0, 0)])
    a = a.reshape(*lead, nx, nb, by, c)
    # zeros outside the grid: r rows before and after along x; along y r cells before, and
    # after enough for nb + 1 whole blocks, so block j's window is blocks j and j + 1's first 2r
    bp = jnp.pad(b.astype(jnp.float32),
                 [*lead_pad, (radius, radius), (radius, (nb + 1) * by - ny - radius), (0, 0)])  # fmt: skip
    outs = []
    for dx in range(-radius, radius + 1):
        rows = bp[..., radius + dx : radius + dx + nx, :, :]  # (..., X, (nb + 1) by, C)
        this = rows[..., : nb * by, :].reshape(*lead, nx, nb, by, c)
        after = rows[..., by:, :].reshape(*lead, nx, nb, by, c)[..., : 2 * radius, :]
        window = jnp.concatenate([this, after], axis=-2)  # (..., X, nb, w, C)
        full = jnp.einsum("...yc,...zc->...yz", a, window)  # (..., X, nb, by, w); z = y + dy + r
        flat = jnp.pad(full.reshape(*lead, nx, nb, by * w), [*lead_pad, (0, 0), (0, 0), (0, by)])
        band = flat.reshape(*lead, nx, nb, by, w + 1)[..., :k]  # (..., X, nb, by, dy)
        outs.append(band.reshape(*lead, nx, nb * by, k)[..., :ny, :])
    return jnp.stack(outs, axis=-2).reshape(*lead, nx, ny, k * k)  # dx slow, dy fast


class CorrelationTokenizer(nn.Module):
    """BEV frames -> one token per consecutive pair.

    Steps: a shared 1x1 projection of every frame to ``corr_channels`` (so the correlation
    compares learned features, not the encoder's raw ones), L2 normalisation per cell (so each
    entry is a cosine similarity in [-1, 1]), optional average pooling by ``downsample`` (so the
    7x7 window spans the paper's +-0.6 m on a 0.1 m grid), the correlation volume of every
    pair, then ``len(conv_channels)`` stride-2 3x3 convolutions with GELU, an average pool to a
    ``pool_hw`` x ``pool_hw`` grid, and a Dense of the flattened grid to ``width``. The grid is
    flattened rather than globally pooled because a rotation shows as a displacement that
    varies with the cell's position, which a global average would erase.

    Call with ``bev`` (B, T, X, Y, C), T >= 2 frames oldest first; returns (B, T-1, width).
    """

    corr_channels: int
    radius: int
    downsample: int
    conv_channels: tuple[int, ...]
    pool_hw: int
    width: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, bev: jax.Array) -> jax.Array:
        b, t, nx, ny, _ = bev.shape
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        zeros = nn.initializers.zeros_init()
        feat = nn.Dense(
            self.corr_channels,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.lecun_normal(), ("conv_in", "channels")
            ),
            bias_init=nn.with_logical_partitioning(zeros, ("channels",)),
            name="project",
            **kw,
        )(bev.astype(self.dtype))
        s = self.downsample
        if s > 1:
            feat = feat.reshape(b, t, nx // s, s, ny // s, s, -1).mean(axis=(3, 5))
        feat = l2_normalize(feat)
        corr = bev_correlation(feat[:, :-1], feat[:, 1:], self.radius)  # (B, T-1, X', Y', K)
        x = corr.reshape(b * (t - 1), *corr.shape[2:]).astype(self.dtype)
        for i, c in enumerate(self.conv_channels):
            x = nn.Conv(
                c,
                (3, 3),
                strides=(2, 2),
                padding="SAME",
                kernel_init=nn.with_logical_partitioning(
                    nn.initializers.lecun_normal(), ("conv_x", "conv_y", "conv_in", "channels")
                ),
                bias_init=nn.with_logical_partitioning(zeros, ("channels",)),
                name=f"conv{i}",
                **kw,
            )(x)
            x = nn.gelu(x, approximate=False)
        gx, gy = x.shape[1:3]
        p = self.pool_hw
        x = x.reshape(x.shape[0], p, gx // p, p, gy // p, x.shape[-1]).mean(axis=(2, 4))
        x = nn.Dense(
            self.width,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.lecun_normal(), ("conv_in", "embed")
            ),
            bias_init=nn.with_logical_partitioning(zeros, ("embed",)),
            name="to_token",
            **kw,
        )(x.reshape(x.shape[0], -1))
        return x.reshape(b, t - 1, self.width)
