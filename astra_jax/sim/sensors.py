"""IMU and wheel encoders derived from the exact robot trajectory, and wheel odometry.

Conventions (see :class:`astra_jax.config.SensorNoiseConfig` for the noise parameters):

* The IMU sits at the ego origin with the ego axes (x forward, y left, z up). Sample k is at
  ``t_k = k / imu_rate_hz`` (k = 1..K) and reports the **mean** over ``(t_{k-1}, t_k]``:
  gyro = mean angular velocity (rad/s); accelerometer = mean specific force (m/s^2), i.e. the
  body-frame acceleration plus +g on z (the reading of an IMU at rest is (0, 0, +g)).
  Integrating the noiseless gyro z therefore gives the yaw exactly:
  ``yaw(t_k) = yaw(0) + sum_{j<=k} gyro_z[j] / imu_rate_hz``.
* Noise (Kalibr convention): each sample adds white noise of standard deviation
  ``noise_density * sqrt(rate)`` and a bias that starts at 0 and random-walks by
  ``random_walk / sqrt(rate)`` per sample.
* Wheel sample k is at ``k / wheel_rate_hz`` with the mean angular velocity (rad/s) of the left
  and right wheels over the preceding interval: ``(v -+ omega * wheel_base / 2) / wheel_radius``,
  each scaled by a per-episode slip factor ``1 + N(0, wheel_slip_std)`` plus white noise
  ``N(0, wheel_noise_std)``.
* Wheel odometry dead-reckons those readings with the nominal wheel radius and base, starting
  at the true first pose.

Rows: ``imu`` (K, 7) = (t, gyro xyz, acc xyz); ``wheel`` (K, 3) = (t, omega_left, omega_right).
"""

from __future__ import annotations

import math

import numpy as np

from astra_jax.config import RobotConfig, SensorNoiseConfig
from astra_jax.geometry import se2_compose, se2_exp
from astra_jax.sim.control import Trajectory


def _steps_per_sample(physics_rate_hz: float, rate_hz: float, field: str) -> int:
    m = physics_rate_hz / rate_hz
    if abs(m - round(m)) > 1e-9 or round(m) < 1:
        raise ValueError(
            f"SensorNoiseConfig.{field} = {rate_hz}: expected a divisor of physics_rate_hz = {physics_rate_hz}"
        )
    return round(m)


def imu_readings(traj: Trajectory, noise: SensorNoiseConfig, rng: np.random.Generator,
                 physics_rate_hz: float) -> np.ndarray:  # fmt: skip
    """(K, 7) IMU rows (t, gx, gy, gz, ax, ay, az) for ``traj`` with ``noise``."""
    m = _steps_per_sample(physics_rate_hz, noise.imu_rate_hz, "imu_rate_hz")
    k = traj.num_steps // m
    n = k * m
    f = noise.imu_rate_hz
    w = traj.omega[:n].reshape(k, m)
    v = traj.v[:n].reshape(k, m)
    gyro_z = w.mean(1)
    v_prev = np.concatenate([[0.0], v[:-1, -1]])  # the robot starts at rest
    acc_x = (v[:, -1] - v_prev) * f
    acc_y = (v * w).mean(1)
    true = np.zeros((k, 6))
    true[:, 2] = gyro_z
    true[:, 3] = acc_x
    true[:, 4] = acc_y
    true[:, 5] = noise.gravity
    dens = np.array([noise.gyro_noise_density] * 3 + [noise.accel_noise_density] * 3)
    walk = np.array([noise.gyro_bias_random_walk] * 3 + [noise.accel_bias_random_walk] * 3)
    bias = np.cumsum(rng.standard_normal((k, 6)) * walk / math.sqrt(f), axis=0)
    white = rng.standard_normal((k, 6)) * dens * math.sqrt(f)
    t = (np.arange(1, k + 1) / f)[:, None]
    return np.concatenate([t, true + bias + white], 1)


def wheel_readings(traj: Trajectory, robot: RobotConfig, noise: SensorNoiseConfig, rng: np.random.Generator,
                   physics_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """((K, 3) wheel rows (t, omega_left, omega_right), slip factors (2,))."""
    m = _steps_per_sample(physics_rate_hz, noise.wheel_rate_hz, "wheel_rate_hz")
    k = traj.num_steps // m
    n = k * m
    v = traj.v[:n].reshape(k, m).mean(1)
    w = traj.omega[:n].reshape(k, m).mean(1)
    half = 0.5 * robot.wheel_base
    true = np.stack([(v - w * half) / robot.wheel_radius, (v + w * half) / robot.wheel_radius], -1)
    slip = 1.0 + rng.standard_normal(2) * noise.wheel_slip_std
    meas = true * slip + rng.standard_normal((k, 2)) * noise.wheel_noise_std
    t = (np.arange(1, k + 1) / noise.wheel_rate_hz)[:, None]
    return np.concatenate([t, meas], 1), slip


def wheel_odometry(
    wheel: np.ndarray, robot: RobotConfig, pose0: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """Dead-reckoned poses (T, 3) at ``times`` from wheel rows (K, 3), starting at ``pose0``.

    Sample k's velocities act over its interval (t_{k-1}, t_k]; times between samples integrate
    the partial interval exactly.
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
