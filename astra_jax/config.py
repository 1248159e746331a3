"""Frozen, self-validating configs and the presets tiny / small / base.

Every config is a frozen dataclass that checks its own fields in ``__post_init__``. A bad
value raises :class:`ConfigError` naming the field, the value and what was expected. Units are
SI (metres, seconds, radians) unless a field name says otherwise (``*_hz``, ``*_px``).

The presets follow the table in ``docs/design.md``:

=============  ===========  =====================  =====================
what           tiny         small                  base
=============  ===========  =====================  =====================
cameras        3            3                      3
image          32x32        96x96                  224x224
depth bins     8, 0.3-8 m   32, 0.3-8 m            64, 0.3-12 m
voxel grid     16x16x2 @0.8 64x64x4 @0.2, z 0-2 m  128x128x8 @0.1, z 0-2 m
temporal       2 past       4 past, 0.5 s apart    4 past -> 4 future
trajectory     4 waypoints  8 @ 0.5 s              8 @ 0.5 s
odom window    3            10                     10
MLLM           ~1M params   ~20M params            Qwen2.5-VL-3B/7B
=============  ===========  =====================  =====================

This module holds the rows the simulator and the encoder use (rig, image, depth bins, voxel
grid, past frames). Future frames, trajectory and odometry window are wired by the heads and
the 4D stage when they land (their own configs, in the named experiments); the MLLM sizes are
``astra_jax.global_model.get_config``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

from astra_jax.validation import (
    ConfigError,
    check_bools,
    check_finite,
    check_hw,
    check_non_empty_strings,
    check_non_negative_ints,
    check_non_negative_numbers,
    check_positive_ints,
    check_positive_numbers,
    check_types,
    fail_field,
)

# ----------------------------------------------------------------------------- validation

# The field checks live in astra_jax.validation, shared by every config so that each error
# reads the same: "Class.field = value: expected ...". ConfigError, fail_field and the
# check_* functions imported above may be imported from here too.


def check_patch_divides_image(label: str, local: LocalModelConfig, rig: RigConfig) -> None:
    """Raise unless the ViT patch size divides both sides of the rig's image. ``label``
    starts the message: ``"tiny: "`` (a preset) or ``"EncoderConfig."`` (a config class)."""
    h, w = rig.image_hw
    p = local.vit.patch_size
    if h % p or w % p:
        raise ConfigError(
            f"{label}local.vit.patch_size = {p}: expected a divisor of the image size "
            f"rig.image_hw = {rig.image_hw}"
        )


# ----------------------------------------------------------------------------- camera rig


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    """One pinhole camera on the robot.

    Position ``(x, y, z)`` in metres in the ego frame (REP-103: x forward, y left, z up, origin
    on the floor below the robot's centre). ``yaw`` turns the optical axis about ego z
    (0 = forward, +pi/2 = left); ``pitch_down`` tilts it toward the floor. ``hfov`` is the
    horizontal field of view; pixels are square.
    """

    name: str
    x: float
    y: float
    z: float
    yaw: float
    pitch_down: float = 0.0
    hfov: float = math.radians(120.0)

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name")
        check_finite(self, "x", "y", "z", "yaw", "pitch_down")
        if not -math.pi / 2 < self.pitch_down < math.pi / 2:
            fail_field(self, "pitch_down", "an angle in (-pi/2, pi/2) rad")
        check_finite(self, "hfov")
        if not 0.0 < self.hfov < math.radians(170.0):
            fail_field(self, "hfov", "a field of view in (0, 170 deg) given in radians")


def default_rig() -> tuple[CameraConfig, ...]:
    """The robot's three cameras: front, rear-left and rear-right, 120 deg apart, 1 m high.

    Three 120 deg cameras cover the full circle around the robot, as Astra-Local's surround
    encoder expects. A 10 deg downward tilt keeps the floor in view near the robot.
    """
    tilt = math.radians(10.0)
    return (
        CameraConfig("front", 0.20, 0.0, 1.0, 0.0, tilt),
        CameraConfig("rear_left", -0.10, 0.17, 1.0, math.radians(120.0), tilt),
        CameraConfig("rear_right", -0.10, -0.17, 1.0, math.radians(-120.0), tilt),
    )


@dataclasses.dataclass(frozen=True)
class RigConfig:
    """The camera rig and the image sizes it renders at.

    ``image_hw`` is the training/inference resolution of the preset; ``mapping_hw`` is the
    higher resolution of tours rendered for SfM (SIFT finds too few features at 96x96).
    """

    cameras: tuple[CameraConfig, ...] = dataclasses.field(default_factory=default_rig)
    image_hw: tuple[int, int] = (96, 96)
    mapping_hw: tuple[int, int] = (240, 320)

    def __post_init__(self) -> None:
        if not isinstance(self.cameras, tuple) or not self.cameras:
            fail_field(self, "cameras", "a non-empty tuple of CameraConfig")
        for c in self.cameras:
            if not isinstance(c, CameraConfig):
                fail_field(self, "cameras", "a non-empty tuple of CameraConfig")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            fail_field(self, "cameras", "cameras with distinct names")
        check_hw(self, "image_hw", "mapping_hw")

    @property
    def num_cameras(self) -> int:
        return len(self.cameras)


# ----------------------------------------------------------------------------- Astra-Local


@dataclasses.dataclass(frozen=True)
class VoxelGridConfig:
    """An ego-centred voxel grid: ``nx`` x ``ny`` cells of ``xy_resolution`` metres, centred on
    the robot, and ``nz`` layers splitting ``[z_min, z_max)`` metres above the floor."""

    nx: int
    ny: int
    nz: int
    xy_resolution: float
    z_min: float = 0.0
    z_max: float = 2.0

    def __post_init__(self) -> None:
        check_positive_ints(self, "nx", "ny", "nz")
        check_positive_numbers(self, "xy_resolution")
        check_finite(self, "z_min", "z_max")
        if self.z_max <= self.z_min:
            fail_field(self, "z_max", f"a height above z_min = {self.z_min}")

    @property
    def z_resolution(self) -> float:
        return (self.z_max - self.z_min) / self.nz

    @property
    def extent_xy(self) -> tuple[float, float]:
        """Side lengths (m) of the grid along ego x and y."""
        return (self.nx * self.xy_resolution, self.ny * self.xy_resolution)

    @property
    def num_voxels(self) -> int:
        return self.nx * self.ny * self.nz


@dataclasses.dataclass(frozen=True)
class DepthBinsConfig:
    """``num_bins`` depth bins with centres spaced linearly from ``d_min`` to ``d_max`` metres."""

    num_bins: int
    d_min: float
    d_max: float

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_bins")
        check_positive_numbers(self, "d_min", "d_max")
        if self.d_max <= self.d_min:
            fail_field(self, "d_max", f"a depth beyond d_min = {self.d_min}")


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    """The camera ViT shared across cameras. ``patch_size`` in pixels."""

    patch_size: int
    width: int
    depth: int
    num_heads: int
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        check_positive_ints(self, "patch_size", "width", "depth", "num_heads", "mlp_ratio")
        if self.width % self.num_heads:
            fail_field(self, "num_heads", f"a divisor of width = {self.width}")


@dataclasses.dataclass(frozen=True)
class LocalModelConfig:
    """Astra-Local's encoder and temporal fusion sizes.

    The planner's and odometry head's sizes (waypoints, their interval, the odometry window,
    flow steps) and the 4D stage's future frames arrive with those heads' own configs; the
    values the design chose for them are in docs/design.md's preset table."""

    vit: ViTConfig
    depth_bins: DepthBinsConfig
    voxel: VoxelGridConfig
    context_channels: int
    collapse_z: bool  # True: BEV (X, Y, Z*C); False: keep voxels (X, Y, Z, C)
    past_frames: int
    frame_interval: float  # s between fused frames

    def __post_init__(self) -> None:
        check_types(self, vit=ViTConfig, depth_bins=DepthBinsConfig, voxel=VoxelGridConfig)
        check_positive_ints(self, "context_channels")
        check_non_negative_ints(self, "past_frames")
        check_positive_numbers(self, "frame_interval")
        check_bools(self, "collapse_z")


# ----------------------------------------------------------------------------- simulator


@dataclasses.dataclass(frozen=True)
class RobotConfig:
    """Differential-drive base. Lengths in m, speeds in m/s and rad/s."""

    radius: float = 0.30
    wheel_radius: float = 0.08
    wheel_base: float = 0.45  # distance between the two drive wheels
    max_linear_speed: float = 1.0
    max_angular_speed: float = 1.5

    def __post_init__(self) -> None:
        check_positive_numbers(
            self, "radius", "wheel_radius", "wheel_base", "max_linear_speed", "max_angular_speed"
        )


@dataclasses.dataclass(frozen=True)
class SensorNoiseConfig:
    """IMU and wheel-encoder errors of a BMI088-class IMU and a differential drive's encoders.

    White noise and bias random walk follow the Kalibr convention: the discrete white-noise
    standard deviation at rate f is ``density * sqrt(f)``, and the bias random-walk step is
    ``random_walk / sqrt(f)``. On top of them, each episode draws the errors a real robot
    carries for a whole run (:class:`astra_jax.sim.sensors.SensorErrors`; the manifest's
    ``sensor_errors``), and the wheels slip under acceleration by an amount that depends on
    the floor. Each ``*_std`` is one standard deviation of a zero-mean normal draw. Setting a
    field to 0 turns its source off; :meth:`ideal` turns every source off.

    Defaults and their sources:

    * ``gyro_noise_density`` 0.014 deg/s/sqrt(Hz): BMI088 datasheet (BST-BMI088-DS001),
      gyroscope output noise.
    * ``gyro_bias_std`` 5.8e-4 rad/s (0.033 deg/s): what remains of the turn-on bias after
      the robot's start-up calibration (averaging the gyro at rest removes the datasheet's
      +-1 deg/s zero-rate offset): the BMI088's zero-rate offset change over temperature,
      0.015 deg/s/K (Bosch quotes typical values as 1 sigma), over ~2 K of warm-up after the
      calibration, with a 1 s calibration's own noise, 0.014 deg/s:
      sqrt(0.030^2 + 0.014^2) = 0.033 deg/s.
    * ``gyro_scale_std`` 0.01: BMI088 gyroscope sensitivity tolerance, +-1 % typical (1 sigma).
    * ``accel_scale_std`` 0.005 per axis: an assumption, not a datasheet figure. Unlike the
      gyro's, an accelerometer's scale and offset can be calibrated with no equipment, against
      gravity in a few static poses (the multi-position method; Tedaldi, Pretto & Menegatti,
      "A robust and easy to implement method for IMU calibration without external
      equipments", ICRA 2014), which leaves a few 0.1 %; 0.5 % keeps a margin. It matters:
      the centripetal force a_y = v w measures the turn rate independently of the gyro, and
      `bench/odometry_fusion.py` shows how the gyro calibration built on it
      (:mod:`astra_jax.maps.imu_calibration`) degrades as this grows (gone at about 1 %).
    * ``accel_bias_std`` 0.02 m/s^2 (2 mg) per axis: the offset left after the start-up
      calibration at rest, which cannot tell an offset from the floor's tilt (0.1 deg of
      tilt is 1.7 mg); an assumption.
    * ``wheel_radius_std`` 0.002 per wheel: a 160 mm moulded rubber or polyurethane tread
      held to ISO 2768-m (+-0.5 mm on 120-400 mm), uniform over that band: sigma = 0.31 % /
      sqrt(3) = 0.18 %. Unequal wheel diameters and the effective wheelbase are the two
      dominant systematic odometry errors of a differential drive (Borenstein & Feng 1996,
      "Measurement and correction of systematic odometry errors in mobile robots", IEEE
      T-RA 12(6), the UMBmark paper); this sets the first.
    * ``track_width_std`` 0.01: the effective wheelbase (Borenstein & Feng's E_b), 4.5 mm on
      the 0.45 m base: where on its tread each wheel's contact line lies, and the skid of
      turning on a caster-supported base, are uncertain by a few mm.
    * ``slip_ratio_at_full_grip`` 0.1: longitudinal slip ratio = this x (a / (mu g)), the
      linear part of a rubber tyre's slip curve, whose traction peaks at a slip ratio of
      about 0.1-0.2 (Pacejka, "Tire and Vehicle Dynamics"); ``mu`` is the floor's friction
      (:data:`astra_jax.sim.sensors.FLOOR_FRICTION`), so polished floors slip about twice
      as much as carpet.
    """

    imu_rate_hz: float = 200.0
    gyro_noise_density: float = 2.4e-4  # rad/s/sqrt(Hz)
    gyro_bias_random_walk: float = 2.0e-5  # rad/s^2/sqrt(Hz)
    accel_noise_density: float = 1.7e-3  # m/s^2/sqrt(Hz)
    accel_bias_random_walk: float = 3.0e-4  # m/s^3/sqrt(Hz)
    gyro_bias_std: float = 5.8e-4  # rad/s, per axis: turn-on bias left after calibration
    gyro_scale_std: float = 0.01  # relative, per axis: scale-factor error
    accel_bias_std: float = 0.02  # m/s^2, per axis: turn-on offset left after calibration
    accel_scale_std: float = 0.005  # relative, per axis: scale-factor error after calibration
    wheel_rate_hz: float = 100.0
    wheel_noise_std: float = 0.02  # rad/s, white noise on each wheel's angular velocity
    wheel_radius_std: float = 0.002  # relative, per wheel: effective radius error
    track_width_std: float = 0.01  # relative: effective track width (wheelbase) error
    slip_ratio_at_full_grip: float = 0.1  # slip ratio per unit of friction used, a / (mu g)
    gravity: float = 9.81  # m/s^2

    def __post_init__(self) -> None:
        check_positive_numbers(self, "imu_rate_hz", "wheel_rate_hz", "gravity")
        if self.imu_rate_hz < 100.0:
            fail_field(self, "imu_rate_hz", "at least 100 Hz")
        if self.wheel_rate_hz < 50.0:
            fail_field(self, "wheel_rate_hz", "at least 50 Hz")
        check_non_negative_numbers(
            self,
            "gyro_noise_density",
            "gyro_bias_random_walk",
            "accel_noise_density",
            "accel_bias_random_walk",
            "gyro_bias_std",
            "gyro_scale_std",
            "accel_bias_std",
            "accel_scale_std",
            "wheel_noise_std",
            "wheel_radius_std",
            "track_width_std",
            "slip_ratio_at_full_grip",
        )
        # a relative error of 10 % or more is no longer a small calibration error (and at
        # 100 % a wheel radius could reach zero)
        for name in ("gyro_scale_std", "accel_scale_std", "wheel_radius_std", "track_width_std"):
            if getattr(self, name) >= 0.1:
                fail_field(self, name, "below 0.1 (a relative error)")
        if self.slip_ratio_at_full_grip >= 1.0:
            fail_field(self, "slip_ratio_at_full_grip", "below 1 (a slip ratio)")

    @classmethod
    def ideal(cls) -> SensorNoiseConfig:
        """Exact sensors: no noise, no bias, no per-episode errors, no slip (for tests)."""
        return cls(
            gyro_noise_density=0.0, gyro_bias_random_walk=0.0, accel_noise_density=0.0,
            accel_bias_random_walk=0.0, gyro_bias_std=0.0, gyro_scale_std=0.0,
            accel_bias_std=0.0, accel_scale_std=0.0, wheel_noise_std=0.0, wheel_radius_std=0.0, track_width_std=0.0,
            slip_ratio_at_full_grip=0.0,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DepthNoiseConfig:
    """A stereo depth camera's errors (:mod:`astra_jax.sim.depth_noise`); every field 0 (the
    default) renders exact depth, as the simulator always did.

    Attributes:
      rms_per_m2: k (1/m), 1 sigma of a pixel's range error is ``k z^2``.
      min_range: m, nearer returns are missing (0: no limit).
      max_range: m, farther returns are missing (0: no limit).
      baseline: m between the stereo pair's imagers: the left imager's pixels the right one
        cannot see (occlusion shadows beside near objects) are missing (0: none).

    :meth:`d435` gives an Intel RealSense D435's values: Intel's D400 depth RMS error is
    ``z^2 * subpixel / (focal_px * baseline)``; with its 50 mm baseline, a 447 px focal length
    at 848 px wide (87 deg horizontal field of view) and the typical 0.08 px subpixel error
    (Intel, "Tuning depth cameras for best performance"), k = 0.0036 /m (1.4 cm at 2 m);
    minimum depth 0.28 m at full resolution (datasheet); 10 m as the range beyond which its
    pattern gives few returns indoors (an assumption); the 50 mm baseline for the shadows (the
    session-26 model's relative edge step, 5 %, also fired on grazing floors and walls: 14.5 %
    of the val offices' pixels at 96 x 96; replaced in session 27).
    """

    # session 26's relative edge step, replaced by ``baseline``: its records load when it was off
    RETIRED_FIELDS: ClassVar[dict[str, float]] = {"edge_jump": 0.0}

    rms_per_m2: float = 0.0
    min_range: float = 0.0
    max_range: float = 0.0
    baseline: float = 0.0

    def __post_init__(self) -> None:
        check_non_negative_numbers(self, "rms_per_m2", "min_range", "max_range", "baseline")
        if self.max_range and self.max_range <= self.min_range:
            fail_field(self, "max_range", f"0 (no limit) or above min_range = {self.min_range}")

    @property
    def active(self) -> bool:
        return any(v > 0 for v in dataclasses.astuple(self))

    def describe(self) -> str:
        """One phrase for reports: ``exact`` or the camera's errors."""
        if not self.active:
            return "exact"
        return (f"noisy (1 sigma {self.rms_per_m2:g} z^2 m, returns {self.min_range:g}-"
                f"{self.max_range:g} m, stereo baseline {self.baseline:g} m)")  # fmt: skip

    @classmethod
    def d435(cls) -> DepthNoiseConfig:
        return cls(rms_per_m2=0.0036, min_range=0.28, max_range=10.0, baseline=0.05)


@dataclasses.dataclass(frozen=True)
class WorldChanges:
    """Query-day changes (:mod:`astra_jax.sim.changes` applies them). The default changes
    nothing.

    Attributes:
        lighting: strength of the lighting change, 0 (none) to 1.
        moved_fraction: share of movable objects moved, 0 to 1.
        max_shift: the farthest an object moves (m).
        max_turn: the most an object turns (rad).
        seed: which changes (another seed: another query day).
    """

    lighting: float = 0.0
    moved_fraction: float = 0.0
    max_shift: float = 0.6
    max_turn: float = math.radians(45.0)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("lighting", "moved_fraction"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 <= v <= 1.0):
                raise ConfigError(f"WorldChanges.{name} = {v!r}: expected a number in [0, 1]")
        if not (0.0 < self.max_shift <= 3.0 and 0.0 <= self.max_turn <= math.pi):
            raise ConfigError(
                f"WorldChanges: max_shift {self.max_shift} must lie in (0, 3] m and max_turn "
                f"{self.max_turn} in [0, pi] rad"
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"WorldChanges.seed = {self.seed!r}: expected an int >= 0")

    @property
    def active(self) -> bool:
        return self.lighting > 0 or self.moved_fraction > 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PeopleConfig:
    """People who walk in goal episodes, tours and closed-loop runs (:mod:`astra_jax.sim.people`
    plans them). The default has none.

    Attributes:
        density: people per 100 m^2 of free floor (0: none; at least one above 0).
        speed_range: walking speeds (m/s) drawn per leg.
        pause_range: pauses (s) drawn at each goal.
        radius: body radius (m): paths keep it clear of obstacles; the expert and the labels
            treat a person as a disc of this radius.
        height: body height (m).
    """

    density: float = 0.0
    speed_range: tuple[float, float] = (0.5, 1.5)
    pause_range: tuple[float, float] = (0.5, 3.0)
    radius: float = 0.25
    height: float = 1.75

    def __post_init__(self) -> None:
        check_non_negative_numbers(self, "density")
        check_positive_numbers(self, "radius", "height")
        for name in ("speed_range", "pause_range"):
            v = getattr(self, name)
            ok = isinstance(v, tuple | list) and len(v) == 2
            lo, hi = v if ok else (0.0, -1.0)
            if not (ok and 0 <= lo <= hi and (name == "pause_range" or lo > 0)):
                raise ConfigError(f"PeopleConfig.{name} = {v!r}: expected (lo, hi), 0 < lo <= hi")

    @property
    def active(self) -> bool:
        return self.density > 0


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Simulator settings: robot, sensors, occupancy grid and episode timing.

    The occupancy grid marks a cell occupied when any wall or object overlaps the robot's
    height band, 0.02-1.2 m above the floor (``astra_jax.sim.world.OBSTACLE_BAND``): a single
    low slice would let the 1 m tall robot drive under desk tops.
    """

    robot: RobotConfig = dataclasses.field(default_factory=RobotConfig)
    sensors: SensorNoiseConfig = dataclasses.field(default_factory=SensorNoiseConfig)
    occupancy_resolution: float = 0.05  # m per cell of the 2D occupancy / ESDF grid
    camera_rate_hz: float = 10.0  # frames per second in episodes
    physics_rate_hz: float = 200.0  # integration rate of the robot's motion
    # Out-of-distribution clutter (astra_jax.sim.clutter): extra boxes, chairs, carts and
    # standing people per m^2 of free floor, not in the floor plan. 0 = none (the plan as is).
    clutter_density: float = 0.0
    # The query day (astra_jax.sim.changes): lighting changes and moved movable objects
    # against the world as toured. The default changes nothing.
    world_changes: WorldChanges = dataclasses.field(default_factory=WorldChanges)
    # People who walk (astra_jax.sim.people): in goal episodes, tours and closed-loop runs.
    people: PeopleConfig = dataclasses.field(default_factory=PeopleConfig)
    # The depth cameras' errors (astra_jax.sim.depth_noise). The default renders exact depth.
    depth_noise: DepthNoiseConfig = dataclasses.field(default_factory=DepthNoiseConfig)

    def __post_init__(self) -> None:
        check_types(
            self, robot=RobotConfig, sensors=SensorNoiseConfig, world_changes=WorldChanges,
            people=PeopleConfig, depth_noise=DepthNoiseConfig,
        )  # fmt: skip
        check_positive_numbers(self, "occupancy_resolution", "camera_rate_hz", "physics_rate_hz")
        # 0.5 per m^2 is one object for every 2 m^2 of free floor, a crowd well past the
        # paper's congested scenes; near it the placement's passage rule may place fewer.
        clutter = "a number in [0, 0.5] (obstacles per m^2 of free floor)"
        check_non_negative_numbers(self, "clutter_density", expected=clutter)
        if self.clutter_density > 0.5:
            fail_field(self, "clutter_density", clutter)


# ----------------------------------------------------------------------------- top level


@dataclasses.dataclass(frozen=True)
class AstraConfig:
    """Everything a preset fixes for the simulator and Astra-Local. Astra-Global's sizes are
    ``astra_jax.global_model.get_config`` (tiny, small, qwen2.5-vl-3b/7b)."""

    name: str
    rig: RigConfig
    local: LocalModelConfig
    sim: SimConfig = dataclasses.field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name")
        check_types(self, rig=RigConfig, local=LocalModelConfig, sim=SimConfig)
        check_patch_divides_image(f"{self.name}: ", self.local, self.rig)

    def replace(self, **changes: Any) -> AstraConfig:
        """A copy with some top-level fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_depth_noise(self, scale: float) -> AstraConfig:
        """A copy whose depth cameras have a RealSense D435's errors with its range noise
        times ``scale`` (:meth:`DepthNoiseConfig.d435`); 0: exact depth."""
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale >= 0):
            raise ConfigError(f"depth noise scale {scale!r}: expected a number >= 0 (0: exact "
                              "depth, 1: a D435's range noise)")  # fmt: skip
        noise = DepthNoiseConfig()
        if scale > 0:
            d435 = DepthNoiseConfig.d435()
            noise = dataclasses.replace(d435, rms_per_m2=d435.rms_per_m2 * float(scale))
        return self.replace(sim=dataclasses.replace(self.sim, depth_noise=noise))

    def with_people(self, density: float) -> AstraConfig:
        """A copy with ``density`` walking people per 100 m^2 (``SimConfig.people``)."""
        people = dataclasses.replace(self.sim.people, density=float(density))
        return self.replace(sim=dataclasses.replace(self.sim, people=people))


def _tiny() -> AstraConfig:
    return AstraConfig(
        name="tiny",
        rig=RigConfig(image_hw=(32, 32), mapping_hw=(240, 320)),
        local=LocalModelConfig(
            vit=ViTConfig(patch_size=8, width=32, depth=2, num_heads=2),
            depth_bins=DepthBinsConfig(8, 0.3, 8.0),
            voxel=VoxelGridConfig(16, 16, 2, 0.8, 0.0, 2.0),
            context_channels=16,
            collapse_z=True,
            past_frames=2,
            frame_interval=0.5,
        ),
    )


def _small() -> AstraConfig:
    return AstraConfig(
        name="small",
        rig=RigConfig(image_hw=(96, 96), mapping_hw=(240, 320)),
        local=LocalModelConfig(
            vit=ViTConfig(patch_size=8, width=128, depth=4, num_heads=4),
            depth_bins=DepthBinsConfig(32, 0.3, 8.0),
            voxel=VoxelGridConfig(64, 64, 4, 0.2, 0.0, 2.0),
            context_channels=64,
            collapse_z=True,
            past_frames=4,
            frame_interval=0.5,
        ),
    )


def _base() -> AstraConfig:
    return AstraConfig(
        name="base",
        rig=RigConfig(image_hw=(224, 224), mapping_hw=(480, 640)),
        local=LocalModelConfig(
            # ViT-S/14, the paper's default backbone.
            vit=ViTConfig(patch_size=14, width=384, depth=12, num_heads=6),
            depth_bins=DepthBinsConfig(64, 0.3, 12.0),
            voxel=VoxelGridConfig(128, 128, 8, 0.1, 0.0, 2.0),
            context_channels=128,
            collapse_z=False,
            past_frames=4,
            frame_interval=0.5,
        ),
    )


PRESETS: dict[str, Callable[[], AstraConfig]] = {"tiny": _tiny, "small": _small, "base": _base}


def get_preset(name: str) -> AstraConfig:
    """The preset called ``name`` (``tiny``, ``small`` or ``base``)."""
    try:
        factory = PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}"
        ) from None
    return factory()
