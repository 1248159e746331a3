"""SDF -> density (VolSDF) and alpha compositing along rays: the part every renderer shares.

Conventions: a ray's samples are ordered near to far; ``step`` (..., S) is the length in metres
of the ray segment each sample stands for (0 for a padded or out-of-volume sample, which then
contributes nothing).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sdf_to_density(sdf: jax.Array, beta: jax.Array) -> jax.Array:
    """VolSDF's density ``sigma = Psi_beta(-s) / beta`` (1/m) of signed distances ``sdf`` (m).

    ``Psi_beta`` is the CDF of a zero-mean Laplace distribution with scale ``beta`` (m): the
    density is ``1 / (2 beta)`` on the surface, tends to ``1 / beta`` inside (s < 0) and to 0
    outside. Written with ``exp(-|s| / beta)`` only, so it never overflows.
    """
    e = jnp.exp(-jnp.abs(sdf) / beta)
    return jnp.where(sdf > 0, 0.5 * e, 1.0 - 0.5 * e) / beta


def composite_weights(density: jax.Array, step: jax.Array) -> jax.Array:
    """Rendering weights (..., S) of samples with ``density`` (..., S) 1/m and ``step`` m.

    ``w_i = T_i (1 - exp(-sigma_i delta_i))`` with transmittance
    ``T_i = exp(-sum_{j<i} sigma_j delta_j)``; the weights of a ray sum to
    ``1 - T_S <= 1`` (the rest is what passes the last sample).
    """
    optical = density * step
    before = jnp.cumsum(optical, axis=-1) - optical  # exclusive prefix sum
    return jnp.exp(-before) * -jnp.expm1(-optical)


def composite(
    weights: jax.Array, sample_z: jax.Array, colour: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(depth (...), colour (..., 3), opacity (...))`` of rays from their sample weights.

    ``depth = sum_i w_i z_i`` is the expected z-depth (m; not normalised by the opacity, as in
    MonoSDF, so a ray that passes through empty space renders short), ``colour = sum_i w_i c_i``
    and ``opacity = sum_i w_i`` (in [0, 1]).
    """
    depth = jnp.sum(weights * sample_z, axis=-1)
    rgb = jnp.einsum("...s,...sc->...c", weights, colour)
    return depth, rgb, jnp.sum(weights, axis=-1)
