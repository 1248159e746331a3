"""The odometry head's configuration, its raw-input normalisation and its kinematic prior,
without Flax: the navigation loop (``serve/navigator.py``) integrates the prior on a robot that
runs the exported tick, and must not import the model code. The head itself is
:mod:`astra_jax.local_model.odometry_head`, which re-exports everything here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

from astra_jax.config import get_preset
from astra_jax.validation import (
    ConfigError,
    check_bools,
    check_choice,
    check_dtype_names,
    check_non_negative_ints,
    check_positive_ints,
    check_positive_numbers,
    fail_field,
    is_int,
    is_number,
)

if TYPE_CHECKING:
    from astra_jax.local_model.odometry_head import OdometryHead

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
GYRO_REFERENCES = ("accel", "scan")  # what gyro_calibration fits the gyro's scale against

# Bounds of the predicted normalised log scale (b / pose_scale in [e^-8, e^4]): keeps exp(-log b)
# in the loss finite early in training.
_LOG_SCALE_RANGE = (-8.0, 4.0)

MODALITIES = ("visual", "imu", "wheel")

# The latest pair's pre-integrated sensor summary (:func:`kinematic_features`), in this order.
# Scales make each of order 1 for the simulator's robot over a 0.5 s pair.
KINEMATIC_FEATURES = (
    "prior_dx",  # the prior's forward motion / pose_scale x
    "prior_dtheta",  # the prior's turn / pose_scale theta
    "gyro_turn",  # integrated z gyro / 0.3 rad
    "wheel_turn",  # r (wr - wl) / b integrated / 0.3 rad
    "turn_disagreement",  # (wheel turn - gyro turn) / TURN_DISAGREEMENT_SCALE
    "wheel_distance",  # r (wl + wr) / 2 integrated / 0.3 m
    "speed_squared_change",  # (v_end^2 - v_start^2) / 2 / SPEED_SQUARED_SCALE
    "forward_accel",  # mean forward specific force / ACCEL_SCALE
)
# The two turns disagree by ~1 % of the turn (gyro scale factor against the effective track
# width) plus the wheels' bend from unequal radii: ~3 mrad over a 0.3 rad pair. Scaled up so
# the head sees the disagreement at order 1, not as a 1e-2 difference of two large inputs.
TURN_DISAGREEMENT_SCALE = 0.01  # rad
# Wheel slip under acceleration adds k / (mu g) * (v_end^2 - v_start^2) / 2 to the wheels'
# distance (sim/sensors.py): this term, at 0.6 m/s from rest, is 0.18 m^2/s^2.
SPEED_SQUARED_SCALE = 0.1  # m^2/s^2


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
      kinematic_features: the latest pair's pre-integrated sensor summary
        (:func:`kinematic_features`: the gyro's and the wheels' turns and their disagreement,
        the wheels' distance, the change of squared speed that drives slip) enters the output
        MLP beside the CLS token. The LSTM tokens hold the same samples, but the corrections
        the prior needs are ~1e-3 of the motion: read off two large integrals they are lost
        in the LSTM's precision; given directly they are a linear function to learn.
      residual_scale: with the prior, the scale (dx m, dy m, dtheta rad) of the correction on
        the axes the prior covers (all three with the wheels, dtheta with the IMU alone): the
        output, the loss and the initial uncertainty are in these units (:attr:`output_scale`).
        Empty: ``pose_scale``, as if the prior were off (a correction scaled like the whole
        motion moves by millimetres per Adam step, the size of the errors to fix).
      heading_fusion: the yaw output is a learned convex combination of the pair's two turn
        sensors, ``gyro_turn + sigmoid(a) (wheel_turn - gyro_turn)``, with the logit ``a``
        regressed by the output MLP from the whole window's tokens (the pose's x and y stay a
        free correction of the prior). The gyro's 1 % scale error dominates the rotation drift
        of the classical fusion, and the wheels' turn carries an independent 1 % track-width
        error: on turns their mean halves the variance, on straight drives the wheels' bend
        from unequal radii makes the gyro alone better; which one the pair needs is what the
        gate learns. A bounded blend cannot add a turn that neither sensor saw, so the head
        does not trade the turning pairs' gain for noise on straight ones (docs/design.md,
        section 13, "Session 23"). Needs ``use_imu``, ``use_wheel`` and ``kinematic_prior``.
      gyro_calibration: the head reads the gyro's z rate divided by the scale fitted online
        from the centripetal force (:mod:`astra_jax.maps.imu_calibration`: the accelerometer's
        lateral force against the wheels' speed times the gyro, over the whole drive so far).
        The head itself is unchanged; whoever feeds it applies the scale: the training and
        evaluation samples (``HeadSamples``) and the navigator. A window cannot see a robot's
        1 % gyro scale error, the largest part of the classical fusion's heading drift; the
        drive's turns can (docs/design.md, section 13, "Session 24"). Needs ``use_imu`` and
        ``use_wheel``.
      gyro_reference: what ``gyro_calibration`` fits the gyro's scale against: ``"accel"``
        (the centripetal force, above) or ``"scan"``, the turns of the rig's depth frames
        matched as 2-D scans every ``pair_interval`` (:mod:`astra_jax.maps.scan_gyro_calibration`:
        measured against the walls, it carries neither the wheels' radius error nor the
        accelerometer's scale error; docs/design.md, section 13, "Session 25").
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
    kinematic_features: bool = False
    residual_scale: tuple[float, ...] = ()
    heading_fusion: bool = False
    gyro_calibration: bool = False
    gyro_reference: str = "accel"
    pair_interval: float = 0.5
    wheel_radius: float = 0.08
    wheel_base: float = 0.45
    dtype: str = "float32"
    param_dtype: str = "float32"

    @property
    def gyro_scale_label(self) -> str | None:
        """The tick labels' key of the gyro scales the head's samples divide by (None: the
        gyro as read)."""
        if not self.gyro_calibration:
            return None
        return {"accel": "gyro_scale", "scan": "gyro_scale_scan"}[self.gyro_reference]

    def __post_init__(self) -> None:
        check_positive_ints(self, "window", "corr_channels", "corr_downsample", "pool_hw")
        check_positive_ints(self, "width", "depth", "num_heads", "mlp_ratio", "lstm_hidden")
        check_positive_ints(self, "imu_samples", "wheel_samples", "imu_pool", "wheel_pool")
        check_non_negative_ints(self, "corr_radius")
        check_positive_numbers(self, "bev_resolution")
        check_bools(self, "use_visual", "use_imu", "use_wheel", "kinematic_prior",
                    "kinematic_features", "heading_fusion", "gyro_calibration")  # fmt: skip
        check_positive_numbers(self, "pair_interval", "wheel_radius", "wheel_base")
        check_choice(self, "gyro_reference", GYRO_REFERENCES)
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
        rs = self.residual_scale
        if not (
            isinstance(rs, tuple) and len(rs) in (0, 3) and all(is_number(v) and v > 0 for v in rs)
        ):
            fail_field(
                self, "residual_scale", "() or (dx m, dy m, dtheta rad) as three positive numbers"
            )
        if not (self.use_visual or self.use_imu or self.use_wheel):
            raise ConfigError(
                "OdometryHeadConfig.use_visual = use_imu = use_wheel = False: expected at least "
                "one modality switched on"
            )
        if self.heading_fusion and not (self.use_imu and self.use_wheel and self.kinematic_prior):
            raise ConfigError(
                "OdometryHeadConfig.heading_fusion = True blends the gyro's and the wheels' turns: "
                f"expected use_imu, use_wheel and kinematic_prior on, got {self.use_imu}, "
                f"{self.use_wheel} and {self.kinematic_prior}"
            )
        if self.gyro_calibration and not (self.use_imu and self.use_wheel):
            raise ConfigError(
                "OdometryHeadConfig.gyro_calibration = True fits the gyro's scale against the "
                "accelerometer and the wheels' speed: expected use_imu and use_wheel on, got "
                f"{self.use_imu} and {self.use_wheel}"
            )
        if self.gyro_reference != "accel" and not self.gyro_calibration:
            fail_field(self, "gyro_reference", "'accel' (the default) when gyro_calibration is off")
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
    def output_scale(self) -> tuple[float, float, float]:
        """Per axis, the unit of the regressed output, of the loss and of the initial
        uncertainty: ``residual_scale`` where the kinematic prior covers the axis, else
        ``pose_scale``."""
        if not (self.kinematic_prior and self.residual_scale):
            return self.pose_scale
        covered = (self.use_wheel, self.use_wheel, self.use_wheel or self.use_imu)
        return tuple(r if c else p for r, p, c in
                     zip(self.residual_scale, self.pose_scale, covered, strict=True))  # type: ignore[return-value]  # fmt: skip

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
        from astra_jax.local_model.odometry_head import OdometryHead  # Flax: only when built

        return OdometryHead(self)

    def create(self, rng: jax.Array) -> tuple[OdometryHead, Any]:
        """``(module, params)`` initialised from ``rng``; params boxed with logical axis names."""
        module = self.module()
        dummy = {k: jnp.zeros(v.shape, v.dtype) for k, v in self.inputs_spec(1).items()}
        params = jax.jit(module.init)(rng, **dummy)["params"]
        return module, params


# Every preset learns a correction of the prior from the pre-integrated features. The residual
# scale is the spread of what the prior misses over a 0.5 s pair on the simulator's drifting
# sensors (std of truth - prior over 14,192 training pairs: 1.1 mm, 0.22 mm, 2.0 mrad).
_CORRECTION: dict[str, Any] = dict(kinematic_features=True, residual_scale=(0.002, 0.0005, 0.004))

_PRESETS: dict[str, OdometryHeadConfig] = {
    # W = 3 on the tiny encoder's 16x16 grid at 0.8 m (the 7x7 window sees +-2.4 m).
    "tiny": OdometryHeadConfig(
        **_CORRECTION,
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
    "small": OdometryHeadConfig(**_CORRECTION),
    # 0.1 m voxels folded to (128, 128, 8*128); pooled by 2 before the correlation -> 0.2 m.
    "base": OdometryHeadConfig(
        **_CORRECTION,
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


class Kinematics(NamedTuple):
    """What the head knows of the latest pair before any learning: ``prior`` (B, 3), the
    dead-reckoned motion the output corrects (zeros with ``kinematic_prior`` off),
    ``features`` (B, len(KINEMATIC_FEATURES)), the normalised summary the output MLP reads
    (zeros with ``kinematic_features`` off), and ``turns`` (B, 2), the pair's gyro turn and
    wheel turn in rad (:func:`sensor_turns`; zeros unless the features or ``heading_fusion``
    read them)."""

    prior: jax.Array
    features: jax.Array
    turns: jax.Array


def kinematic_features(
    config: OdometryHeadConfig, imu: jax.Array | None, wheel: jax.Array | None, batch: int
) -> jax.Array:
    """(B, 8) the pre-integrated summary of one pair's raw samples, in
    :data:`KINEMATIC_FEATURES` order: ``imu`` (B, S_imu, 6) and ``wheel`` (B, S_wheel, 2),
    either None when switched off (its features, and the disagreement, are then 0). The speed at
    the pair's start and end is the mean over its first and last tenth. No gradient flows in.
    """
    prior = kinematic_prior(config, imu, wheel, batch)
    return _features(config, imu, wheel, prior, sensor_turns(config, imu, wheel, batch))


def sensor_turns(
    config: OdometryHeadConfig, imu: jax.Array | None, wheel: jax.Array | None, batch: int
) -> jax.Array:
    """(B, 2) one pair's turn (rad) by each sensor: the integrated z gyro of ``imu``
    (B, S_imu, 6), and ``wheel``'s (B, S_wheel, 2) ``r (wr - wl) / b`` integrated with the
    nominal geometry; 0 for a switched-off (None) sensor. No gradient flows in."""
    c = config
    gyro_turn = wheel_turn = jnp.zeros((batch,), jnp.float32)
    if imu is not None:
        gyro_turn = jnp.sum(imu[..., 2].astype(jnp.float32), -1) * (c.pair_interval / imu.shape[-2])
    if wheel is not None:
        w = wheel.astype(jnp.float32)
        rate = c.wheel_radius * (w[..., 1] - w[..., 0]) / c.wheel_base
        wheel_turn = jnp.sum(rate, -1) * (c.pair_interval / w.shape[-2])
    return jax.lax.stop_gradient(jnp.stack([gyro_turn, wheel_turn], -1))


def _features(
    c: OdometryHeadConfig,
    imu: jax.Array | None,
    wheel: jax.Array | None,
    prior: jax.Array,
    turns: jax.Array,
) -> jax.Array:
    """:func:`kinematic_features` given the pair's :func:`kinematic_prior` (B, 3) and
    :func:`sensor_turns` (B, 2)."""
    zeros = jnp.zeros(prior.shape[:1], jnp.float32)
    forward_accel = distance = dv2 = zeros
    gyro_turn, wheel_turn = turns[:, 0], turns[:, 1]
    if imu is not None:
        forward_accel = jnp.mean(imu[..., 3].astype(jnp.float32), axis=-1)
    if wheel is not None:
        w = wheel.astype(jnp.float32)
        dt = c.pair_interval / w.shape[-2]
        v = 0.5 * c.wheel_radius * (w[..., 0] + w[..., 1])
        distance = jnp.sum(v, axis=-1) * dt
        k = max(1, w.shape[-2] // 10)
        dv2 = 0.5 * (jnp.mean(v[..., -k:], -1) ** 2 - jnp.mean(v[..., :k], -1) ** 2)
    both = imu is not None and wheel is not None
    ps = c.pose_scale
    feats = [
        prior[:, 0] / ps[0],
        prior[:, 2] / ps[2],
        gyro_turn / 0.3,
        wheel_turn / 0.3,
        (wheel_turn - gyro_turn) / TURN_DISAGREEMENT_SCALE if both else zeros,
        distance / 0.3,
        dv2 / SPEED_SQUARED_SCALE,
        forward_accel / ACCEL_SCALE,
    ]
    return jax.lax.stop_gradient(jnp.stack(feats, -1))


def kinematics(
    config: OdometryHeadConfig, imu: jax.Array | None, wheel: jax.Array | None, batch: int
) -> Kinematics:
    """The :class:`Kinematics` of the latest pair for ``config``'s switches."""
    c = config
    zeros = jnp.zeros((batch, 3), jnp.float32)
    # computed once: the features read the prior even when the output does not add it
    prior = (
        kinematic_prior(c, imu, wheel, batch)
        if c.kinematic_prior or c.kinematic_features
        else zeros
    )
    # computed once too: the features and the heading fusion both read the two turns
    turns = (
        sensor_turns(c, imu, wheel, batch)
        if c.kinematic_features or c.heading_fusion
        else jnp.zeros((batch, 2), jnp.float32)
    )
    if c.kinematic_features:
        feats = _features(c, imu, wheel, prior, turns)
    else:
        feats = jnp.zeros((batch, len(KINEMATIC_FEATURES)), jnp.float32)
    return Kinematics(prior if c.kinematic_prior else zeros, feats, turns)
