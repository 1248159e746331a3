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
(same units), the uncertainty the navigation filter uses (variance 2 b^2).

Switched-off modalities produce no tokens and have no parameters: their inputs may be None and
are never read.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax import geometry
from astra_jax.config import get_preset
from astra_jax.local_model.bev_correlation import CorrelationTokenizer
from astra_jax.nn.vit import ViTBlock, layer_norm
from astra_jax.validation import (
    ConfigError,
    check_bools,
    check_dtype_names,
    check_non_negative_ints,
    check_positive_ints,
    check_positive_numbers,
    fail_field,
    is_int,
    is_number,
)

DType = Any

# ----------------------------------------------------------------------------- raw input scales
# The one place raw sensor values are normalised (model inputs of order 1). Specific force at
# rest is (0, 0, +g): subtracting g from accel z leaves the motion. Scales are typical
# magnitudes for the simulator's robot (RobotConfig: wheel radius 0.08 m, at most 1 m/s and
# 1.5 rad/s): yaw rates ~1 rad/s, accelerations ~2 m/s^2, wheel speeds ~10 rad/s.
GRAVITY = 9.81  # m/s^2
GYRO_SCALE = 1.0  # rad/s
ACCEL_SCALE = 2.0  # m/s^2
WHEEL_SCALE = 10.0  # rad/s

# Typical magnitude of each pose component over one 0.5 s pair at the simulator's 0.6 m/s
# cruise: 0.3 m forward, 0.05 m sideways (a differential drive only drifts sideways along an
# arc), 0.3 rad of yaw. The head predicts pose / pose_scale and the loss is taken there, so the
# three axes weigh alike.
DEFAULT_POSE_SCALE = (0.3, 0.05, 0.3)

# Bounds of the predicted normalised log scale (b / pose_scale in [e^-8, e^4]): keeps exp(-log b)
# in the loss finite early in training.
_LOG_SCALE_RANGE = (-8.0, 4.0)

MODALITIES = ("visual", "imu", "wheel")


def normalize_imu(imu: jax.Array) -> jax.Array:
    """Raw IMU samples (..., 6) (gyro rad/s, specific force m/s^2) -> normalised float32."""
    imu = imu.astype(jnp.float32)
    gyro = imu[..., :3] / GYRO_SCALE
    accel = (imu[..., 3:] - jnp.array([0.0, 0.0, GRAVITY], jnp.float32)) / ACCEL_SCALE
    return jnp.concatenate([gyro, accel], axis=-1)


