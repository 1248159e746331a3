"""Train-step time and model FLOP utilisation (MFU) of named experiments, on synthetic batches.

This is the accelerator figure the issues ask for ("training step time and MFU on a GPU"):
it needs no data, so it runs on a bare accelerator machine in seconds per model. For every
``--experiment`` (an ``astra train`` name, or ``global-sft-3b``: the Qwen2.5-VL-3B
architecture with random weights on global-sft-small's sequence and image shapes, since the
base preset's 32 x 16384 tokens do not fit one device without rematerialisation), in one
process:

* ``baseline``: ``jax.jit`` of value_and_grad + optax update of the same model, optimizer and
  device-resident batch, no shardings, no donation: the least a train step can be;
* ``engine``: the engine's AOT-compiled step (``train_step_fn``: mesh shardings, donated state,
  the schedule and the metrics ``astra train`` logs) on the same batch.

Each is jitted, run twice to warm up, then timed ``--repeats`` times (median). FLOPs per step
come from XLA's cost analysis of the compiled step (custom calls such as Pallas kernels count
zero, so MFU is a lower bound where they run); the peak is the device's dense bf16 data-sheet
figure (:mod:`astra_jax.train.perf`), so a float32 run reads low, as it should. The ratio
printed is engine / baseline (1.00 = no engine overhead).

The batch is random data of the task's ``batch_spec`` shapes (never zeros: token ids in the
vocabulary, one segment per row, depths in metres); speed does not depend on the values.

Usage: ``python bench/train_mfu.py --experiment local-small [--experiment global-sft-small ...]
[--batch-size B] [--repeats 10] [--no-baseline] [--attention-impl xla|cudnn] [--json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import tempfile
import time
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from astra_jax import experiments
from astra_jax.tasks import get_task
from astra_jax.train import TrainConfig, perf
from astra_jax.train.optim import learning_rate_schedule, make_optimizer
from astra_jax.train.precision import Precision
from astra_jax.train.sharding import make_mesh
from astra_jax.train.state import (
    abstract_state_and_shardings,
    create_sharded_state,
    state_initializer,
)
from astra_jax.train.steps import abstract_batch, compile_train_step, train_step_fn

EXTRA = ("global-sft-3b",)


def resolve(name: str) -> tuple[experiments.Experiment, Any]:
    """``(experiment, task config)`` of ``name``; ``global-sft-3b`` is global-sft-base's model
    on global-sft-small's data shapes."""
    if name == "global-sft-3b":
        base, small = experiments.get("global-sft-base"), experiments.get("global-sft-small")
        config = dataclasses.replace(small.config, model=base.config.model, name="3b-shapes")
        return dataclasses.replace(small, name=name, config=config), config
    exp = experiments.get(name)
    return exp, exp.config


