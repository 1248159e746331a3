"""The masked ESDF loss of the planning head (paper Eq. 12-15), on the one-step estimate x̂1.

Pipeline, per example:

1. roll the metric deltas x̂1 (n, 3) out into ego-frame poses (``trajectory.rollout``, the
   SE(2) integration under Eq. 13), and take ``subdivisions`` points per segment of the
   polyline origin -> waypoint 1 -> ... -> waypoint n (the last of each is the waypoint);
2. build the cost field on the ground-truth ESDF crop Φ (Ex, Ey) metres::

       Φ'  = min(Φ - d_safe, 0)                 shift by the safety distance, clip (<= 0)
       Φ~' = Φ' * (1 - alpha * 1[(x, y) in U_gt])                     (Eq. 14)
       cost = -Φ~'  >= 0

   with d_safe = robot radius + safety margin and U_gt the ground-truth path dilated by
   ``dilation_radius`` (:func:`corridor_mask`, no gradient);
3. sample ``cost`` bilinearly at every point (differentiable in the points; outside the crop
   Φ = ``outside_value``), average over points, weight by ``t ** time_power``, average over
   the batch and multiply by λ (``weight``): Eq. 15's ``-λ Σ Φ~`` with a mean for the sum.

The crop convention: cell (i, j) of ``esdf`` (B, Ex, Ey) is centred at ego
``(-Ex*r/2 + (i + 0.5) r, -Ey*r/2 + (j + 0.5) r)`` with ``r`` the resolution (metres),
positive in free space, negative inside obstacles.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from astra_jax.local_model.temporal import bilinear_sample_xy
from astra_jax.local_model.trajectory import rollout
from astra_jax.validation import (
    check_non_negative_numbers,
    check_positive_ints,
    check_positive_numbers,
    check_range,
)


@dataclasses.dataclass(frozen=True)
class EsdfLossConfig:
    """The constants of the masked ESDF loss, and why.

    Attributes:
      weight: λ of Eq. 15. The cost is a mean clearance deficit in metres, the CFM loss a
        mean squared error in normalised action units (O(1) at the start, O(0.1) late);
        λ = 1 makes a 10 cm mean deficit worth 0.1, the size of a late CFM loss, so the ESDF
        term shapes trajectories near obstacles without overriding the data.
      alpha: the signed mask strength of Eq. 14, applied to the shifted, clipped field
        Φ' <= 0. 0 < alpha <= 1 lowers the cost inside the ground-truth corridor by
        (1 - alpha): where the expert went is trusted (an expert passing a doorway at 0.35 m
        clearance is not pushed off its path by the d_safe = 0.4 m push), and the bilinear
        step at the corridor's edge pulls estimates back toward it (the paper's "heading"
        motive). alpha < 0 would up-weight the corridor instead. 0.75 keeps a quarter of the
        push, so a corridor that overlaps an obstacle (a wide dilation, a noisy label) still
        repels. Must lie in [-1, 1].
      robot_radius: metres (RobotConfig.radius = 0.30); the evaluation counts a collision when
        a path point comes within this distance of an obstacle.
      safety_margin: metres added to the radius: d_safe = radius + margin = 0.40 m. Φ is
        clipped there, so clearance beyond d_safe earns nothing and open space does not pull
        trajectories away from the goal (the raw -Φ of Eq. 15 rewards clearance without bound).
        The simulator's expert plans on cells with Φ > radius + 0.05 m, so its paths sit at or
        above 0.35 m; 0.1 m leaves a little pressure toward the middle of free space.
      dilation_radius: metres of U_gt around the ground-truth polyline. The robot radius: U_gt
        is the floor the expert's body swept, which holds no obstacle cell by construction.
      subdivisions: points per path segment (1 = waypoints only; 2 adds midpoints). At 0.5 m
        per segment and 1 m/s, midpoints catch corners a 0.3 m robot would cut between
        waypoints.
      time_power: the per-example weight t ** p. x̂1 at small t is the posterior mean over all
        modes of the data, which can sit inside an obstacle between two valid detours; p = 2
        all but switches the term off there (t = 0.3 -> 0.09) and keeps it near t = 1.
      outside_value: Φ (metres) outside the crop: -1 m, i.e. treated as obstacle, so a path
        leaving the known area is penalised rather than ignored.
    """

    weight: float = 1.0
    alpha: float = 0.75
    robot_radius: float = 0.30
    safety_margin: float = 0.10
    dilation_radius: float = 0.30
    subdivisions: int = 2
    time_power: float = 2.0
    outside_value: float = -1.0

    def __post_init__(self) -> None:
        check_non_negative_numbers(self, "weight", "safety_margin", "time_power")
        check_positive_numbers(self, "robot_radius", "dilation_radius")
        check_range(self, "alpha", lo=-1.0, hi=1.0)
        check_range(self, "outside_value", hi=0.0, expected="a number <= 0 (obstacle)")
        check_positive_ints(self, "subdivisions")

    @property
    def safe_distance(self) -> float:
        """d_safe = robot_radius + safety_margin, metres."""
        return self.robot_radius + self.safety_margin


class EsdfLossOutput(NamedTuple):
    """What :func:`esdf_loss` returns.

    Attributes:
      loss: scalar, λ * mean_b[ t_b^p * cost_b ]: add it to the CFM loss.
      cost: (B,) unweighted mean masked cost over the path points (metres).
      clearance: (B,) minimum raw Φ over the path points (metres), for logging.
    """

    loss: jax.Array
    cost: jax.Array
    clearance: jax.Array


# ----------------------------------------------------------------------------- geometry


def cell_centers(shape: tuple[int, int], resolution: float) -> jax.Array:
    """(Ex, Ey, 2) ego-frame (x, y) metres of the crop's cell centres."""
    ex, ey = shape
    xs = -0.5 * ex * resolution + (jnp.arange(ex) + 0.5) * resolution
    ys = -0.5 * ey * resolution + (jnp.arange(ey) + 0.5) * resolution
    return jnp.stack(jnp.meshgrid(xs, ys, indexing="ij"), axis=-1)


