"""Benchmark of Astra-Local's heads: one planning tick with the cached condition against
re-encoding the condition at every Euler step, measured in the same run.

A planning tick is what the robot runs per control cycle: encode the condition (BEV tokens,
subgoal, velocity) and integrate the flow for K = ``flow_steps`` (10) Euler steps. Timed, each
jitted, warmed up, and in round-robin (so a load spike on shared cores hits all alike):

* ``cached``: :func:`astra_jax.local_model.flow_matching.sample`: encode once, K decoder steps;
* ``uncached`` (the baseline): :func:`~astra_jax.local_model.flow_matching.sample_uncached`:
  the encoder runs at every step, as in the paper's layout where time enters the encoder;
* the same two for best-of-N (``--samples``, FM*): N draws per tick sharing one condition;
* best-of-N with ESDF guidance (``EsdfGuidance()``, on a 96 x 96 run-time ESDF with walls),
  against the unguided cached best-of-N of the same run (the overhead ratio printed);
* the parts: one condition encoding, and one decoder step on a cached condition.

The ratio printed is uncached / cached (how many times faster a tick is with the cache). The
heads' weights are random (speed does not depend on them), the BEV input is random features of
the preset's shape.

The odometry head (:func:`odometry_rows`): one inference tick, one training step, and its
correlation volume (forward + backward, as training runs it) against the plain shifted-dot-
product definition (the baseline; ratio printed) and against the same matmul form with a whole
row per matmul (``block`` = Y, this bench's form before session 16).

Usage: ``python bench/local_heads.py [--preset small] [--batch 1] [--samples 10]
[--train-batch 8] [--repeats 20] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from astra_jax.local_model.bev_correlation import bev_correlation, bev_correlation_reference
from astra_jax.local_model.depth_occupancy import LocalGridConfig
from astra_jax.local_model.esdf_guidance import EsdfGuidance
from astra_jax.local_model.flow_matching import sample, sample_uncached
from astra_jax.local_model.odometry_head import OdometryHeadConfig, odometry_loss
from astra_jax.local_model.planning_head import PlanningHead, PlanningHeadConfig


def _round_robin_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time (ms) of each function, called in turn ``repeats`` times after two
    warm-up calls each (the first compiles)."""
    for f in fns.values():
        jax.block_until_ready(f())
        jax.block_until_ready(f())
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def planning_rows(preset: str, batch: int, samples: int, repeats: int) -> dict[str, object]:
    """Planning-tick timings (ms) and ratios for ``preset`` at ``batch``."""
    cfg = PlanningHeadConfig.for_preset(preset)
    head, boxed = cfg.create(jax.random.key(0))
    params = nn.unbox(boxed)
    spec = cfg.inputs_spec(batch)
    keys = jax.random.split(jax.random.key(1), len(spec))
    inputs = {k: jax.random.normal(r, v.shape, v.dtype) for r, (k, v) in zip(keys, spec.items())}
    cond_in = (inputs["bev"], inputs["subgoal"], inputs["velocity"])
    rng = jax.random.key(2)

    encode = jax.jit(lambda p, *a: head.apply({"params": p}, *a, method=PlanningHead.encode))
    step = jax.jit(
        lambda p, c, x, t: head.apply({"params": p}, c, x, t, method=PlanningHead.velocity_field)
    )
    cond = encode(params, *cond_in)
    # a run-time ESDF with obstacles: the distance (m) to walls 1 m either side of the robot
    grid = LocalGridConfig()
    side = (jnp.arange(grid.shape[1]) - grid.shape[1] / 2) * grid.resolution
    esdf = jnp.broadcast_to(1.0 - jnp.abs(side), (batch, *grid.shape))
    guide = EsdfGuidance(resolution=grid.resolution)
    fns = {
        "cached": lambda: sample(head, params, *cond_in, rng),
        "uncached": lambda: sample_uncached(head, params, *cond_in, rng),
        f"cached_best_of_{samples}": lambda: sample(head, params, *cond_in, rng, samples),
        f"uncached_best_of_{samples}": lambda: sample_uncached(
            head, params, *cond_in, rng, samples
        ),
        f"guided_best_of_{samples}": lambda: sample(
            head, params, *cond_in, rng, samples, esdf=esdf, guidance=guide
        ),
        "encode": lambda: encode(params, *cond_in),
        "decoder_step": lambda: step(params, cond, inputs["x_t"], inputs["t"]),
    }
    ms = _round_robin_ms(fns, repeats)
    return {
        "preset": preset,
        "batch": batch,
        "flow_steps": cfg.flow_steps,
        "condition_tokens": cfg.num_condition_tokens,
        "params": sum(x.size for x in jax.tree.leaves(params)),
        **{f"{k}_ms": round(v, 3) for k, v in ms.items()},
        "ratio_uncached_to_cached": round(ms["uncached"] / ms["cached"], 2),
        f"ratio_uncached_to_cached_best_of_{samples}": round(
            ms[f"uncached_best_of_{samples}"] / ms[f"cached_best_of_{samples}"], 2
        ),
        f"ratio_guided_to_unguided_best_of_{samples}": round(
            ms[f"guided_best_of_{samples}"] / ms[f"cached_best_of_{samples}"], 2
        ),
    }


