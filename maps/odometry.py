"""Tour odometry: wheel distances with gyro heading, the gyro's bias fitted against the wheels.

Wheel odometry alone turns whenever the wheels differ: the simulator's per-wheel radius error
(0.2 % per wheel at 1 sigma, ``SensorNoiseConfig``) bends it by a few tenths of a degree per
metre, 0.5-4.9 m of ATE after Sim(3) on 84-600 m tours. A MEMS gyro integrates to a heading
that drifts with time instead: its bias left after the robot's start-up calibration (0.033
deg/s at 1 sigma) and its bias random walk turn a 10-20 minute tour by tens of degrees. So, as
ground robots usually do, the map build takes heading from the integrated gyro and only the
distance travelled from the wheels: each frame-to-frame wheel displacement, seen from the
previous frame, is re-applied in the gyro heading.

The tours never stand still long enough to re-measure the gyro bias (0.24 s at rest in the
bench tour's 240 s), so the bias is fitted against the wheels instead
(:func:`estimate_gyro_bias`): the gyro's error grows with time, the wheels' heading error with
distance and with the turn, and the robot's speed varies enough (turns in place, slow-downs
near obstacles) to tell them apart over a long tour. The fit is applied only when the tour
pins the bias down (posterior standard deviation <= :data:`MAX_BIAS_STD`): a 34 s tour does
not, and a wrong bias is worse than none. Measured (wheel + gyro ATE after Sim(3), new sensor
defaults): bench small-office tour 240 s 0.158 -> 0.097 m, procedural office 1100000 (1285 s)
5.3 -> 0.91 m, warehouse 1100000 3.3 -> 0.71 m, warehouse 1100002 3.0 -> 1.08 m; the share of
odometry-proximity loop candidates that truly overlap went from 69/71/64 % to 90/95/75 % on
those three (85/97/92 % with the old sensors).

The result is used where the map build relies on odometry (keyframe spacing, loop-closure
candidates, metric scale, the alignment's heading and the bridging of SfM failures), never as
ground truth.
"""

from __future__ import annotations

import numpy as np

from astra_jax.geometry import se2_relative


def gyro_yaw_at(times: np.ndarray, imu: np.ndarray, yaw0: float) -> np.ndarray:
    """Yaw (T,) rad at ``times`` (s) from the IMU's z gyro, starting at ``yaw0``.

    Args:
      times: (T,) frame times in s, increasing, from the first frame (yaw0 holds there).
      imu: (K, 7) rows (t s, gyro xyz rad/s, accel xyz m/s^2); each gyro row is the mean
        rate over the interval that ends at its t (the simulator's IMU convention, documented
        with the episode format), so the yaw at t_k is the sum of gyro_z * dt over the rows up
        to t_k.
    """
    imu = np.asarray(imu, np.float64)
    times = np.asarray(times, np.float64)
    if imu.ndim != 2 or imu.shape[1] != 7 or len(imu) < 2:
        raise ValueError(f"imu shape {imu.shape}: expected (K >= 2, 7) rows (t, gyro, accel)")
    t = imu[:, 0]
    dt = np.diff(t, prepend=t[0] - (t[1] - t[0]))
    yaw = np.concatenate([[0.0], np.cumsum(imu[:, 3] * dt)])  # yaw after each row
    rows = np.searchsorted(t, times, side="right")  # rows with t_j <= time
    return yaw0 + yaw[rows] - yaw[np.searchsorted(t, times[0], side="right")]


# Weak priors of the bias fit (1 sigma): a MEMS gyro's bias left after a start-up calibration
# stays well below 0.06 deg/s (1e-3 rad/s); the gyro's and the wheels' turn scales agree
# within 5 %; unequal wheel radii bend wheel odometry by less than ~1 deg/m (0.02 rad/m).
# They only keep a poorly determined fit near zero; a long tour's data outweigh them.
BIAS_PRIOR_STD = (1e-3, 0.05, 0.02)
# Apply the fitted bias only when the tour determines it to this (rad/s, posterior 1 sigma):
# 1.7e-4 on the 240 s bench tour, 0.8-1.1e-4 on 10-20 minute tours, 4.6e-4 on a 34 s one.
MAX_BIAS_STD = 2.5e-4


