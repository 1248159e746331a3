"""The gyro's scale, calibrated online against the turns of the depth scans."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scan_scenes import room_points, seen_from  # tests/ is on sys.path

from astra_jax.maps.scan_gyro_calibration import (
    ScanGyroCalibrationConfig,
    ScanGyroScaleEstimator,
    gyro_turns,
    pair_frames,
    running_scan_gyro_scale,
    scale_after_pairs,
    scan_turn_pairs,
)

IMU_RATE, CAMERA_RATE = 200, 10


def drive(scale: float, bias: float = 3e-4, seconds: float = 30.0, seed: int = 0):
    """A robot weaving through a 8 x 6 m room: IMU rows (t, gyro xyz, accel xyz) from a gyro
    with this scale error and bias, frame times, true poses and noisy wheel poses per frame."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / IMU_RATE
    t = np.arange(1, int(seconds * IMU_RATE) + 1) * dt
    mid = t - dt / 2
    w = 0.35 + 0.45 * np.sin(2 * np.pi * mid / 7.0)  # rad/s, turns both ways
    theta = np.concatenate([[0.0], np.cumsum(w * dt)])
    v = 0.3
    x = 1.0 + np.concatenate([[0.0], np.cumsum(v * np.cos(theta[:-1] + w * dt / 2) * dt)])
    y = 1.0 + np.concatenate([[0.0], np.cumsum(v * np.sin(theta[:-1] + w * dt / 2) * dt)])
    imu = np.zeros((len(t), 7))
    imu[:, 0] = t
    imu[:, 3] = scale * w + bias + 2e-4 * rng.standard_normal(len(t))
    imu[:, 6] = 9.81
    frames = np.arange(0, len(theta), IMU_RATE // CAMERA_RATE)
    poses = np.stack([x, y, theta], 1)[frames]
    times = frames * dt
    odom = poses + rng.normal(0.0, [0.02, 0.02, 0.0], poses.shape)
    return imu, times, poses, odom


def scans_of(poses: np.ndarray, corrupt: int | None = None):
    room = room_points()

    def scan_at(i: int) -> np.ndarray:
        pose = poses[i] + (np.array([0.0, 0.0, 0.2]) if i == corrupt else 0.0)
        return seen_from(room, pose)

    return scan_at


def test_recovers_the_gyro_scale_from_the_scans() -> None:
    """A gyro 2 % fast (and biased) is read to 0.1 % after a 30 s drive, and the fit's
    estimate at each pair tends to it; the scans' turns are within 0.3 mrad of the truth."""
    imu, times, poses, odom = drive(1.02)
    pairs = scan_turn_pairs(imu, times, scans_of(poses), odom)
    assert len(pairs) == 60 and np.all(pairs[:, 3] == 1)
    truth = np.diff(poses[::5, 2])
    assert np.max(np.abs(pairs[:, 2] - truth)) < 3e-4
    k = scale_after_pairs(pairs, ScanGyroCalibrationConfig())
    assert abs(k[-1] - 1.02) < 1e-3
    assert abs(k[-1] - 1.02) < abs(k[5] - 1.02) < 0.02  # converging from the prior's 1
    # a slow gyro too
    imu, times, poses, odom = drive(0.985, bias=-4e-4, seed=1)
    k = scale_after_pairs(scan_turn_pairs(imu, times, scans_of(poses), odom),
                          ScanGyroCalibrationConfig())  # fmt: skip
    assert abs(k[-1] - 0.985) < 1e-3


def test_causal_and_the_same_online() -> None:
    """Each IMU row is divided by the fit of the pairs that ended before it; the online
    estimator, fed 0.1 s stretches and each frame, gives the same rows and scale."""
    imu, times, poses, odom = drive(1.015)
    pairs = scan_turn_pairs(imu, times, scans_of(poses), odom)
    scale = running_scan_gyro_scale(imu, pairs)
    after = scale_after_pairs(pairs, ScanGyroCalibrationConfig())
    first_end = pairs[0, 0]
    assert np.all(scale[imu[:, 0] <= first_end + 1e-9] == 1.0)
    row = np.searchsorted(imu[:, 0], pairs[3, 0] + 1e-9)  # the first row after pair 3 ended
    assert scale[row] == after[3] and scale[row - 1] == after[2]

    est = ScanGyroScaleEstimator()
    scan_at = scans_of(poses)
    # the turn integrates over the rows as the offline fit does, whatever the chunking (a
    # chunk of one row too: its step is the time since the last chunk's end)
    single = ScanGyroScaleEstimator()
    for i in range(40):
        single.calibrate(imu[i : i + 1])
    assert single._turn == pytest.approx(float(np.sum(imu[1:40, 3])) / IMU_RATE, rel=1e-12)
    est.observe_scan(times[0], scan_at(0), odom[0])
    per_frame = IMU_RATE // CAMERA_RATE
    online = []
    for f in range(1, len(times)):
        online.append(est.calibrate(imu[(f - 1) * per_frame : f * per_frame]))
        est.observe_scan(times[f], scan_at(f), odom[f])
    online = np.concatenate(online)
    offline = imu[: len(online)].copy()
    offline[:, 3] /= scale[: len(online)]
    np.testing.assert_allclose(online, offline, rtol=1e-9, atol=1e-12)
    assert est.pairs == len(pairs)
    assert est.scale == pytest.approx(after[-1], rel=1e-9)


def test_dropped_frames_and_rounded_times_pair_as_online() -> None:
    """With frames dropped and frame times a rounding off the IMU's, the offline pairs are the
    online estimator's (each at least 0.5 s, by elapsed time), and each pair's gyro turn holds
    the rows up to and including the one that ends at its frame."""
    imu, times, poses, odom = drive(1.015, seconds=12.0)
    kept = np.setdiff1d(np.arange(len(times)), [15, 27, 28, 61])
    rounded = times[kept] + np.where(np.arange(len(kept)) % 2, 1e-10, -1e-10)
    scan_at = scans_of(poses[kept])
    pairs = scan_turn_pairs(imu, rounded, scan_at, odom[kept])
    keys = pair_frames(rounded, 0.5)
    assert np.all(np.diff(rounded[keys]) >= 0.5 - 1e-6) and len(pairs) == len(keys) - 1
    assert np.any(np.diff(rounded[keys]) > 0.55)  # a dropped frame stretched a pair
    t, ends = imu[:, 0], times[kept][keys] + 1e-6  # the true frame times, past rounding
    exact = [np.sum(imu[(t > a) & (t < b), 3]) / IMU_RATE for a, b in itertools.pairwise(ends)]
    np.testing.assert_allclose(pairs[:, 1], exact, rtol=1e-9)

    est = ScanGyroScaleEstimator()
    est.observe_scan(rounded[0], scan_at(0), odom[kept][0])
    per_frame = IMU_RATE // CAMERA_RATE
    online = []
    for i in range(1, len(kept)):
        online.append(est.calibrate(imu[kept[i - 1] * per_frame : kept[i] * per_frame]))
        est.observe_scan(rounded[i], scan_at(i), odom[kept][i])
    after = scale_after_pairs(pairs, ScanGyroCalibrationConfig())
    assert est.pairs == len(pairs) and est.scale == pytest.approx(after[-1], rel=1e-9)
    # row by row too: the row that ends at a rounded frame time is read before that frame
    online = np.concatenate(online)
    offline = imu[: len(online)].copy()
    offline[:, 3] /= running_scan_gyro_scale(imu, pairs)[: len(online)]
    np.testing.assert_allclose(online, offline, rtol=1e-12)

    # no rows, one row: no turn
    np.testing.assert_array_equal(gyro_turns(imu[:0], np.array([0.0]), np.array([1.0])), [0.0])
    np.testing.assert_array_equal(gyro_turns(imu[:1], np.array([0.0]), np.array([1.0])), [0.0])


def test_a_failed_match_is_gated_out() -> None:
    """A frame whose scan is turned 0.2 rad off (a bad match) fails the gate for both of its
    pairs, and the fit stays within 0.1 % of the gyro's scale; without the gate it does not."""
    imu, times, poses, odom = drive(1.02)
    pairs = scan_turn_pairs(imu, times, scans_of(poses, corrupt=50), odom)
    assert pairs[9, 3] == 0 and pairs[10, 3] == 0 and pairs[:, 3].sum() == len(pairs) - 2
    assert abs(scale_after_pairs(pairs, ScanGyroCalibrationConfig())[-1] - 1.02) < 1e-3
    ungated = pairs.copy()
    ungated[:, 3] = np.isfinite(ungated[:, 2])
    assert abs(scale_after_pairs(ungated, ScanGyroCalibrationConfig())[-1] - 1.02) > 2e-3


def test_bad_input_names_what_is_wrong() -> None:
    imu, times, poses, odom = drive(1.0, seconds=2.0)
    with pytest.raises(ValueError, match="imu"):
        scan_turn_pairs(imu[:, :6], times, scans_of(poses))
    bad = imu.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        scan_turn_pairs(bad, times, scans_of(poses))
    with pytest.raises(ValueError, match="rows in increasing time"):
        scan_turn_pairs(imu[::-1], times, scans_of(poses))
    with pytest.raises(ValueError, match="increasing frame times"):
        scan_turn_pairs(imu, times[::-1], scans_of(poses))
    with pytest.raises(ValueError, match="odom_pose"):
        scan_turn_pairs(imu, times, scans_of(poses), odom[:-1])
    with pytest.raises(ValueError, match="without the rig's cameras"):
        ScanGyroScaleEstimator().observe(0.0, np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="pairs"):
        running_scan_gyro_scale(imu, np.zeros((3, 3)))
    est = ScanGyroScaleEstimator()
    est.observe_scan(1.0, room_points())
    with pytest.raises(ValueError, match="after the keyframe"):
        est.observe_scan(0.5, room_points())
    with pytest.raises(ValueError, match="odom_pose"):
        est.observe_scan(2.0, room_points(), np.zeros(2))
    with pytest.raises(ValueError, match="scan"):
        est.observe_scan(2.0, np.zeros((5, 3)))
    est.calibrate(imu[10:20])
    with pytest.raises(ValueError, match="backwards"):
        est.calibrate(imu[:5])
    with pytest.raises(ValueError, match="turn_noise"):
        ScanGyroCalibrationConfig(turn_noise=0.0)
