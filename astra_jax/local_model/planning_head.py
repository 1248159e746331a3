"""Astra-Local's planning head: a conditional flow-matching transformer (paper 3.3, Eq. 10-11).

The head models the velocity field v(x_t, t | C) of the paper's action, n waypoint deltas
``(dx, dy, dtheta)`` (:mod:`astra_jax.local_model.trajectory`), in two parts:

* :meth:`PlanningHead.encode` (the **condition encoder**, run once per planning tick):
  BEV features (B, X, Y, C) [+ optional ``extra`` channels through a small CNN, concatenated
  along channels] are unfolded into ``token_patch`` x ``token_patch`` patches, projected to
  ``width`` and given a fixed 2-D sin-cos position; a subgoal token and a velocity token are
  appended; a pre-norm transformer encoder reads them -> ``cond`` (B, L, D).
* :meth:`PlanningHead.velocity_field` (the **trajectory decoder**, run at each Euler step):
  one token per waypoint from the noisy action, fused with a flow-time embedding (sin-cos +
  MLP, as openpi's pi0 action expert does), self-attention among the n waypoint tokens,
  cross-attention to the cached ``cond``, an MLP action head -> v (B, n, 3).

Departure from the paper: the paper feeds the time feature to the *encoder*, which then has to
re-run at every ODE step. Here time enters the decoder only, so the condition is computed once
per tick and cached (openpi's prefix / action-expert split); the Euler steps cost only the
n-token decoder.

Normalisation lives in one place, :class:`PlanningHeadConfig`: :meth:`normalize_action` /
:meth:`denormalize_action` (called by :mod:`astra_jax.local_model.flow_matching` on targets,
samples and one-step estimates) and :meth:`normalize_subgoal` / :meth:`normalize_velocity`
(called by the condition encoder). Inside the module everything is in normalised action units.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.config import get_preset
from astra_jax.nn.attention import CrossAttention, SelfAttention
from astra_jax.nn.dense import lecun_dense
from astra_jax.nn.vit import ViTBlock, layer_norm
from astra_jax.validation import (
    check_dtype_names,
    check_non_negative_ints,
    check_positive_ints,
    check_positive_numbers,
    fail_field,
    is_int,
    is_number,
)

DType = Any

# Per preset: (waypoints, interval s, token_patch, width, encoder depth, decoder depth, heads).
# Condition tokens: tiny 16x16 / 2 -> 64, small 64x64 / 4 -> 256, base 128x128 / 4 -> 1024.
_PRESET_SIZES: dict[str, tuple[int, float, int, int, int, int, int]] = {
    "tiny": (4, 0.5, 2, 64, 2, 2, 4),
    "small": (8, 0.5, 4, 128, 4, 4, 4),
    "base": (8, 0.5, 4, 384, 6, 6, 6),
}


@dataclasses.dataclass(frozen=True)
class PlanningHeadConfig:
    """Sizes and normalisation of the planning head.

    Attributes:
      num_waypoints: n, waypoints of the action.
      waypoint_interval: seconds between waypoints.
      bev_shape: (X, Y, C) of the BEV features the head reads (a voxel input (X, Y, Z, C') is
        folded to (X, Y, Z*C') and must match).
      bev_resolution: metres per BEV cell (documentation of the input; the positional
        embedding is in token indices).
      token_patch: BEV cells per token side; X and Y must be multiples of it.
      width: D, the transformer width (a multiple of 4 for the 2-D sin-cos embedding, and of
        ``num_heads``).
      encoder_depth, decoder_depth: transformer blocks of the condition encoder / decoder.
      num_heads, mlp_ratio: attention heads and MLP hidden width / D of every block.
      flow_steps: K, Euler steps at inference (DESIGN.md: 10).
      max_speed: m/s and ``max_yaw_rate`` rad/s of the robot (RobotConfig: 1.0, 1.5); only
        used to derive the default scales below.
      action_scale: (dx m, dy m, dtheta rad) dividing the action. Default (derived):
        ``(v*dt, v*dt/4, w*dt/2)`` with v = max_speed, w = max_yaw_rate, dt = interval, i.e.
        (0.5 m, 0.125 m, 0.375 rad) at 0.5 s: a full-speed step forward is 1; the lateral step
        of a differential drive is second order (~ v w dt^2 / 2 <= 0.19 m), so a quarter step
        keeps it O(1); turning at half the top yaw rate is 1. Unit-scale data matches the N(0, I)
        noise of flow matching.
      subgoal_scale: metres dividing the subgoal (subgoals lie 2-6 m ahead -> O(1)).
      velocity_scale: (m/s, rad/s) dividing the velocity; default (derived) ``(v, w)``.
      extra_channels: E of the optional ``extra`` (B, X, Y, E) input (occupancy, future
        features); 0 = no slot. When > 0 a two-layer 3x3 CNN maps them to
        ``extra_features`` channels, concatenated with the BEV along channels (paper 3.3, item 4).
      dtype, param_dtype: compute and parameter dtype names.
    """

    num_waypoints: int = 8
    waypoint_interval: float = 0.5
    bev_shape: tuple[int, int, int] = (64, 64, 256)
    bev_resolution: float = 0.2
    token_patch: int = 4
    width: int = 128
    encoder_depth: int = 4
    decoder_depth: int = 4
    num_heads: int = 4
    mlp_ratio: int = 4
    flow_steps: int = 10
    max_speed: float = 1.0
    max_yaw_rate: float = 1.5
    action_scale: tuple[float, float, float] | None = None
    subgoal_scale: float = 5.0
    velocity_scale: tuple[float, float] | None = None
    extra_channels: int = 0
    extra_features: int = 32
    dtype: str = "float32"
    param_dtype: str = "float32"

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_waypoints", "token_patch", "width", "encoder_depth")
        check_positive_ints(self, "decoder_depth", "num_heads", "mlp_ratio", "flow_steps")
        check_positive_ints(self, "extra_features")
        check_non_negative_ints(self, "extra_channels")
        check_positive_numbers(self, "waypoint_interval", "bev_resolution", "subgoal_scale")
        check_positive_numbers(self, "max_speed", "max_yaw_rate")
        check_dtype_names(self, "dtype", "param_dtype")
        bev = self.bev_shape
        if not (isinstance(bev, tuple) and len(bev) == 3 and all(is_int(v) and v > 0 for v in bev)):
            fail_field(self, "bev_shape", "(X, Y, C) as three positive integers")
        if bev[0] % self.token_patch or bev[1] % self.token_patch:
            fail_field(self, "token_patch", f"a divisor of X = {bev[0]} and Y = {bev[1]}")
        if self.width % self.num_heads:
            fail_field(self, "num_heads", f"a divisor of width = {self.width}")
        if self.width % 4:
            fail_field(self, "width", "a multiple of 4 (2-D sin-cos position embedding)")
        dt, v, w = self.waypoint_interval, self.max_speed, self.max_yaw_rate
        if self.action_scale is None:  # derived defaults (see the class docstring)
            object.__setattr__(self, "action_scale", (v * dt, v * dt / 4, w * dt / 2))
        if self.velocity_scale is None:
            object.__setattr__(self, "velocity_scale", (v, w))
        for name, n in (("action_scale", 3), ("velocity_scale", 2)):
            s = getattr(self, name)
            if not (
                isinstance(s, tuple) and len(s) == n and all(is_number(x) and x > 0 for x in s)
            ):
                fail_field(self, name, f"a tuple of {n} positive numbers")

    @classmethod
    def for_preset(cls, name: str, **overrides: Any) -> PlanningHeadConfig:
        """The head of preset ``name`` (tiny, small, base), with optional field overrides.

        The BEV shape and resolution follow the preset's encoder output (voxels folded to
        (X, Y, Z*C)), the speed limits its robot.
        """
        preset = get_preset(name)
        n, dt, patch, width, enc, dec, heads = _PRESET_SIZES[name]
        vox, robot = preset.local.voxel, preset.sim.robot
        fields = dict(
            num_waypoints=n,
            waypoint_interval=dt,
            bev_shape=(vox.nx, vox.ny, vox.nz * preset.local.context_channels),
            bev_resolution=vox.xy_resolution,
            token_patch=patch,
            width=width,
            encoder_depth=enc,
            decoder_depth=dec,
            num_heads=heads,
            max_speed=robot.max_linear_speed,
            max_yaw_rate=robot.max_angular_speed,
        )
        fields.update(overrides)
        return cls(**fields)

    # ------------------------------------------------------------------ derived sizes

    @property
    def token_grid(self) -> tuple[int, int]:
        """(X / token_patch, Y / token_patch): the BEV token grid."""
        return self.bev_shape[0] // self.token_patch, self.bev_shape[1] // self.token_patch

    @property
    def num_condition_tokens(self) -> int:
        """L: BEV tokens + the subgoal token + the velocity token."""
        gx, gy = self.token_grid
        return gx * gy + 2

    @property
    def action_shape(self) -> tuple[int, int]:
        return (self.num_waypoints, 3)

    # ------------------------------------------------------------------ normalisation (the one place)

    def normalize_action(self, deltas: jax.Array) -> jax.Array:
        """Metric deltas (..., n, 3) -> normalised units (divide by ``action_scale``)."""
        return deltas / jnp.asarray(self.action_scale, deltas.dtype)

    def denormalize_action(self, x: jax.Array) -> jax.Array:
        """Normalised actions (..., n, 3) -> metric deltas (m, m, rad)."""
        return x * jnp.asarray(self.action_scale, x.dtype)

    def normalize_subgoal(self, subgoal: jax.Array) -> jax.Array:
        """Ego-frame subgoal (..., 2) metres -> normalised."""
        return subgoal / self.subgoal_scale

    def normalize_velocity(self, velocity: jax.Array) -> jax.Array:
        """(v m/s, omega rad/s) (..., 2) -> normalised."""
        return velocity / jnp.asarray(self.velocity_scale, velocity.dtype)

    # ------------------------------------------------------------------ openpi-style API

    def inputs_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes of :meth:`PlanningHead.__call__`'s inputs (``extra`` only when the slot is
        on): bev (B, X, Y, C), subgoal (B, 2) m, velocity (B, 2), x_t (B, n, 3) normalised,
        t (B,) in [0, 1]; all float32."""
        if not is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"inputs_spec: batch_size = {batch_size!r}: expected a positive int")
        b, f32 = batch_size, jnp.float32
        spec = {
            "bev": jax.ShapeDtypeStruct((b, *self.bev_shape), f32),
            "subgoal": jax.ShapeDtypeStruct((b, 2), f32),
            "velocity": jax.ShapeDtypeStruct((b, 2), f32),
            "x_t": jax.ShapeDtypeStruct((b, *self.action_shape), f32),
            "t": jax.ShapeDtypeStruct((b,), f32),
        }
        if self.extra_channels:
            x, y, _ = self.bev_shape
            spec["extra"] = jax.ShapeDtypeStruct((b, x, y, self.extra_channels), f32)
        return spec

    def module(self) -> PlanningHead:
        return PlanningHead(self)

    def create(self, rng: jax.Array) -> tuple[PlanningHead, Any]:
        """``(module, params)`` initialised from ``rng``; params are boxed with logical axes."""
        module = self.module()
        dummy = {k: jnp.zeros(v.shape, v.dtype) for k, v in self.inputs_spec(1).items()}
        params = jax.jit(module.init)(rng, **dummy)["params"]
        return module, params


# ----------------------------------------------------------------------------- helpers


def sincos_2d(gx: int, gy: int, dim: int) -> np.ndarray:
    """(gx * gy, dim) fixed 2-D sin-cos position embedding (MAE style): the first half of the
    channels encodes the token's x index, the second half its y index."""
    quarter = dim // 4
    omega = 1.0 / 10000.0 ** (np.arange(quarter) / quarter)
    ix, iy = np.meshgrid(np.arange(gx), np.arange(gy), indexing="ij")
    out = [np.outer(a.reshape(-1), omega) for a in (ix, iy)]
    return np.concatenate([np.sin(out[0]), np.cos(out[0]), np.sin(out[1]), np.cos(out[1])], 1)


def time_embedding(t: jax.Array, dim: int) -> jax.Array:
    """(B,) flow times in [0, 1] -> (B, dim) sin-cos features with periods from 4e-3 to 4
    (openpi's choice for t in [0, 1]: fine enough to tell 10 Euler steps apart)."""
    frac = jnp.linspace(0.0, 1.0, dim // 2)
    period = 4e-3 * (4.0 / 4e-3) ** frac
    ang = t[:, None] * (2 * jnp.pi / period)[None]
    return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


# ----------------------------------------------------------------------------- modules


class ConditionEncoder(nn.Module):
    """BEV (+ extra) tokens, a subgoal and a velocity token -> ``cond`` (B, L, D). See the
    module docstring; shapes are checked in :meth:`PlanningHead.encode`."""

    config: PlanningHeadConfig

    @nn.compact
    def __call__(
        self, bev: jax.Array, subgoal: jax.Array, velocity: jax.Array, extra: jax.Array | None
    ) -> jax.Array:
        c = self.config
        dt = jnp.dtype(c.dtype)
        kw = dict(dtype=dt, param_dtype=jnp.dtype(c.param_dtype))
        b, nx, ny, _ = bev.shape
        x = bev.astype(dt)
        if extra is not None:
            y = extra.astype(dt)
            for i in range(2):
                y = nn.Conv(
                    c.extra_features,
                    (3, 3),
                    padding="SAME",
                    kernel_init=nn.with_logical_partitioning(
                        nn.initializers.lecun_normal(), ("conv_x", "conv_y", "conv_in", "channels")
                    ),
                    bias_init=nn.with_logical_partitioning(
                        nn.initializers.zeros_init(), ("channels",)
                    ),
                    name=f"extra_conv{i}",
                    **kw,
                )(y)
                y = nn.gelu(y, approximate=False)
            x = jnp.concatenate([x, y], axis=-1)
        # Unfold p x p cells into one token: (B, X/p, p, Y/p, p, C) -> (B, X/p * Y/p, p*p*C).
        p = c.token_patch
        gx, gy = nx // p, ny // p
        x = x.reshape(b, gx, p, gy, p, x.shape[-1]).transpose(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, gx * gy, -1)
        x = lecun_dense(c.width, ("input", "embed"), "patch_embed", kw)(x)
        # Frozen-encoder features have no fixed scale: normalise each token (after the
        # projection, whose bias keeps an empty patch distinct), then add its position.
        x = layer_norm(**kw, name="patch_norm")(x)
        x = x + jnp.asarray(sincos_2d(gx, gy, c.width), dt)[None]
        goal = lecun_dense(c.width, ("input", "embed"), "subgoal_embed", kw)(
            c.normalize_subgoal(subgoal.astype(jnp.float32)).astype(dt)
        )
        vel = lecun_dense(c.width, ("input", "embed"), "velocity_embed", kw)(
            c.normalize_velocity(velocity.astype(jnp.float32)).astype(dt)
        )
        x = jnp.concatenate([x, goal[:, None], vel[:, None]], axis=1)
        for i in range(c.encoder_depth):
            x = ViTBlock(c.num_heads, c.width * c.mlp_ratio, name=f"block{i}", **kw)(x)
        return layer_norm(**kw, name="norm")(x)


class DecoderBlock(nn.Module):
    """Pre-norm block: self-attention among each sample's trajectory tokens, cross-attention
    to ``cond``, GELU MLP. ``x`` (B, S, n, D) (S samples per condition), ``cond`` (B, L, D)
    -> (B, S, n, D).

    Cross-attention treats each query independently, so the S samples of a condition are
    folded into one query sequence of S*n tokens against the one ``cond``: the condition is
    neither repeated nor projected S times (best-of-N costs S times the queries only).
    """

    num_heads: int
    mlp_dim: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, cond: jax.Array) -> jax.Array:
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        b, s, n, e = x.shape
        y = layer_norm(**kw, name="norm1")(x).reshape(b * s, n, e)
        x = x + SelfAttention(self.num_heads, name="self_attn", **kw)(y).reshape(x.shape)
        y = layer_norm(**kw, name="norm2")(x).reshape(b, s * n, e)
        x = x + CrossAttention(self.num_heads, name="cross_attn", **kw)(y, cond).reshape(x.shape)
        y = lecun_dense(self.mlp_dim, ("embed", "mlp"), "mlp_in", kw)(
            layer_norm(**kw, name="norm3")(x)
        )
        return x + lecun_dense(e, ("mlp", "embed"), "mlp_out", kw)(nn.gelu(y, approximate=False))


class TrajectoryDecoder(nn.Module):
    """Noisy actions (B, S, n, 3) normalised, flow time (B,), ``cond`` (B, L, D) -> v
    (B, S, n, 3) in normalised units per unit flow time."""

    config: PlanningHeadConfig

    @nn.compact
    def __call__(self, cond: jax.Array, x_t: jax.Array, t: jax.Array) -> jax.Array:
        c = self.config
        dt = jnp.dtype(c.dtype)
        kw = dict(dtype=dt, param_dtype=jnp.dtype(c.param_dtype))
        n = x_t.shape[2]
        a = lecun_dense(c.width, ("input", "embed"), "action_embed", kw)(x_t.astype(dt))
        # pi0's action-time fusion: concat(action, time) -> MLP, so time can gate the action.
        temb = time_embedding(t.astype(jnp.float32), c.width)[:, None, None]
        h = jnp.concatenate([a, jnp.broadcast_to(temb, a.shape).astype(dt)], axis=-1)
        h = nn.swish(lecun_dense(c.width, ("embed", "mlp"), "time_mlp_in", kw)(h))
        h = lecun_dense(c.width, ("mlp", "embed"), "time_mlp_out", kw)(h)
        pos = self.param(
            "waypoint_embed",
            nn.with_logical_partitioning(nn.initializers.normal(0.02), ("seq", "embed")),
            (n, c.width),
            jnp.dtype(c.param_dtype),
        )
        h = h + pos.astype(dt)
        cond = cond.astype(dt)
        for i in range(c.decoder_depth):
            h = DecoderBlock(c.num_heads, c.width * c.mlp_ratio, name=f"block{i}", **kw)(h, cond)
        h = layer_norm(**kw, name="norm")(h)
        h = nn.gelu(lecun_dense(c.width, ("embed", "mlp"), "head_in", kw)(h), approximate=False)
        # Zero-initialised output: the field starts at 0 and the loss starts at E|x1 - x0|^2.
        v = lecun_dense(3, ("mlp", "output"), "head_out", kw, zero=True)(h)
        return v.astype(jnp.float32)


class PlanningHead(nn.Module):
    """The planning head of ``config``: :meth:`encode` once per tick, :meth:`velocity_field`
    per Euler step, ``__call__`` = both (init and training).

    Parameters: ``{"encoder": ..., "decoder": ...}``.
    """

    config: PlanningHeadConfig

    def setup(self) -> None:
        self.encoder = ConditionEncoder(self.config)
        self.decoder = TrajectoryDecoder(self.config)

    def encode(
        self,
        bev: jax.Array,
        subgoal: jax.Array,
        velocity: jax.Array,
        extra: jax.Array | None = None,
    ) -> jax.Array:
        """The condition (B, L, D), L = ``num_condition_tokens``.

        Args:
          bev: (B, X, Y, C) BEV features, or (B, X, Y, Z, C') voxels (folded to Z*C').
          subgoal: (B, 2) metres in the ego frame (x forward, y left).
          velocity: (B, 2) current (v m/s, omega rad/s).
          extra: (B, X, Y, E) extra channels, required iff ``extra_channels`` > 0.
        """
        c = self.config
        _check(bev.ndim in (4, 5), f"PlanningHead: bev shape {bev.shape}: expected (B, X, Y, C)")
        if bev.ndim == 5:  # voxels (base preset): fold z into channels
            bev = bev.reshape(*bev.shape[:3], -1)
        b = bev.shape[0]
        _check(
            bev.shape[1:] == c.bev_shape,
            f"PlanningHead: bev shape {bev.shape}: expected (B, {', '.join(map(str, c.bev_shape))})",
        )
        for name, a in (("subgoal", subgoal), ("velocity", velocity)):
            _check(a.shape == (b, 2), f"PlanningHead: {name} shape {a.shape}: expected ({b}, 2)")
        if c.extra_channels:
            want = (b, *c.bev_shape[:2], c.extra_channels)
            _check(
                extra is not None and extra.shape == want,
                f"PlanningHead: extra shape {None if extra is None else extra.shape}: "
                f"expected {want} (extra_channels = {c.extra_channels})",
            )
        else:
            _check(extra is None, "PlanningHead: extra given but extra_channels = 0")
        return self.encoder(bev, subgoal, velocity, extra)

    def velocity_field(self, cond: jax.Array, x_t: jax.Array, t: jax.Array) -> jax.Array:
        """The field v in normalised units, shaped like ``x_t``.

        Args:
          cond: (B, L, D) from :meth:`encode`.
          x_t: (B, n, 3) noisy actions (normalised), or (B, S, n, 3): S samples per condition
            that share ``cond`` (best-of-N; no copy of the condition is made).
          t: flow time in [0, 1], scalar or (B,) (shared by a condition's samples).
        """
        c = self.config
        _check(
            cond.ndim == 3 and cond.shape[1:] == (c.num_condition_tokens, c.width),
            f"PlanningHead: cond shape {cond.shape}: expected "
            f"(B, {c.num_condition_tokens}, {c.width})",
        )
        b = cond.shape[0]
        _check(
            x_t.ndim in (3, 4) and x_t.shape[0] == b and x_t.shape[-2:] == c.action_shape,
            f"PlanningHead: x_t shape {x_t.shape}: expected ({b}, n, 3) or ({b}, S, n, 3) "
            f"with n = {c.num_waypoints}",
        )
        t = jnp.asarray(t, jnp.float32)
        _check(t.shape in ((), (b,)), f"PlanningHead: t shape {t.shape}: expected () or ({b},)")
        x = x_t if x_t.ndim == 4 else x_t[:, None]
        v = self.decoder(cond, x, jnp.broadcast_to(t, (b,)))
        return v if x_t.ndim == 4 else v[:, 0]

    def __call__(
        self,
        bev: jax.Array,
        subgoal: jax.Array,
        velocity: jax.Array,
        x_t: jax.Array,
        t: jax.Array,
        extra: jax.Array | None = None,
    ) -> jax.Array:
        """``velocity_field(encode(bev, subgoal, velocity, extra), x_t, t)``: (B, n, 3)."""
        return self.velocity_field(self.encode(bev, subgoal, velocity, extra), x_t, t)
