"""The gyro calibrated against the depth scans' turns, against the classical wheel + gyro
fusion in the same run, on rendered goal episodes; and how depth noise degrades it.

Rows (whole episodes, ticks 0.5 s apart, RTE % and RRE deg / 10 m over 2 m segments with evo,
as ``astra eval local`` scores them):

* **baseline**: the classical fusion (:func:`astra_jax.maps.odometry.wheel_gyro_odometry`, the
  eval's ``wheel + gyro`` row);
* the same with the gyro calibrated online from the centripetal force
  (:mod:`astra_jax.maps.imu_calibration`);
* the same calibrated online against the rig's depth scans
  (:mod:`astra_jax.maps.scan_gyro_calibration`), on the simulator's depth and with white
  depth noise of each ``--depth-noise`` (relative, 1 sigma per pixel, seeded per episode):
  the simulator renders exact depth, a real depth camera does not (a D435 is quoted at <= 2 %
  of the distance at 2 m); and with a stereo camera's noise, which grows with the square of
  the range: 1 sigma ``k z^2`` per pixel for each ``--stereo-noise`` k (1/m). Intel's D400
  RMS error is ``z^2 * subpixel / (focal_px * baseline)``: a D435 (50 mm baseline, 447 px
  focal length at 848 px wide) at its typical 0.08 px subpixel gives k = 0.0036 /m (1.4 cm
  at 2 m, 5.7 cm at 4 m); 0.0107 is three times that (poor texture). Per pixel at our 96 x 96
  it is pessimistic: each of our pixels spans about nine of the sensor's;
* the oracle: the gyro divided by its true scale (the episode manifest's), what no
  calibration can beat.

Also the scan matcher's cost per pair (two scans and one match), since the navigator runs it
every tick. The ratios printed are classical / calibrated (above 1: the calibration is
better).

Usage: ``python bench/scan_calibration.py [--worlds office:1000000,...] [--episodes-per-world 2]
[--depth-noise 0.01,0.02] [--stereo-noise 0.0036,0.0107] [--json]`` (val worlds by default: what a choice may look at).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from _args import comma_floats

from astra_jax import experiments
from astra_jax.config import DepthNoiseConfig
from astra_jax.formats.episode import load_episode
from astra_jax.local_model.odometry_metrics import pooled
from astra_jax.maps.imu_calibration import calibrate_gyro
from astra_jax.maps.odometry import wheel_gyro_odometry
from astra_jax.maps.scan_gyro_calibration import (
    ScanGyroCalibrationConfig,
    running_scan_gyro_scale,
    scale_after_pairs,
    scan_turn_pairs,
)
from astra_jax.maps.scan_match import depth_scan
from astra_jax.sim.depth_noise import apply_depth_noise
from astra_jax.tasks.local_eval import parse_worlds, world_episodes

VAL_WORLDS = ",".join(f"office:{s}" for s in range(1_000_000, 1_000_006))


def _row(tracks: list) -> dict[str, float]:
    r = pooled(tracks)
    return {"rte_pct": float(r["rte_pct"]), "rre_deg_per_10m": float(r["rre_deg_per_10m"])}


def _track(ep, imu: np.ndarray, ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, truth, times) at the ticks: the classical fusion on these IMU rows."""
    t = np.asarray(ep.time)
    est = wheel_gyro_odometry(np.asarray(ep.odom_pose), t, imu)
    return est[ticks], np.asarray(ep.pose)[ticks], t[ticks]


