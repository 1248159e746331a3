"""IMU and wheel readings derive exactly from the trajectory; noise matches its documentation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from astra_jax.config import RobotConfig, SensorNoiseConfig
from astra_jax.geometry import wrap_angle
from astra_jax.sim import (
    MotionLimits,
    Trajectory,
    follow_path,
    imu_readings,
    wheel_odometry,
    wheel_readings,
)
from astra_jax.sim.sensors import SensorErrors

RATE = 200.0
NOISELESS = SensorNoiseConfig.ideal()


@pytest.fixture(scope="module")
def traj() -> Trajectory:
    """An L-shaped drive with a final turn in place: straight, curved and rotating motion."""
    leg1 = np.stack([np.linspace(0, 6, 61), np.zeros(61)], -1)
    leg2 = np.stack([np.full(40, 6.0), np.linspace(0.1, 4, 40)], -1)
    return follow_path(
        np.concatenate([leg1, leg2]),
        np.array([0.0, 0.0, -0.4]),
        RATE,
        MotionLimits(),
        goal_yaw=-2.5,
    )


def test_noiseless_gyro_integrates_to_the_yaw(traj):
    imu = imu_readings(traj, NOISELESS, np.random.default_rng(0), RATE)
    m = round(RATE / NOISELESS.imu_rate_hz)
    yaw = traj.pose[0, 2] + np.cumsum(imu[:, 3]) / NOISELESS.imu_rate_hz
    true = np.unwrap(traj.pose[m::m, 2])[: len(yaw)]
    np.testing.assert_allclose(yaw, true, atol=1e-9)
    assert abs(float(wrap_angle(yaw[-1] - (-2.5)))) < 0.05  # it did turn to the goal yaw
    np.testing.assert_allclose(imu[:, 1:3], 0.0)
    np.testing.assert_allclose(imu[:, 6], NOISELESS.gravity)
    # the accelerometer's x integrates to the forward speed
    v = np.cumsum(imu[:, 4]) / NOISELESS.imu_rate_hz
    np.testing.assert_allclose(v, traj.v[m - 1 :: m][: len(v)], atol=1e-9)


def test_noiseless_wheel_odometry_is_exact(traj):
    robot = RobotConfig()
    wheel = wheel_readings(traj, robot, NOISELESS, np.random.default_rng(0), RATE)
    times = np.linspace(0, traj.duration, 57)
    odom = wheel_odometry(wheel, robot, traj.pose[0], times)
    np.testing.assert_allclose(odom[:, :2], traj.pose_at(times)[:, :2], atol=1e-6)


def test_wheel_odometry_drift_stays_within_the_documented_noise(traj):
    """Heading drift = the episode's fixed errors' effect (the same readings without white
    noise) + white noise whose standard deviation the docs give:
    sqrt(K) * sigma_w * r * sqrt(2) / (b * f)."""
    robot, noise = RobotConfig(), SensorNoiseConfig()
    no_white = dataclasses.replace(noise, wheel_noise_std=0.0)
    f, r, b = noise.wheel_rate_hz, robot.wheel_radius, robot.wheel_base
    t_end = np.array([traj.duration])
    true = traj.pose_at(t_end)[0]
    dist = float(np.sum(np.abs(traj.v)) / RATE)
    errors = []
    for seed in range(20):
        fixed = SensorErrors.draw(noise, np.random.default_rng(seed))
        clean = wheel_readings(traj, robot, no_white, np.random.default_rng(0), RATE, fixed)
        wheel = wheel_readings(traj, robot, noise, np.random.default_rng(seed), RATE, fixed)
        sigma_white = math.sqrt(len(clean)) * noise.wheel_noise_std * r * math.sqrt(2) / (b * f)
        odom = wheel_odometry(wheel, robot, traj.pose[0], t_end)[0]
        odom_clean = wheel_odometry(clean, robot, traj.pose[0], t_end)[0]
        err = float(wrap_angle(odom[2] - odom_clean[2]))
        assert abs(err) < 5 * sigma_white, (seed, err, sigma_white)
        errors.append(err)
        # the fixed errors: a few tenths of a degree per metre at most (radius, track width)
        fixed_drift = abs(float(wrap_angle(odom_clean[2] - true[2])))
        assert fixed_drift < 0.02 * dist
        # position drift: the radius errors and slip (relative) times the distance, plus
        # heading effects
        assert (
            np.linalg.norm(odom[:2] - true[:2])
            < (abs(fixed.wheel_radius).max() + 0.01 + fixed_drift + 5 * sigma_white) * dist + 0.05
        )
    assert np.std(errors) < 2 * sigma_white


def test_imu_white_noise_and_bias_walk_follow_kalibr():
    still = Trajectory(1 / RATE, np.zeros((20001, 3)), np.zeros(20000), np.zeros(20000))
    white_only = SensorNoiseConfig(
        gyro_bias_random_walk=0.0, accel_bias_random_walk=0.0, gyro_bias_std=0.0, gyro_scale_std=0.0
    )
    imu = imu_readings(still, white_only, np.random.default_rng(1), RATE)
    f = white_only.imu_rate_hz
    np.testing.assert_allclose(
        imu[:, 1:4].std(0), white_only.gyro_noise_density * math.sqrt(f), rtol=0.05
    )
    np.testing.assert_allclose(
        imu[:, 4:7].std(0), white_only.accel_noise_density * math.sqrt(f), rtol=0.05
    )
    walk_only = dataclasses.replace(SensorNoiseConfig.ideal(), gyro_bias_random_walk=1e-3)
    imu = imu_readings(still, walk_only, np.random.default_rng(2), RATE)
    steps = np.diff(imu[:, 1:4], axis=0)
    np.testing.assert_allclose(steps.std(0), 1e-3 / math.sqrt(f), rtol=0.05)


def test_rates_must_divide_the_physics_rate(traj):
    with pytest.raises(ValueError, match="imu_rate_hz"):
        imu_readings(traj, SensorNoiseConfig(imu_rate_hz=150.0), np.random.default_rng(0), RATE)
