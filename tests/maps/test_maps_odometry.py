"""Wheel + gyro odometry: heading from the integrated gyro, distance from the wheels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.geometry import se2_compose
from astra_jax.maps.odometry import gyro_yaw_at, wheel_gyro_odometry


def _imu(rate_z, duration: float = 10.0, hz: float = 200.0) -> np.ndarray:
    t = np.arange(1, int(duration * hz) + 1) / hz
    imu = np.zeros((len(t), 7))
    imu[:, 0] = t
    imu[:, 3] = rate_z(t)
    return imu


def test_gyro_yaw_integrates_the_z_rate():
    imu = _imu(lambda t: np.full_like(t, 0.3))
    times = np.array([0.0, 1.0, 2.5, 7.0])
    np.testing.assert_allclose(gyro_yaw_at(times, imu, 1.0), 1.0 + 0.3 * times, atol=1e-9)
    # starting later: the yaw given holds at the first time
    np.testing.assert_allclose(gyro_yaw_at(times[1:], imu, 0.0), 0.3 * (times[1:] - 1.0), atol=1e-9)


def test_slipping_wheels_are_straightened_by_the_gyro():
    # truth: 5 m straight ahead at 0.5 m/s, then a 90 deg left turn on the spot, then 3 m
    times = np.arange(0, 20.0, 0.5)
    truth = [np.array([0.0, 0.0, 0.0])]
    for t in times[1:]:
        if t <= 10.0:
            step = (0.25, 0.0, 0.0)
        elif t <= 12.0:
            step = (0.0, 0.0, math.pi / 8)
        else:
            step = (0.25, 0.0, 0.0)
        truth.append(se2_compose(truth[-1], np.array(step)))
    truth = np.array(truth)
    # wheels: unequal slip turns every straight step by 2 deg and scales it by 1%
    wheel = [truth[0]]
    for k in range(1, len(truth)):
        rel = np.array([0.25 * 1.01, 0.0, math.radians(2.0)]) if truth[k, 2] == truth[k - 1, 2] \
            else np.array([0.0, 0.0, math.pi / 8])  # fmt: skip
        wheel.append(se2_compose(wheel[-1], rel))
    wheel = np.array(wheel)
    rate = lambda t: np.where((t > 10.0) & (t <= 12.0), (math.pi / 8) / 0.5, 0.0)  # noqa: E731
    fused = wheel_gyro_odometry(wheel, times, _imu(rate, duration=20.0))
    wheel_err = np.linalg.norm(wheel[:, :2] - truth[:, :2], axis=1).max()
    fused_err = np.linalg.norm(fused[:, :2] - truth[:, :2], axis=1).max()
    assert wheel_err > 1.0  # the slip has bent the wheel track by metres
    assert fused_err < 0.2  # only the 1% scale and one step of the wheels' turn remain
    np.testing.assert_allclose(fused[:, 2], np.unwrap(truth[:, 2]), atol=1e-6)


def test_bad_inputs_are_named():
    imu = _imu(lambda t: 0 * t)
    with pytest.raises(ValueError, match="imu shape"):
        gyro_yaw_at(np.zeros(3), imu[:, :4], 0.0)
    with pytest.raises(ValueError, match="wheel odometry shape"):
        wheel_gyro_odometry(np.zeros((4, 2)), np.zeros(4), imu)
