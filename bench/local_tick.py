"""Benchmark of Astra-Local's exported streaming tick against the jit-compiled Flax batch path,
measured in the same run.

One control tick, per preset (``--presets``, default the demo's ``tiny`` and ``small``):

* ``exported streaming tick`` (ours): the tick exported with :func:`astra_jax.serve.export
  .export_local` (cpu, symbolic batch) and run by :class:`astra_jax.serve.runtime.LocalRuntime`,
  input checks included: the newest frame's images through lift and splat, the planner's
  condition encoded once and K Euler steps for S samples, the odometry head on its cached
  window plus the newest pair's tokens;
* ``Flax batch path`` (the baseline): what a runner without the cache computes per tick, jitted
  and warmed up the same way: the lift and splat of every frame the odometry head reads
  (W + 1), the planner (:func:`~astra_jax.local_model.flow_matching.sample`, same S and K), the
  odometry head on the whole window.

Both use the same random weights (speed does not depend on them) and inputs, batch 1 (a
robot), and run in round-robin so that a load spike on shared cores hits both. Printed: p50 and
p99 per path, and the ratio batch p50 / exported p50. The issue's bar for the demo's preset is
p50 <= 33 ms (30 Hz) on 2 CPU cores; 20 ms is the goal.

Usage: ``python bench/local_tick.py [--presets tiny,small] [--samples 8] [--ticks 100] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from astra_jax.local_model.flow_matching import sample
from astra_jax.local_model.frame_features import feature_shape, splat_frames
from astra_jax.local_model.odometry_head import OdometryHead
from astra_jax.local_model.planning_head import PlanningHead
from astra_jax.serve.export import export_local
from astra_jax.serve.runtime import LocalRuntime
from astra_jax.serve.tick import TickConfig

DEMO_PRESET = "tiny"
BAR_MS, GOAL_MS = 33.0, 20.0


def _inputs(cfg: TickConfig, ticks: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(ticks):
        x = {n: rng.normal(size=s.shape).astype(np.float32) for n, s in cfg.inputs_spec(1).items()}
        x["images"] = rng.integers(0, 256, x["images"].shape, dtype=np.uint8)
        x["rng"] = np.array([0, k], np.uint32)
        out.append(x)
    return out


def frame_features(cfg: TickConfig, lift_params: dict, rgb: jax.Array) -> jax.Array:
    """(F, N, H, W, 3) uint8 -> (F, X, Y, C): the frozen encoder's per-frame features."""
    voxels = splat_frames(cfg.encoder, lift_params, rgb)
    return voxels.reshape(voxels.shape[0], *feature_shape(cfg.encoder))


def _random_params(cfg: TickConfig, seed: int = 0) -> dict:
    shapes = jax.eval_shape(cfg.init_params, jax.random.key(0))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: rng.normal(0.0, 0.1, s.shape).astype(s.dtype), shapes)


def measure(preset: str, samples: int, ticks: int) -> dict[str, float]:
    """p50 / p99 (ms) of both paths at ``preset``."""
    cfg = TickConfig.for_preset(preset, num_samples=samples)
    params = _random_params(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        export_local(cfg, params, Path(tmp) / "local", preset=preset)
        runtime = LocalRuntime(Path(tmp) / "local")
    inputs = _inputs(cfg, ticks + 2)
    w = cfg.odometry.window
    planner, odometry = PlanningHead(cfg.planning), OdometryHead(cfg.odometry)
    lift = jax.jit(lambda rgb: frame_features(cfg, params["lift"], rgb))

    @jax.jit
    def batch_tick(window_images, imu, wheel, subgoal, velocity, key):
        bev = lift(window_images)[None]  # (1, W+1, X, Y, C)
        plans = sample(planner, params["planning"], bev[:, -1], subgoal, velocity, key,
                       num_samples=samples)  # fmt: skip
        odo = odometry.apply({"params": params["odometry"]}, bev, imu, wheel)
        return plans, odo

    window = np.stack([x["images"][0] for x in inputs[: w + 1]])
    imu = np.stack([x["imu"] for x in inputs[:w]], axis=1)
    wheel = np.stack([x["wheel"] for x in inputs[:w]], axis=1)

    def run_batch(k: int):
        x = inputs[k]
        key = jax.random.wrap_key_data(x["rng"], impl="threefry2x32")
        return batch_tick(window, imu, wheel, x["subgoal"], x["velocity"], key)

    state = runtime.init_state(1)

    def run_exported(k: int):
        nonlocal state
        state, out = runtime.tick(state, inputs[k])
        return out

    for k in range(2):  # compile and warm up both
        jax.block_until_ready(run_batch(k))
        jax.block_until_ready(run_exported(k))
    times: dict[str, list[float]] = {"exported": [], "batch": []}
    for k in range(2, ticks + 2):
        for name, fn in (("exported", run_exported), ("batch", run_batch)):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(k))
            times[name].append(1e3 * (time.perf_counter() - t0))
    row = {}
    for name, ts in times.items():
        row[f"{name}_p50_ms"] = round(statistics.median(ts), 3)
        row[f"{name}_p99_ms"] = round(float(np.percentile(ts, 99)), 3)
    row["ratio_batch_to_exported_p50"] = round(row["batch_p50_ms"] / row["exported_p50_ms"], 2)
    row["odometry_window"] = w
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=f"{DEMO_PRESET},small")
    ap.add_argument("--samples", type=int, default=8, help="planner samples per tick (S)")
    ap.add_argument("--ticks", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args(argv)
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
    rows = {}
    print(f"Astra-Local tick, batch 1, S = {args.samples} samples, {device}, "
          f"{args.ticks} ticks per path (round-robin):")  # fmt: skip
    for preset in args.presets.split(","):
        r = measure(preset, args.samples, args.ticks)
        rows[preset] = r
        demo = " (the demo's preset)" if preset == DEMO_PRESET else ""
        print(f"  {preset}{demo}: exported streaming tick p50 {r['exported_p50_ms']:.2f} ms, "
              f"p99 {r['exported_p99_ms']:.2f} ms; Flax batch path (re-encodes the "
              f"{r['odometry_window'] + 1}-frame window) p50 {r['batch_p50_ms']:.2f} ms, p99 "
              f"{r['batch_p99_ms']:.2f} ms; {r['ratio_batch_to_exported_p50']:.2f}x")  # fmt: skip
    if DEMO_PRESET in rows:
        p50 = rows[DEMO_PRESET]["exported_p50_ms"]
        verdict = "meets" if p50 <= BAR_MS else "misses"
        print(f"bar: the demo's preset {verdict} p50 <= {BAR_MS:.0f} ms ({p50:.2f} ms; goal "
              f"{GOAL_MS:.0f} ms)")  # fmt: skip
    summary = {"device": device, "load_average": os.getloadavg()[0], "cpu_count": os.cpu_count(),
               "samples": args.samples, "ticks": args.ticks, "presets": rows}  # fmt: skip
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
