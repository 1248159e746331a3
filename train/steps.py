"""The jitted train and eval steps, compiled ahead of time for the mesh.

Both steps are compiled once from the model's ``batch_spec`` (``jit(...).lower(...).compile()``)
inside the mesh and logical-rules contexts, so activation constraints
(``nn.with_logical_constraint``) resolve to mesh axes, and the compiled executable also gives
XLA's FLOP count and memory figures. The train step donates the incoming state: parameters
and optimizer state are updated in place, so a step needs one copy of them, not two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from astra_jax.train.sharding import LOGICAL_AXIS_RULES, batch_sharding, replicated
from astra_jax.train.state import TrainState
from astra_jax.train.trainable import Batch, Metrics, Trainable


@contextlib.contextmanager
def mesh_context(mesh: Mesh) -> Iterator[None]:
    """The mesh and the logical-axis rules, as model code expects them while tracing."""
    with jax.set_mesh(mesh), nn.logical_axis_rules(LOGICAL_AXIS_RULES):
        yield


def _as_f32(metrics: Metrics) -> Metrics:
    return {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}


def train_step_fn(
    model: Trainable,
    optimizer: optax.GradientTransformation,
    schedule: optax.Schedule,
    ema_decay: float | None,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """One optimizer update: ``(state, batch) -> (next state, scalar metrics)``.

    Metrics are the model's, plus ``loss``, ``grad_norm`` (before clipping) and
    ``learning_rate`` (the rate this update used).
    """

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        rng = jax.random.fold_in(state.rng, state.step)
        (loss, metrics), grads = jax.value_and_grad(model.loss_fn, has_aux=True)(
            state.params, batch, rng
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = state.ema_params
        if ema is not None:
            assert ema_decay is not None
            ema = optax.incremental_update(params, ema, step_size=1.0 - ema_decay)
        metrics = {
            **metrics,
            "loss": loss,
            "grad_norm": optax.tree.norm(grads),
            "learning_rate": schedule(state.step),
        }
        new_state = state.replace(
            params=params, opt_state=opt_state, step=state.step + 1, ema_params=ema
        )
        return new_state, _as_f32(metrics)

    return train_step


def abstract_batch(model: Trainable, mesh: Mesh, batch_size: int) -> dict[str, Any]:
    """The model's ``batch_spec`` with the batch sharding attached."""
    return {
        k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding(mesh, len(v.shape)))
        for k, v in model.batch_spec(batch_size).items()
    }


def compile_train_step(
    step_fn: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
    abstract_state: TrainState,
    state_shardings: TrainState,
    batch: dict[str, Any],
    mesh: Mesh,
) -> jax.stages.Compiled:
    """AOT-compile ``step_fn`` with state donation and the given shardings."""
    batch_shardings = {k: v.sharding for k, v in batch.items()}
    jitted = jax.jit(
        step_fn,
        in_shardings=(state_shardings, batch_shardings),
        out_shardings=(state_shardings, replicated(mesh)),
        donate_argnums=0,
    )
    with mesh_context(mesh):
        return jitted.lower(abstract_state, batch).compile()


def compile_eval_step(
    model: Trainable,
    abstract_params: Any,
    param_shardings: Any,
    batch: dict[str, Any],
    mesh: Mesh,
) -> jax.stages.Compiled:
    """AOT-compile ``model.eval_fn``: ``(params, batch) -> float32 metrics`` (no donation)."""
    batch_shardings = {k: v.sharding for k, v in batch.items()}
    jitted = jax.jit(
        lambda params, b: _as_f32(model.eval_fn(params, b)),
        in_shardings=(param_shardings, batch_shardings),
        out_shardings=replicated(mesh),
    )
    with mesh_context(mesh):
        return jitted.lower(abstract_params, batch).compile()
