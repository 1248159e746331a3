"""The gyro's scale factor, calibrated online against the turns the depth cameras see.

Every ``pair_interval`` seconds the rig's depth frame becomes a 2-D scan
(:func:`astra_jax.maps.scan_match.depth_scan`) and is matched to the previous one
(:func:`~astra_jax.maps.scan_match.match_scans`, started from the gyro's turn). The scans'
turn ``s`` is measured against the walls, so it carries no scale error; the gyro's turn over
the same interval is ``g = k s + b dt`` (``k`` its scale, ``b`` its bias). A running least
squares of ``s`` on ``g`` (slope ``1 / k``, a free intercept for the bias, the same ridge to
``k = 1`` as :mod:`astra_jax.maps.imu_calibration`'s, from the gyro's 1 % prior and one
pair's ``turn_noise``) gives ``k`` over the drive so far. The gyro is the regressor: it is
the precise side per pair (a white-noise turn error of ~0.03 mrad over 0.5 s), the scans
the noisy one (~0.5 mrad on the simulator's depth, a few mrad with 2 % depth noise).

A pair whose two turns disagree by more than ``max(gate_abs, gate_rel |g|)`` is a failed
match (a scan of a bare wall, a person walking through the view) and is left out: the gyro
cannot be that wrong. Where the accelerometer's calibration leaves the wheels' radius and
the accelerometer's own scale errors (0.2 % and 0.5 % at 1 sigma), this one leaves what the
scans miss: on the val offices' drives the fitted scale is off by 0.13 % RMS on the
simulator's exact depth and 0.28 % with 2 % white depth noise (``docs/design.md`` section
13, "Session 25").

Causal: an IMU row's scale is fitted on the pairs that ended before it
(:func:`scan_turn_pairs` and :func:`running_scan_gyro_scale` on a record, :class:`ScanGyroScaleEstimator` online).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from astra_jax.geometry import se2_relative
from astra_jax.maps.imu_calibration import scale_from_sums
from astra_jax.maps.scan_match import ScanMatchConfig, depth_scan, match_scans
from astra_jax.validation import check_positive_numbers


@dataclasses.dataclass(frozen=True)
class ScanGyroCalibrationConfig:
    """The pairs and the fit of the scan-based gyro calibration.

    Attributes:
      pair_interval: s, the least time between the two frames of a pair (the odometry
        head's); a pair ends at the first frame that far from the last one.
      prior_std: 1 sigma of the gyro's relative scale error before any data (1 %).
      turn_noise: rad, 1 sigma of one pair's scan turn error (the ridge's noise).
      gate_abs, gate_rel: a pair whose scan and gyro turns differ by more than
        ``max(gate_abs, gate_rel * |gyro turn|)`` rad is a failed match and not fitted.
      scan: how depth becomes a scan and scans are matched.
    """

    pair_interval: float = 0.5
    prior_std: float = 0.01
    turn_noise: float = 2e-3
    gate_abs: float = 0.01
    gate_rel: float = 0.1
    scan: ScanMatchConfig = dataclasses.field(default_factory=ScanMatchConfig)

    def __post_init__(self) -> None:
        check_positive_numbers(self, "pair_interval", "prior_std", "turn_noise", "gate_abs",
                               "gate_rel")  # fmt: skip

    @property
    def ridge(self) -> float:
        """The prior's weight on the slope, in units of the gyro turn squared (rad^2)."""
        return (self.turn_noise / self.prior_std) ** 2


def half_row(t: np.ndarray) -> float:
    """s, half the IMU's median row step (0 for fewer than 2 rows): the tolerance a frame time
    is compared to the rows' times with, since the two may differ by rounding (``linspace``
    against accumulated steps), and the row that ends exactly at a frame must count before it."""
    return 0.5 * float(np.median(np.diff(t))) if len(t) > 1 else 0.0


