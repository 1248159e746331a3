"""Astra-Local's odometry head (PAPER_NOTES.md 3.4): the relative SE(2) pose of the latest frame
pair, with a per-axis uncertainty, from BEV features, IMU and wheel samples.

Inputs, for a window of W steps (W + 1 frames 0.5 s apart, oldest first; step k is the pair
frame k -> frame k+1):

* ``bev`` (B, W+1, X, Y, C): per-frame BEV features of the frozen encoder, NOT warped into a
  common frame (the motion is what the head measures);
* ``imu`` (B, W, S_imu, 6): the raw IMU samples between frame k and frame k+1 (gyro xyz rad/s,
  accelerometer xyz m/s^2 as specific force: at rest (0, 0, +9.81));
* ``wheel`` (B, W, S_wheel, 2): left and right wheel angular velocities (rad/s);
* ``valid`` (B, W) bool, optional: False marks padded steps at the start of an episode. Their
  tokens are zeroed and masked out of attention, and their inputs are replaced by zeros before
  anything reads them, so nothing about them (not even NaNs) reaches the output. The latest
  step must be valid (the data pipeline's job): the output is that step's motion.

Tokens: per step, one per switched-on modality (the correlation tokenizer of
:mod:`~astra_jax.local_model.bev_correlation`; an LSTM over the IMU samples; one over the wheel
samples), each plus a learned modality embedding and a temporal embedding of its step; a
[CLS] token in front. A pre-norm transformer encoder (masked self-attention) reads them, and
the CLS output regresses, through an MLP, the latest pair's pose (dx, dy in metres, dtheta in
radians, in the frame of frame W-1) and ``log_scale``: the log of a Laplace scale b per axis
(same units), the uncertainty the navigation filter uses (variance 2 b^2). With the kinematic
prior the MLP's output is a correction (in ``config.output_scale`` units) added to the latest
pair's dead-reckoned motion; with ``kinematic_features`` the MLP also reads that pair's
pre-integrated sensor summary (:func:`~astra_jax.local_model.odometry_config.kinematics`).
With ``heading_fusion`` the yaw is a learned convex combination of the pair's gyro and wheel
turns instead (the MLP's yaw output is the gate's logit).

Switched-off modalities produce no tokens and have no parameters: their inputs may be None and
are never read.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax import geometry
from astra_jax.local_model.bev_correlation import CorrelationTokenizer
from astra_jax.local_model.odometry_config import (
    _LOG_SCALE_RANGE,
    ACCEL_SCALE,
    DEFAULT_POSE_SCALE,
    GRAVITY,
    GYRO_SCALE,
    KINEMATIC_FEATURES,
    WHEEL_SCALE,
    Kinematics,
    OdometryHeadConfig,
    kinematic_features,
    kinematic_prior,
    kinematics,
    normalize_imu,
    normalize_wheel,
)
from astra_jax.nn.vit import ViTBlock, layer_norm

DType = Any

# ----------------------------------------------------------------------------- sensor tokenizer


def _lstm_bias_init(
    key: jax.Array, shape: tuple[int, ...], dtype: DType = jnp.float32
) -> jax.Array:
    """Zeros, except 1 on the forget gate (gates ordered i, f, g, o): remember by default."""
    del key
    hidden = shape[0] // 4
    return jnp.zeros(shape, dtype).at[hidden : 2 * hidden].set(1.0)


class SensorLSTM(nn.Module):
    """A single-layer LSTM over a sample sequence; returns its final hidden state.

    Written here rather than flax's cells so that its kernels carry logical axis names. The
    kernels are replicated (``channels``, never split): the recurrence is sequential and tiny,
    and a tensor split would add a collective per sample. The input projection of every sample
    is one matmul before the scan; the scan carries (h, c) in float32.

    Call with ``x`` (N, S, F); returns (N, hidden) float32.
    """

    hidden: int
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h4 = 4 * self.hidden
        init = nn.initializers.lecun_normal()
        w_in = self.param(
            "input_kernel",
            nn.with_logical_partitioning(init, ("input", "channels")),
            (x.shape[-1], h4),
            self.param_dtype,
        )
        w_rec = self.param(
            "recurrent_kernel",
            nn.with_logical_partitioning(init, ("conv_in", "channels")),
            (self.hidden, h4),
            self.param_dtype,
        )
        bias = self.param(
            "bias",
            nn.with_logical_partitioning(_lstm_bias_init, ("channels",)),
            (h4,),
            self.param_dtype,
        )
        xz = x.astype(jnp.float32) @ w_in.astype(jnp.float32) + bias.astype(jnp.float32)
        w_rec = w_rec.astype(jnp.float32)

        def step(carry, z):
            h, c = carry
            i, f, g, o = jnp.split(z + h @ w_rec, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zeros = jnp.zeros((x.shape[0], self.hidden), jnp.float32)
        (h, _), _ = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xz, 0, 1))
        return h


class SensorTokenizer(nn.Module):
    """Samples of each step -> one token: average pooling by ``pool``, an LSTM, a projection.

    Call with ``x`` (B, W, S, F) already normalised; returns (B, W, width).
    """

    hidden: int
    pool: int
    width: int
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, w, s, f = x.shape
        x = x.reshape(b * w, s // self.pool, self.pool, f).mean(axis=2)
        h = SensorLSTM(self.hidden, self.param_dtype, name="lstm")(x)
        tok = nn.Dense(
            self.width,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.lecun_normal(), ("conv_in", "embed")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="to_token",
        )(h.astype(self.dtype))
        return tok.reshape(b, w, self.width)


# ----------------------------------------------------------------------------- the head


class OdometryOutput(NamedTuple):
    """pose (B, 3): (dx m, dy m, dtheta rad) of the latest pair in the earlier frame;
    log_scale (B, 3): log of the Laplace scale b of each component (b in m, m, rad)."""

    pose: jax.Array
    log_scale: jax.Array


def _check_shape(name: str, x: Any, expected: tuple[int | None, ...], what: str) -> None:
    shape = getattr(x, "shape", None)
    ok = shape is not None and len(shape) == len(expected)
    ok = ok and all(e is None or s == e for s, e in zip(shape, expected, strict=True))
    if not ok:
        want = "(" + ", ".join("B" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"OdometryHead: {name} shape {shape}: expected {want} {what}")


class OdometryHead(nn.Module):
    """The odometry head of ``config`` (see the module docstring for inputs and outputs).

    Call with keyword inputs ``bev``, ``imu``, ``wheel`` (each required when its modality is
    on, ignored otherwise) and optional ``valid``; returns :class:`OdometryOutput`.

    ``__call__`` is :meth:`tokens` then :meth:`fuse`. Each step's tokens depend on that step's
    inputs alone, so a streaming runner (``astra_jax.serve.tick``) tokenizes only the newest
    pair each tick, keeps the last W steps' tokens, and calls :meth:`fuse` on them: the same
    output as ``__call__`` on the whole window.
    """

    config: OdometryHeadConfig

    def setup(self) -> None:
        c = self.config
        kw = dict(dtype=jnp.dtype(c.dtype), param_dtype=jnp.dtype(c.param_dtype))
        if c.use_visual:
            self.visual_tokenizer = CorrelationTokenizer(
                corr_channels=c.corr_channels,
                radius=c.corr_radius,
                downsample=c.corr_downsample,
                conv_channels=c.conv_channels,
                pool_hw=c.pool_hw,
                width=c.width,
                **kw,
            )
        if c.use_imu:
            self.imu_tokenizer = SensorTokenizer(c.lstm_hidden, c.imu_pool, c.width, **kw)
        if c.use_wheel:
            self.wheel_tokenizer = SensorTokenizer(c.lstm_hidden, c.wheel_pool, c.width, **kw)

        def embed(name: str, shape: tuple[int, ...], axes: tuple[str, ...]) -> jax.Array:
            init = nn.with_logical_partitioning(nn.initializers.normal(0.02), axes)
            return self.param(name, init, shape, kw["param_dtype"])

        self.temporal_embed = embed("temporal_embed", (c.window, c.width), ("seq", "embed"))
        self.cls = embed("cls", (c.width,), ("embed",))
        self.modality_embed = {m: embed(f"{m}_embed", (c.width,), ("embed",)) for m in c.modalities}
        for i in range(c.depth):  # named block{i}, as checkpoints know them
            setattr(self, f"block{i}", ViTBlock(c.num_heads, c.width * c.mlp_ratio, **kw))
        self.norm = layer_norm(**kw)
        self.head_hidden = nn.Dense(
            c.width,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.xavier_uniform(), ("embed", "mlp")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("mlp",)),
            **kw,
        )
        if c.kinematic_features:
            # A projection added to head_hidden's pre-activation: the same as concatenating the
            # features to the CLS output, without an odd-sized sharded input axis.
            self.head_kinematics = nn.Dense(
                c.width,
                use_bias=False,
                kernel_init=nn.with_logical_partitioning(
                    nn.initializers.lecun_normal(), ("input", "mlp")
                ),
                **kw,
            )
        # Zero-initialised output: the head starts at the prior (pose 0 without it) with
        # b = output_scale.
        self.head_out = nn.Dense(
            6,
            kernel_init=nn.with_logical_partitioning(
                nn.initializers.zeros_init(), ("mlp", "output")
            ),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("output",)),
            **kw,
        )

    def __call__(
        self,
        bev: jax.Array | None = None,
        imu: jax.Array | None = None,
        wheel: jax.Array | None = None,
        valid: jax.Array | None = None,
    ) -> OdometryOutput:
        c = self.config
        w = c.window
        inputs = {"visual": bev, "imu": imu, "wheel": wheel}
        for m in c.modalities:
            if inputs[m] is None:
                arg = "bev" if m == "visual" else m
                raise ValueError(f"OdometryHead: {arg} is None but use_{m} is on")
        batch = inputs[c.modalities[0]].shape[0]
        if c.use_visual:
            _check_shape("bev", bev, (batch, w + 1, *c.bev_shape), "(W+1 frames of (X, Y, C))")
        if c.use_imu:
            _check_shape("imu", imu, (batch, w, c.imu_samples, 6), "(gyro xyz, accel xyz)")
        if c.use_wheel:
            _check_shape("wheel", wheel, (batch, w, c.wheel_samples, 2), "(left, right) rad/s")
        if valid is None:
            valid = jnp.ones((batch, w), bool)
        _check_shape("valid", valid, (batch, w), "bool per step")
        valid = valid.astype(bool)
        kin = self.kinematics(imu[:, -1] if c.use_imu else None,
                              wheel[:, -1] if c.use_wheel else None, batch)  # fmt: skip
        return self.fuse(self.tokens(bev, imu, wheel, valid), valid, kin)

    def kinematics(self, imu: jax.Array | None, wheel: jax.Array | None, batch: int) -> Kinematics:
        """The latest pair's prior and pre-integrated features from its raw samples, imu
        (B, S_imu, 6) and wheel (B, S_wheel, 2) (:func:`~astra_jax.local_model.odometry_config.
        kinematics`; zeros for what the config switches off)."""
        return kinematics(self.config, imu, wheel, batch)

    def tokens(
        self,
        bev: jax.Array | None,
        imu: jax.Array | None,
        wheel: jax.Array | None,
        valid: jax.Array,
    ) -> dict[str, jax.Array]:
        """Per switched-on modality, the (B, W', width) tokens of W' steps (before the modality
        and temporal embeddings): ``bev`` (B, W'+1, X, Y, C), ``imu`` (B, W', S_imu, 6), ``wheel``
        (B, W', S_wheel, 2), ``valid`` (B, W'). Padded steps' inputs are zeroed first."""
        c = self.config

        def keep(x: jax.Array, mask: jax.Array) -> jax.Array:
            # Zero what a padded step holds before any layer reads it (NaN padding included).
            m = mask.reshape(*mask.shape, *([1] * (x.ndim - mask.ndim)))
            return jnp.where(m, x, jnp.zeros((), x.dtype))

        tokens = {}
        if c.use_visual:
            # Frame j is read by pair j-1 and pair j: keep it when either is valid.
            false = jnp.zeros((valid.shape[0], 1), bool)
            frame_used = jnp.concatenate([valid, false], 1) | jnp.concatenate([false, valid], 1)
            tokens["visual"] = self.visual_tokenizer(keep(bev, frame_used))
        if c.use_imu:
            tokens["imu"] = self.imu_tokenizer(normalize_imu(keep(imu, valid)))
        if c.use_wheel:
            tokens["wheel"] = self.wheel_tokenizer(normalize_wheel(keep(wheel, valid)))
        return tokens

    def fuse(
        self, tokens: dict[str, jax.Array], valid: jax.Array, kin: Kinematics
    ) -> OdometryOutput:
        """The transformer over the window's tokens -> the latest pair's pose.

        Args:
          tokens: per switched-on modality (B, W, width), from :meth:`tokens`.
          valid: (B, W) bool; invalid steps are zeroed and masked out of attention.
          kin: the latest pair's :meth:`kinematics`: the prior is added to the regressed
            correction, the features enter the output MLP.
        """
        c = self.config
        dtype = jnp.dtype(c.dtype)
        batch = valid.shape[0]
        m = valid[..., None]
        temporal = self.temporal_embed.astype(dtype)
        cls = self.cls.astype(dtype)
        seq = [jnp.broadcast_to(cls, (batch, 1, c.width))]
        for name in c.modalities:
            tok = tokens[name].astype(dtype) + self.modality_embed[name].astype(dtype) + temporal
            seq.append(jnp.where(m, tok, jnp.zeros((), tok.dtype)))
        x = jnp.concatenate(seq, axis=1)  # (B, 1 + M*W, E)
        key_valid = jnp.concatenate([jnp.ones((batch, 1), bool)] + [valid] * len(c.modalities), 1)
        for i in range(c.depth):
            x = getattr(self, f"block{i}")(x, key_valid)
        y = self.head_hidden(self.norm(x[:, 0]))
        if c.kinematic_features:
            y = y + self.head_kinematics(kin.features.astype(dtype))
        raw = self.head_out(nn.gelu(y, approximate=False)).astype(jnp.float32)
        scale = jnp.asarray(c.output_scale, jnp.float32)
        log_scale = jnp.clip(raw[:, 3:], *_LOG_SCALE_RANGE) + jnp.log(scale)
        pose = raw[:, :3] * scale + kin.prior
        if c.heading_fusion:
            # the yaw output is a logit: the gate between the gyro's turn and the wheels'
            gate = jax.nn.sigmoid(raw[:, 2])
            gyro, wheel = kin.turns[:, 0], kin.turns[:, 1]
            pose = pose.at[:, 2].set(gyro + gate * (wheel - gyro))
        return OdometryOutput(pose, log_scale)


# ----------------------------------------------------------------------------- loss


def odometry_loss(
    pred: jax.Array,
    log_scale: jax.Array,
    target: jax.Array,
    uncertainty_weight: float = 0.1,
    *,
    pose_scale: tuple[float, float, float] = DEFAULT_POSE_SCALE,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """L1 pose loss plus a Laplace uncertainty term, both in units of ``pose_scale``.

    Args:
      pred: (B, 3) predicted (dx m, dy m, dtheta rad).
      log_scale: (B, 3) predicted log Laplace scale b (m, m, rad).
      target: (B, 3) ground-truth relative pose of the same pair.
      uncertainty_weight: weight of the uncertainty term.
      pose_scale: the head's ``config.output_scale`` (its ``pose_scale`` unless it corrects
        a prior at ``residual_scale``).

    With e = |pred - target| / pose_scale (the yaw difference wrapped to [-pi, pi)) and
    s = log(b / pose_scale), the loss is ``mean(e) + w * mean(sg(e) * exp(-s) + s)``. The
    second term is the Laplace negative log-likelihood with the error stopped from the
    gradient: it trains only the scale (minimised at b = |error|, so b is calibrated to the
    expected absolute error) and never pulls the pose toward the samples it is sure about,
    which the plain NLL would (its pose gradient is 1/b).

    Returns:
      (loss scalar, metrics): ``l1`` and ``nll`` (normalised units), ``mae_x_m``, ``mae_y_m``,
      ``mae_theta_rad`` and the mean predicted scales ``b_x_m``, ``b_y_m``, ``b_theta_rad``.
    """
    for name, a in (("pred", pred), ("log_scale", log_scale), ("target", target)):
        if a.ndim != 2 or a.shape[-1] != 3 or a.shape[0] != pred.shape[0]:
            raise ValueError(
                f"odometry_loss: {name} shape {a.shape}: expected (B, 3) with B = {pred.shape[0]}"
            )
    scale = jnp.asarray(pose_scale, jnp.float32)
    diff = pred.astype(jnp.float32) - target.astype(jnp.float32)
    diff = diff.at[:, 2].set(geometry.wrap_angle(diff[:, 2]))
    err = jnp.abs(diff) / scale
    s = log_scale.astype(jnp.float32) - jnp.log(scale)
    l1 = err.mean()
    nll = (jax.lax.stop_gradient(err) * jnp.exp(-s) + s).mean()
    mae = jnp.abs(diff).mean(axis=0)
    b = jnp.exp(log_scale.astype(jnp.float32)).mean(axis=0)
    metrics = {
        "l1": l1,
        "nll": nll,
        "mae_x_m": mae[0],
        "mae_y_m": mae[1],
        "mae_theta_rad": mae[2],
        "b_x_m": b[0],
        "b_y_m": b[1],
        "b_theta_rad": b[2],
    }
    return l1 + uncertainty_weight * nll, metrics


__all__ = [
    "ACCEL_SCALE",
    "DEFAULT_POSE_SCALE",
    "GRAVITY",
    "GYRO_SCALE",
    "KINEMATIC_FEATURES",
    "WHEEL_SCALE",
    "Kinematics",
    "OdometryHead",
    "OdometryHeadConfig",
    "OdometryOutput",
    "SensorLSTM",
    "SensorTokenizer",
    "kinematic_features",
    "kinematic_prior",
    "kinematics",
    "normalize_imu",
    "normalize_wheel",
    "odometry_loss",
]
