"""Astra-Local's 4D module (paper Eq. 8): past and current voxel features plus future
timestamps in, future voxel features out.

``ForecastModule(past (B, P+1, X, Y, Z, C), future_times (B, F) s) -> (B, F, X, Y, Z, C)``,
all features in the current ego frame, oldest input first, the current frame last:

1. the P+1 inputs are concatenated on channels (the paper's first step);
2. a ResNet of 3D convolutions gives multi-scale features: scale s halves x and y s times
   (z is kept: the grids have 1-8 layers), ``widths[s]`` channels, one pre-activation
   residual block per scale;
3. at every scale a DiT (adaLN-Zero blocks) predicts each future time's change of that
   scale's features: tokens are x-y patches (``tokens_side`` x ``tokens_side`` per scale, all
   of z in a token) with a fixed 2-D sin-cos position, the condition is the future time's
   embedding; the F futures are folded into the batch, so one set of weights serves any F;
4. an FPN3D fuses the scales top-down (1x1x1 laterals, nearest upsampling, a 3x3 smoothing
   convolution) and a 1x1x1 head, zero-initialised, adds the result to the current frame's
   features: at initialisation the module copies the current frame forward (the simplest
   baseline), and training learns the change.

Choices where the paper is silent are in docs/design.md section 16.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.local_model.planning_head import sincos_2d, time_embedding
from astra_jax.nn.attention import SelfAttention
from astra_jax.nn.dense import lecun_dense
from astra_jax.validation import check_positive_ints, check_positive_numbers

DType = Any
CONV_AXES = ("conv_x", "conv_y", "conv_z", "conv_in", "channels")


@dataclasses.dataclass(frozen=True)
class ForecastConfig:
    """Sizes of the 4D module.

    Attributes:
      past: P, past frames besides the current one (the paper: 4).
      future: F, future frames predicted (the paper: 4).
      interval: seconds between frames, past and future (0.5 s, the paper's Fig. 14).
      widths: ResNet channels per scale; scale s has X / 2^s x Y / 2^s cells.
      dit_width, dit_depth, num_heads: the DiT at every scale (width, blocks, heads).
      tokens_side: DiT tokens per side at every scale (patches of X / 2^s / tokens_side cells).
    """

    past: int = 4
    future: int = 4
    interval: float = 0.5
    widths: tuple[int, ...] = (32, 64)
    dit_width: int = 64
    dit_depth: int = 1
    num_heads: int = 2
    tokens_side: int = 8

    def __post_init__(self) -> None:
        check_positive_ints(self, "past", "future", "dit_width", "dit_depth", "num_heads",
                            "tokens_side")  # fmt: skip
        check_positive_numbers(self, "interval")
        if not self.widths or not all(isinstance(w, int) and w > 0 for w in self.widths):
            raise ValueError(f"ForecastConfig.widths = {self.widths!r}: expected positive ints")
        if self.dit_width % self.num_heads:
            raise ValueError(
                f"ForecastConfig: dit_width {self.dit_width} not divisible by {self.num_heads} heads"
            )

    @classmethod
    def for_preset(cls, preset: str) -> ForecastConfig:
        """tiny: 2 scales (16 and 8 cells a side), 64 tokens each; small: 3 scales (64, 32,
        16), 256 tokens each; base: 4 scales (128 .. 16), 256 tokens each."""
        sizes = {
            "tiny": ((32, 64), 64, 1, 2, 8),
            "small": ((64, 128, 128), 128, 2, 4, 16),
            "base": ((128, 192, 256, 256), 256, 2, 8, 16),
        }
        if preset not in sizes:
            raise ValueError(
                f"ForecastConfig.for_preset({preset!r}): expected one of {', '.join(sizes)}"
            )
        widths, width, depth, heads, side = sizes[preset]
        return cls(widths=widths, dit_width=width, dit_depth=depth, num_heads=heads,
                   tokens_side=side)  # fmt: skip

    def future_times(self) -> tuple[float, ...]:
        """The default future offsets (s): interval, 2 interval, ..., F interval."""
        return tuple(self.interval * (j + 1) for j in range(self.future))

    def check_grid(self, nx: int, ny: int) -> None:
        """Every scale's side must split into ``tokens_side`` patches."""
        for s in range(len(self.widths)):
            sx, sy = nx >> s, ny >> s
            if (sx << s, sy << s) != (nx, ny) or sx % self.tokens_side or sy % self.tokens_side:
                raise ValueError(
                    f"ForecastConfig: grid {nx}x{ny} at scale {s} ({sx}x{sy}) does not split into "
                    f"{self.tokens_side} x {self.tokens_side} token patches"
                )


def _conv(features: int, kernel: tuple[int, ...], name: str, kw: dict, strides=None, zero=False):
    init = nn.initializers.zeros_init() if zero else nn.initializers.lecun_normal()
    return nn.Conv(
        features, kernel, strides=strides, padding="SAME",
        kernel_init=nn.with_logical_partitioning(init, CONV_AXES),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("channels",)),
        name=name, **kw,
    )  # fmt: skip


def _norm(name: str, kw: dict) -> nn.LayerNorm:
    return nn.LayerNorm(
        epsilon=1e-6,
        scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("channels",)),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("channels",)),
        name=name, **kw,
    )  # fmt: skip


class ResBlock3d(nn.Module):
    """Pre-activation residual block LN-GELU-Conv-LN-GELU-Conv (3 x 3 x min(3, Z))."""

    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        kernel = (3, 3, min(3, x.shape[3]))
        y = x
        for i in range(2):
            y = _norm(f"norm{i}", kw)(y)
            y = _conv(x.shape[-1], kernel, f"conv{i}", kw)(nn.gelu(y, approximate=False))
        return x + y