def synthetic_batch(
    spec: dict[str, jax.ShapeDtypeStruct], vocab: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random numpy arrays of ``spec``'s shapes and dtypes with values a real batch could hold."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for key, s in spec.items():
        shape, dtype = s.shape, np.dtype(s.dtype)
        if key == "segment_ids":
            x = np.ones(shape)  # one packed segment per row: every token attends causally
        elif key == "positions":
            x = np.broadcast_to(np.arange(shape[-1]), shape)
        elif dtype == np.bool_:
            x = rng.random(shape) < 0.9
        elif dtype == np.uint8:
            x = rng.integers(0, 256, shape)
        elif np.issubdtype(dtype, np.integer):
            x = rng.integers(0, vocab, shape)
        elif key in ("depth", "esdf"):
            x = rng.uniform(0.3, 5.0, shape)  # metres
        elif key == "weights":
            x = (rng.random(shape) < 0.3).astype(np.float32)
        else:
            x = rng.normal(0.0, 0.5, shape)
        out[key] = np.asarray(x, dtype=dtype)
    return out


def with_attention(config: Any, implementation: str | None) -> Any:
    """``config`` with Astra-Global's ``attention_impl`` set (``"cudnn"``: flash attention on
    NVIDIA GPUs); ``None`` leaves it as it is. Refused for models without the switch."""
    if implementation is None:
        return config
    model = getattr(config, "model", None)
    if not hasattr(model, "attention_impl"):
        raise SystemExit(f"--attention-impl: {config.name} does not train Astra-Global")
    return dataclasses.replace(config, model=model.replace(attention_impl=implementation))


class StepSetup(NamedTuple):
    """What the engine's train step of one experiment is compiled from (abstract: nothing is
    allocated)."""

    model: Any
    config: TrainConfig
    mesh: Any
    optimizer: Any
    init: Any
    abstract_state: Any
    shardings: Any
    batch_abstract: dict[str, jax.ShapeDtypeStruct]

    def compile(self) -> Any:
        """The engine's AOT-compiled train step."""
        step = train_step_fn(self.model, self.optimizer,
                             learning_rate_schedule(self.config.optimizer), None)  # fmt: skip
        return compile_train_step(step, self.abstract_state, self.shardings,
                                  self.batch_abstract, self.mesh)  # fmt: skip


def step_setup(exp: experiments.Experiment, config: Any, batch_size: int | None) -> StepSetup:
    """The engine's train step of ``exp`` with task config ``config`` on a default mesh."""
    model = get_task(exp.task).create(config, Precision())
    batch = batch_size or exp.batch_size
    # the config's workdir is never written: the step is compiled and run, nothing is saved
    cfg = TrainConfig(model=exp.task, workdir=tempfile.gettempdir(), steps=1000,
                      preset=exp.preset, batch_size=batch)  # fmt: skip
    mesh = make_mesh(cfg.mesh)
    optimizer = make_optimizer(cfg.optimizer)
    init = state_initializer(model.init, optimizer, seed=cfg.seed, use_ema=False)
    abstract_state, shardings = abstract_state_and_shardings(init, mesh, cfg.fsdp_min_size)
    return StepSetup(model, cfg, mesh, optimizer, init, abstract_state, shardings,
                     abstract_batch(model, mesh, batch))  # fmt: skip


def measure(name: str, batch_size: int | None, repeats: int, baseline: bool,
            attention_impl: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Median step seconds, FLOPs and MFU of ``name``'s baseline and engine steps."""
    exp, config = resolve(name)
    setup = step_setup(exp, with_attention(config, attention_impl), batch_size)
    model, optimizer, init = setup.model, setup.optimizer, setup.init
    abstract_state, batch_abstract = setup.abstract_state, setup.batch_abstract
    batch = setup.config.batch_size
    vocab = getattr(getattr(getattr(config, "model", None), "text", None), "vocab_size", 1000)
    host = synthetic_batch(model.batch_spec(batch), min(int(vocab), 1 << 16))
    device_batch = {k: jax.device_put(v, batch_abstract[k].sharding) for k, v in host.items()}
    params_count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(abstract_state.params))
    peak = perf.peak_flops()
    n_dev = jax.device_count()
    out: dict[str, Any] = {"experiment": name, "batch_size": batch, "params": params_count,
                           "attention_impl": attention_impl, "peak_flops_source": peak.source}  # fmt: skip

    if baseline:  # measured first and freed, so the two states are never resident together
        t0 = time.perf_counter()
        params = jax.jit(lambda: init().params)()

        def plain(params: Any, opt_state: Any, b: dict[str, jax.Array]) -> Any:
            grad_fn = jax.value_and_grad(model.loss_fn, has_aux=True)
            (loss, _), grads = grad_fn(params, b, jax.random.PRNGKey(0))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        plain_c = jax.jit(plain).lower(params, optimizer.init(params), device_batch).compile()
        out["baseline_compile_s"] = time.perf_counter() - t0
        live = {"p": params, "o": optimizer.init(params)}

        def base_step() -> object:
            live["p"], live["o"], loss = plain_c(live["p"], live["o"], device_batch)
            return loss

        out["baseline_s"] = perf.median_step_seconds(base_step, repeats)
        out["baseline_flops"] = perf.step_flops(plain_c)
        out["baseline_mfu"] = perf.mfu(out["baseline_flops"], n_dev, 1 / out["baseline_s"], peak)
        live.clear()
        del params, plain_c
        gc.collect()

    t0 = time.perf_counter()
    engine = setup.compile()
    out["engine_compile_s"] = time.perf_counter() - t0
    state = {"s": create_sharded_state(init, setup.shardings)}

    def engine_step() -> object:
        state["s"], metrics = engine(state["s"], device_batch)
        return metrics["loss"]

    out["engine_s"] = perf.median_step_seconds(engine_step, repeats)
    out["loss"] = float(engine_step())
    out["engine_flops"] = perf.step_flops(engine)
    out["engine_mfu"] = perf.mfu(out["engine_flops"], n_dev, 1 / out["engine_s"], peak)
    memory = perf.compiled_memory_bytes(engine)
    out["engine_memory_gib"] = None if memory is None else memory / 2**30
    if baseline:
        out["engine_ratio"] = out["engine_s"] / out["baseline_s"]
    if not np.isfinite(out["loss"]):
        raise FloatingPointError(f"{name}: the loss on the synthetic batch is {out['loss']}")
    state.clear()
    gc.collect()
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", action="append", required=True,
                    help=f"an astra train name or one of {EXTRA}; repeat for several")  # fmt: skip
    ap.add_argument("--batch-size", type=int, default=None, help="default: the experiment's")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-baseline", action="store_true", help="time the engine step only")
    ap.add_argument("--attention-impl", choices=("xla", "cudnn"), default=None,
                    help="Astra-Global's attention (cudnn: flash attention on NVIDIA GPUs)")  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args()
    # GRPO steps sample their batch from the policy first: not a plain train step
    known = {n for n in experiments.names() if not n.startswith("global-grpo")} | set(EXTRA)
    for name in args.experiment:
        if name not in known:
            ap.error(f"--experiment {name!r}: not one of {sorted(known)}")
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
    rows = []
    for name in args.experiment:
        rows.append(measure(name, args.batch_size, args.repeats, not args.no_baseline,
                            args.attention_impl))  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    print(f"\ntrain step on {device}, bf16 compute, median of {args.repeats} (random batch)\n")
    print("| experiment | params | batch | baseline ms | engine ms | engine/baseline | "
          "TFLOP/step | MFU | compiled GiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = r.get("baseline_s")
        print(
            f"| {r['experiment']} | {r['params'] / 1e6:.1f}M | {r['batch_size']} "
            f"| {_fmt(base and 1e3 * base, '.2f')} | {1e3 * r['engine_s']:.2f} "
            f"| {_fmt(r.get('engine_ratio'), '.2f')} "
            f"| {_fmt(r['engine_flops'] and r['engine_flops'] / 1e12, '.3f')} "
            f"| {_fmt(r['engine_mfu'] and 100 * r['engine_mfu'], '.1f')} % "
            f"| {_fmt(r['engine_memory_gib'], '.1f')} |"
        )
    if args.json:
        print(json.dumps({"device": device, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