def estimate_gyro_bias(
    wheel_odometry: np.ndarray, times: np.ndarray, imu: np.ndarray
) -> tuple[float, float]:
    """The z gyro's constant bias (rad/s) that best reconciles it with the wheels, and the
    fit's posterior standard deviation (rad/s).

    Per frame step k, the gyro's turn minus the wheels' turn is modelled as
    ``b dt_k + m wheel_turn_k + c distance_k`` + noise: ``b`` the gyro bias (an error growing
    with time), ``m`` the difference of the two turn scales (gyro scale factor against the
    wheels' effective track width) and ``c`` the wheels' heading drift per metre (unequal
    wheel radii). Weighted least squares, with the noise level taken from the residuals'
    median absolute deviation and weak zero-mean priors (:data:`BIAS_PRIOR_STD`).

    Args:
      wheel_odometry: (T, 3) dead-reckoned wheel poses at the frame times.
      times: (T,) frame times (s), T >= 2.
      imu: (K, 7) IMU rows (see :func:`gyro_yaw_at`).
    """
    odom = np.asarray(wheel_odometry, np.float64)
    times = np.asarray(times, np.float64)
    if odom.ndim != 2 or odom.shape[1] != 3 or len(odom) != len(times) or len(odom) < 2:
        raise ValueError(
            f"wheel odometry shape {odom.shape}: expected ({len(times)} >= 2, 3) poses at the frame times"
        )
    gyro_turn = np.diff(gyro_yaw_at(times, imu, 0.0))
    rel = se2_relative(odom[:-1], odom[1:])  # each step seen from its first frame
    a = np.stack([np.diff(times), rel[:, 2], np.linalg.norm(rel[:, :2], axis=1)], 1)
    y = gyro_turn - rel[:, 2]
    x, *_ = np.linalg.lstsq(a, y, rcond=None)
    r = y - a @ x
    sigma = max(1.4826 * float(np.median(np.abs(r - np.median(r)))), 1e-9)
    m = np.concatenate([a / sigma, np.diag(1.0 / np.asarray(BIAS_PRIOR_STD))])
    z = np.concatenate([y / sigma, np.zeros(3)])
    x, *_ = np.linalg.lstsq(m, z, rcond=None)
    cov = np.linalg.inv(m.T @ m)
    return float(x[0]), float(np.sqrt(cov[0, 0]))


def wheel_gyro_odometry(
    wheel_odometry: np.ndarray, times: np.ndarray, imu: np.ndarray, fit_bias: bool = True
) -> np.ndarray:
    """Planar poses (T, 3) (x m, y m, yaw rad): wheel displacements in the gyro heading.

    Args:
      wheel_odometry: (T, 3) dead-reckoned wheel poses at the frame times.
      times: (T,) frame times (s).
      imu: (K, 7) IMU rows (see :func:`gyro_yaw_at`).
      fit_bias: subtract the gyro bias fitted against the wheels
        (:func:`estimate_gyro_bias`) when the tour determines it to :data:`MAX_BIAS_STD`.
    """
    odom = np.asarray(wheel_odometry, np.float64)
    if odom.ndim != 2 or odom.shape[1] != 3 or len(odom) != len(times):
        raise ValueError(
            f"wheel odometry shape {odom.shape}: expected ({len(times)}, 3) poses at the frame times"
        )
    yaw = gyro_yaw_at(times, imu, float(odom[0, 2]))
    if fit_bias and len(odom) >= 2:
        bias, std = estimate_gyro_bias(odom, times, imu)
        if std <= MAX_BIAS_STD:
            yaw = yaw - bias * (np.asarray(times, np.float64) - float(times[0]))
    out = np.empty_like(odom)
    out[0] = odom[0]
    out[:, 2] = yaw
    for k in range(1, len(odom)):
        step = se2_relative(odom[k - 1], odom[k])[:2]  # seen from the previous frame
        c, s = np.cos(yaw[k - 1]), np.sin(yaw[k - 1])
        out[k, :2] = out[k - 1, :2] + (c * step[0] - s * step[1], s * step[0] + c * step[1])
    return out
