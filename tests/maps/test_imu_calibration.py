"""The online gyro-scale calibration from the centripetal force (maps/imu_calibration.py): it
recovers a known scale on a simulated drive, only looks back, runs the same chunk by chunk,
copes with the accelerometer's offset and refuses a wrong setup or input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from astra_jax.config import RobotConfig, SensorNoiseConfig
from astra_jax.maps.imu_calibration import (
    GyroCalibrationConfig,
    GyroScaleEstimator,
    calibrate_gyro,
    running_gyro_scale,
)
from astra_jax.sim.control import Trajectory, integrate
from astra_jax.sim.sensors import SensorErrors, imu_readings, wheel_readings

RATE = 200.0
ROBOT = RobotConfig()
# white noise on both sensors (the fit must average it), every per-episode error off but the
# ones a test sets
NOISE = dataclasses.replace(
    SensorNoiseConfig.ideal(), accel_noise_density=1.7e-3, gyro_noise_density=2.4e-4,
    wheel_noise_std=0.02,
)  # fmt: skip


def _drive(seconds: float = 90.0) -> Trajectory:
    """Drives at 0.5 m/s with left and right turns of 0.6 rad/s (an office goal drive's)."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    v = np.full(n, 0.5)
    omega = 0.6 * np.sign(np.sin(2 * math.pi * t / 12.0)) * (np.sin(2 * math.pi * t / 6.0) > 0)
    return Trajectory(1.0 / RATE, integrate(np.zeros(3), v, omega, 1.0 / RATE), v, omega)


def _sensors(errors: SensorErrors, seed: int = 0, seconds: float = 90.0):
    traj = _drive(seconds)
    rng = np.random.default_rng(seed)
    imu = imu_readings(traj, NOISE, rng, RATE, errors)
    wheel = wheel_readings(traj, ROBOT, NOISE, rng, RATE, errors)
    return traj, imu, wheel


def _errors(gyro_scale: float = 0.0, accel_bias_y: float = 0.0) -> SensorErrors:
    return SensorErrors(
        gyro_bias=np.zeros(3), gyro_scale=np.array([0.0, 0.0, gyro_scale]),
        wheel_radius=np.zeros(2), track_width=0.0, accel_bias=np.array([0.0, accel_bias_y, 0.0]),
    )  # fmt: skip


@pytest.mark.parametrize("scale", [0.02, -0.015])
def test_recovers_the_gyro_scale_and_the_turns(scale):
    traj, imu, wheel = _sensors(_errors(gyro_scale=scale))
    k = running_gyro_scale(imu, wheel, ROBOT.wheel_radius)
    assert k[0] == 1.0  # nothing seen yet: the gyro as read
    assert k[-1] == pytest.approx(1 + scale, abs=1e-3)
    # over the second half's turns the calibrated gyro reads the turns much better than the
    # raw one (|rate| over the turning rows only: white noise would bias |rate| elsewhere)
    half = np.arange(len(imu)) >= len(imu) // 2
    turning = half & (np.abs(imu[:, 3]) > 0.3)
    true_turn = np.sum(np.abs(traj.omega.reshape(len(imu), -1).mean(1)[turning])) / RATE
    raw = np.sum(np.abs(imu[turning, 3])) / RATE
    cal = np.sum(np.abs(calibrate_gyro(imu, wheel, ROBOT.wheel_radius)[turning, 3])) / RATE
    assert abs(cal - true_turn) < 0.1 * abs(raw - true_turn)


def test_the_accelerometer_offset_is_fitted_not_taken_for_a_turn():
    """A 0.05 m/s^2 lateral offset (a quarter of the centripetal force in these turns): the
    intercept absorbs it. Without the intercept the slope would be off by percents."""
    _, imu, wheel = _sensors(_errors(gyro_scale=0.01, accel_bias_y=0.05))
    assert running_gyro_scale(imu, wheel, ROBOT.wheel_radius)[-1] == pytest.approx(1.01, abs=1e-3)


def test_the_scale_only_looks_back():
    _, imu, wheel = _sensors(_errors(gyro_scale=0.02))
    k = running_gyro_scale(imu, wheel, ROBOT.wheel_radius)
    cut = len(imu) // 2
    later = imu.copy()
    later[cut:, 3:] *= 3.0  # change everything from row `cut` on
    k2 = running_gyro_scale(later, wheel, ROBOT.wheel_radius)
    np.testing.assert_array_equal(k[: cut + 1], k2[: cut + 1])
    assert not np.allclose(k[cut + 2 :], k2[cut + 2 :])


def test_chunk_by_chunk_equals_the_whole_record():
    """0.5 s ticks of both sensors (a robot's), as the serving tick would feed them."""
    _, imu, wheel = _sensors(_errors(gyro_scale=0.02), seconds=20.0)
    whole = calibrate_gyro(imu, wheel, ROBOT.wheel_radius)
    est = GyroScaleEstimator(ROBOT.wheel_radius)
    assert est.scale == 1.0
    chunks = []
    for start in np.arange(0.0, 20.0, 0.5):
        i = (imu[:, 0] > start) & (imu[:, 0] <= start + 0.5)
        w = (wheel[:, 0] > start) & (wheel[:, 0] <= start + 0.5)
        chunks.append(est.calibrate(imu[i], wheel[w]))
    np.testing.assert_allclose(np.concatenate(chunks), whole, rtol=1e-12, atol=1e-12)
    assert est.scale == pytest.approx(1.02, abs=3e-3)


def test_refuses_wrong_input_and_a_reversed_accelerometer():
    _, imu, wheel = _sensors(_errors(gyro_scale=0.02), seconds=20.0)
    with pytest.raises(ValueError, match=r"imu shape \(10, 6\)"):
        running_gyro_scale(imu[:10, :6], wheel, ROBOT.wheel_radius)
    with pytest.raises(ValueError, match=r"wheel shape"):
        running_gyro_scale(imu, wheel[:, :2], ROBOT.wheel_radius)
    bad = imu.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        running_gyro_scale(bad, wheel, ROBOT.wheel_radius)
    flipped = imu.copy()
    flipped[:, 5] *= -1.0  # y axis mounted to the right
    with pytest.raises(ValueError, match="runs against the turns"):
        running_gyro_scale(flipped, wheel, ROBOT.wheel_radius)
    with pytest.raises(ValueError, match="wheel_radius"):
        GyroScaleEstimator(0.0)
    with pytest.raises(Exception, match="prior_std"):
        GyroCalibrationConfig(prior_std=0.0)


def test_a_fit_the_model_cannot_explain_is_bounded():
    """Lateral force three times what the turns explain (an IMU far off the axle, side slip):
    the scale stays within 5 prior sigmas of 1 instead of following it."""
    _, imu, wheel = _sensors(_errors())
    odd = imu.copy()
    odd[:, 5] /= 3.0  # slope 1/3: k would be 3
    k = running_gyro_scale(odd, wheel, ROBOT.wheel_radius)
    assert k.max() == pytest.approx(1.05) and k.min() >= 1.0
