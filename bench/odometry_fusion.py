"""What a learned odometry correction can gain over the classical wheel + gyro fusion: the
error budget of the simulator's drifting sensors, and a least-squares correction fitted on
training worlds, both measured against the classical fusion in the same run.

The odometry head (:mod:`astra_jax.local_model.odometry_head`) outputs its kinematic prior plus
a learned correction that reads the pair's pre-integrated features
(:func:`~astra_jax.local_model.odometry_config.kinematic_features`). This bench asks how much
accuracy is there to learn at all, without rendering a frame:

* sensor-only goal episodes (:func:`astra_jax.sim.generate.goal_sensor_run`: the same drives
  and sensor draws as the rendered episodes) of office train seeds (the fit) and test seeds
  (the evaluation; the same episodes ``astra eval local`` scores);
* **baseline**: the classical fusion (:func:`astra_jax.maps.odometry.wheel_gyro_odometry`, the
  eval's ``wheel + gyro`` row) on the test episodes;
* **error budget**: the same with one error source of ``SensorNoiseConfig`` off at a time;
* **linear correction**: per 0.5 s pair, truth - prior regressed by least squares on the
  head's kinematic features plus the turn disagreement gated by the turn rate (inverse-variance
  weighting of two turn estimates depends on how much the robot turns), fitted on the
  training pairs and chained over each test episode like the head's output;
* **gated blend** (what the head's ``heading_fusion`` can learn): the prior with its yaw
  replaced by ``gyro + g (wheel - gyro)``, the gate g in [0, 1] fitted on the training pairs
  per bin of the gyro's turn over the pair (the L1 optimum: a weighted median), x and y the
  prior's; and the same with a fixed gate (:data:`FIXED_BLEND`: the plain mean of the two
  turns on turning pairs, the gyro alone otherwise), not fitted to anything. The per-pair L1
  optimum weighs the wheels' per-pair noise (slip, white noise), which averages out over a
  segment; the whole-episode figures weigh the per-robot scale errors, which do not.
* **gyro calibrated from the centripetal force**: the classical fusion with the gyro's z rate
  divided by the scale :mod:`astra_jax.maps.imu_calibration` fits online (causal) from the
  accelerometer's lateral force and the wheels' speed; then, with ``--accel-scale-stds``, the
  same on the same drives with the accelerometer's scale error set to each value, since the
  calibration is only as good as that sensor (``SensorNoiseConfig.accel_scale_std``).

Figures: RTE (%) and RRE (deg / 10 m) over 2 m segments with evo
(:func:`astra_jax.local_model.odometry_metrics.pooled`); the ratios printed are classical /
corrected (above 1: the correction is better).

Usage: ``python bench/odometry_fusion.py [--train-worlds 40] [--episodes-per-world 5]
[--test-worlds 3] [--test-episodes 3] [--eval-split test|val] [--no-budget]
[--accel-scale-stds 0,0.01] [--json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import jax.numpy as jnp
import numpy as np
from _args import comma_floats

from astra_jax import experiments
from astra_jax.config import AstraConfig
from astra_jax.data.head_labels import sensor_windows
from astra_jax.geometry import se2_compose, se2_relative, wrap_angle
from astra_jax.local_model.odometry_config import (
    KINEMATIC_FEATURES,
    OdometryHeadConfig,
    kinematics,
    sensor_turns,
)
from astra_jax.local_model.odometry_metrics import pooled
from astra_jax.maps.imu_calibration import calibrate_gyro
from astra_jax.maps.odometry import wheel_gyro_odometry
from astra_jax.sim.generate import SensorRun, goal_sensor_run
from astra_jax.sim.seeds import SPLITS
from astra_jax.sim.world import World, load_world

# One error source off at a time (SensorNoiseConfig fields set to 0).
BUDGET = {
    "gyro scale factor": ("gyro_scale_std",),
    "slip": ("slip_ratio_at_full_grip",),
    "gyro bias": ("gyro_bias_std", "gyro_bias_random_walk"),
    "white noise": ("gyro_noise_density", "wheel_noise_std"),
    "wheel radius": ("wheel_radius_std",),
    "track width": ("track_width_std",),
}
GATE_RAD = 0.05  # turn over a pair at which the disagreement's gate is half open
# Bins of |gyro turn| over a 0.5 s pair (rad) for the gated blend: straight, drifting, turning.
BLEND_BINS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, np.inf)
# The fixed blend: (gate, |gyro turn| over a pair above which it applies, rad): the mean of two
# turn sensors with equal, independent 1 % scale errors, while turning faster than 0.2 rad/s.
FIXED_BLEND = (0.5, 0.1)


def _runs(cfg: AstraConfig, worlds: list[World], per_world: int) -> list[SensorRun]:
    """Episodes 0..per_world-1 of each world, with ``cfg``'s sensors (the worlds do not depend
    on them: the error budget reuses the test worlds)."""
    return [goal_sensor_run(w, cfg, i) for w in worlds for i in range(per_world)]


def _pairs(run: SensorRun, head: OdometryHeadConfig, stride: int):
    """Tick indices and, per pair of consecutive ticks: the prior (P, 3), the regressors
    (P, F), the true motion (P, 3) and the gyro's and wheels' turns (P, 2)."""
    ticks = np.arange(0, len(run.time), stride)
    ends = run.time[ticks[1:]]
    rate_i = 1.0 / float(run.imu[1, 0] - run.imu[0, 0])
    rate_w = 1.0 / float(run.wheel[1, 0] - run.wheel[0, 0])
    imu = jnp.asarray(sensor_windows(run.imu, rate_i, ends, head.imu_samples))
    wheel = jnp.asarray(sensor_windows(run.wheel, rate_w, ends, head.wheel_samples))
    kin = kinematics(head, imu, wheel, len(ends))  # the prior once, the features from it
    prior, feats = np.asarray(kin.prior, np.float64), np.asarray(kin.features, np.float64)
    name = {n: i for i, n in enumerate(KINEMATIC_FEATURES)}
    turn = np.abs(feats[:, name["gyro_turn"]] * 0.3)
    gated = feats[:, name["turn_disagreement"]] * turn / (turn + GATE_RAD)
    x = np.concatenate([feats, gated[:, None], np.ones((len(ends), 1))], 1)
    truth = se2_relative(run.pose[ticks[:-1]], run.pose[ticks[1:]])
    turns = np.asarray(sensor_turns(head, imu, wheel, len(ends)), np.float64)
    return ticks, prior, x, truth, turns


def _fit_gates(turns: np.ndarray, truth_turn: np.ndarray) -> np.ndarray:
    """Per :data:`BLEND_BINS` bin of |gyro turn|, the gate g in [0, 1] minimising
    sum |truth - gyro - g (wheel - gyro)|: the median of (truth - gyro) / (wheel - gyro)
    weighted by |wheel - gyro| (0.5 for an empty bin)."""
    gyro, d = turns[:, 0], turns[:, 1] - turns[:, 0]
    r = wrap_angle(truth_turn - gyro)
    which = np.digitize(np.abs(gyro), BLEND_BINS[1:-1])
    gates = np.full(len(BLEND_BINS) - 1, 0.5)
    for b in range(len(gates)):
        m = (which == b) & (np.abs(d) > 1e-9)
        if m.any():
            ratio, w = r[m] / d[m], np.abs(d[m])
            order = np.argsort(ratio)
            cum = np.cumsum(w[order])
            gates[b] = float(np.clip(ratio[order][np.searchsorted(cum, 0.5 * cum[-1])], 0, 1))
    return gates


def _blend(turns: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """(P,) the gated blend of the gyro's and the wheels' turns."""
    gyro = turns[:, 0]
    return gyro + gates[np.digitize(np.abs(gyro), BLEND_BINS[1:-1])] * (turns[:, 1] - gyro)


def _ridge(x: np.ndarray, y: np.ndarray, lam: float = 1e-6) -> np.ndarray:
    """(F, 3) least-squares coefficients on standardised regressors with a small ridge: the
    features are exactly collinear (with both sensors the prior's turn is the gyro's, and the
    disagreement is the difference of the two turns), which plain least squares turns into
    huge cancelling coefficients."""
    scale = np.where(x.std(0) > 0, x.std(0), 1.0)
    z = x / scale
    coef = np.linalg.solve(z.T @ z + lam * len(z) * np.eye(z.shape[1]), z.T @ y)
    return coef / scale[:, None]


def _classical(runs: list[SensorRun], stride: int, wheel_radius: float | None = None
               ) -> dict[str, float]:  # fmt: skip
    """The classical fusion's figures; with ``wheel_radius``, on the gyro calibrated online
    from the centripetal force."""
    tracks = []
    for r in runs:
        t = np.arange(0, len(r.time), stride)
        imu = r.imu if wheel_radius is None else calibrate_gyro(r.imu, r.wheel, wheel_radius)
        fused = wheel_gyro_odometry(r.odom_pose, r.time, imu)
        tracks.append((fused[t], r.pose[t], r.time[t]))
    return pooled(tracks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-worlds", type=int, default=40)
    ap.add_argument("--episodes-per-world", type=int, default=5)
    ap.add_argument("--test-worlds", type=int, default=3)
    ap.add_argument("--test-episodes", type=int, default=3)
    ap.add_argument(
        "--eval-split",
        choices=("test", "val"),
        default="test",
        help="the split of the evaluated worlds (val: what a choice may look at)",
    )
    ap.add_argument("--no-budget", action="store_true", help="skip the error budget")
    ap.add_argument(
        "--accel-scale-stds",
        default="0,0.01",
        type=comma_floats(0.1, "relative errors"),
        help="comma-separated accelerometer scale errors (1 sigma) to repeat the calibrated row "
        "with ('' for none)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for name in ("train_worlds", "episodes_per_world", "test_worlds", "test_episodes"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} = {getattr(args, name)}: expected >= 1")
    accel_stds = args.accel_scale_stds

    exp = experiments.get("local-small")
    cfg = exp.config.render_config
    head = exp.config.odometry
    stride = round(head.pair_interval * cfg.sim.camera_rate_hz)
    train_seeds = list(SPLITS["train"][: args.train_worlds])
    test_seeds = list(SPLITS[args.eval_split][: args.test_worlds])
    t0 = time.perf_counter()
    test_worlds = [load_world("office", seed, None, cfg.sim) for seed in test_seeds]
    train = [run for seed in train_seeds  # one training world in memory at a time
             for run in _runs(cfg, [load_world("office", seed, None, cfg.sim)],
                              args.episodes_per_world)]  # fmt: skip
    test = _runs(cfg, test_worlds, args.test_episodes)
    made = time.perf_counter() - t0
    print(f"sensor-only goal episodes: {len(train)} train (office seeds {train_seeds[0]}.."
          f"{train_seeds[-1]}), {len(test)} test, in {made:.0f} s", file=sys.stderr)  # fmt: skip

    radius = cfg.sim.robot.wheel_radius
    rows = {"wheel + gyro (classical)": _classical(test, stride)}
    calibrated = f"classical, gyro calibrated (accel scale {cfg.sim.sensors.accel_scale_std:g})"
    rows[calibrated] = _classical(test, stride, radius)
    for std in accel_stds:
        label = f"classical, gyro calibrated (accel scale {std:g})"
        if label in rows:
            continue  # the default's row is above; measuring it again would overwrite it
        sensors = dataclasses.replace(cfg.sim.sensors, accel_scale_std=std)
        other = dataclasses.replace(cfg, sim=dataclasses.replace(cfg.sim, sensors=sensors))
        rows[label] = _classical(_runs(other, test_worlds, args.test_episodes), stride, radius)
    if not args.no_budget:
        for label, fields in BUDGET.items():
            sensors = dataclasses.replace(cfg.sim.sensors, **dict.fromkeys(fields, 0.0))
            off = dataclasses.replace(cfg, sim=dataclasses.replace(cfg.sim, sensors=sensors))
            runs = _runs(off, test_worlds, args.test_episodes)
            rows[f"classical, no {label}"] = _classical(runs, stride)

    fit = [_pairs(r, head, stride) for r in train]
    x = np.concatenate([p[2] for p in fit])
    residual = np.concatenate([p[3] - p[1] for p in fit])
    residual[:, 2] = wrap_angle(residual[:, 2])
    coef = _ridge(x, residual)
    gates = _fit_gates(np.concatenate([p[4] for p in fit]),
                       np.concatenate([p[3][:, 2] for p in fit]))  # fmt: skip
    fixed = np.where(np.asarray(BLEND_BINS[:-1]) >= FIXED_BLEND[1], FIXED_BLEND[0], 0.0)
    tracks, blended, mean = [], [], []
    for r in test:
        ticks, prior, xt, _, turns = _pairs(r, head, stride)
        gated, halves = prior.copy(), prior.copy()
        gated[:, 2] = _blend(turns, gates)
        halves[:, 2] = _blend(turns, fixed)
        for out, motions in ((tracks, prior + xt @ coef), (blended, gated), (mean, halves)):
            est = [r.pose[0]]
            for motion in motions:
                est.append(se2_compose(est[-1], motion))
            out.append((np.asarray(est), r.pose[ticks], r.time[ticks]))
    rows["prior + linear correction"] = pooled(tracks)
    rows["prior, yaw gated blend"] = pooled(blended)
    rows["prior, yaw fixed blend"] = pooled(mean)

    base = rows["wheel + gyro (classical)"]
    corr = rows["prior + linear correction"]
    ratio = {k: base[k] / corr[k] for k in ("rte_pct", "rre_deg_per_10m")}
    blend = rows["prior, yaw gated blend"]
    blend_ratio = {k: base[k] / blend[k] for k in ("rte_pct", "rre_deg_per_10m")}
    fixed_ratio = {k: base[k] / rows["prior, yaw fixed blend"][k]
                   for k in ("rte_pct", "rre_deg_per_10m")}  # fmt: skip
    calibrated_ratio = {k: base[k] / rows[calibrated][k] for k in ("rte_pct", "rre_deg_per_10m")}
    print(f"{'':32s} {'RTE %':>7s} {'RRE deg/10m':>12s} {'ATE m':>8s}")
    for label, r in rows.items():
        print(f"{label:32s} {r['rte_pct']:7.3f} {r['rre_deg_per_10m']:12.3f} {r['ate_m']:8.4f}")
    print(f"classical / corrected: RTE {ratio['rte_pct']:.2f}x, RRE {ratio['rre_deg_per_10m']:.2f}x "
          f"({len(x)} training pairs, {base['segments']} test segments)")  # fmt: skip
    print(f"classical / gated blend: RTE {blend_ratio['rte_pct']:.2f}x, RRE "
          f"{blend_ratio['rre_deg_per_10m']:.2f}x (gates {np.round(gates, 2).tolist()} on "
          f"|gyro turn| bins {list(BLEND_BINS)} rad)")  # fmt: skip
    print(f"classical / fixed blend: RTE {fixed_ratio['rte_pct']:.2f}x, RRE "
          f"{fixed_ratio['rre_deg_per_10m']:.2f}x (gate {FIXED_BLEND[0]} above "
          f"{FIXED_BLEND[1]} rad per pair)")  # fmt: skip
    print(f"classical / gyro calibrated from the centripetal force: RTE "
          f"{calibrated_ratio['rte_pct']:.2f}x, RRE {calibrated_ratio['rre_deg_per_10m']:.2f}x")  # fmt: skip
    if args.json:
        print(json.dumps({
            "bench": "odometry_fusion", "train_episodes": len(train), "test_episodes": len(test),
            "eval_split": args.eval_split,
            "train_pairs": len(x), "rows": rows, "ratio": ratio, "blend_ratio": blend_ratio,
            "fixed_blend_ratio": fixed_ratio, "calibrated_ratio": calibrated_ratio,
            "blend_bins_rad": [float(b) for b in BLEND_BINS[:-1]], "gates": gates.tolist(),
            "features": [*KINEMATIC_FEATURES, "gated_disagreement", "bias"],
            "coefficients": coef.T.round(6).tolist(), "episodes_s": round(made, 1),
        }))  # fmt: skip


if __name__ == "__main__":
    main()