class DiTBlock(nn.Module):
    """adaLN-Zero transformer block (DiT): the condition (B, D) sets each norm's shift and
    scale and each branch's gate; the gates start at zero, so the block starts as identity."""

    num_heads: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, cond: jax.Array) -> jax.Array:
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        e = x.shape[-1]
        mod = lecun_dense(6 * e, ("embed", "mlp"), "modulation", kw, zero=True)(nn.silu(cond))
        shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(mod[:, None, :], 6, axis=-1)
        norm = lambda name: nn.LayerNorm(epsilon=1e-6, use_scale=False, use_bias=False,  # noqa: E731
                                         name=name, **kw)  # fmt: skip
        y = norm("norm1")(x) * (1 + scale1) + shift1
        x = x + gate1 * SelfAttention(self.num_heads, name="attn", **kw)(y)
        y = norm("norm2")(x) * (1 + scale2) + shift2
        y = lecun_dense(4 * e, ("embed", "mlp"), "mlp_in", kw)(y)
        return x + gate2 * lecun_dense(e, ("mlp", "embed"), "mlp_out", kw)(
            nn.gelu(y, approximate=False)
        )


class ScaleDiT(nn.Module):
    """One scale's prediction: features (B, Xs, Ys, Z, W) and conditions (B, F, D) -> per
    future the features' change (B, F, Xs, Ys, Z, W)."""

    config: ForecastConfig
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, features: jax.Array, cond: jax.Array) -> jax.Array:
        cfg, kw = self.config, dict(dtype=self.dtype, param_dtype=self.param_dtype)
        b, sx, sy, nz, w = features.shape
        f = cond.shape[1]
        g = cfg.tokens_side
        px, py = sx // g, sy // g
        tokens = features.reshape(b, g, px, g, py, nz, w).transpose(0, 1, 3, 2, 4, 5, 6)
        tokens = tokens.reshape(b, g * g, px * py * nz * w)
        x = lecun_dense(cfg.dit_width, ("conv_in", "embed"), "embed", kw)(tokens)
        x = x + jnp.asarray(sincos_2d(g, g, cfg.dit_width), x.dtype)[None]
        x = jnp.repeat(x[:, None], f, axis=1).reshape(b * f, g * g, cfg.dit_width)
        c = cond.reshape(b * f, -1)
        for i in range(cfg.dit_depth):
            x = DiTBlock(cfg.num_heads, name=f"block{i}", **kw)(x, c)
        x = nn.LayerNorm(epsilon=1e-6, use_scale=False, use_bias=False, name="norm_out", **kw)(x)
        x = lecun_dense(px * py * nz * w, ("embed", "conv_in"), "unembed", kw, zero=True)(x)
        x = x.reshape(b, f, g, g, px, py, nz, w).transpose(0, 1, 2, 4, 3, 5, 6, 7)
        return x.reshape(b, f, sx, sy, nz, w)


class ForecastModule(nn.Module):
    """The 4D module: see the module docstring. ``past`` (B, P+1, X, Y, Z, C) in the current
    ego frame, oldest first; ``future_times`` (B, F) seconds after the current frame ->
    (B, F, X, Y, Z, C) float32."""

    config: ForecastConfig
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, past: jax.Array, future_times: jax.Array) -> jax.Array:
        cfg, kw = self.config, dict(dtype=self.dtype, param_dtype=self.param_dtype)
        b, t, nx, ny, nz, c = past.shape
        if t != cfg.past + 1:
            raise ValueError(
                f"ForecastModule: {t} input frames, expected past + 1 = {cfg.past + 1}"
            )
        if future_times.ndim != 2 or future_times.shape[0] != b:
            raise ValueError(
                f"ForecastModule: future_times {future_times.shape}: expected ({b}, F)"
            )
        cfg.check_grid(nx, ny)
        f = future_times.shape[1]
        x = jnp.moveaxis(past, 1, -2).reshape(b, nx, ny, nz, t * c).astype(self.dtype)
        kernel = (3, 3, min(3, nz))
        # time embedding of t / horizon (in (0, 1] for the trained futures), then an MLP
        horizon = cfg.future * cfg.interval
        emb = time_embedding((future_times / horizon).reshape(-1), cfg.dit_width)
        emb = lecun_dense(cfg.dit_width, ("embed", "mlp"), "time_in", kw)(emb.astype(self.dtype))
        cond = lecun_dense(cfg.dit_width, ("mlp", "embed"), "time_out", kw)(nn.silu(emb))
        cond = cond.reshape(b, f, cfg.dit_width)
        scales = []
        for s, width in enumerate(cfg.widths):
            strides = None if s == 0 else (2, 2, 1)
            x = _conv(width, kernel, f"down{s}", kw, strides=strides)(x)
            x = ResBlock3d(name=f"res{s}", **kw)(x)
            delta = ScaleDiT(cfg, name=f"dit{s}", **kw)(x, cond)
            scales.append(x[:, None] + delta)  # (B, F, Xs, Ys, Z, W)
        # FPN3D, top-down, the futures folded into the batch
        top = None
        for s in reversed(range(len(cfg.widths))):
            feat = scales[s].reshape(b * f, *scales[s].shape[2:])
            lateral = _conv(cfg.widths[0], (1, 1, 1), f"lateral{s}", kw)(feat)
            if top is not None:
                top = jnp.repeat(jnp.repeat(top, 2, axis=1), 2, axis=2)
                lateral = lateral + top
            top = _conv(cfg.widths[0], kernel, f"smooth{s}", kw)(lateral)
        out = _conv(c, (1, 1, 1), "head", kw, zero=True)(nn.gelu(top, approximate=False))
        current = past[:, -1].astype(jnp.float32)
        return current[:, None] + out.reshape(b, f, nx, ny, nz, c).astype(jnp.float32)
