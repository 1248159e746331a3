"""IMU and wheel encoders derived from the exact robot trajectory, and wheel odometry.

Conventions (see :class:`astra_jax.config.SensorNoiseConfig` for the parameters, their
defaults and the datasheets and papers they come from):

* The IMU sits at the ego origin with the ego axes (x forward, y left, z up). Sample k is at
  ``t_k = k / imu_rate_hz`` (k = 1..K) and reports the **mean** over ``(t_{k-1}, t_k]``:
  gyro = mean angular velocity (rad/s); accelerometer = mean specific force (m/s^2), i.e. the
  body-frame acceleration plus +g on z (the reading of an IMU at rest is (0, 0, +g)).
  Integrating the exact gyro z therefore gives the yaw exactly:
  ``yaw(t_k) = yaw(0) + sum_{j<=k} gyro_z[j] / imu_rate_hz``.
* Gyro errors: ``(1 + gyro_scale) * omega + gyro_bias`` per axis, with the per-episode scale
  factor error and turn-on bias residual of :class:`SensorErrors`, constant over the episode;
  so a bias b turns a straight drive of T s into a yaw error of b T, and a scale error s turns
  an in-place turn by an angle a into an error of s a. The accelerometer carries the same two
  kinds of error on the specific force (gravity included): ``(1 + accel_scale) * f +
  accel_bias``.
* Noise (Kalibr convention): each IMU sample adds white noise of standard deviation
  ``noise_density * sqrt(rate)`` and a bias that starts at 0 and random-walks by
  ``random_walk / sqrt(rate)`` per sample (on top of the turn-on bias).
* Wheels: the contact points move at ``u = v -+ omega * b_eff / 2`` (left, right), with the
  effective track width ``b_eff = wheel_base * (1 + track_width)``. Under acceleration a
  driven wheel slips: its rim moves at ``u * (1 + lambda)`` with the slip ratio
  ``lambda = slip_ratio_at_full_grip * a / (mu g)`` (signed: the rim runs ahead while
  speeding up, behind while braking; ``a`` is the wheel's own acceleration along its motion,
  the change of u over :data:`SLIP_ACCEL_WINDOW_S`, and ``a / (mu g)``, the share of the
  floor's grip in use, is clipped to 1). ``mu`` is the floor's friction at each physics step
  (:data:`FLOOR_FRICTION`). The encoder reports the rim speed over the true radius,
  ``r_nominal * (1 + wheel_radius)``. Wheel sample k at ``k / wheel_rate_hz`` holds the mean
  angular velocity (rad/s) of the left and right wheels over the preceding interval, plus
  white noise ``N(0, wheel_noise_std)``.
* Wheel odometry dead-reckons those readings with the nominal wheel radius and base, starting
  at the true first pose, as a robot does. A radius error e on one wheel bends a straight
  drive by ``+- e / ((1 + e) b)`` rad per metre (+ for the left wheel: it under-counts, so
  the odometry turns left); a track-width error w scales every turn by ``1 + w``; slip
  lengthens a speed-up from rest to V by ``slip_ratio_at_full_grip * V^2 / (2 mu g)`` and a
  braking to rest shortens the odometry's distance by as much.

Rows: ``imu`` (K, 7) = (t, gyro xyz, acc xyz); ``wheel`` (K, 3) = (t, omega_left, omega_right).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from astra_jax.config import RobotConfig, SensorNoiseConfig
from astra_jax.geometry import se2_compose, se2_exp
from astra_jax.sim.control import Trajectory

# Dry friction coefficient of the robot's rubber tread on each floor material
# (astra_jax.sim.materials.FLOOR_MATERIALS). Engineering tables give rubber on dry concrete
# 0.6-0.85 (e.g. The Engineering ToolBox, "Friction and friction coefficients"); glazed
# ceramic and polished stone tiles, epoxy coatings and sealed wood are the smooth floors of
# slip-resistance practice, dry values ~0.4-0.6 (ANSI A326.3 asks for a wet DCOF >= 0.42 on
# level interior floors, and dry is higher); power-troweled warehouse concrete lies between.
# Carpet grips best; its 0.85-0.9 is an assumption, not a measured figure.
FLOOR_FRICTION: dict[str, float] = {
    "carpet": 0.9,
    "carpet_tiles": 0.85,
    "concrete": 0.65,
    "wood_floor": 0.5,
    "floor_tiles": 0.5,
    "stone_tiles": 0.45,
    "epoxy": 0.45,
}
# Friction used when the caller says nothing about the floor (a generic hard floor).
DEFAULT_FLOOR_FRICTION = 0.6
# Window (s) over which a wheel's acceleration is measured for its slip: the trajectory's
# commands are piecewise constant (steps at the 50 Hz control rate), and a drive train cannot
# follow a step, so the acceleration is the change of the wheel speed over 0.1 s.
SLIP_ACCEL_WINDOW_S = 0.1


@dataclasses.dataclass(frozen=True, eq=False)  # arrays: no elementwise ==
class SensorErrors:
    """The errors one episode's sensors carry for the whole episode (dimensionless unless
    stated).

    Attributes:
      gyro_bias: (3,) rad/s, the turn-on bias left after the start-up calibration, per axis.
      gyro_scale: (3,) relative scale-factor error per axis (reading = (1 + s) * rate).
      wheel_radius: (2,) relative error of the (left, right) effective wheel radius.
      track_width: relative error of the effective track width (distance between the wheels'
        contact lines).
      accel_bias: (3,) m/s^2, the accelerometer's offset left after the start-up calibration.
      accel_scale: (3,) relative scale-factor error of the accelerometer per axis.
    """

    gyro_bias: np.ndarray
    gyro_scale: np.ndarray
    wheel_radius: np.ndarray
    track_width: float
    accel_bias: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))
    accel_scale: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        for name, n in (("gyro_bias", 3), ("gyro_scale", 3), ("wheel_radius", 2),
                        ("accel_bias", 3), ("accel_scale", 3)):  # fmt: skip
            value = np.asarray(getattr(self, name), np.float64)
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise ValueError(f"SensorErrors.{name}: expected {n} finite numbers, got {value!r}")
            object.__setattr__(self, name, value)
        if not math.isfinite(self.track_width):
            raise ValueError(
                f"SensorErrors.track_width = {self.track_width}: expected a finite number"
            )
        object.__setattr__(self, "track_width", float(self.track_width))
        if np.any(self.wheel_radius <= -1.0) or self.track_width <= -1.0:
            raise ValueError(
                "SensorErrors: wheel_radius and track_width must be above -1 (a radius or width > 0)"
            )

    @staticmethod
    def draw(noise: SensorNoiseConfig, rng: np.random.Generator) -> SensorErrors:
        """One episode's errors: zero-mean normals with the config's standard deviations.

        The draws happen in a fixed order whatever the deviations are, so turning one source
        off (its std 0) leaves every other source's values unchanged for the same rng. The
        accelerometer's errors (added later) come from a child of ``rng`` (``Generator.spawn``
        does not advance it), so every draw made before they existed is unchanged.
        """
        z = rng.standard_normal(9)
        # spawn(1)[0] is the seed sequence's child 0 (its entropy plus a trailing 0): no caller
        # derives a generator that way from a sensors stream (seeds.rng_for), so no collision
        acc = rng.spawn(1)[0].standard_normal(6)
        return SensorErrors(
            gyro_bias=z[0:3] * noise.gyro_bias_std,
            gyro_scale=z[3:6] * noise.gyro_scale_std,
            wheel_radius=z[6:8] * noise.wheel_radius_std,
            track_width=float(z[8] * noise.track_width_std),
            accel_bias=acc[0:3] * noise.accel_bias_std,
            accel_scale=acc[3:6] * noise.accel_scale_std,
        )

    @staticmethod
    def none() -> SensorErrors:
        """No per-episode errors."""
        return SensorErrors(np.zeros(3), np.zeros(3), np.zeros(2), 0.0)

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``sensor_errors`` (plain floats; units in the key names)."""
        return {
            "gyro_bias_rad_s": self.gyro_bias.tolist(),
            "gyro_scale_error": self.gyro_scale.tolist(),
            "wheel_radius_error": self.wheel_radius.tolist(),
            "track_width_error": float(self.track_width),
            "accel_bias_m_s2": self.accel_bias.tolist(),
            "accel_scale_error": self.accel_scale.tolist(),
        }