def normalize_wheel(wheel: jax.Array) -> jax.Array:
    """Raw wheel angular velocities (..., 2) rad/s -> normalised float32."""
    return wheel.astype(jnp.float32) / WHEEL_SCALE


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class OdometryHeadConfig:
    """Sizes and switches of the odometry head.

    Attributes:
      window: W, frame pairs per sample (W + 1 frames).
      bev_shape: (X, Y, C) of one frame's BEV features (voxels folded: C = Z * C_voxel).
      bev_resolution: metres per BEV cell.
      corr_channels: width of the 1x1 projection of the BEV before the correlation.
      corr_radius: half-width of the correlation window in (downsampled) cells; 3 = the paper's
        7x7.
      corr_downsample: average-pooling factor of the projected BEV before the correlation, so
        the window keeps the paper's 0.2 m cells (+-0.6 m) on a finer grid (base: 2).
      conv_channels: channels of the stride-2 3x3 convolutions over the correlation volume.
      pool_hw: side of the grid the CNN output is average-pooled to before its flattening.
      width, depth, num_heads, mlp_ratio: the transformer encoder.
      lstm_hidden: hidden width of the IMU and wheel LSTMs.
      imu_samples, wheel_samples: samples per pair (200 Hz and 100 Hz over 0.5 s: 100, 50).
      imu_pool, wheel_pool: temporal average pooling of the samples before the LSTM (1 = none).
        Averaging p consecutive samples keeps the integral of the rates (what odometry needs)
        and divides the sequential scan by p, which is what makes the LSTM cheap on a CPU.
      use_visual, use_imu, use_wheel: the variants (visual-only, +IMU, +wheel, +both, or the
        sensors alone); at least one must be on.
      pose_scale: (dx m, dy m, dtheta rad) normalisation of the target (DEFAULT_POSE_SCALE).
      kinematic_prior: the head outputs a correction to the dead-reckoned motion of the same
        pair's raw samples (:func:`kinematic_prior`: wheel distance in the gyro heading with
        both sensors, the wheels alone, the gyro's turn alone, nothing for visual-only), so an
        untrained head starts at the classical estimate and learns what the kinematics miss
        (slip, scale, bias). False: it regresses the motion from scratch.
      pair_interval: seconds between the pair's frames (the samples span it evenly).
      wheel_radius, wheel_base: the nominal drive geometry (m) the prior integrates with
        (RobotConfig's): what the robot believes, not the true, perturbed values.
      dtype, param_dtype: compute and parameter dtype names. Correlation, LSTM recurrence and
        the output are float32.
    """

    window: int = 10
    bev_shape: tuple[int, int, int] = (64, 64, 256)
    bev_resolution: float = 0.2
    corr_channels: int = 64
    corr_radius: int = 3
    corr_downsample: int = 1
    conv_channels: tuple[int, ...] = (32, 64, 96)
    pool_hw: int = 4
    width: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: int = 4
    lstm_hidden: int = 64
    imu_samples: int = 100
    wheel_samples: int = 50
    imu_pool: int = 4
    wheel_pool: int = 2
    use_visual: bool = True
    use_imu: bool = True
    use_wheel: bool = True
    pose_scale: tuple[float, float, float] = DEFAULT_POSE_SCALE
    kinematic_prior: bool = True
    pair_interval: float = 0.5
    wheel_radius: float = 0.08
    wheel_base: float = 0.45
    dtype: str = "float32"
    param_dtype: str = "float32"

    def __post_init__(self) -> None:
        check_positive_ints(self, "window", "corr_channels", "corr_downsample", "pool_hw")
        check_positive_ints(self, "width", "depth", "num_heads", "mlp_ratio", "lstm_hidden")
        check_positive_ints(self, "imu_samples", "wheel_samples", "imu_pool", "wheel_pool")
        check_non_negative_ints(self, "corr_radius")
        check_positive_numbers(self, "bev_resolution")
        check_bools(self, "use_visual", "use_imu", "use_wheel", "kinematic_prior")
        check_positive_numbers(self, "pair_interval", "wheel_radius", "wheel_base")
        check_dtype_names(self, "dtype", "param_dtype")
        bs = self.bev_shape
        if not (isinstance(bs, tuple) and len(bs) == 3 and all(is_int(v) and v > 0 for v in bs)):
            fail_field(self, "bev_shape", "(X, Y, C) as three positive integers")
        cc = self.conv_channels
        if not (isinstance(cc, tuple) and all(is_int(v) and v > 0 for v in cc)):
            fail_field(self, "conv_channels", "a tuple of positive integers")
        ps = self.pose_scale
        if not (isinstance(ps, tuple) and len(ps) == 3 and all(is_number(v) and v > 0 for v in ps)):
            fail_field(self, "pose_scale", "(dx m, dy m, dtheta rad) as three positive numbers")
        if not (self.use_visual or self.use_imu or self.use_wheel):
            raise ConfigError(
                "OdometryHeadConfig.use_visual = use_imu = use_wheel = False: expected at least "
                "one modality switched on"
            )
        if self.width % self.num_heads:
            fail_field(self, "num_heads", f"a divisor of width = {self.width}")
        if self.imu_samples % self.imu_pool:
            fail_field(self, "imu_pool", f"a divisor of imu_samples = {self.imu_samples}")
        if self.wheel_samples % self.wheel_pool:
            fail_field(self, "wheel_pool", f"a divisor of wheel_samples = {self.wheel_samples}")
        # Each stride-2 conv halves the grid; the pooled grid must tile it exactly.
        step = self.corr_downsample * 2 ** len(cc) * self.pool_hw
        if bs[0] % step or bs[1] % step:
            fail_field(
                self,
                "bev_shape",
                f"X and Y multiples of corr_downsample * 2^len(conv_channels) * pool_hw = {step}",
            )

    @classmethod
    def for_preset(cls, name: str, **overrides: Any) -> OdometryHeadConfig:
        """The head of preset ``name`` (tiny, small, base), with optional field overrides."""
        if name not in _PRESETS:
            raise ValueError(
                f"OdometryHeadConfig.for_preset: {name!r}: expected one of {', '.join(_PRESETS)}"
            )
        # the prior integrates with the preset robot's nominal geometry at its tick interval
        preset = get_preset(name)
        robot = preset.sim.robot
        fields = dict(pair_interval=preset.local.frame_interval, wheel_radius=robot.wheel_radius,
                      wheel_base=robot.wheel_base)  # fmt: skip
        return dataclasses.replace(_PRESETS[name], **{**fields, **overrides})

    # ------------------------------------------------------------------ derived

    @property
    def modalities(self) -> tuple[str, ...]:
        """The switched-on modalities, in token order."""
        on = (self.use_visual, self.use_imu, self.use_wheel)
        return tuple(m for m, flag in zip(MODALITIES, on, strict=True) if flag)

    @property
    def num_tokens(self) -> int:
        """CLS + one token per step and switched-on modality."""
        return 1 + self.window * len(self.modalities)

    @property
    def search_range_m(self) -> float:
        """Largest displacement (m) the correlation window sees between two frames."""
        return self.corr_radius * self.corr_downsample * self.bev_resolution

    def inputs_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes of the head's inputs for ``batch_size`` samples (switched-on modalities and
        ``valid``)."""
        if not is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"inputs_spec: batch_size = {batch_size!r}: expected a positive int")
        b, w = batch_size, self.window
        spec = {}
        if self.use_visual:
            spec["bev"] = jax.ShapeDtypeStruct((b, w + 1, *self.bev_shape), jnp.float32)
        if self.use_imu:
            spec["imu"] = jax.ShapeDtypeStruct((b, w, self.imu_samples, 6), jnp.float32)
        if self.use_wheel:
            spec["wheel"] = jax.ShapeDtypeStruct((b, w, self.wheel_samples, 2), jnp.float32)
        spec["valid"] = jax.ShapeDtypeStruct((b, w), jnp.bool_)
        return spec

    def module(self) -> OdometryHead:
        return OdometryHead(self)

    def create(self, rng: jax.Array) -> tuple[OdometryHead, Any]:
        """``(module, params)`` initialised from ``rng``; params boxed with logical axis names."""
        module = self.module()
        dummy = {k: jnp.zeros(v.shape, v.dtype) for k, v in self.inputs_spec(1).items()}
        params = jax.jit(module.init)(rng, **dummy)["params"]
        return module, params


_PRESETS: dict[str, OdometryHeadConfig] = {
    # W = 3 on the tiny encoder's 16x16 grid at 0.8 m (the 7x7 window sees +-2.4 m).
    "tiny": OdometryHeadConfig(
        window=3,
        bev_shape=(16, 16, 32),
        bev_resolution=0.8,
        corr_channels=16,
        conv_channels=(16, 32),
        pool_hw=4,
        width=32,
        depth=1,
        num_heads=2,
        mlp_ratio=2,
        lstm_hidden=16,
        imu_pool=10,
        wheel_pool=5,
    ),
    # The paper's setting: 10 steps, 7x7 window on 0.2 m cells (+-0.6 m).
    "small": OdometryHeadConfig(),
    # 0.1 m voxels folded to (128, 128, 8*128); pooled by 2 before the correlation -> 0.2 m.
    "base": OdometryHeadConfig(
        bev_shape=(128, 128, 1024),
        bev_resolution=0.1,
        corr_channels=128,
        corr_downsample=2,
        conv_channels=(64, 128, 256),
        width=256,
        depth=6,
        num_heads=8,
        lstm_hidden=128,
        imu_pool=1,
        wheel_pool=1,
    ),
}


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
        # Zero-initialised output: the head starts at pose 0 with b = pose_scale.
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
        prior = self.prior(imu[:, -1] if c.use_imu else None, wheel[:, -1] if c.use_wheel else None,
                           batch)  # fmt: skip
        return self.fuse(self.tokens(bev, imu, wheel, valid), valid, prior)

    def prior(self, imu: jax.Array | None, wheel: jax.Array | None, batch: int) -> jax.Array:
        """(B, 3) the kinematic prior of the latest pair's raw samples, imu (B, S_imu, 6) and
        wheel (B, S_wheel, 2) (zeros when ``kinematic_prior`` is off)."""
        if not self.config.kinematic_prior:
            return jnp.zeros((batch, 3), jnp.float32)
        return kinematic_prior(self.config, imu, wheel, batch)

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
        self, tokens: dict[str, jax.Array], valid: jax.Array, prior: jax.Array
    ) -> OdometryOutput:
        """The transformer over the window's tokens -> the latest pair's pose.

        Args:
          tokens: per switched-on modality (B, W, width), from :meth:`tokens`.
          valid: (B, W) bool; invalid steps are zeroed and masked out of attention.
          prior: (B, 3) from :meth:`prior`, added to the regressed correction.
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
        raw = self.head_out(nn.gelu(y, approximate=False)).astype(jnp.float32)
        scale = jnp.asarray(c.pose_scale, jnp.float32)
        log_scale = jnp.clip(raw[:, 3:], *_LOG_SCALE_RANGE) + jnp.log(scale)
        return OdometryOutput(raw[:, :3] * scale + prior, log_scale)