def _noisy_scans(ep, noise: tuple[str, float], seed: int, cfg: ScanGyroCalibrationConfig):
    """``scan_at`` of the episode's depth with noise (seeded per episode): ("white", r) adds
    1 sigma ``r z`` per pixel, ("stereo", k) the simulator's camera model with range noise
    ``k z^2`` only (:func:`apply_depth_noise`), ("none", 0) leaves it exact."""
    kind, level = noise
    rng = np.random.default_rng([seed, round(level * 1e6), kind == "stereo"])
    stereo = DepthNoiseConfig(rms_per_m2=level)

    def scan_at(i: int) -> np.ndarray:
        d = np.asarray(ep.depth[i], np.float64)
        if level and kind == "white":
            d = d + level * d * rng.standard_normal(d.shape)
        elif level:
            d = apply_depth_noise(d, stereo, rng)
        return depth_scan(d, ep.intrinsics, ep.extrinsics, cfg.scan)

    return scan_at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", default=VAL_WORLDS, help="FAMILY:SEED,... (held-out seeds)")
    ap.add_argument("--episodes-per-world", type=int, default=2)
    ap.add_argument("--depth-noise", default="0.01,0.02", type=comma_floats(0.2, "relative noise"),
                    help="comma-separated relative depth noise levels ('' for none)")  # fmt: skip
    ap.add_argument("--stereo-noise", default="0.0036,0.0107", type=comma_floats(0.05, "k per metre"),
                    help="comma-separated k (1/m) of stereo noise k z^2 ('' for none)")  # fmt: skip
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.episodes_per_world < 1:
        ap.error(f"--episodes-per-world {args.episodes_per_world}: expected >= 1")
    noises, stereo = args.depth_noise, args.stereo_noise
    levels = [("none", 0.0), *[("white", v) for v in noises], *[("stereo", v) for v in stereo]]

    render = experiments.get("local-small").config.render_config
    paths = world_episodes(render, parse_worlds(args.worlds), args.episodes_per_world)
    cfg = ScanGyroCalibrationConfig()
    labels = ["wheel + gyro (baseline)", "accel-calibrated gyro", "scan-calibrated gyro",
              *[f"scan-calibrated, depth noise {v:g}" for v in noises],
              *[f"scan-calibrated, stereo {v:g} z^2" for v in stereo], "true gyro scale (oracle)"]  # fmt: skip
    tracks: dict[str, list] = {label: [] for label in labels}
    scale_err: dict[str, list[float]] = {label: [] for label in labels[2:-1]}
    raw_err, pair_s = [], []
    t0 = time.perf_counter()
    for e, path in enumerate(paths):
        ep = load_episode(path, mmap=True)
        imu, times = np.asarray(ep.imu), np.asarray(ep.time)
        k_true = 1.0 + float(ep.manifest["sensor_errors"]["gyro_scale_error"][2])
        raw_err.append(k_true - 1.0)
        ticks = np.arange(0, len(times), round(cfg.pair_interval / np.median(np.diff(times))))
        tracks[labels[0]].append(_track(ep, imu, ticks))
        wheel_radius = float(ep.manifest["robot"]["wheel_radius"])
        tracks[labels[1]].append(_track(ep, calibrate_gyro(imu, ep.wheel, wheel_radius), ticks))
        for label, noise in zip(labels[2:-1], levels, strict=True):
            s0 = time.perf_counter()
            pairs = scan_turn_pairs(imu, times, _noisy_scans(ep, noise, e, cfg),
                                    np.asarray(ep.odom_pose), cfg)  # fmt: skip
            pair_s.append((time.perf_counter() - s0) / max(len(pairs), 1))
            rows = imu.copy()
            rows[:, 3] = rows[:, 3] / running_scan_gyro_scale(imu, pairs, cfg)
            tracks[label].append(_track(ep, rows, ticks))
            scale_err[label].append(float(scale_after_pairs(pairs, cfg)[-1]) - k_true)
        oracle = imu.copy()
        oracle[:, 3] = oracle[:, 3] / k_true
        tracks[labels[-1]].append(_track(ep, oracle, ticks))
    seconds = time.perf_counter() - t0

    rows = {label: _row(items) for label, items in tracks.items()}
    base = rows[labels[0]]
    rms = lambda v: float(np.sqrt(np.mean(np.square(v))) * 100)  # noqa: E731  (percent)
    print(f"{len(paths)} episodes ({args.worlds}), {seconds:.0f} s; gyro scale errors "
          f"{rms(raw_err):.2f} % RMS")  # fmt: skip
    print(f"{'row':38s} {'RTE %':>7s} {'RRE deg/10m':>12s} {'ratio RTE':>10s} {'ratio RRE':>10s}"
          f" {'final scale err % RMS':>22s}")  # fmt: skip
    for label, r in rows.items():
        err = f"{rms(scale_err[label]):.3f}" if label in scale_err else ""
        print(f"{label:38s} {r['rte_pct']:7.3f} {r['rre_deg_per_10m']:12.3f} "
              f"{base['rte_pct'] / r['rte_pct']:10.2f} "
              f"{base['rre_deg_per_10m'] / r['rre_deg_per_10m']:10.2f} {err:>22s}")  # fmt: skip
    print(f"scan matching: {np.median(pair_s) * 1e3:.1f} ms per pair (two scans, one match)")
    if args.json:
        print(json.dumps({
            "bench": "scan_calibration", "worlds": args.worlds, "episodes": len(paths),
            "rows": rows, "ratio_rre_scan_vs_baseline":
                base["rre_deg_per_10m"] / rows[labels[2]]["rre_deg_per_10m"],
            "final_scale_error_pct_rms": {k: rms(v) for k, v in scale_err.items()},
            "gyro_scale_error_pct_rms": rms(raw_err), "ms_per_pair": np.median(pair_s) * 1e3,
            "config": dataclasses.asdict(cfg), "seconds": seconds,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
