"""ESDF guidance of the planner's Euler steps: samples steered out of obstacles as they form.

Best-of-N (the paper's FM*) can only pick among the samples; when every sample of a tick grazes
an obstacle (a doorway, a cluttered aisle), it has nothing clear to pick. Guidance bends each
sample while it is integrated, as cost-guided diffusion planners do: at every Euler step with
t >= ``start``, the one-step estimate x̂1 = x_t + (1 - t) v (normalised units) is rolled out
(SE(2)), its path points read the ESDF Φ bilinearly, and the velocity becomes

    v' = v - scale * ∇_x̂1 C(x̂1),    C = Σ_points max(0, d_safe - Φ(point))   (metres)

The gradient is taken with respect to x̂1 only (not through the network, whose Jacobian
∂x̂1/∂x_t is close to the identity late in the flow), so a step costs one rollout and one
bilinear lookup per sample, no backward pass through the transformer. The later Euler steps
still pass the nudged sample through the learned field, which keeps it a plausible trajectory
(smooth, heading along the path), unlike a projection applied after sampling.

Φ is whatever the caller has at run time: the rig's run-time ESDF
(:func:`~astra_jax.local_model.depth_occupancy.runtime_esdf`), never the world's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from astra_jax.local_model.esdf_loss import lookup, path_points
from astra_jax.local_model.trajectory import rollout
from astra_jax.validation import check_positive_ints, check_positive_numbers, check_range


@dataclasses.dataclass(frozen=True)
class EsdfGuidance:
    """The constants of ESDF guidance.

    Attributes:
      scale: normalised action units of velocity per metre of summed clearance deficit
        gradient; 0 switches guidance off. Chosen on validation worlds (docs/design.md).
      safe_distance: d_safe, metres: points closer than this to an obstacle are pushed out.
        Default robot radius 0.30 + 0.10 m, the masked ESDF loss's d_safe.
      start: guide the steps whose flow time t >= ``start`` (x̂1 at small t is the mean of
        all the modes, which may sit in an obstacle between two valid detours).
      subdivisions: points per path segment (origin -> waypoint 1 -> ... -> waypoint n).
      resolution: metres per ESDF cell.
      outside_value: Φ off the grid (metres), -1 as ``EgoESDF.at`` reads it.
    """

    scale: float = 1.0
    safe_distance: float = 0.40
    start: float = 0.5
    subdivisions: int = 4
    resolution: float = 0.1
    outside_value: float = -1.0

    def __post_init__(self) -> None:
        check_positive_numbers(self, "safe_distance", "resolution")
        check_range(self, "scale", lo=0.0)
        check_range(self, "start", lo=0.0, hi=1.0)
        check_positive_ints(self, "subdivisions")


def clearance_cost(deltas: jax.Array, esdf: jax.Array, config: EsdfGuidance) -> jax.Array:
    """C (B, S) metres: the summed clearance deficit of metric ``deltas`` (B, S, n, 3) on
    ``esdf`` (B, Ex, Ey) (one field per condition, shared by its S samples)."""
    b, s, n, _ = deltas.shape
    points = path_points(rollout(deltas.reshape(b * s, n, 3)), config.subdivisions)
    phi = lookup(esdf, points.reshape(b, -1, 2), config.resolution, config.outside_value)
    deficit = jnp.maximum(config.safe_distance - phi, 0.0)
    return jnp.sum(deficit.reshape(b, s, -1), axis=-1)


def guided_velocity(
    v: jax.Array,
    x: jax.Array,
    t: jax.Array,
    esdf: jax.Array,
    denormalize: Callable[[jax.Array], jax.Array],
    config: EsdfGuidance,
) -> jax.Array:
    """v' (B, S, n, 3) normalised: ``v`` minus ``scale`` times the gradient of the clearance
    cost of x̂1 = x + (1 - t) v with respect to x̂1, at t >= ``start`` (else ``v``).
    ``denormalize`` maps normalised actions to metric deltas."""
    if config.scale == 0.0:  # static: guidance off costs nothing
        return v
    x1_hat = jax.lax.stop_gradient(x + (1.0 - t) * v)

    def cost(x1: jax.Array) -> jax.Array:
        return jnp.sum(clearance_cost(denormalize(x1), esdf, config))

    grad = jax.grad(cost)(x1_hat)
    on = jnp.asarray(t >= config.start, v.dtype)
    return v - on * config.scale * grad
