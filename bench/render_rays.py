"""Benchmark of volume rendering (Astra-Local's 3D pre-training): the planned fast path against
the jnp reference, measured in the same run.

Per preset (``--presets``, default tiny and small), the rig's rays at the pre-training's ray
stride and samples per ray (:class:`~astra_jax.local_model.render_head.RenderConfig`'s
defaults), a batch of random SDF and colour volumes on the preset's voxel grid:

* ``reference``: :func:`~astra_jax.kernels.ray_render.render_reference`: every sample's cell
  coordinates and 8 trilinear reads computed per call, out-of-grid samples masked;
* ``planned`` (ours): :func:`~astra_jax.kernels.ray_render.render_planned` from the rig's static
  :class:`~astra_jax.kernels.ray_render.RayPlan`: in-grid samples only, corners and weights
  precomputed, one gather per sample.

Both are jitted, vmapped over the batch, warmed up twice and timed in round-robin (so load from
other processes hits both alike); forward and forward+backward (the gradients of an L1 loss
with respect to both volumes and beta, as in training). Printed: best ms and rays per second,
and the ratio reference / planned.

Usage: ``python bench/render_rays.py [--presets tiny,small,base] [--batch 8] [--repeats 30]
[--json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.config import get_preset
from astra_jax.kernels.ray_render import plan_rays, render_planned, render_reference, sample_depths
from astra_jax.local_model.render_head import RenderConfig


def _time_round_robin(fns: dict[str, Callable], args: tuple, repeats: int) -> dict:
    """{name: (best, median) seconds}, the functions called in turn after two warm-ups each."""
    for fn in fns.values():
        jax.block_until_ready(fn(*args))
        jax.block_until_ready(fn(*args))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - t0)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def bench_preset(preset: str, batch: int, repeats: int) -> list[dict]:
    cfg = get_preset(preset)
    render = RenderConfig.for_preset(preset)
    grid, bins = cfg.local.voxel, cfg.local.depth_bins
    plan = plan_rays(cfg.rig.cameras, cfg.rig.image_hw, render.ray_stride, bins.d_min,
                     bins.d_max, render.samples_per_ray, grid)  # fmt: skip
    origins = jnp.asarray(plan.rays.origins, jnp.float32)
    directions = jnp.asarray(plan.rays.directions, jnp.float32)
    z = jnp.asarray(sample_depths(bins.d_min, bins.d_max, render.samples_per_ray), jnp.float32)
    rng = np.random.default_rng(0)
    shape = (batch, grid.nx, grid.ny, grid.nz)
    sdf = jnp.asarray(rng.normal(0.5, 1.0, shape), jnp.float32)
    colour = jnp.asarray(rng.uniform(size=(*shape, 3)), jnp.float32)
    beta = jnp.float32(render.beta_init)
    target = jnp.asarray(rng.uniform(size=(batch, plan.num_rays, 4)), jnp.float32)

    paths = {
        "reference": lambda s, c, b: render_reference(s, c, b, origins, directions, z, grid),
        "planned": lambda s, c, b: render_planned(s, c, b, plan),
    }

    def forward(path):
        return jax.jit(jax.vmap(path, in_axes=(0, 0, None)))

    def forward_backward(path):
        def loss(s, c, b):
            depth, rgb, _ = jax.vmap(path, in_axes=(0, 0, None))(s, c, b)
            return jnp.mean(jnp.abs(jnp.concatenate([depth[..., None], rgb], -1) - target))

        return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))

    rows = []
    for mode, wrap in (("fwd", forward), ("fwd+bwd", forward_backward)):
        t = _time_round_robin({k: wrap(p) for k, p in paths.items()}, (sdf, colour, beta),
                              repeats)  # fmt: skip
        for impl in paths:
            best, median = t[impl]
            rows.append({
                "preset": preset, "mode": mode, "impl": impl, "batch": batch,
                "rays": plan.num_rays * batch, "samples_per_ray": plan.num_samples,
                "samples": batch * (plan.kept_samples if impl == "planned"
                                    else plan.num_rays * plan.num_samples),
                "best_ms": 1e3 * best,
                "median_ms": 1e3 * median, "rays_per_s": plan.num_rays * batch / best,
                "speedup": t["reference"][0] / best,
            })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="tiny,small", help="comma-separated presets")
    ap.add_argument("--batch", type=int, default=8, help="examples per call")
    ap.add_argument("--repeats", type=int, default=30, help="timed rounds")
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args(argv)
    rows = [r for p in args.presets.split(",") for r in bench_preset(p, args.batch, args.repeats)]
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), batch {args.batch}")
    print(f"{'preset':6} {'mode':8} {'impl':9} {'rays':>7} {'samples':>9} {'best ms':>9} "
          f"{'rays/s':>11} {'x':>6}")  # fmt: skip
    for r in rows:
        print(f"{r['preset']:6} {r['mode']:8} {r['impl']:9} {r['rays']:7d} "
              f"{r['samples']:9d} "
              f"{r['best_ms']:9.2f} {r['rays_per_s']:11.0f} {r['speedup']:6.2f}")  # fmt: skip
    if args.json:
        print(json.dumps({"bench": "render_rays", "backend": jax.default_backend(),
                          "results": rows}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