# ----------------------------------------------------------------------------- odometry head
def odometry_rows(preset: str, batch: int, train_batch: int, repeats: int) -> dict[str, object]:
    """Odometry-head timings (ms): one inference tick (the W-pair window of one robot, the
    robot's per-tick call), one training step (forward, backward, Adam) at ``train_batch``, and
    the correlation volume of ``train_batch`` windows, forward + backward, as the model computes
    it (blocked matmuls per x offset) against the plain definition (shifted dot products,
    ``bev_correlation_reference``) and against one matmul per whole row (``block`` = Y)."""
    cfg = OdometryHeadConfig.for_preset(preset)
    module, boxed = cfg.create(jax.random.key(0))
    params = nn.unbox(boxed)

    def inputs(b: int) -> dict[str, jax.Array]:
        spec = cfg.inputs_spec(b)
        keys = jax.random.split(jax.random.key(1), len(spec))
        return {k: (jnp.ones(v.shape, v.dtype) if v.dtype == jnp.bool_
                    else jax.random.normal(r, v.shape, v.dtype))
                for r, (k, v) in zip(keys, spec.items())}  # fmt: skip

    tick_in, train_in = inputs(batch), inputs(train_batch)
    target = jnp.zeros((train_batch, 3))
    opt = optax.adam(1e-3)

    def loss(p: object) -> jax.Array:
        o = module.apply({"params": p}, **train_in)
        return odometry_loss(o.pose, o.log_scale, target, pose_scale=cfg.output_scale)[0]

    @jax.jit
    def train_step(p: object, s: object) -> tuple[object, object, jax.Array]:
        value, grads = jax.value_and_grad(loss)(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    opt_state = opt.init(params)
    tick = jax.jit(lambda p, x: module.apply({"params": p}, **x))
    # the correlation of train_batch windows: W pairs of projected, normalised frames each
    side = cfg.bev_shape[:2]
    frames = jax.random.normal(
        jax.random.key(3), (train_batch, cfg.window + 1, *side, cfg.corr_channels)
    )
    pairs = (frames[:, :-1], frames[:, 1:])
    weights = jax.random.normal(
        jax.random.key(4), (*pairs[0].shape[:-1], (2 * cfg.corr_radius + 1) ** 2)
    )

    def fwd_bwd(corr: Callable[..., jax.Array]) -> Callable[..., object]:
        # value and both input gradients of a weighted sum: what a training step runs
        f = lambda a, b: jnp.sum(corr(a, b, cfg.corr_radius) * weights)  # noqa: E731
        return jax.jit(jax.value_and_grad(f, argnums=(0, 1)))

    fast = fwd_bwd(bev_correlation)
    row = fwd_bwd(lambda a, b, r: bev_correlation(a, b, r, block=side[1]))
    plain = fwd_bwd(bev_correlation_reference)
    ms = _round_robin_ms(
        {
            "tick": lambda: tick(params, tick_in),
            "train_step": lambda: train_step(params, opt_state)[2],
            "correlation": lambda: fast(*pairs),
            "correlation_row": lambda: row(*pairs),
            "correlation_reference": lambda: plain(*pairs),
        },
        repeats,
    )
    return {
        "preset": preset,
        "window": cfg.window,
        "batch": batch,
        "train_batch": train_batch,
        "params": sum(x.size for x in jax.tree.leaves(params)),
        **{f"{k}_ms": round(v, 3) for k, v in ms.items()},
        "ratio_correlation_reference_to_model": round(
            ms["correlation_reference"] / ms["correlation"], 2
        ),
        "ratio_correlation_row_to_model": round(ms["correlation_row"] / ms["correlation"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=["tiny", "small", "base"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--samples", type=int, default=10, help="N of the best-of-N rows")
    ap.add_argument(
        "--train-batch", type=int, default=8, help="batch of the odometry training step"
    )
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args(argv)

    device = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
    plan = planning_rows(args.preset, args.batch, args.samples, args.repeats)
    n = args.samples
    print(
        f"planning head, {args.preset} preset ({plan['params'] / 1e6:.2f}M params, "
        f"{plan['condition_tokens']} condition tokens), batch {args.batch}, "
        f"{plan['flow_steps']} Euler steps, {device}, median of {args.repeats}:"
    )
    print(f"  tick, condition re-encoded every step (baseline) {plan['uncached_ms']:9.2f} ms")
    print(f"  tick, condition cached                           {plan['cached_ms']:9.2f} ms"
          f"   {plan['ratio_uncached_to_cached']:.2f}x faster")  # fmt: skip
    print(f"  best of {n}, re-encoded every step (baseline)     "
          f"{plan[f'uncached_best_of_{n}_ms']:9.2f} ms")  # fmt: skip
    print(f"  best of {n}, condition cached                     "
          f"{plan[f'cached_best_of_{n}_ms']:9.2f} ms"
          f"   {plan[f'ratio_uncached_to_cached_best_of_{n}']:.2f}x faster")  # fmt: skip
    print(f"  best of {n}, cached, ESDF-guided                  "
          f"{plan[f'guided_best_of_{n}_ms']:9.2f} ms"
          f"   {plan[f'ratio_guided_to_unguided_best_of_{n}']:.2f}x the unguided")  # fmt: skip
    print(f"  parts: one encoding {plan['encode_ms']:.2f} ms, one decoder step "
          f"{plan['decoder_step_ms']:.2f} ms")  # fmt: skip
    odo = odometry_rows(args.preset, args.batch, args.train_batch, args.repeats)
    print(
        f"odometry head, {args.preset} preset ({odo['params'] / 1e6:.2f}M params, window "
        f"{odo['window']} pairs), median of {args.repeats}:"
    )
    print(f"  tick (batch {args.batch})                              {odo['tick_ms']:9.2f} ms")
    print(f"  training step (batch {args.train_batch}, fwd + bwd + Adam)      "
          f"{odo['train_step_ms']:9.2f} ms")  # fmt: skip
    tb = args.train_batch
    print(f"  correlation of {tb} windows, fwd + bwd, shifted dot products (baseline) "
          f"{odo['correlation_reference_ms']:9.2f} ms")  # fmt: skip
    print(f"  correlation of {tb} windows, fwd + bwd, one matmul per row             "
          f"{odo['correlation_row_ms']:9.2f} ms")  # fmt: skip
    print(f"  correlation of {tb} windows, fwd + bwd, blocked matmuls (ours)         "
          f"{odo['correlation_ms']:9.2f} ms   "
          f"{odo['ratio_correlation_reference_to_model']:.2f}x faster than the baseline, "
          f"{odo['ratio_correlation_row_to_model']:.2f}x than a row per matmul")  # fmt: skip
    summary = {
        "device": device,
        "load_average": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "planning": plan,
        "odometry": odo,
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
