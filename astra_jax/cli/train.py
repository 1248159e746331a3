"""``astra train NAME``: train a named experiment (:mod:`astra_jax.experiments`) with the one
engine (``astra_jax.train``).

Each experiment name is a subcommand: ``astra train encoder-tiny --workdir runs/enc [--steps N]
[--mesh data=2,fsdp=4] [--config.data.train-worlds 1] [--json]``; ``--config.*`` overrides any
field of the task's config tree. The older form ``astra train TASK --preset P`` (TASK: reference,
encoder) still works and means experiment ``TASK-P``. Running again with the same ``--workdir``
resumes from its newest readable checkpoint.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any, Literal

from astra_jax.cli._common import bound_command, emit_json, run


def train_model(
    experiment: str,
    workdir: str,
    steps: int,
    config: Any = None,
    batch_size: int | None = None,
    seed: int = 0,
    mesh: str = "",
    learning_rate: float = 1e-3,
    warmup_steps: int | None = None,
    decay_steps: int | None = None,
    final_lr_ratio: float = 0.0,
    weight_decay: float = 1e-4,
    grad_clip_norm: float = 1.0,
    ema_decay: float | None = None,
    compute_dtype: Literal["bfloat16", "float32"] = "bfloat16",
    fsdp_min_size: int = 1 << 18,
    checkpoint_every: int = 500,
    keep_checkpoints: int = 3,
    eval_batches: int = 4,
    log_every: int = 10,
    num_workers: int = 0,
    progress: bool = True,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    distributed: bool = False,
    json: bool = False,
) -> int:
    """Train EXPERIMENT; rerun with the same --workdir to resume.

    Args:
        experiment: named experiment (astra_jax.experiments).
        workdir: checkpoints, metrics.jsonl and tensorboard/ go here; reusing it resumes.
        steps: total optimizer steps.
        config: the task's config tree (default: the experiment's).
        batch_size: global examples per step (default: the experiment's).
        seed: seeds parameters, dropout and the data order.
        mesh: mesh axis sizes, e.g. 'data=2,fsdp=4' (default: data over all devices).
        learning_rate: peak AdamW learning rate.
        warmup_steps: linear warmup steps (default: 5% of --steps).
        decay_steps: steps of the cosine decay (default: --steps).
        final_lr_ratio: learning rate at the end of the cosine, relative to the peak.
        weight_decay: AdamW weight decay on matrices.
        grad_clip_norm: clip gradients to this global norm (0: no clipping).
        ema_decay: keep an EMA of the parameters with this decay (default: none).
        compute_dtype: activations/matmuls dtype; parameters and optimizer state stay float32.
        fsdp_min_size: parameters with at least this many elements are split over 'fsdp'.
        checkpoint_every: evaluate and save a checkpoint every this many steps, and at the end.
        keep_checkpoints: recent checkpoints to keep (the best one is kept as well).
        eval_batches: batches of the eval split per evaluation (0: no evaluation).
        log_every: write train metrics every this many steps.
        num_workers: grain worker processes for the input pipeline (0: threads only).
        progress: show a progress bar (on a terminal).
        coordinator: multi-host: HOST:PORT of process 0 (or JAX_COORDINATOR_ADDRESS).
        num_processes: multi-host: number of processes (or JAX_NUM_PROCESSES).
        process_id: multi-host: this process's id (or JAX_PROCESS_ID).
        distributed: multi-host: let jax detect the job (Cloud TPU, SLURM, Open MPI).
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.train import distributed as dist

    # Before anything touches a device: a multi-host job must be joined first.
    dist.initialize(
        dist.DistributedConfig.from_env(coordinator, num_processes, process_id, distributed)
    )

    import jax

    from astra_jax import experiments
    from astra_jax.tasks import get_task
    from astra_jax.train import OptimizerConfig, TrainConfig, train
    from astra_jax.train.sharding import MeshSpec

    exp = experiments.get(experiment)
    config = _with_env_overrides(exp) if config is None else config

    optimizer = OptimizerConfig(
        learning_rate=learning_rate,
        warmup_steps=warmup_steps if warmup_steps is not None else steps // 20,
        decay_steps=decay_steps,
        final_lr_ratio=final_lr_ratio,
        weight_decay=weight_decay,
        grad_clip_norm=grad_clip_norm,
    )
    cfg = TrainConfig(
        model=exp.task,
        workdir=os.path.abspath(workdir),  # orbax needs absolute paths
        steps=steps,
        preset=exp.preset,
        batch_size=batch_size if batch_size is not None else exp.batch_size,
        seed=seed,
        optimizer=optimizer,
        ema_decay=ema_decay,
        compute_dtype=compute_dtype,
        mesh=MeshSpec.parse(mesh),
        fsdp_min_size=fsdp_min_size,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        eval_batches=eval_batches,
        log_every=log_every,
        num_workers=num_workers,
        progress=progress and not json,  # --json: the summary only (no bar)
    )
    result = train(cfg, get_task(exp.task).create(config, cfg.precision))
    if jax.process_index() == 0:
        mesh_text = ",".join(f"{k}={v}" for k, v in result.mesh.items())
        print(
            f"{exp.name}: step {result.step} loss {result.loss:.6g} "
            f"({result.num_params:,} params, mesh {mesh_text}); checkpoints "
            f"{result.checkpoint_steps} in {workdir}"
        )
        print(f"params_sha256 {result.params_sha256}")
        if json:
            emit_json(result.summary())
    return 0


def _with_env_overrides(exp: Any) -> Any:
    """The experiment's config with ``$ASTRA_ENCODER_DATA`` applied to an encoder's data (the
    older way to shrink its episodes; ``--config.data.*`` flags are the newer one)."""
    import dataclasses

    text = os.environ.get("ASTRA_ENCODER_DATA", "")
    if exp.task != "encoder" or not text:
        return exp.config
    return dataclasses.replace(exp.config, data=exp.config.data.with_overrides(text))


def _signature(drop: set[str], changes: dict[str, inspect.Parameter]) -> inspect.Signature:
    signature = inspect.signature(train_model)
    params = [changes.get(p.name, p) for p in signature.parameters.values() if p.name not in drop]
    return signature.replace(parameters=params)


def _named_command(name: str) -> Callable[..., int]:
    """``astra train NAME``: defaults from the experiment; ``--config.*`` overrides its tree."""
    from astra_jax import experiments

    exp = experiments.get(name)
    doc = (train_model.__doc__ or "").replace("EXPERIMENT", f"{name}: {exp.summary}", 1)
    defaults = {
        "steps": exp.steps,
        "config": _with_env_overrides(exp),
        "batch_size": exp.batch_size,
        "learning_rate": exp.learning_rate,
    }
    return bound_command(train_model, name, doc, {"experiment": name}, defaults)


def _task_command(task: str) -> Callable[..., int]:
    """The older ``astra train TASK --preset P``: experiment ``TASK-P``, no config overrides."""
    from astra_jax import experiments

    def command(preset: str = "tiny", steps: int | None = None, **kwargs: Any) -> int:
        exp = experiments.for_task(task, preset)
        return train_model(exp.name, steps=exp.steps if steps is None else steps, **kwargs)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    preset = inspect.Parameter("preset", kind, default="tiny", annotation=str)
    # --steps defaults to the preset's experiment (known only once --preset is parsed)
    steps = inspect.Parameter("steps", kind, default=None, annotation=int | None)
    signature = _signature({"experiment", "config"}, {"steps": steps})
    params = list(signature.parameters.values())
    command.__signature__ = signature.replace(parameters=[*params[:2], preset, *params[2:]])  # type: ignore[attr-defined]
    command.__annotations__ = {
        p.name: p.annotation for p in command.__signature__.parameters.values()
    }  # type: ignore[attr-defined]
    command.__doc__ = (
        (train_model.__doc__ or "")
        .replace(
            "Train EXPERIMENT",
            f"Train experiment {task}-PRESET (older form of astra train {task}-PRESET)",
            1,
        )
        .replace(
            "        config: the task's config tree (default: the experiment's).\n",
            "        preset: the preset (tiny, small, base).\n",
        )
        .replace("total optimizer steps.", "total optimizer steps (default: the preset's).", 1)
    )
    command.__name__ = command.__qualname__ = task
    return command


def main(argv: list[str]) -> int:
    from astra_jax import experiments
    from astra_jax.tasks import TASKS

    commands = {name: _named_command(name) for name in experiments.names()}
    commands.update({task: _task_command(task) for task in TASKS})
    return run("astra train", commands, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