# ----------------------------------------------------------------------------- prior


def kinematic_prior(
    config: OdometryHeadConfig, imu: jax.Array | None, wheel: jax.Array | None, batch: int
) -> jax.Array:
    """(B, 3) dead-reckoned motion (dx m, dy m, dtheta rad) of one pair from its raw samples:
    ``imu`` (B, S_imu, 6) and ``wheel`` (B, S_wheel, 2) (either may be None, switched off).

    Each wheel sample is a mean rate over its interval (the simulator's convention): the robot
    moves ``v = r (wl + wr) / 2`` along the heading at the interval's middle, the heading
    integrating the gyro's z rate (averaged onto the wheel intervals) or, without the IMU, the
    wheels' ``r (wr - wl) / b``. Without wheels only the gyro's turn is known; visual-only: 0.
    No gradient flows into the prior (it is a fixed function of the inputs).
    """
    c = config
    if wheel is None and imu is None:
        return jnp.zeros((batch, 3), jnp.float32)
    if wheel is None:
        gz = imu[..., 2].astype(jnp.float32)
        turn = jnp.sum(gz, axis=-1) * (c.pair_interval / gz.shape[-1])
        return jnp.stack([jnp.zeros_like(turn), jnp.zeros_like(turn), turn], -1)
    w = wheel.astype(jnp.float32)
    s_w = w.shape[-2]
    dt = c.pair_interval / s_w
    v = 0.5 * c.wheel_radius * (w[..., 0] + w[..., 1])
    if imu is not None and imu.shape[-2] % s_w == 0:
        gz = imu[..., 2].astype(jnp.float32)
        omega = gz.reshape(batch, s_w, -1).mean(-1)
    else:
        omega = c.wheel_radius * (w[..., 1] - w[..., 0]) / c.wheel_base
    turned = jnp.cumsum(omega * dt, axis=-1)
    heading = turned - 0.5 * omega * dt
    dx = jnp.sum(v * jnp.cos(heading), axis=-1) * dt
    dy = jnp.sum(v * jnp.sin(heading), axis=-1) * dt
    return jax.lax.stop_gradient(jnp.stack([dx, dy, turned[..., -1]], -1))


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
      pose_scale: the head's ``config.pose_scale``.

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
    "WHEEL_SCALE",
    "OdometryHead",
    "OdometryHeadConfig",
    "OdometryOutput",
    "SensorLSTM",
    "SensorTokenizer",
    "normalize_imu",
    "normalize_wheel",
    "odometry_loss",
]
