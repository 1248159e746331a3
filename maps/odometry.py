"""Tour odometry: wheel distances with gyro heading.

Wheel odometry alone turns whenever the wheels slip unequally: the simulator's 1% slip per
wheel (a fixed, episode-wide scale error, as a worn or under-inflated tyre gives) bends it by
~2 deg per metre, 7 m of ATE on a 112 m warehouse tour. A MEMS gyro integrates to a heading
that drifts by a few degrees over the same tour. So, as ground robots usually do, the map
build takes heading from the integrated gyro and only the distance travelled from the wheels:
each frame-to-frame wheel displacement, seen from the previous frame, is re-applied in the
gyro heading. The result is used where the map build relies on odometry (keyframe spacing,
loop-closure candidates, metric scale, the alignment's heading and the bridging of SfM
failures), never as ground truth.
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


def wheel_gyro_odometry(
    wheel_odometry: np.ndarray, times: np.ndarray, imu: np.ndarray
) -> np.ndarray:
    """Planar poses (T, 3) (x m, y m, yaw rad): wheel displacements in the gyro heading.

    Args:
      wheel_odometry: (T, 3) dead-reckoned wheel poses at the frame times.
      times: (T,) frame times (s).
      imu: (K, 7) IMU rows (see :func:`gyro_yaw_at`).
    """
    odom = np.asarray(wheel_odometry, np.float64)
    if odom.ndim != 2 or odom.shape[1] != 3 or len(odom) != len(times):
        raise ValueError(
            f"wheel odometry shape {odom.shape}: expected ({len(times)}, 3) poses at the frame times"
        )
    yaw = gyro_yaw_at(times, imu, float(odom[0, 2]))
    out = np.empty_like(odom)
    out[0] = odom[0]
    out[:, 2] = yaw
    for k in range(1, len(odom)):
        step = se2_relative(odom[k - 1], odom[k])[:2]  # seen from the previous frame
        c, s = np.cos(yaw[k - 1]), np.sin(yaw[k - 1])
        out[k, :2] = out[k - 1, :2] + (c * step[0] - s * step[1], s * step[0] + c * step[1])
    return out