def gyro_turns(imu: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(P,) rad, the gyro's z integral over each (start, end] from rows (t, gyro xyz, ...) that
    are each the mean over the interval ending at t (the episode format's convention); a row
    belongs to an interval when its t lies within it to :func:`half_row`."""
    t = imu[:, 0]
    if len(t) == 0:
        return np.zeros(len(starts))
    step = t[1] - t[0] if len(t) > 1 else 0.0
    dt = np.diff(t, prepend=t[0] - step)
    turned = np.concatenate([[0.0], np.cumsum(imu[:, 3] * dt)])  # turned[i]: rows before i
    half = half_row(t)
    first = np.searchsorted(t, np.asarray(starts, np.float64) + half, side="right")
    last = np.searchsorted(t, np.asarray(ends, np.float64) + half, side="right")
    return turned[last] - turned[first]


def pair_frames(times: np.ndarray, pair_interval: float) -> np.ndarray:
    """(P + 1,) the indices of the frames that are paired: the first, then each first frame at
    least ``pair_interval`` s after the last one kept (the online estimator's rule, so a
    dropped frame or a rate that does not divide the interval pairs the same way in both)."""
    keys = [0]
    for i in range(1, len(times)):
        if times[i] - times[keys[-1]] >= pair_interval - 1e-6:
            keys.append(i)
    return np.asarray(keys, np.int64)


def _pair_terms(g: float, s: float) -> np.ndarray:
    return np.array([1.0, g, s, g * g, g * s])


def _accepted(g: float, s: float, config: ScanGyroCalibrationConfig) -> bool:
    return abs(s - g) <= max(config.gate_abs, config.gate_rel * abs(g))


def scan_turn_pairs(
    imu: np.ndarray,
    times: np.ndarray,
    scan_at: Callable[[int], np.ndarray],
    odom_pose: np.ndarray | None = None,
    config: ScanGyroCalibrationConfig = ScanGyroCalibrationConfig(),
) -> np.ndarray:
    """(P, 4) rows (end time s, gyro turn rad, scan turn rad, accepted 0/1), one per pair of
    frames at least ``pair_interval`` apart (:func:`pair_frames`); a failed match has scan turn
    NaN.

    Args:
      imu: (K, 7) rows (t s, gyro xyz rad/s, specific force xyz m/s^2).
      times: (F,) frame times (s).
      scan_at: frame index -> (M, 2) the frame's scan in its ego frame (:func:`depth_scans`).
      odom_pose: (F, 3) the wheels' dead-reckoned pose per frame (any origin): each match
        starts from its translation between the frames; None starts from none.
      config: pairs, gate and matcher settings.
    """
    imu = np.asarray(imu, np.float64)
    times = np.asarray(times, np.float64)
    if imu.ndim != 2 or imu.shape[1] != 7 or not np.all(np.isfinite(imu)):
        raise ValueError(f"imu {imu.shape}: expected finite (K, 7) rows (t, gyro xyz, accel xyz)")
    if np.any(np.diff(imu[:, 0]) <= 0):
        raise ValueError("imu: expected rows in increasing time")
    if times.ndim != 1 or len(times) < 1 or np.any(np.diff(times) <= 0):
        raise ValueError(f"times {times.shape}: expected (F,) increasing frame times")
    if odom_pose is not None:
        odom_pose = np.asarray(odom_pose, np.float64)
        if odom_pose.shape != (len(times), 3):
            raise ValueError(f"odom_pose {odom_pose.shape}: expected ({len(times)}, 3) poses")
    keys = pair_frames(times, config.pair_interval)
    turns = gyro_turns(imu, times[keys[:-1]], times[keys[1:]])
    rows = []
    previous = scan_at(int(keys[0]))
    for (a, b), g in zip(itertools.pairwise(keys), turns, strict=True):
        current = scan_at(int(b))
        xy = se2_relative(odom_pose[a], odom_pose[b])[:2] if odom_pose is not None else (0, 0)
        match = match_scans(current, previous, (*xy, g), config.scan)
        s = float(match[0][2]) if match is not None else float("nan")
        rows.append((times[b], g, s, float(match is not None and _accepted(g, s, config))))
        previous = current
    return np.asarray(rows, np.float64).reshape(-1, 4)


def depth_scans(depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray,
                config: ScanGyroCalibrationConfig = ScanGyroCalibrationConfig(),
                ) -> Callable[[int], np.ndarray]:  # fmt: skip
    """``scan_at`` for :func:`scan_turn_pairs` from an episode's (F, N, H, W) depth (read per
    frame: a memory map stays on disk) and its (N, 3, 3) intrinsics, (N, 4, 4) extrinsics."""
    return lambda i: depth_scan(np.asarray(depth[i]), intrinsics, extrinsics, config.scan)


def _check_pairs(pairs: np.ndarray) -> np.ndarray:
    pairs = np.asarray(pairs, np.float64)
    if pairs.ndim != 2 or pairs.shape[1] != 4 or np.any(np.diff(pairs[:, 0]) <= 0):
        raise ValueError(
            f"pairs {pairs.shape}: expected (P, 4) rows (end time, gyro turn, scan turn, "
            "accepted) in increasing time, as scan_turn_pairs returns them"
        )
    return pairs


def scale_after_pairs(pairs: np.ndarray, config: ScanGyroCalibrationConfig) -> np.ndarray:
    """(P,) the gyro scale fitted on pairs ``0..p`` (inclusive) of :func:`scan_turn_pairs`."""
    pairs = _check_pairs(pairs)
    terms = np.zeros((len(pairs), 5))
    ok = pairs[:, 3] > 0
    g, s = pairs[ok, 1], pairs[ok, 2]
    terms[ok] = np.stack([np.ones_like(g), g, s, g * g, g * s], 1)
    return scale_from_sums(np.cumsum(terms, 0), config.ridge, config.prior_std)


def running_scan_gyro_scale(
    imu: np.ndarray,
    pairs: np.ndarray,
    config: ScanGyroCalibrationConfig = ScanGyroCalibrationConfig(),
) -> np.ndarray:
    """(K,) the scale to divide each IMU row's gyro z by: fitted on the pairs of
    :func:`scan_turn_pairs` that ended before the row's time, to :func:`half_row` (1 before
    the first): the row that ends at a pair's frame is read before the frame, as online."""
    imu = np.asarray(imu, np.float64)
    pairs = _check_pairs(pairs)
    if len(pairs) == 0:
        return np.ones(len(imu))
    after = np.concatenate([[1.0], scale_after_pairs(pairs, config)])
    # pairs ending before t (a frame time rounded below its row's still counts after the row)
    done = np.searchsorted(pairs[:, 0] + half_row(imu[:, 0]), imu[:, 0], side="left")
    return after[done]


