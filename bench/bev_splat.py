"""Benchmark of the BEV splat implementations against the XLA scatter-add reference.

For the small and base presets, with the real rig geometry (frustum points from
``astra_jax.geometry``, binned into the preset's voxel grid), every implementation that runs
natively on this backend is timed in the same process against ``reference`` (materialise the
frustum features, scatter-add):

* forward: ``bev_splat(depth_prob, feat)``; also timed: ``segment_sum``, the straightforward
  jnp interval version (sorted points, ``jax.ops.segment_sum``), as a second baseline, and
  ``write_floor``, the write of the zero-filled output alone: every implementation must do
  it, so ``x`` of ``write_floor`` is the ceiling of any splat's speedup on this machine
  (on the real rig most points fall outside the grid and the reference itself is mostly
  this write);
* forward+backward: the output and both input gradients for a given output cotangent;
* peak memory: XLA's buffer assignment of the compiled forward+backward
  (arguments + outputs + temporaries, ``Compiled.memory_analysis``);
* bandwidth: the minimum bytes a splat must move (read depth weights and features, write
  the output) over the forward time, against a measured device copy of the output's size.

Heap note (CPU): XLA:CPU allocates every output buffer with malloc from its worker threads,
and glibc serves a large block (base: 67 MB per sample) from a fresh mmap whose pages fault on
first touch. On a virtual machine that costs more than the splat itself (about 15 ms for the
base output) and hits every implementation alike. So on the CPU each preset is measured in two
child processes: ``cold heap`` (the default allocator) and ``warm heap`` (``MALLOC_ARENA_MAX=1``
and raised mmap/trim thresholds: freed buffers stay in the heap and are reused without page
faults, as with the GPU/TPU allocators or a caching allocator such as jemalloc). Pallas
kernels are timed only on their own backend (interpret mode measures the interpreter).

Usage: ``python bench/bev_splat.py [--presets small,base] [--batch 1] [--repeats 30]
[--geometry rig|random] [--heap both|cold|warm|this] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.config import get_preset
from astra_jax.kernels.bev_splat import auto_impl, bev_splat, make_plan, plan_for_rig

NATIVE = {
    "cpu": ("interval", "auto"),
    "gpu": ("interval", "pallas_gpu", "auto"),
    "tpu": ("interval", "pallas_tpu", "auto"),
}
# glibc settings of the "warm heap" phase (see the module docstring).
WARM_HEAP_ENV = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str((1 << 31) - 1),
}
HEADER = (
    f"{'heap':5} {'preset':6} {'impl':11} {'fwd ms':>9} {'x':>6} {'fwd+bwd ms':>11} {'x':>7} "
    f"{'peak MB':>8} {'GB/s':>6} {'of copy':>7}"
)


def _time_round_robin(fns: dict[str, Callable], args: tuple, repeats: int) -> dict:
    """{name: (best, median) ms}. The functions are called in turn, ``repeats`` rounds after
    two warm-up calls each, so that load from other processes hits them alike; the best time
    is the figure compared, being the least disturbed by that load."""
    for fn in fns.values():
        jax.block_until_ready(fn(*args))  # compile and warm up
        jax.block_until_ready(fn(*args))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - t0)
    return {k: (1e3 * min(v), 1e3 * statistics.median(v)) for k, v in times.items()}


def _peak_mb(jitted, *args) -> float:
    m = jitted.lower(*args).compile().memory_analysis()
    if m is None:
        return float("nan")
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
    return (total - m.alias_size_in_bytes) / 2**20


def _inputs(plan, batch: int, channels: int):
    rng = np.random.default_rng(0)
    n, d, h, w = plan.voxel_index.shape
    depth_prob = jax.nn.softmax(
        jnp.asarray(rng.standard_normal((batch, n, d, h, w)), jnp.float32), 2
    )
    feat = jnp.asarray(rng.standard_normal((batch, n, h, w, channels)), jnp.float32)
    g = jnp.asarray(rng.standard_normal((batch, *plan.grid_shape, channels)), jnp.float32)
    return depth_prob, feat, g


def _segment_sum_splat(depth_prob: jax.Array, feat: jax.Array, plan) -> jax.Array:
    """The straightforward jnp interval version (not part of the library): gather the in-grid
    points in voxel order and ``segment_sum`` them (a sorted scatter-add). A second baseline,
    to show what the gather-only RaggedSum buys."""
    b, c = feat.shape[0], feat.shape[-1]
    dp = depth_prob.reshape(b, -1)[:, plan.sorted_points]
    rows = feat.reshape(b, -1, c)[:, plan.sorted_pixels]
    out = jax.vmap(
        lambda x: jax.ops.segment_sum(
            x, plan.sorted_voxels, plan.num_voxels, indices_are_sorted=True
        )
    )(dp[..., None] * rows)
    return out.reshape(b, *plan.grid_shape, c)


def _write_floor(depth_prob: jax.Array, feat: jax.Array, plan) -> jax.Array:
    """Not a splat: only the write of a zero-filled (B, X, Y, Z, C) output, which every
    implementation of the contract must do. Its time bounds every speedup from above: no
    splat can beat the reference by more than ``reference / write_floor``. (The zero comes from
    the input, stopped, so that XLA emits a fill loop and its gradients are plain zeros.)"""
    zero = jax.lax.stop_gradient(0 * feat.reshape(-1)[0])
    return jnp.full((feat.shape[0], *plan.grid_shape, feat.shape[-1]), zero, feat.dtype)


def _splat(impl: str, plan):
    if impl == "write_floor":
        return lambda a, b: _write_floor(a, b, plan)
    if impl == "segment_sum":
        return lambda a, b: _segment_sum_splat(a, b, plan)
    return lambda a, b: bev_splat(a, b, plan, impl=impl)


def _plan(preset: str, geometry: str):
    """The preset's real rig plan, or (``random``) the same shapes with every point in a
    uniformly random voxel, the set-up of the issue's first straightforward measurement."""
    cfg = get_preset(preset)
    local, rig = cfg.local, cfg.rig
    p = local.vit.patch_size
    fhw = (rig.image_hw[0] // p, rig.image_hw[1] // p)
    plan = plan_for_rig(rig.cameras, rig.image_hw, fhw, local.depth_bins, local.voxel)
    if geometry == "random":
        rng = np.random.default_rng(0)
        plan = make_plan(rng.integers(0, plan.num_voxels, plan.voxel_index.shape), plan.grid_shape)
    return plan, local.context_channels


def bench_preset(
    preset: str, batch: int, repeats: int, impls: tuple[str, ...], geometry: str = "rig"
) -> list[dict]:
    plan, c = _plan(preset, geometry)
    depth_prob, feat, g = _inputs(plan, batch, c)
    out_bytes = batch * plan.num_voxels * c * 4
    min_bytes = out_bytes + depth_prob.size * 4 + feat.size * 4
    copy = jax.jit(lambda x: x + 1.0)
    copy_ms = _time_round_robin({"copy": copy}, (g,), repeats)["copy"][0]
    copy_gbs = 2 * out_bytes / copy_ms / 1e6  # read + write

    def fwd_bwd_of(impl):
        def fwd_bwd(a, b, cot):
            out, pull = jax.vjp(_splat(impl, plan), a, b)
            return (out, *pull(cot))

        return jax.jit(fwd_bwd)

    names = ("reference", "segment_sum", *impls, "write_floor")
    fwd = {i: jax.jit(_splat(i, plan)) for i in names}
    fwd_bwd = {i: fwd_bwd_of(i) for i in names}
    fwd_t = _time_round_robin(fwd, (depth_prob, feat), repeats)
    fwd_bwd_t = _time_round_robin(fwd_bwd, (depth_prob, feat, g), repeats)
    rows = []
    for impl in names:
        rows.append(
            {
                "preset": preset,
                "geometry": geometry,
                "impl": impl,
                "batch": batch,
                "points": plan.num_points,
                "in_grid": plan.num_valid,
                "voxels": plan.num_voxels,
                "occupied": plan.num_occupied,
                "channels": c,
                "fwd_ms": fwd_t[impl][0],
                "fwd_median_ms": fwd_t[impl][1],
                "fwd_bwd_ms": fwd_bwd_t[impl][0],
                "fwd_bwd_median_ms": fwd_bwd_t[impl][1],
                "peak_mb": _peak_mb(fwd_bwd[impl], depth_prob, feat, g),
                "fwd_gbs": min_bytes / fwd_t[impl][0] / 1e6,
                "copy_gbs": copy_gbs,
            }
        )
    ref = rows[0]
    for r in rows:
        r["fwd_speedup"] = ref["fwd_ms"] / r["fwd_ms"]
        r["fwd_bwd_speedup"] = ref["fwd_bwd_ms"] / r["fwd_bwd_ms"]
        r["fwd_copy_fraction"] = r["fwd_gbs"] / r["copy_gbs"]
    return rows


def _row_text(r: dict) -> str:
    return (
        f"{r['heap']:5} {r['preset']:6} {r['impl']:11} {r['fwd_ms']:9.3f} {r['fwd_speedup']:6.2f} "
        f"{r['fwd_bwd_ms']:11.3f} {r['fwd_bwd_speedup']:7.2f} {r['peak_mb']:8.1f} "
        f"{r['fwd_gbs']:6.1f} {r['fwd_copy_fraction']:7.0%}"
    )


def _measure(args: argparse.Namespace, heap: str) -> list[dict]:
    """Run every preset in this process; rows are tagged with ``heap``."""
    impls = NATIVE.get(jax.default_backend(), ("interval", "auto"))
    rows = []
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        for r in bench_preset(preset, args.batch, args.repeats, impls, args.geometry):
            r["heap"] = heap
            rows.append(r)
            print(_row_text(r), flush=True)
    return rows


def _measure_in_child(args: argparse.Namespace, heap: str) -> list[dict]:
    """Run the measurements in a child process with the heap settings of ``heap``."""
    env = {k: v for k, v in os.environ.items() if k not in WARM_HEAP_ENV}
    if heap == "warm":
        env.update(WARM_HEAP_ENV)
    cmd = [sys.executable, os.path.abspath(__file__), "--heap", heap, "--json"]
    cmd += ["--presets", args.presets, "--batch", str(args.batch), "--repeats", str(args.repeats)]
    cmd += ["--geometry", args.geometry]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench child ({heap} heap) failed:\n{proc.stderr[-2000:]}")
    for line in lines[:-1]:
        if line and not line.startswith(("#", "ms =", "heap ")):
            print(line, flush=True)
    return json.loads(lines[-1])["results"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="small,base")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument(
        "--geometry",
        choices=("rig", "random"),
        default="rig",
        help="rig: the preset's real frustum geometry; random: uniformly random voxels",
    )
    ap.add_argument(
        "--heap",
        choices=("both", "cold", "warm", "this"),
        default="both",
        help="CPU heap phases (see the docstring); 'this' measures in this process as is",
    )
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args(argv)
    backend = jax.default_backend()
    print(
        f"# bev_splat on {jax.devices()[0].device_kind} ({backend}), {args.geometry} geometry, "
        f"batch {args.batch}; auto -> {auto_impl()}"
    )
    print(HEADER)
    if backend != "cpu" or args.heap in ("cold", "warm", "this"):
        # A child of the two-phase run (its environment is already set) or a device run.
        label = (
            args.heap if args.heap in ("cold", "warm") else ("this" if backend == "cpu" else "-")
        )
        results = _measure(args, label)
    else:
        phases = ("cold", "warm") if args.heap == "both" else (args.heap,)
        results = [r for heap in phases for r in _measure_in_child(args, heap)]
    print(
        "ms = best of --repeats calls; x = speedup over the XLA scatter-add reference "
        "measured in the same process"
    )
    if args.json:
        summary = {
            "bench": "bev_splat",
            "backend": backend,
            "device": jax.devices()[0].device_kind,
            "batch": args.batch,
            "geometry": args.geometry,
            "results": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                for r in results
            ],
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
