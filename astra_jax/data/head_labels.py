"""Per-tick training labels of Astra-Local's heads, read from one goal episode.

A *tick* is a planning / odometry step: frames ``0, s, 2s, ...`` of the episode with
``s = tick_interval * camera_rate`` (0.5 s apart by default, the encoder's frame interval).
For tick k at time t_k with ground-truth pose P_k, :func:`tick_labels` returns:

* ``expert`` (K, n, 3): the expert's poses at ``t_k + j * waypoint_interval`` (j = 1..n) in the
  ego frame of P_k (held at the last pose after the episode ends: the robot has stopped);
* ``subgoal`` (K, 2): the point ``subgoal_distance`` metres further along the expert's planned
  path than the robot's projection onto it (or the path's end), in the ego frame;
* ``velocity`` (K, 2): the commanded (v m/s, omega rad/s) at t_k;
* ``odom_target`` (K, 3): the ground-truth relative pose from tick k-1 to tick k in tick k-1's
  frame (zeros at k = 0);
* ``imu`` (K, S_imu, 6) and ``wheel`` (K, S_wheel, 2): the raw samples of the interval
  (t_{k-1}, t_k] (zeros at k = 0): gyro xyz rad/s + accel xyz m/s^2, and wheel rates rad/s;
* ``esdf`` (K, Ex, Ey) float16: the world's signed ESDF cropped around P_k (privileged: a
  training label and an evaluation figure, never a model input), laid out as
  :meth:`astra_jax.sim.occupancy.OccupancyMap.local_crop`; in an episode with walking people,
  each person at t_k is a disc obstacle in it (:func:`people_in_crop`; a training label: where
  people stand now). Such an episode's ticks also hold ``esdf_world`` (K, Ex, Ey) float16, the
  crop without people, and ``people_track`` (K, n + 1, P, 2) float32, every person's position
  at ``t_k + j * waypoint_interval`` (j = 0..n) in the ego frame of P_k: the evaluation checks
  a plan against the people where they are when the robot gets there;
* ``gyro_scale`` and ``gyro_scale_scan`` (K, S_imu, 1): each window IMU sample's gyro scale
  as fitted online from the drive before it, against the centripetal force
  (:mod:`astra_jax.maps.imu_calibration`) and against the depth scans' turns
  (:mod:`astra_jax.maps.scan_gyro_calibration`); 0 where the window has no sample;
* ``frame`` (K,), ``time`` (K,), ``pose`` (K, 3) and ``odom_pose`` (K, 3) for the evaluation.

Everything is numpy; the ESDF crop comes from a callable so this module needs no world.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from astra_jax.formats.episode import Episode
from astra_jax.geometry import se2_apply, se2_inverse, se2_relative, wrap_angle
from astra_jax.validation import check_positive_ints

# The labels holding a gyro scale per IMU sample (``OdometryHeadConfig.gyro_scale_label``
# names one): fitted against the centripetal force, and against the depth scans' turns.
GYRO_SCALE_KEYS = ("gyro_scale", "gyro_scale_scan")

EsdfCrop = Callable[[np.ndarray], np.ndarray]  # poses (K, 3) world -> (K, Ex, Ey) metres


@dataclasses.dataclass(frozen=True)
class TickSpec:
    """What :func:`tick_labels` cuts from an episode (times in s, distances in m)."""

    tick_interval: float = 0.5
    num_waypoints: int = 8
    waypoint_interval: float = 0.5
    subgoal_distance: float = 3.0
    esdf_shape: tuple[int, int] = (96, 96)
    esdf_resolution: float = 0.1

    def __post_init__(self) -> None:
        check_positive_ints(self, "num_waypoints")
        for name in ("tick_interval", "waypoint_interval", "subgoal_distance", "esdf_resolution"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"TickSpec.{name} = {v!r}: expected a positive number")
        if len(self.esdf_shape) != 2 or any(int(n) != n or n < 2 for n in self.esdf_shape):
            raise ValueError(f"TickSpec.esdf_shape = {self.esdf_shape!r}: expected (nx, ny) >= 2")

    def tick_stride(self, camera_rate_hz: float) -> int:
        """Frames between ticks at ``camera_rate_hz``; the interval must be a whole number."""
        s = self.tick_interval * camera_rate_hz
        if abs(s - round(s)) > 1e-6 or round(s) < 1:
            raise ValueError(
                f"TickSpec.tick_interval = {self.tick_interval} s is not a whole number of "
                f"frames at {camera_rate_hz} frames/s"
            )
        return round(s)

    def samples(self, rate_hz: float) -> int:
        """Sensor samples per tick interval at ``rate_hz``."""
        return round(self.tick_interval * rate_hz)


def poses_at(times: np.ndarray, frame_times: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Poses (M, 3) at ``times`` by linear interpolation of (T, 3) ``poses`` at ``frame_times``
    (yaw unwrapped first); times outside the range hold the end poses."""
    yaw = np.unwrap(poses[:, 2])
    out = np.stack([np.interp(times, frame_times, poses[:, i]) for i in (0, 1)] +
                   [np.interp(times, frame_times, yaw)], -1)  # fmt: skip
    out[:, 2] = wrap_angle(out[:, 2])
    return out