def floor_friction(materials: Sequence[str]) -> np.ndarray:
    """Friction coefficients (N,) of floor material names (N,) (:data:`FLOOR_FRICTION`)."""
    unknown = sorted({m for m in materials if m not in FLOOR_FRICTION})
    if unknown:
        raise ValueError(f"floor materials {unknown}: expected one of {sorted(FLOOR_FRICTION)}")
    return np.array([FLOOR_FRICTION[m] for m in materials], np.float64)


def _steps_per_sample(physics_rate_hz: float, rate_hz: float, field: str) -> int:
    m = physics_rate_hz / rate_hz
    if abs(m - round(m)) > 1e-9 or round(m) < 1:
        raise ValueError(
            f"SensorNoiseConfig.{field} = {rate_hz}: expected a divisor of physics_rate_hz = {physics_rate_hz}"
        )
    return round(m)


def imu_readings(traj: Trajectory, noise: SensorNoiseConfig, rng: np.random.Generator,
                 physics_rate_hz: float, errors: SensorErrors | None = None) -> np.ndarray:  # fmt: skip
    """(K, 7) IMU rows (t, gx, gy, gz, ax, ay, az) for ``traj`` with ``noise``.

    ``errors``: the episode's gyro bias and scale errors; None draws them from ``rng`` first
    (:meth:`SensorErrors.draw`).
    """
    errors = SensorErrors.draw(noise, rng) if errors is None else errors
    values, _ = _imu_values(traj, noise, rng, physics_rate_hz, errors, ImuState())
    t = (np.arange(1, len(values) + 1) / noise.imu_rate_hz)[:, None]
    return np.concatenate([t, values], 1)


