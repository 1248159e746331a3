"""The training engine: one loop for every trainable task.

``train(cfg, model)`` (``model``: a :class:`~astra_jax.train.trainable.Trainable`, built by a
task from its resolved config):

1. builds the mesh from ``cfg.mesh``;
2. derives every array's sharding from the model's logical axis names (``jax.eval_shape`` of
   the initial state, no memory used) and AOT-compiles the train and eval steps;
3. resumes from the newest readable checkpoint in ``cfg.workdir``, or creates the state
   directly in its shards;
4. loops: next batch from the grain iterator (an online task turns it into on-policy samples
   with the current parameters: ``OnlineTrainable.rollout``) -> global ``jax.Array`` -> train
   step (state donated) -> metrics every ``log_every`` steps -> evaluation and an async
   checkpoint every ``checkpoint_every`` steps and at the end, the best checkpoint ranked by
   the task's ``checkpoint_metric`` (default: the evaluation loss);
5. waits for the last checkpoint and returns a :class:`TrainResult` with the
   ``params_sha256`` of the final parameters.

Everything a step depends on (params, optimizer state, step, base PRNG key, data position)
is in the checkpoint, and a step is a deterministic function of it, so a run killed at any
point and restarted ends with the same bits as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import astra_jax
from astra_jax.config import ConfigError
from astra_jax.train import perf
from astra_jax.train.checkpoint import Checkpointer
from astra_jax.train.data import eval_batches, train_batches
from astra_jax.train.fingerprint import params_sha256
from astra_jax.train.metrics_log import MetricsLogger
from astra_jax.train.optim import learning_rate_schedule, make_optimizer
from astra_jax.train.sharding import (
    batch_size_per_shard,
    describe_shardings,
    make_mesh,
)
from astra_jax.train.state import (
    TrainState,
    abstract_state_and_shardings,
    create_sharded_state,
    start_from_params,
    state_initializer,
)
from astra_jax.train.steps import (
    abstract_batch,
    compile_eval_step,
    compile_train_step,
    train_step_fn,
)
from astra_jax.train.train_config import TrainConfig, config_json, flatten_config
from astra_jax.train.trainable import OnlineTrainable, Trainable


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Summary of a finished run (what ``astra train --json`` prints)."""

    step: int
    loss: float
    params_sha256: str
    resumed_from: int | None
    best_step: int | None
    checkpoint_steps: list[int]
    eval: dict[str, float]
    mesh: dict[str, int]
    num_params: int
    batch_size: int
    steps_per_s: float | None
    samples_per_s: float | None
    mfu: float | None
    peak_flops_source: str
    flops_per_step: float | None
    compiled_memory_bytes_per_device: int | None
    peak_memory_bytes: int | None
    param_shardings: dict[str, str]
    workdir: str

    def summary(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("param_shardings")
        return out


def _global_batch(local: dict[str, np.ndarray], batch_abstract: dict[str, Any]) -> dict[str, Any]:
    """This process's rows -> one global ``jax.Array`` per key, sharded over (data, fsdp)."""
    return {
        k: jax.make_array_from_process_local_data(v.sharding, local[k], v.shape)
        for k, v in batch_abstract.items()
    }


def _host_floats(metrics: dict[str, jax.Array]) -> dict[str, float]:
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


@dataclasses.dataclass
class PreparedRun:
    """Everything ``train`` sets up before the loop (nothing allocated on devices yet)."""

    cfg: TrainConfig
    model: Trainable
    mesh: jax.sharding.Mesh
    workdir: pathlib.Path
    optimizer: Any
    init: Callable[[], TrainState]
    abstract_state: TrainState
    shardings: TrainState
    batch_abstract: dict[str, Any]
    make_iterator: Callable[[], Any]
    record: dict[str, Any]


def prepare(cfg: TrainConfig, model: Trainable) -> PreparedRun:
    """Mesh, abstract state, shardings and data iterator factory of ``model`` trained under
    ``cfg``; no device memory is used (benchmarks and tools compile from this without
    training)."""
    if not isinstance(model, Trainable):
        raise TypeError(f"train: model is a {type(model).__name__}, not a Trainable")
    if cfg.batch_size is None:
        raise ConfigError(
            "TrainConfig.batch_size = None: expected a positive int (named configs set one)"
        )
    mesh = make_mesh(cfg.mesh)
    batch_size_per_shard(mesh, cfg.batch_size)
    workdir = pathlib.Path(cfg.workdir)
    if workdir.exists() and not workdir.is_dir():
        raise NotADirectoryError(f"--workdir {workdir} exists and is not a directory")

    # Shapes and shardings only: nothing is allocated until the state is created in shards.
    optimizer = make_optimizer(cfg.optimizer)
    init = state_initializer(
        model.init, optimizer, seed=cfg.seed, use_ema=cfg.ema_decay is not None
    )
    abstract_state, shardings = abstract_state_and_shardings(init, mesh, cfg.fsdp_min_size)
    cfg.precision.check_params(abstract_state.params)

    process_index, process_count = jax.process_index(), jax.process_count()
    train_examples = model.dataset("train", cfg.seed, process_index, process_count)
    local_batch = cfg.batch_size // process_count

    def make_iterator() -> Any:
        stream = train_batches(
            train_examples, seed=cfg.seed, batch_size=local_batch, num_workers=cfg.num_workers
        )
        return iter(stream)

    record = {
        "train": cfg.to_json(),
        "model_config": config_json(model.config),
        "process_count": process_count,
        "mesh": dict(mesh.shape),
        "astra_jax": astra_jax.__version__,
    }
    return PreparedRun(
        cfg=cfg,
        model=model,
        mesh=mesh,
        workdir=workdir,
        optimizer=optimizer,
        init=init,
        abstract_state=abstract_state,
        shardings=shardings,
        batch_abstract=abstract_batch(model, mesh, cfg.batch_size),
        make_iterator=make_iterator,
        record=record,
    )


def compile_train(run: PreparedRun) -> jax.stages.Compiled:
    """The run's train step, compiled for its mesh (state donated)."""
    schedule = learning_rate_schedule(run.cfg.optimizer)
    return compile_train_step(
        train_step_fn(run.model, run.optimizer, schedule, run.cfg.ema_decay),
        run.abstract_state,
        run.shardings,
        run.batch_abstract,
        run.mesh,
    )


def _check_saved_config(run: PreparedRun, saved: dict[str, Any]) -> None:
    """Raise unless the checkpoint's run may be continued by this one."""
    run.cfg.check_resumable(saved.get("train", {}), f"--workdir {run.workdir}")
    mine = run.record["model_config"]
    if "model_config" in saved and saved["model_config"] != mine:
        theirs = flatten_config(saved["model_config"], "model_config")
        ours = flatten_config(mine, "model_config")
        diffs = [f"{k} = {theirs.get(k)!r} (this run: {ours.get(k)!r})"
                 for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]  # fmt: skip
        raise ConfigError(
            f"--workdir {run.workdir} holds a run of another model config: {'; '.join(diffs)}; "
            "resume with the same config or use a new --workdir"
        )
    if saved.get("process_count") != jax.process_count():
        raise ConfigError(
            f"--workdir {run.workdir} was written by {saved.get('process_count')} process(es); "
            f"this job has {jax.process_count()}: the data positions are saved per process"
        )


def _eval_setup(run: PreparedRun) -> tuple[Any, list[dict[str, Any]]]:
    """The compiled eval step and the eval batches on device, or ``(None, [])`` (also when
    the task evaluates itself: ``OnlineTrainable.evaluate``)."""
    cfg, split = run.cfg, run.model.eval_split
    if split is None or cfg.eval_batches == 0 or isinstance(run.model, OnlineTrainable):
        return None, []
    assert cfg.batch_size is not None
    eval_step = compile_eval_step(
        run.model, run.abstract_state.params, run.shardings.params, run.batch_abstract, run.mesh
    )
    examples = run.model.dataset(split, cfg.seed, jax.process_index(), jax.process_count())
    local = eval_batches(
        examples,
        batch_size=cfg.batch_size // jax.process_count(),
        num_batches=cfg.eval_batches,
    )
    return eval_step, [_global_batch(b, run.batch_abstract) for b in local]


def train(
    cfg: TrainConfig, model: Trainable, *, report: Callable[[str], None] | None = None
) -> TrainResult:
    """Train ``model`` for ``cfg.steps`` steps in ``cfg.workdir`` (resuming if possible).

    Args:
        cfg: the run.
        model: the task's trainable, built from its resolved config.
        report: receives human-readable notes (resume, corrupt checkpoints); default stderr.
    """
    is_main = jax.process_index() == 0

    def note(message: str) -> None:
        if is_main:
            (report or (lambda m: print(m, file=sys.stderr, flush=True)))(message)

    run = prepare(cfg, model)
    cfg = run.cfg
    assert cfg.batch_size is not None
    run.workdir.mkdir(parents=True, exist_ok=True)

    # Resume first: a checkpoint of an incompatible run is reported before any compiling.
    checkpointer = Checkpointer(run.workdir, keep=cfg.keep_checkpoints, report=note)
    restored = checkpointer.restore_latest(
        run.abstract_state, run.make_iterator, lambda saved: _check_saved_config(run, saved)
    )
    state: TrainState
    if restored is not None:
        state, data_iterator, start = restored.state, restored.data_iterator, restored.step
        if start > cfg.steps:
            checkpointer.close()
            data_iterator.close()
            raise ConfigError(
                f"--workdir {run.workdir} is already at step {start}, beyond --steps "
                f"{cfg.steps}: ask for at least {start} steps or use a new --workdir"
            )
        # Restored arrays can wrap host buffers of any alignment, and XLA's CPU kernels (the
        # convolutions' weight gradients) sum in an order that depends on it: copy the state
        # into buffers XLA allocates, as a run that never stopped holds, so resuming is exact.
        state = jax.jit(lambda s: jax.tree.map(jnp.copy, s), out_shardings=run.shardings)(state)
        note(f"resumed from checkpoint step {start} in {checkpointer.directory}")
    else:
        state = create_sharded_state(run.init, run.shardings)
        if isinstance(model, OnlineTrainable):
            initial = model.initial_params()
            if initial is not None:
                state = start_from_params(state, initial, run.optimizer, run.shardings)
                note(f"initial parameters: {model.initial_params_source}")
        data_iterator, start = run.make_iterator(), 0
    online = model if isinstance(model, OnlineTrainable) else None
    rank_name, rank_mode = _ranking(model)

    train_step = compile_train(run)
    eval_step, eval_data = _eval_setup(run)
    num_devices = run.mesh.devices.size
    flops = perf.step_flops(train_step)
    peak = perf.peak_flops()
    memory_estimate = perf.compiled_memory_bytes(train_step)
    num_params = sum(math.prod(x.shape) for x in jax.tree.leaves(run.abstract_state.params))
    mesh_text = ",".join(f"{k}={v}" for k, v in run.mesh.shape.items())
    logger = MetricsLogger(run.workdir, enabled=is_main)
    logger.write(
        start,
        "event",
        {
            "event": "resume" if restored else "start",
            "num_params": num_params,
            "flops_per_step": flops,
            "compiled_memory_bytes_per_device": memory_estimate,
            "mesh": mesh_text,
        },
    )

    last_metrics: dict[str, float] = {}
    eval_metrics: dict[str, float] = {}
    run_start, run_steps = time.perf_counter(), 0
    window_start, window_steps = time.perf_counter(), 0
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        disable=(not cfg.progress) or (not is_main) or None,  # None: only on a terminal
        file=sys.stderr,
        dynamic_ncols=True,
        desc=f"train {cfg.model}/{cfg.preset}",
    )
    try:
        for step in range(start + 1, cfg.steps + 1):  # `step` = updates done after this one
            examples = next(data_iterator)
            if online is not None:  # on-policy samples from the parameters before this step
                examples = online.rollout(
                    state.params, examples, jax.random.fold_in(state.rng, step)
                )
            batch = _global_batch(examples, run.batch_abstract)
            state, metrics = train_step(state, batch)
            window_steps += 1
            run_steps += 1
            bar.update(1)
            is_checkpoint = step % cfg.checkpoint_every == 0 or step == cfg.steps
            if step % cfg.log_every == 0 or is_checkpoint:
                last_metrics = _host_floats(metrics)  # blocks until this step is done
                elapsed = time.perf_counter() - window_start
                steps_per_s = window_steps / elapsed if elapsed > 0 else None
                throughput = _throughput(
                    last_metrics, steps_per_s, cfg.batch_size, flops, num_devices, peak
                )
                logger.write(step, "train", {**last_metrics, **throughput})
                bar.set_postfix(loss=f"{last_metrics['loss']:.4g}", refresh=False)
                window_start, window_steps = time.perf_counter(), 0
            if is_checkpoint:
                evaluate = online.evaluate if online is not None else None
                if eval_step is not None:
                    evaluate = functools.partial(_evaluate, eval_step, batches=eval_data)
                if evaluate is not None:
                    eval_metrics = evaluate(state.params)
                    logger.write(step, "eval", eval_metrics)
                    if state.ema_params is not None:
                        logger.write(step, "eval_ema", evaluate(state.ema_params))
                ranking = eval_metrics.get(rank_name, last_metrics.get(rank_name))
                if ranking is None:
                    raise KeyError(
                        f"metric {rank_name!r} that ranks checkpoints is in neither the eval "
                        f"metrics {sorted(eval_metrics)} nor the train metrics {sorted(last_metrics)}"
                    )
                checkpointer.save(
                    step,
                    state,
                    data_iterator,
                    run.record,
                    {
                        rank_name: ranking,
                        "rank": ranking if rank_mode == "min" else -ranking,
                        "train_loss": last_metrics["loss"],
                    },
                )
                window_start = time.perf_counter()  # keep save time out of steps/s
        checkpointer.wait()
    finally:
        bar.close()
        logger.close()
        if hasattr(data_iterator, "close"):  # stops grain's prefetch threads / workers
            data_iterator.close()
    checkpointer.close()

    final_step = int(jax.device_get(state.step))
    if not last_metrics:  # nothing left to train: report what the checkpoint recorded
        saved = checkpointer.manager.metrics(final_step) or {}
        last_metrics = {"loss": float(saved.get("train_loss", float("nan")))}
    total_time = time.perf_counter() - run_start
    overall = run_steps / total_time if run_steps and total_time > 0 else None
    return TrainResult(
        step=final_step,
        loss=last_metrics["loss"],
        params_sha256=params_sha256(state.params),
        resumed_from=restored.step if restored else None,
        best_step=checkpointer.best_step(),
        checkpoint_steps=checkpointer.all_steps(),
        eval=eval_metrics,
        mesh=dict(run.mesh.shape),
        num_params=num_params,
        batch_size=cfg.batch_size,
        steps_per_s=overall,
        samples_per_s=overall * cfg.batch_size if overall else None,
        mfu=perf.mfu(flops, num_devices, overall or 0.0, peak),
        peak_flops_source=peak.source,
        flops_per_step=flops,
        compiled_memory_bytes_per_device=memory_estimate,
        peak_memory_bytes=perf.peak_device_memory_bytes(),
        param_shardings=dict(describe_shardings(run.shardings.params)),
        workdir=str(run.workdir),
    )