def lookup(field: jax.Array, points: jax.Array, resolution: float, fill: float) -> jax.Array:
    """Bilinear values of ``field`` (B, Ex, Ey) at ego points (B, P, 2) metres -> (B, P);
    grid corners outside the crop read ``fill``. Differentiable in ``points``."""
    ex, ey = field.shape[1:]
    # metres -> continuous cell index (integer values hit cell centres)
    ij = (points + 0.5 * resolution * jnp.asarray([ex, ey], points.dtype)) / resolution - 0.5
    # bilinear_sample_xy reads 0 outside; shifting by fill makes that read `fill`.
    shifted = (field - fill)[..., None]
    return jax.vmap(bilinear_sample_xy)(shifted, ij)[..., 0] + fill


def path_points(poses: jax.Array, subdivisions: int) -> jax.Array:
    """Points (B, n * subdivisions, 2) along the polyline origin -> poses[:, 0] -> ... ->
    poses[:, n-1]; per segment the fractions 1/s, 2/s, ..., 1 (the waypoint itself last)."""
    xy = poses[..., :2]
    start = jnp.concatenate([jnp.zeros_like(xy[:, :1]), xy[:, :-1]], axis=1)  # (B, n, 2)
    frac = (jnp.arange(subdivisions, dtype=xy.dtype) + 1.0) / subdivisions  # (s,)
    pts = start[:, :, None] + frac[None, None, :, None] * (xy - start)[:, :, None]
    return pts.reshape(xy.shape[0], -1, 2)


def corridor_mask(
    gt_poses: jax.Array, shape: tuple[int, int], resolution: float, radius: float
) -> jax.Array:
    """U_gt: (B, Ex, Ey) float 1.0 where a cell centre lies within ``radius`` metres of the
    polyline origin -> gt_poses[:, 0] -> ... -> gt_poses[:, n-1] (ego frame), else 0.0.
    Constant for the loss (stop_gradient)."""
    gt_poses = jax.lax.stop_gradient(gt_poses)
    centers = cell_centers(shape, resolution)[None, :, :, None, :]  # (1, Ex, Ey, 1, 2)
    b_pt = gt_poses[..., :2]
    a_pt = jnp.concatenate([jnp.zeros_like(b_pt[:, :1]), b_pt[:, :-1]], axis=1)  # (B, n, 2)
    a_pt, b_pt = a_pt[:, None, None], b_pt[:, None, None]  # (B, 1, 1, n, 2)
    seg = b_pt - a_pt
    length2 = jnp.maximum(jnp.sum(seg * seg, -1), 1e-12)
    u = jnp.clip(jnp.sum((centers - a_pt) * seg, -1) / length2, 0.0, 1.0)
    nearest = a_pt + u[..., None] * seg
    dist = jnp.min(jnp.linalg.norm(centers - nearest, axis=-1), axis=-1)  # (B, Ex, Ey)
    return (dist <= radius).astype(jnp.float32)


