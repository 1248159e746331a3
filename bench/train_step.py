"""Benchmark of the training engine's step against a plain jit step, and its memory table.

Speed (default): for one model/preset on this backend, in the same process,

* ``baseline``: ``jax.jit`` of value_and_grad + optax update on the same model, optimizer and
  device-resident batch, no shardings, no donation: the least a train step can be;
* ``engine``: the engine's AOT-compiled step (mesh shardings, donated state) on the same batch;
* ``engine+data``: the engine's step fed by its grain pipeline and host->device transfer, as
  in ``astra train``.

It prints each median step time and the ratio to ``baseline`` (1.0 = no engine overhead).

Memory (``--memory-table``): for every preset of the model and a set of meshes over 8 devices
(faked on a CPU with ``--xla_force_host_platform_device_count=8``), the train step is only
compiled (nothing allocated) and XLA's per-device estimate is printed as a markdown table:
parameters + optimizer state per device, and the step's total (arguments + outputs +
temporaries - donated). On a CPU these are XLA:CPU's buffer sizes; accelerators differ a
little (layouts, fusion), so treat them as a guide.

Usage: ``python bench/train_step.py [--model reference] [--preset tiny] [--repeats 50]
[--memory-table] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

if "--memory-table" in sys.argv and "xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):  # must happen before jax is imported
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

from collections.abc import Callable

import jax
import numpy as np
import optax

from astra_jax import experiments
from astra_jax.train import MeshSpec, TrainConfig, perf
from astra_jax.train.perf import compiled_memory_bytes
from astra_jax.train.state import create_sharded_state
from astra_jax.train.trainer import _global_batch, compile_train, prepare

MESHES = ("data=1", "data=8", "fsdp=8", "data=2,fsdp=4", "data=2,fsdp=2,tensor=2")


def _median_ms(step: Callable[[], object], repeats: int) -> float:
    return 1e3 * perf.median_step_seconds(step, repeats)


def speed(model_name: str, preset: str, repeats: int) -> dict[str, float]:
    workdir = tempfile.mkdtemp(prefix="bench_train_")
    exp = experiments.get(f"{model_name}-{preset}")
    cfg = TrainConfig(model=model_name, workdir=workdir, steps=10_000, preset=preset,
                      batch_size=exp.batch_size)  # fmt: skip
    run = prepare(cfg, experiments.trainable(exp.name, cfg.precision))
    engine_step = compile_train(run)
    data = run.make_iterator()
    batch = _global_batch(next(data), run.batch_abstract)

    # Baseline: the same computation with nothing of the engine around it.
    model, tx = run.model, run.optimizer
    params = jax.jit(lambda: create_sharded_state(run.init, run.shardings).params)()

    @jax.jit
    def plain_step(params, opt_state, batch):
        rng = jax.random.PRNGKey(0)
        (loss, _), grads = jax.value_and_grad(model.loss_fn, has_aux=True)(params, batch, rng)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    plain = {"params": params, "opt": tx.init(params)}

    def baseline() -> object:
        plain["params"], plain["opt"], loss = plain_step(plain["params"], plain["opt"], batch)
        return loss

    state = {"s": create_sharded_state(run.init, run.shardings)}

    def engine() -> object:
        state["s"], metrics = engine_step(state["s"], batch)
        return metrics["loss"]

    def engine_with_data() -> object:
        state["s"], metrics = engine_step(state["s"], _global_batch(next(data), run.batch_abstract))
        return metrics["loss"]

    out = {
        "baseline_ms": _median_ms(baseline, repeats),
        "engine_ms": _median_ms(engine, repeats),
        "engine_data_ms": _median_ms(engine_with_data, repeats),
    }
    data.close()
    out["engine_ratio"] = out["engine_ms"] / out["baseline_ms"]
    out["engine_data_ratio"] = out["engine_data_ms"] / out["baseline_ms"]
    return out


def _state_bytes_per_device(abstract_state: object, shardings: object) -> int:
    def leaf(x: jax.ShapeDtypeStruct, s: jax.sharding.NamedSharding) -> int:
        return int(np.prod(s.shard_shape(x.shape), dtype=np.int64)) * x.dtype.itemsize

    return sum(jax.tree.leaves(jax.tree.map(leaf, abstract_state, shardings)))


def memory_table(model_name: str) -> list[dict[str, object]]:
    rows = []
    for preset in experiments.PRESET_NAMES:
        exp = experiments.get(f"{model_name}-{preset}")
        for mesh in MESHES:
            cfg = TrainConfig(
                model=model_name,
                workdir=tempfile.mkdtemp(prefix="bench_train_"),
                steps=1000,
                preset=preset,
                batch_size=exp.batch_size,
                mesh=MeshSpec.parse(mesh),
            )
            run = prepare(cfg, experiments.trainable(exp.name, cfg.precision))
            compiled = compile_train(run)
            rows.append(
                {
                    "model": model_name,
                    "preset": preset,
                    "mesh": mesh,
                    "batch_size": run.cfg.batch_size,
                    "params": sum(
                        int(np.prod(x.shape)) for x in jax.tree.leaves(run.abstract_state.params)
                    ),
                    "state_mib_per_device": _state_bytes_per_device(
                        run.abstract_state, run.shardings
                    )
                    / 2**20,
                    "step_mib_per_device": (compiled_memory_bytes(compiled) or 0) / 2**20,
                }
            )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="reference")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--memory-table", action="store_true", help="print the memory table")
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args()
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
    if args.memory_table:
        rows = memory_table(args.model)
        print(f"train-step memory per device, {device} (XLA compile-time estimate)\n")
        print("| model | preset | params | global batch | mesh | params+opt state / device | "
              "train step total / device |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['model']} | {r['preset']} | {r['params'] / 1e6:.2f}M | {r['batch_size']} "
                f"| {r['mesh']} | {r['state_mib_per_device']:.1f} MiB "
                f"| {r['step_mib_per_device']:.1f} MiB |"
            )
        summary: dict[str, object] = {"device": device, "memory": rows}
    else:
        result = speed(args.model, args.preset, args.repeats)
        print(f"{args.model}/{args.preset} train step on {device} (median of {args.repeats}):")
        print(f"  baseline (plain jit)    {result['baseline_ms']:8.3f} ms   1.00x")
        print(
            f"  engine step             {result['engine_ms']:8.3f} ms   {result['engine_ratio']:.2f}x"
        )
        print(
            f"  engine step + data      {result['engine_data_ms']:8.3f} ms   "
            f"{result['engine_data_ratio']:.2f}x"
        )
        summary = {"device": device, "model": args.model, "preset": args.preset, **result}
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