def _throughput(
    metrics: dict[str, float],
    steps_per_s: float | None,
    batch_size: int,
    flops: float | None,
    num_devices: int,
    peak: perf.PeakFlops,
) -> dict[str, float | None]:
    if steps_per_s is None:
        return {}
    out: dict[str, float | None] = {
        "steps_per_s": steps_per_s,
        "samples_per_s": steps_per_s * batch_size,
        "mfu": perf.mfu(flops, num_devices, steps_per_s, peak),
        "peak_memory_bytes": perf.peak_device_memory_bytes(),
    }
    if "num_tokens" in metrics:
        out["tokens_per_s"] = steps_per_s * metrics["num_tokens"]
    return out


def _ranking(model: Trainable) -> tuple[str, str]:
    """``(metric, "min" | "max")`` that ranks the run's checkpoints (default: the loss)."""
    name, mode = getattr(model, "checkpoint_metric", ("loss", "min"))
    if mode not in ("min", "max"):
        raise ConfigError(f"checkpoint_metric mode {mode!r}: expected 'min' or 'max'")
    return name, mode


def _evaluate(eval_step: Any, params: Any, batches: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each metric over the eval batches."""
    per_batch = [_host_floats(eval_step(params, b)) for b in batches]
    return {k: float(np.mean([m[k] for m in per_batch])) for k in per_batch[0]}