@dataclasses.dataclass(frozen=True)
class ImuState:
    """What an IMU carries from one stretch of motion to the next: its bias random walk (6,)
    and the robot's speed at the end of the last sample (m/s; the accelerometer differences
    speeds across samples). The default is a robot at rest with no walk yet."""

    bias_walk: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(6))
    speed: float = 0.0


def _imu_values(traj: Trajectory, noise: SensorNoiseConfig, rng: np.random.Generator,
                physics_rate_hz: float, errors: SensorErrors, start: ImuState
                ) -> tuple[np.ndarray, ImuState]:  # fmt: skip
    """(K, 6) IMU values for ``traj`` continuing from ``start``, and the state at its end."""
    m = _steps_per_sample(physics_rate_hz, noise.imu_rate_hz, "imu_rate_hz")
    k = traj.num_steps // m
    n = k * m
    f = noise.imu_rate_hz
    w = traj.omega[:n].reshape(k, m)
    v = traj.v[:n].reshape(k, m)
    gyro_z = w.mean(1)
    v_prev = np.concatenate([[start.speed], v[:-1, -1]])
    acc_x = (v[:, -1] - v_prev) * f
    acc_y = (v * w).mean(1)
    true = np.zeros((k, 6))
    true[:, 2] = gyro_z
    true[:, 3] = acc_x
    true[:, 4] = acc_y
    true[:, 5] = noise.gravity
    # gyro and accelerometer: scale factor and turn-on offset, constant over the episode
    true[:, :3] = true[:, :3] * (1.0 + errors.gyro_scale) + errors.gyro_bias
    true[:, 3:] = true[:, 3:] * (1.0 + errors.accel_scale) + errors.accel_bias
    dens = np.array([noise.gyro_noise_density] * 3 + [noise.accel_noise_density] * 3)
    walk = np.array([noise.gyro_bias_random_walk] * 3 + [noise.accel_bias_random_walk] * 3)
    bias = start.bias_walk + np.cumsum(rng.standard_normal((k, 6)) * walk / math.sqrt(f), axis=0)
    white = rng.standard_normal((k, 6)) * dens * math.sqrt(f)
    end = ImuState(
        bias[-1].copy() if k else start.bias_walk, float(v[-1, -1]) if k else start.speed
    )
    return true + bias + white, end