def subgoal_points(path: np.ndarray, positions: np.ndarray, distance: float) -> np.ndarray:
    """World points (K, 2): ``distance`` m along polyline ``path`` (P, 2) past each position's
    projection onto it (clamped to the path's end)."""
    seg = np.diff(path, axis=0)
    length = np.linalg.norm(seg, axis=1)
    keep = length > 1e-9
    if not keep.any():
        return np.repeat(path[-1:], len(positions), 0)
    a, seg, length = path[:-1][keep], seg[keep], length[keep]
    cum = np.concatenate([[0.0], np.cumsum(length)])
    rel = positions[:, None, :] - a[None]  # (K, S, 2)
    u = np.clip(np.einsum("ksd,sd->ks", rel, seg) / length**2, 0.0, 1.0)
    d = np.linalg.norm(rel - u[..., None] * seg[None], axis=-1)
    best = np.argmin(d, axis=1)
    s = cum[best] + u[np.arange(len(positions)), best] * length[best] + distance
    s = np.clip(s, 0.0, cum[-1])
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(length) - 1)
    frac = ((s - cum[i]) / length[i])[:, None]
    return a[i] + frac * seg[i]


def sensor_windows(rows: np.ndarray, rate_hz: float, ends: np.ndarray, count: int) -> np.ndarray:
    """(K, count, C-1) sample values of the intervals (t_k - count/rate, t_k], zero-padded
    where the recording has no sample (k = 0, or past its end). Row j holds t = (j+1)/rate."""
    out = np.zeros((len(ends), count, rows.shape[1] - 1), np.float32)
    for k, t in enumerate(ends):
        last = round(t * rate_hz)  # rows 0..last-1 end at or before t
        first = last - count
        lo, hi = max(first, 0), min(last, len(rows))
        if hi > lo:
            out[k, lo - first : hi - first] = rows[lo:hi, 1:]
    return out


def people_in_crop(esdf: np.ndarray, poses: np.ndarray, people: np.ndarray, radius: float,
                   resolution: float) -> np.ndarray:  # fmt: skip
    """Ego ESDF crops (K, Ex, Ey) m with the walking people as disc obstacles: per crop, the
    smaller of its value and the distance to the nearest person's disc (``radius`` m).
    ``poses`` (K, 3) the crops' world poses, ``people`` (K, P, 2+) world positions."""
    _, nx, ny = esdf.shape
    if people.shape[1] == 0:
        return esdf
    gx = -0.5 * nx * resolution + (np.arange(nx) + 0.5) * resolution
    gy = -0.5 * ny * resolution + (np.arange(ny) + 0.5) * resolution
    ego = se2_apply(se2_inverse(poses)[:, None], np.asarray(people, np.float64)[..., :2])  # (K,P,2)
    dx = gx[None, None, :, None] - ego[..., 0, None, None]  # (K, P, Ex, 1)
    dy = gy[None, None, None, :] - ego[..., 1, None, None]  # (K, P, 1, Ey)
    discs = np.sqrt(dx**2 + dy**2).min(axis=1) - radius  # (K, Ex, Ey)
    return np.minimum(esdf, discs).astype(esdf.dtype)


def people_track(ep: Episode, times: np.ndarray, poses: np.ndarray, spec: TickSpec) -> np.ndarray:
    """(K, n + 1, P, 2) float32: the episode's people at ``times[k] + j * waypoint_interval``
    (j = 0..n; linear between frames, held after the last) in the ego frame of ``poses[k]``."""
    people = np.asarray(ep.people, np.float64)
    when = times[:, None] + spec.waypoint_interval * np.arange(spec.num_waypoints + 1)[None]
    frame_t = np.asarray(ep.time, np.float64)
    world = np.stack([np.stack([np.interp(when, frame_t, people[:, q, a]) for a in (0, 1)], -1)
                      for q in range(people.shape[1])], axis=2)  # (K, n + 1, P, 2)  # fmt: skip
    return se2_apply(se2_inverse(poses)[:, None, None], world).astype(np.float32)


