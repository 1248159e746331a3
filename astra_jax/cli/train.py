"""``astra train MODEL``: train any registered model with the one engine (``astra_jax.train``).

Each registered model name is a subcommand: ``astra train reference --preset tiny --workdir
runs/ref --steps 200 [--mesh data=2,fsdp=4] [--json]``. Running again with the same
``--workdir`` resumes from its newest readable checkpoint.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Literal

from astra_jax.cli._common import emit_json, run


def train_model(
    model: str,
    workdir: str,
    steps: int,
    preset: str = "tiny",
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
    """Train MODEL; rerun with the same --workdir to resume.

    Args:
        model: registered model name.
        workdir: checkpoints, metrics.jsonl and tensorboard/ go here; reusing it resumes.
        steps: total optimizer steps.
        preset: the model's preset (tiny, small, base).
        batch_size: global examples per step (default: the model's default for the preset).
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

    from astra_jax.train import OptimizerConfig, TrainConfig, train
    from astra_jax.train.sharding import MeshSpec

    optimizer = OptimizerConfig(
        learning_rate=learning_rate,
        warmup_steps=warmup_steps if warmup_steps is not None else steps // 20,
        decay_steps=decay_steps,
        final_lr_ratio=final_lr_ratio,
        weight_decay=weight_decay,
        grad_clip_norm=grad_clip_norm,
    )
    cfg = TrainConfig(
        model=model,
        workdir=os.path.abspath(workdir),  # orbax needs absolute paths
        steps=steps,
        preset=preset,
        batch_size=batch_size,
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
        progress=progress,
    )
    result = train(cfg)
    if jax.process_index() == 0:
        mesh_text = ",".join(f"{k}={v}" for k, v in result.mesh.items())
        print(
            f"{model}/{preset}: step {result.step} loss {result.loss:.6g} "
            f"({result.num_params:,} params, mesh {mesh_text}); checkpoints "
            f"{result.checkpoint_steps} in {workdir}"
        )
        print(f"params_sha256 {result.params_sha256}")
        if json:
            emit_json(result.summary())
    return 0


def _command_for(name: str) -> Callable[..., int]:
    """``train_model`` with ``model`` fixed to ``name``: the ``astra train NAME`` subcommand."""

    def command(**kwargs: object) -> int:
        return train_model(name, **kwargs)  # type: ignore[arg-type]

    signature = inspect.signature(train_model)
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != "model"]
    )
    command.__annotations__ = {k: v for k, v in train_model.__annotations__.items() if k != "model"}
    command.__doc__ = (train_model.__doc__ or "").replace("Train MODEL", f"Train {name}", 1)
    command.__name__ = command.__qualname__ = name
    return command


def main(argv: list[str]) -> int:
    from astra_jax.train import registry

    return run("astra train", {name: _command_for(name) for name in registry.names()}, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