class SensorStream:
    """IMU and wheel samples of a robot driven one stretch at a time (closed loop), with the
    episode's errors drawn once and the IMU's bias walk carried across stretches: the samples of
    consecutive stretches are those of :func:`imu_readings` / :func:`wheel_readings` on the whole
    drive, up to the random draws."""

    def __init__(self, robot: RobotConfig, noise: SensorNoiseConfig, rng: np.random.Generator,
                 physics_rate_hz: float) -> None:  # fmt: skip
        self.robot, self.noise, self.rng, self.rate = robot, noise, rng, physics_rate_hz
        self.errors = SensorErrors.draw(noise, rng)
        self.imu_state = ImuState()

    def read(self, traj: Trajectory, friction: np.ndarray | float | None = None
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(imu (K, 6) gyro xyz rad/s + specific force m/s^2, wheel (K', 2) rad/s) over ``traj``
        (a whole number of samples of each sensor)."""
        imu, self.imu_state = _imu_values(traj, self.noise, self.rng, self.rate, self.errors,
                                          self.imu_state)  # fmt: skip
        wheel = wheel_readings(traj, self.robot, self.noise, self.rng, self.rate, self.errors,
                               friction)  # fmt: skip
        return imu, wheel[:, 1:]


def _per_step_friction(friction: np.ndarray | float | None, n: int) -> np.ndarray:
    """Friction (n,) at each physics step from None (default floor), a number or an array."""
    if friction is None:
        return np.full(n, DEFAULT_FLOOR_FRICTION)
    mu = np.asarray(friction, np.float64)
    if mu.ndim == 0:
        mu = np.full(n, float(mu))
    if mu.ndim != 1 or len(mu) < n:
        raise ValueError(
            f"friction shape {mu.shape}: expected a number or ({n},) values, one per physics step"
        )
    mu = mu[:n]
    if not np.all(np.isfinite(mu)) or np.any(mu <= 0):
        raise ValueError("friction: expected positive finite coefficients")
    return mu


def slip_speed(u: np.ndarray, mu: np.ndarray, dt: float, noise: SensorNoiseConfig) -> np.ndarray:
    """How much faster each wheel's rim moves than its contact point (m/s), (N, W).

    Args:
      u: (N, W) ground speed of each wheel's contact point (m/s), held over each physics step;
        the robot is at rest before the first step and keeps its last speed after the last.
      mu: (N,) floor friction at each step.
      dt: physics step (s).
      noise: gives ``slip_ratio_at_full_grip`` and ``gravity``.

    The rim runs at ``u * (1 + lambda)``, ``lambda = slip_ratio_at_full_grip * a / (mu g)``
    with ``a`` the acceleration along the motion over :data:`SLIP_ACCEL_WINDOW_S` and the grip
    in use ``|a| / (mu g)`` clipped to 1; so the extra rim distance of a speed-up from rest to
    V is ``slip_ratio_at_full_grip * V^2 / (2 mu g)`` on a constant floor.
    """
    if noise.slip_ratio_at_full_grip == 0.0:
        return np.zeros_like(u)
    n = len(u)
    h = max(1, round(0.5 * SLIP_ACCEL_WINDOW_S / dt))
    padded = np.concatenate([np.zeros((h, u.shape[1])), u, np.repeat(u[-1:], h, 0)])
    accel = (padded[2 * h :] - padded[:n]) / (2 * h * dt)  # centred difference over 2h steps
    grip = np.clip(accel / (mu[:, None] * noise.gravity), -1.0, 1.0)
    # a u lambda with the sign of a along u: u * lambda = k * grip * |u|
    return noise.slip_ratio_at_full_grip * grip * np.abs(u)


def wheel_readings(traj: Trajectory, robot: RobotConfig, noise: SensorNoiseConfig, rng: np.random.Generator,
                   physics_rate_hz: float, errors: SensorErrors | None = None,
                   friction: np.ndarray | float | None = None) -> np.ndarray:  # fmt: skip
    """(K, 3) wheel rows (t, omega_left, omega_right) for ``traj``.

    Args:
      errors: the episode's wheel radius and track-width errors; None draws them from ``rng``
        first (:meth:`SensorErrors.draw`).
      friction: the floor's friction coefficient at each physics step (traj.num_steps,), one
        number for the whole drive, or None for :data:`DEFAULT_FLOOR_FRICTION`.
    """
    errors = SensorErrors.draw(noise, rng) if errors is None else errors
    m = _steps_per_sample(physics_rate_hz, noise.wheel_rate_hz, "wheel_rate_hz")
    k = traj.num_steps // m
    n = k * m
    mu = _per_step_friction(friction, traj.num_steps)
    half = 0.5 * robot.wheel_base * (1.0 + errors.track_width)
    v, w = traj.v, traj.omega
    u = np.stack([v - w * half, v + w * half], -1)  # contact-point speeds (N, 2), m/s
    rim = u + slip_speed(u, mu, traj.dt, noise)
    rate = rim[:n] / (robot.wheel_radius * (1.0 + errors.wheel_radius))  # rad/s
    true = rate.reshape(k, m, 2).mean(1)
    meas = true + rng.standard_normal((k, 2)) * noise.wheel_noise_std
    t = (np.arange(1, k + 1) / noise.wheel_rate_hz)[:, None]
    return np.concatenate([t, meas], 1)


def wheel_odometry(
    wheel: np.ndarray, robot: RobotConfig, pose0: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """Dead-reckoned poses (T, 3) at ``times`` from wheel rows (K, 3), starting at ``pose0``.

    Uses the nominal wheel radius and base. Sample k's velocities act over its interval
    (t_{k-1}, t_k]; times between samples integrate the partial interval exactly.
    """
    r, b = robot.wheel_radius, robot.wheel_base
    t = wheel[:, 0]
    dt = np.diff(np.concatenate([[0.0], t]))
    v = 0.5 * r * (wheel[:, 1] + wheel[:, 2])
    w = r * (wheel[:, 2] - wheel[:, 1]) / b
    steps = se2_exp(np.stack([v * dt, np.zeros_like(v), w * dt], -1))
    cum = np.empty((len(t) + 1, 3))
    cum[0] = pose0
    p = np.asarray(pose0, np.float64)
    for k in range(len(t)):
        p = se2_compose(p, steps[k])
        cum[k + 1] = p
    times = np.asarray(times, np.float64)
    k = np.clip(
        np.searchsorted(t, times, side="left"), 0, len(t) - 1
    )  # sample whose interval holds t
    start = np.concatenate([[0.0], t])[k]
    tau = np.clip(times - start, 0.0, None)
    part = se2_exp(np.stack([v[k] * tau, np.zeros_like(tau), w[k] * tau], -1))
    return se2_compose(cum[k], part)