def episode_scan_gyro_scale(ep: Any, pair_interval: float = 0.5) -> np.ndarray:
    """(K,) :func:`running_scan_gyro_scale` of a recorded episode (the episode format's
    ``imu``, ``time``, ``depth``, ``intrinsics``, ``extrinsics`` and ``odom_pose``), its
    frames paired at least ``pair_interval`` s apart."""
    cfg = ScanGyroCalibrationConfig(pair_interval=pair_interval)
    imu = np.asarray(ep.imu, np.float64)
    pairs = scan_turn_pairs(imu, np.asarray(ep.time),
                            depth_scans(ep.depth, ep.intrinsics, ep.extrinsics, cfg),
                            np.asarray(ep.odom_pose), cfg)  # fmt: skip
    return running_scan_gyro_scale(imu, pairs, cfg)


class ScanGyroScaleEstimator:
    """The scan-based gyro calibration online: feed each stretch's IMU rows, then the frame
    that ends it; every ``pair_interval`` s of frames one pair is matched and fitted.

    ``calibrate(imu)`` divides the rows' gyro z by the current scale (fitted on the pairs so
    far) and integrates their raw gyro turn; ``observe(time, depth)`` takes the rig's frame at
    ``time`` (after the rows up to that time; ``observe_scan`` its scan): the first frame is kept as the keyframe, and a
    frame at least ``pair_interval`` later is matched to it (started from the integrated
    turn), fitted when the gate passes, and becomes the keyframe.
    """

    def __init__(self, intrinsics: np.ndarray | None = None,
                 extrinsics: np.ndarray | None = None,
                 config: ScanGyroCalibrationConfig = ScanGyroCalibrationConfig()) -> None:  # fmt: skip
        """``intrinsics`` (N, 3, 3) and ``extrinsics`` (N, 4, 4) ``T_ego_cam`` of the rig, for
        :meth:`observe` (depth frames); :meth:`observe_scan` needs neither."""
        self.intrinsics, self.extrinsics = intrinsics, extrinsics
        self.config = config
        self._sums = np.zeros(5)
        self._key: tuple[float, np.ndarray, np.ndarray | None] | None = None
        self._turn = 0.0  # raw gyro turn since the keyframe (rad)
        self._last_t: float | None = None  # the last IMU row's time (s)
        self.pairs = 0  # pairs matched and fitted

    @property
    def scale(self) -> float:
        """The current estimate of ``k`` (1 before any pair)."""
        return float(scale_from_sums(self._sums, self.config.ridge, self.config.prior_std))

    def calibrate(self, imu: np.ndarray) -> np.ndarray:
        """(K, 7) ``imu`` rows (t, gyro xyz, accel xyz) with the gyro z divided by the scale."""
        imu = np.asarray(imu, np.float64)
        if imu.ndim != 2 or imu.shape[1] != 7 or not np.all(np.isfinite(imu)):
            raise ValueError(f"imu {imu.shape}: expected finite (K, 7) rows")
        if len(imu):
            t = imu[:, 0]
            # each row is the mean over the interval ending at its t: the first one starts at
            # the last chunk's end (or one row step before it, on the first chunk)
            start = self._last_t if self._last_t is not None else (
                t[0] - (t[1] - t[0] if len(t) > 1 else 0.0))  # fmt: skip
            dt = np.diff(t, prepend=start)
            if np.any(dt < 0):
                raise ValueError("ScanGyroScaleEstimator.calibrate: IMU times run backwards")
            self._turn += float(np.sum(imu[:, 3] * dt))
            self._last_t = float(t[-1])
        out = imu.copy()
        out[:, 3] = out[:, 3] / self.scale
        return out

    def observe(self, time: float, depth: np.ndarray, odom_pose: np.ndarray | None = None) -> None:
        """Takes the rig's (N, H, W) depth frame at ``time`` s, and the wheels' dead-reckoned
        pose (3,) then (any origin; the match starts from its motion since the keyframe)."""
        if self.intrinsics is None or self.extrinsics is None:
            raise ValueError("ScanGyroScaleEstimator.observe: made without the rig's cameras")
        if self._key is not None and time - self._key[0] < self.config.pair_interval - 1e-6:
            return
        scan = depth_scan(depth, self.intrinsics, self.extrinsics, self.config.scan)
        self.observe_scan(time, scan, odom_pose)

    def observe_scan(self, time: float, scan: np.ndarray, odom_pose: np.ndarray | None = None
                     ) -> None:  # fmt: skip
        """Takes the frame at ``time`` s as its (M, 2) scan (ignored when less than
        ``pair_interval`` after the keyframe); ``odom_pose`` as :meth:`observe`'s."""
        scan = np.asarray(scan, np.float64)
        if scan.ndim != 2 or scan.shape[1] != 2:
            raise ValueError(f"scan {scan.shape}: expected (M, 2) points")
        if not np.isfinite(time) or (self._key is not None and time < self._key[0]):
            raise ValueError(f"time = {time}: expected a finite time after the keyframe's")
        if self._key is not None and time - self._key[0] < self.config.pair_interval - 1e-6:
            return
        pose = None if odom_pose is None else np.asarray(odom_pose, np.float64)
        if pose is not None and (pose.shape != (3,) or not np.all(np.isfinite(pose))):
            raise ValueError(f"odom_pose {pose.shape}: expected a finite (x, y, theta) pose")
        if self._key is not None:
            g = self._turn
            before = self._key[2]
            xy = (
                se2_relative(before, pose)[:2]
                if before is not None and pose is not None
                else (0, 0)
            )
            match = match_scans(scan, self._key[1], (*xy, g), self.config.scan)
            if match is not None and _accepted(g, float(match[0][2]), self.config):
                self._sums = self._sums + _pair_terms(g, float(match[0][2]))
                self.pairs += 1
        self._key, self._turn = (float(time), scan, pose), 0.0