def masked_cost_field(esdf: jax.Array, mask: jax.Array, config: EsdfLossConfig) -> jax.Array:
    """cost = -(min(Φ - d_safe, 0) * (1 - alpha * mask)) >= 0, (B, Ex, Ey) metres."""
    shifted = jnp.minimum(esdf - config.safe_distance, 0.0)
    return -shifted * (1.0 - config.alpha * mask)


# ----------------------------------------------------------------------------- loss


def _check_crop(name: str, esdf: jax.Array, batch: int, resolution: float) -> None:
    if esdf.ndim != 3 or esdf.shape[0] != batch:
        raise ValueError(f"{name}: esdf shape {esdf.shape}: expected ({batch}, Ex, Ey)")
    if not resolution > 0:
        raise ValueError(f"{name}: resolution = {resolution!r}: expected metres > 0")


def esdf_loss(
    deltas: jax.Array,
    esdf: jax.Array,
    resolution: float,
    gt_poses: jax.Array,
    t: jax.Array,
    config: EsdfLossConfig = EsdfLossConfig(),
) -> EsdfLossOutput:
    """The masked ESDF loss of the one-step estimate.

    Args:
      deltas: (B, n, 3) metric deltas x̂1 (``CfmOutput.x1_hat``).
      esdf: (B, Ex, Ey) ground-truth local ESDF crop, metres (module docstring convention).
      resolution: metres per crop cell.
      gt_poses: (B, n, 3) the expert's next n ego-frame poses (U_gt is built from them).
      t: (B,) the flow times of ``deltas`` (``CfmOutput.t``), for the weighting.
      config: the constants (see :class:`EsdfLossConfig`).
    """
    if deltas.ndim != 3 or deltas.shape[-1] != 3:
        raise ValueError(f"esdf_loss: deltas shape {deltas.shape}: expected (B, n, 3)")
    b = deltas.shape[0]
    _check_crop("esdf_loss", esdf, b, resolution)
    if gt_poses.shape[0] != b or gt_poses.ndim != 3 or gt_poses.shape[-1] != 3:
        raise ValueError(f"esdf_loss: gt_poses shape {gt_poses.shape}: expected ({b}, n, 3)")
    if t.shape != (b,):
        raise ValueError(f"esdf_loss: t shape {t.shape}: expected ({b},)")
    esdf = esdf.astype(jnp.float32)
    mask = corridor_mask(gt_poses.astype(jnp.float32), esdf.shape[1:], resolution,
                         config.dilation_radius)  # fmt: skip
    cost_field = masked_cost_field(esdf, mask, config)
    points = path_points(rollout(deltas.astype(jnp.float32)), config.subdivisions)
    fill = config.safe_distance - config.outside_value  # the cost outside the crop (unmasked)
    cost = jnp.mean(lookup(cost_field, points, resolution, fill), axis=-1)  # (B,)
    weight = jnp.power(jax.lax.stop_gradient(t.astype(jnp.float32)), config.time_power)
    clearance = jnp.min(lookup(esdf, points, resolution, config.outside_value), axis=-1)
    return EsdfLossOutput(config.weight * jnp.mean(weight * cost), cost, clearance)


def path_clearance(
    deltas: jax.Array,
    esdf: jax.Array,
    resolution: float,
    subdivisions: int = 4,
    outside: float = -1.0,
) -> jax.Array:
    """Minimum Φ (metres) along each trajectory: ``deltas`` (B, ..., n, 3) metric, ``esdf``
    (B, Ex, Ey) -> (B, ...). For best-of-N selection (FM*) on a run-time ESDF and for checks."""
    if deltas.ndim < 3 or deltas.shape[-1] != 3:
        raise ValueError(f"path_clearance: deltas shape {deltas.shape}: expected (B, ..., n, 3)")
    b, n = deltas.shape[0], deltas.shape[-2]
    _check_crop("path_clearance", esdf, b, resolution)
    flat = deltas.reshape(b, -1, n, 3)
    s = flat.shape[1]
    points = path_points(rollout(flat.reshape(b * s, n, 3)), subdivisions).reshape(b, -1, 2)
    values = lookup(esdf.astype(jnp.float32), points.astype(jnp.float32), resolution, outside)
    return jnp.min(values.reshape(b, s, -1), axis=-1).reshape(deltas.shape[:-2])
