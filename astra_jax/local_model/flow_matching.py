"""Conditional flow matching for the planning head: the training loss and the Euler samplers.

Convention (``../shared/DESIGN.md``): t = 0 is noise, t = 1 is data,
``x_t = (1 - t) x0 + t x1``, target velocity ``x1 - x0``, one-step clean estimate
``x̂1 = x_t + (1 - t) v``, K Euler steps (default ``PlanningHeadConfig.flow_steps`` = 10).
Everything here works in the head's normalised action units; metric deltas go in (targets) and
come out (samples, x̂1) through ``PlanningHeadConfig.normalize_action`` /
``denormalize_action``.

* :func:`cfm_loss` -- Eq. 11 plus x̂1 for the masked ESDF loss
  (:mod:`astra_jax.local_model.esdf_loss`).
* :func:`sample` -- encodes the condition **once**, then K Euler steps over the trajectory
  tokens only; ``num_samples`` draws per condition share that one encoding (and its
  key/value projections).
* :func:`sample_uncached` -- the same draws, re-encoding the condition at every step (the
  paper's layout, where time enters the encoder): the baseline for the equality test and
  ``bench/local_heads.py``.

Both samplers are jitted (``head``, ``num_samples`` and ``steps`` static) and use
``lax.fori_loop``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from astra_jax.local_model.esdf_guidance import EsdfGuidance, guided_velocity
from astra_jax.local_model.planning_head import PlanningHead

TIME_SAMPLINGS: tuple[str, ...] = ("uniform", "beta")
"""How :func:`cfm_loss` draws t. ``uniform``: t ~ U[0, 1] (the paper, Lipman et al.).
``beta``: pi0's schedule, t = 1 - 0.999 s with s ~ Beta(1.5, 1): more weight on noisy times
(small t), where the field has to pick a mode."""


class CfmOutput(NamedTuple):
    """What :func:`cfm_loss` returns.

    Attributes:
      loss: scalar, mean over the batch of ``per_example``.
      per_example: (B,) mean squared error of v against x1 - x0 (normalised units).
      t: (B,) the flow times drawn.
      x1_hat: (B, n, 3) one-step estimate x_t + (1 - t) v, **metric** deltas (m, m, rad),
        differentiable in the parameters: the input of the masked ESDF loss.
    """

    loss: jax.Array
    per_example: jax.Array
    t: jax.Array
    x1_hat: jax.Array


def sample_time(rng: jax.Array, batch: int, schedule: str = "uniform") -> jax.Array:
    """(batch,) flow times in [0, 1] drawn per ``schedule`` (:data:`TIME_SAMPLINGS`)."""
    if schedule == "uniform":
        return jax.random.uniform(rng, (batch,))
    if schedule == "beta":
        return 1.0 - 0.999 * jax.random.beta(rng, 1.5, 1.0, (batch,))
    raise ValueError(
        f"sample_time: schedule {schedule!r}: expected one of {', '.join(TIME_SAMPLINGS)}"
    )


def cfm_loss(
    head: PlanningHead,
    params: Any,
    bev: jax.Array,
    subgoal: jax.Array,
    velocity: jax.Array,
    deltas: jax.Array,
    rng: jax.Array,
    extra: jax.Array | None = None,
    time_sampling: str = "uniform",
) -> CfmOutput:
    """The flow-matching loss (Eq. 11) of the head on one batch.

    Args:
      head, params: the module and its ``params`` collection.
      bev, subgoal, velocity, extra: the condition (see :meth:`PlanningHead.encode`).
      deltas: (B, n, 3) the expert's action x1, metric (``trajectory.deltas_from_poses``).
      rng: draws t and x0 ~ N(0, I).
      time_sampling: one of :data:`TIME_SAMPLINGS`.
    """
    c = head.config
    if deltas.shape != (bev.shape[0], *c.action_shape):
        raise ValueError(
            f"cfm_loss: deltas shape {deltas.shape}: expected ({bev.shape[0]}, {c.num_waypoints}, 3)"
        )
    b = deltas.shape[0]
    rng_t, rng_x = jax.random.split(rng)
    t = sample_time(rng_t, b, time_sampling)
    x1 = c.normalize_action(deltas.astype(jnp.float32))
    x0 = jax.random.normal(rng_x, x1.shape)
    tb = t[:, None, None]
    x_t = (1.0 - tb) * x0 + tb * x1
    v = head.apply({"params": params}, bev, subgoal, velocity, x_t, t, extra)
    per_example = jnp.mean(jnp.square(v - (x1 - x0)), axis=(1, 2))
    x1_hat = c.denormalize_action(x_t + (1.0 - tb) * v)
    return CfmOutput(jnp.mean(per_example), per_example, t, x1_hat)


def euler(
    field: Callable[[jax.Array, jax.Array], jax.Array], x0: jax.Array, steps: int
) -> jax.Array:
    """Integrate dx/dt = ``field(x, t)`` from t = 0 to 1 in ``steps`` Euler steps
    (t_k = k / steps, a scalar); ``x0`` any shape. ``lax.fori_loop``, so jit-friendly."""
    if steps < 1:
        raise ValueError(f"euler: steps = {steps}: expected a positive int")
    dt = 1.0 / steps

    def body(k: jax.Array, x: jax.Array) -> jax.Array:
        return x + dt * field(x, k.astype(jnp.float32) * dt)

    return jax.lax.fori_loop(0, steps, body, x0)


def _prepare(
    head: PlanningHead, bev: jax.Array, rng: jax.Array, num_samples: int, steps: int | None
) -> tuple[int, jax.Array]:
    """(steps, x0 (B, S, n, 3) ~ N(0, I)): the same draw for both samplers."""
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"sample: num_samples = {num_samples!r}: expected a positive int")
    steps = head.config.flow_steps if steps is None else steps
    return steps, jax.random.normal(rng, (bev.shape[0], num_samples, *head.config.action_shape))


@functools.partial(jax.jit, static_argnames=("head", "num_samples", "steps", "guidance"))
def sample(
    head: PlanningHead,
    params: Any,
    bev: jax.Array,
    subgoal: jax.Array,
    velocity: jax.Array,
    rng: jax.Array,
    num_samples: int = 1,
    steps: int | None = None,
    extra: jax.Array | None = None,
    esdf: jax.Array | None = None,
    guidance: EsdfGuidance | None = None,
) -> jax.Array:
    """``num_samples`` trajectories per condition: metric deltas (B, num_samples, n, 3).

    The condition is encoded once (B, L, D); the ``steps`` (default ``flow_steps``) Euler
    steps run the decoder only, the S samples of a condition attending to its one ``cond``
    (no copy). XLA also hoists the decoder's key/value projections of ``cond`` out of the
    loop (loop-invariant), so they are computed once per tick, like openpi's KV cache.
    x0 ~ N(0, I) is drawn from ``rng`` exactly as in :func:`sample_uncached`.

    With ``guidance`` (:class:`~astra_jax.local_model.esdf_guidance.EsdfGuidance`), the Euler
    steps are steered out of the obstacles of ``esdf`` (B, Ex, Ey) metres, the run-time ESDF
    of each condition (:func:`~astra_jax.local_model.esdf_guidance.guided_velocity`).
    """
    steps, x0 = _prepare(head, bev, rng, num_samples, steps)
    variables = {"params": params}
    cond = head.apply(variables, bev, subgoal, velocity, extra, method=PlanningHead.encode)
    if guidance is not None and (esdf is None or esdf.ndim != 3 or esdf.shape[0] != bev.shape[0]):
        shape = None if esdf is None else esdf.shape
        raise ValueError(f"sample: guidance needs esdf (B={bev.shape[0]}, Ex, Ey); got {shape}")

    def field(x: jax.Array, t: jax.Array) -> jax.Array:
        v = head.apply(variables, cond, x, t, method=PlanningHead.velocity_field)
        if guidance is None:
            return v
        return guided_velocity(v, x, t, esdf.astype(v.dtype), head.config.denormalize_action,
                               guidance)  # fmt: skip

    return head.config.denormalize_action(euler(field, x0, steps))


@functools.partial(jax.jit, static_argnames=("head", "num_samples", "steps"))
def sample_uncached(
    head: PlanningHead,
    params: Any,
    bev: jax.Array,
    subgoal: jax.Array,
    velocity: jax.Array,
    rng: jax.Array,
    num_samples: int = 1,
    steps: int | None = None,
    extra: jax.Array | None = None,
) -> jax.Array:
    """As :func:`sample`, but the condition is re-encoded at every Euler step (the B
    conditions once per step, shared by their samples). Same ``rng`` -> same samples."""
    steps, x0 = _prepare(head, bev, rng, num_samples, steps)
    variables = {"params": params}

    def field(x: jax.Array, t: jax.Array) -> jax.Array:
        # Tie the inputs to the loop-variant t, so that XLA's loop-invariant code motion
        # cannot hoist the encoding out of the loop (which would turn this into `sample`).
        inputs, _ = jax.lax.optimization_barrier(((bev, subgoal, velocity, extra), t))
        cond = head.apply(variables, *inputs, method=PlanningHead.encode)
        return head.apply(variables, cond, x, t, method=PlanningHead.velocity_field)

    return head.config.denormalize_action(euler(field, x0, steps))