def tick_labels(ep: Episode, spec: TickSpec, esdf_crop: EsdfCrop) -> dict[str, np.ndarray]:
    """The per-tick labels of goal episode ``ep`` (see the module docstring)."""
    if ep.expert_path is None:
        raise ValueError(f"{ep.path}: not a goal episode (no expert_path): no planning labels")
    rates = ep.manifest["rates_hz"]
    camera_rate = round(1.0 / float(np.median(np.diff(ep.time)))) if ep.num_frames > 1 else 10
    stride = spec.tick_stride(camera_rate)
    frames = np.arange(0, ep.num_frames, stride)
    times = np.asarray(ep.time, np.float64)[frames]
    pose = np.asarray(ep.pose, np.float64)[frames]
    n = spec.num_waypoints
    future_t = times[:, None] + spec.waypoint_interval * np.arange(1, n + 1)[None]
    future = poses_at(future_t.reshape(-1), np.asarray(ep.time), np.asarray(ep.pose))
    expert = se2_relative(np.repeat(pose, n, 0), future).reshape(len(frames), n, 3)
    goal_world = subgoal_points(np.asarray(ep.expert_path), pose[:, :2], spec.subgoal_distance)
    subgoal = se2_apply(se2_inverse(pose), goal_world)
    odom_target = np.zeros_like(pose)
    odom_target[1:] = se2_relative(pose[:-1], pose[1:])
    imu_rate, wheel_rate = float(rates["imu"]), float(rates["wheel"])
    esdf = np.asarray(esdf_crop(pose), np.float32)
    crowd = {}
    if ep.people is not None:
        radius = float(ep.manifest.get("people", {}).get("radius", 0.25))
        crowd["esdf_world"] = esdf.astype(np.float16)
        crowd["people_track"] = people_track(ep, times, pose, spec)
        esdf = people_in_crop(esdf, pose, ep.people[frames], radius, spec.esdf_resolution)
    return {
        **crowd,
        "frame": frames.astype(np.int32),
        "time": times,
        "pose": pose,
        "odom_pose": np.asarray(ep.odom_pose, np.float64)[frames],
        "expert": expert.astype(np.float32),
        "subgoal": subgoal.astype(np.float32),
        "velocity": np.asarray(ep.velocity, np.float32)[frames],
        "odom_target": odom_target.astype(np.float32),
        "imu": sensor_windows(np.asarray(ep.imu), imu_rate, times, spec.samples(imu_rate)),
        "wheel": sensor_windows(np.asarray(ep.wheel), wheel_rate, times, spec.samples(wheel_rate)),
        "gyro_scale": gyro_scale_windows(ep, times, spec.samples(imu_rate)),
        "gyro_scale_scan": scan_gyro_scale_windows(
            ep, times, spec.samples(imu_rate), spec.tick_interval
        ),
        "esdf": esdf.astype(np.float16),
    }


def gyro_scale_windows(ep: Episode, ends: np.ndarray, count: int) -> np.ndarray:
    """(K, count, 1) float32: for each IMU sample of each tick's window (as
    :func:`sensor_windows` lays them out), the gyro scale fitted online from the drive's
    samples before it (:func:`astra_jax.maps.imu_calibration.running_gyro_scale`); 0 where
    the window has no sample."""
    from astra_jax.maps.imu_calibration import running_gyro_scale

    imu = np.asarray(ep.imu, np.float64)
    scale = running_gyro_scale(
        imu, np.asarray(ep.wheel), float(ep.manifest["robot"]["wheel_radius"])
    )
    rate = float(ep.manifest["rates_hz"]["imu"])
    return sensor_windows(np.stack([imu[:, 0], scale], 1), rate, ends, count)


def scan_gyro_scale_windows(ep: Episode, ends: np.ndarray, count: int,
                            pair_interval: float) -> np.ndarray:  # fmt: skip
    """(K, count, 1) float32: as :func:`gyro_scale_windows`, the scale fitted online against
    the turns of the rig's depth scans ``pair_interval`` s apart (the ticks')
    (:func:`astra_jax.maps.scan_gyro_calibration.episode_scan_gyro_scale`)."""
    from astra_jax.maps.scan_gyro_calibration import episode_scan_gyro_scale

    imu = np.asarray(ep.imu, np.float64)
    scale = episode_scan_gyro_scale(ep, pair_interval)
    rate = float(ep.manifest["rates_hz"]["imu"])
    return sensor_windows(np.stack([imu[:, 0], scale], 1), rate, ends, count)
