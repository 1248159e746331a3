"""The static geometry of rendering the rig's rays: where every sample reads the volumes.

The voxel grid is in the ego frame and the cameras are fixed to the robot, so the ego-frame
points a rig's rays sample never change while a model runs. :func:`plan_rays` computes, once
in numpy, each sample's 8 trilinear corners (flat voxel ids) and weights, and keeps only the
samples inside the grid's box (about a fifth of them on the presets' rigs): a ray's in-box
samples are contiguous (the box is convex), so each ray keeps one run of them. Rays are sorted
by run length and split into buckets of equal ray counts, each padded to its own longest run
(8 buckets: 1.3x the in-box samples instead of 4.8x with one). Rendering is then, per bucket,
one gather per sample and a weighted sum (:mod:`~astra_jax.kernels.ray_render.planned`).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from astra_jax.config import CameraConfig, VoxelGridConfig
from astra_jax.kernels.ray_render.rays import RigRays, rig_rays, sample_depths, sample_steps


@dataclasses.dataclass(frozen=True, eq=False)
class RayBucket:
    """Rays with similar in-grid runs, padded to the longest (K samples).

    Attributes:
      corner_index: (Rb, K, 8) int32 flat voxel ids in row-major (X, Y, Z) order.
      corner_weight: (Rb, K, 8) float32 trilinear weights (each sample's sum to 1; 0 padded).
      step: (Rb, K) float32 metric length (m) each sample stands for; 0 for padding.
      sample_z: (Rb, K) float32 z-depth (m) of each sample; 0 for padding.
    """

    corner_index: np.ndarray
    corner_weight: np.ndarray
    step: np.ndarray
    sample_z: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class RayPlan:
    """The rig's rays, their in-grid samples' trilinear corners and weights, in buckets.

    Hashing is by identity: a plan is a static argument of jitted functions.

    Attributes:
      buckets: the buckets, rays sorted by in-grid run length.
      inverse_order: (R,) int32 position of each ray (in ``rays`` order) in the buckets'
        concatenation.
      rays: the rays (origins, directions, pixel ids).
      grid: the voxel grid.
      num_samples: samples per ray before packing (S).
      sample_range: (near, far) z-depths (m) of the first and last sample.
    """

    buckets: tuple[RayBucket, ...]
    inverse_order: np.ndarray
    rays: RigRays
    grid: VoxelGridConfig
    num_samples: int
    sample_range: tuple[float, float]

    @property
    def num_rays(self) -> int:
        return len(self.rays)

    @property
    def kept_samples(self) -> int:
        """Samples the buckets hold, padding included (against ``num_rays * num_samples``)."""
        return sum(b.step.size for b in self.buckets)


def _corners(coords: np.ndarray, grid: VoxelGridConfig) -> tuple[np.ndarray, np.ndarray]:
    """Flat ids (P, 8) and weights (P, 8) of trilinear reads at cell coordinates (P, 3), with
    the reference's clamping (:func:`~astra_jax.kernels.ray_render.reference.trilinear`)."""
    size = np.array([grid.nx, grid.ny, grid.nz])
    f = np.clip(coords, 0.0, size - 1)
    i0 = np.minimum(np.floor(f).astype(np.int64), np.maximum(size - 2, 0))
    frac = f - i0
    i1 = np.minimum(i0 + 1, size - 1)
    ids, weights = [], []
    for cx in (0, 1):
        for cy in (0, 1):
            for cz in (0, 1):
                idx = np.stack([(i1 if c else i0)[:, a] for a, c in enumerate((cx, cy, cz))], -1)
                ids.append((idx[:, 0] * grid.ny + idx[:, 1]) * grid.nz + idx[:, 2])
                weights.append(np.prod([frac[:, a] if c else 1 - frac[:, a]
                                        for a, c in enumerate((cx, cy, cz))], axis=0))  # fmt: skip
    return np.stack(ids, -1), np.stack(weights, -1)


def _bucket(
    f: np.ndarray,
    inside: np.ndarray,
    steps: np.ndarray,
    sample_z: np.ndarray,
    grid: VoxelGridConfig,
) -> RayBucket:
    """Pack rays' in-box runs: ``f`` (Rb, S, 3) cell coordinates (unshifted), ``inside``
    (Rb, S), ``steps`` (Rb, S) m, ``sample_z`` (S,)."""
    count = inside.sum(axis=1)
    first = np.argmax(inside, axis=1)
    rb, s = inside.shape
    slot = np.arange(max(int(count.max()), 1))
    take = np.minimum(first[:, None] + slot[None, :], s - 1)  # (Rb, K) sample of each slot
    valid = slot[None, :] < count[:, None]
    if not np.array_equal(np.take_along_axis(inside, take, 1) & valid, valid):
        raise AssertionError("a ray's in-grid samples are not contiguous")  # the box is convex
    ids, weights = _corners((f - 0.5)[np.arange(rb)[:, None], take].reshape(-1, 3), grid)
    k = len(slot)
    return RayBucket(
        corner_index=(ids.reshape(rb, k, 8) * valid[..., None]).astype(np.int32),
        corner_weight=(weights.reshape(rb, k, 8) * valid[..., None]).astype(np.float32),
        step=(np.take_along_axis(steps, take, 1) * valid).astype(np.float32),
        sample_z=(sample_z[take] * valid).astype(np.float32),
    )


def make_plan(
    rays: RigRays, sample_z: np.ndarray, grid: VoxelGridConfig, num_buckets: int = 8
) -> RayPlan:
    """The plan of ``rays`` sampled at z-depths ``sample_z`` (S,) in ``grid``."""
    if not isinstance(num_buckets, int) or num_buckets <= 0:
        raise ValueError(f"num_buckets = {num_buckets!r}: expected a positive int")
    sample_z = np.asarray(sample_z, np.float64)
    points = rays.origins[:, None, :] + sample_z[None, :, None] * rays.directions[:, None, :]
    ex, ey = grid.extent_xy
    f = np.stack(
        [
            (points[..., 0] + 0.5 * ex) / grid.xy_resolution,
            (points[..., 1] + 0.5 * ey) / grid.xy_resolution,
            (points[..., 2] - grid.z_min) / grid.z_resolution,
        ],
        axis=-1,
    )
    inside = np.all((f >= 0) & (f < np.array([grid.nx, grid.ny, grid.nz])), axis=-1)  # (R, S)
    steps = sample_steps(sample_z, rays.directions)
    order = np.argsort(inside.sum(axis=1), kind="stable")
    groups = [g for g in np.array_split(order, min(num_buckets, len(order))) if len(g)]
    buckets = tuple(_bucket(f[g], inside[g], steps[g], sample_z, grid) for g in groups)
    inverse = np.empty(len(order), np.int32)
    inverse[np.concatenate(groups)] = np.arange(len(order))
    span = (float(sample_z[0]), float(sample_z[-1]))
    return RayPlan(buckets, inverse, rays, grid, len(sample_z), span)


@functools.lru_cache(maxsize=16)
def plan_rays(
    cameras: tuple[CameraConfig, ...],
    image_hw: tuple[int, int],
    stride: int,
    near: float,
    far: float,
    num_samples: int,
    grid: VoxelGridConfig,
) -> RayPlan:
    """The plan of the rig's rays (every ``stride``-th pixel, :func:`rig_rays`) with
    ``num_samples`` evenly spaced z-depths from ``near`` to ``far`` m (cached per geometry)."""
    return make_plan(
        rig_rays(cameras, image_hw, stride), sample_depths(near, far, num_samples), grid
    )
