"""Ground-truth 3D occupancy of a world in the robot's voxel grid: the occupancy labels of
Astra-Local's occupancy and forecasting evaluations.

A world is rasterised once per height layer of the grid (``rasterize_rects`` at a fine
resolution, 5 cm by default): wall pieces and the parts of landmarks and clutter that overlap
the layer's height band. Per robot pose, every ego voxel reads ``samples`` x ``samples`` points
spread over its footprint: it is *occupied* when any point is, as *structure* (walls) or as an
*obstacle* (objects: landmarks and clutter; objects win where both are), and it counts
(*valid*) when most of its points lie inside the building (outside, nothing is observable).

Walking people (:mod:`astra_jax.sim.people`) are obstacles too: per frame, a vertical cylinder
of the person's radius and height at the frame's position (``people`` of
:func:`ego_voxel_labels`, from the episode's ``people.npy``).

Labels: 0 free, 1 structure, 2 obstacle (``FREE``, ``STRUCTURE``, ``OBSTACLE``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np

from astra_jax.config import VoxelGridConfig
from astra_jax.geometry import se2_apply
from astra_jax.sim.occupancy import GridSpec, rasterize_polygons, rasterize_rects
from astra_jax.sim.world import World

FREE, STRUCTURE, OBSTACLE = 0, 1, 2


@dataclasses.dataclass(frozen=True, eq=False)
class LayeredOccupancy:
    """Per height layer of a voxel grid, the world's fine 2-D labels.

    Attributes:
      grid: the fine 2-D grid (world frame).
      labels: (nx, ny, Z) uint8 FREE / STRUCTURE / OBSTACLE per fine cell and layer.
      inside: (nx, ny) bool, the cell lies in a room.
    """

    grid: GridSpec
    labels: np.ndarray
    inside: np.ndarray


@functools.lru_cache(maxsize=8)
def layered_occupancy(
    world: World, voxel: VoxelGridConfig, resolution: float = 0.05
) -> LayeredOccupancy:
    """The world rasterised per layer of ``voxel``'s height bands (cached per world and grid)."""
    grid = GridSpec.covering(world.bounds, resolution)
    layers = []
    for k in range(voxel.nz):
        band = (voxel.z_min + k * voxel.z_resolution, voxel.z_min + (k + 1) * voxel.z_resolution)
        walls = rasterize_rects(grid, world.structure.piece_rects(*band))
        objects = [r for lm in (*world.landmarks, *world.clutter) for r in lm.footprints(band)]
        obstacles = rasterize_rects(grid, objects)
        layers.append(np.where(obstacles, OBSTACLE, np.where(walls, STRUCTURE, FREE)))
    inside = rasterize_polygons(grid, [r.polygon for r in world.plan.rooms]) >= 0
    return LayeredOccupancy(grid, np.stack(layers, -1).astype(np.uint8), inside)


@functools.lru_cache(maxsize=256)
def person_shape(episode_dir: Path) -> tuple[float, float]:
    """(radius, height) m of the walking people of an episode directory (its manifest's
    ``people``; the defaults when nobody walked)."""
    people = json.loads((episode_dir / "manifest.json").read_text()).get("people") or {}
    return float(people.get("radius", 0.25)), float(people.get("height", 1.75))


def ego_voxel_labels(occ: LayeredOccupancy, pose: np.ndarray, voxel: VoxelGridConfig,
                     samples: int | None = None, people: np.ndarray | None = None,
                     person: tuple[float, float] = (0.25, 1.75)
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``(labels (X, Y, Z) uint8, valid (X, Y) bool)`` of the ego grid at world ``pose``
    (x, y, yaw), with the walking ``people`` (P, 2+) world (x, y, ...) as obstacles:
    cylinders of ``person`` = (radius, height) m.

    ``samples`` points per voxel side (default: one per fine cell, at most 8), at the centres of
    a regular sub-grid of the voxel's footprint.
    """
    if samples is None:
        samples = int(min(8, max(1, math.ceil(voxel.xy_resolution / occ.grid.resolution))))
    ex, ey = voxel.extent_xy
    sub = (np.arange(samples) + 0.5) / samples * voxel.xy_resolution
    xs = -0.5 * ex + (np.arange(voxel.nx) * voxel.xy_resolution)[:, None] + sub[None]  # (X, s)
    ys = -0.5 * ey + (np.arange(voxel.ny) * voxel.xy_resolution)[:, None] + sub[None]  # (Y, s)
    px = np.broadcast_to(xs[:, None, :, None], (voxel.nx, voxel.ny, samples, samples))
    py = np.broadcast_to(ys[None, :, None, :], (voxel.nx, voxel.ny, samples, samples))
    world_xy = se2_apply(np.asarray(pose, np.float64), np.stack([px, py], -1))
    raw = np.floor((world_xy - np.asarray(occ.grid.origin)) / occ.grid.resolution)
    off = np.any((raw < 0) | (raw >= np.asarray(occ.grid.shape)), axis=-1)  # off the map
    ij = np.clip(raw, 0, np.asarray(occ.grid.shape) - 1).astype(np.int64)
    cells = occ.labels[ij[..., 0], ij[..., 1]]  # (X, Y, s, s, Z)
    inside = occ.inside[ij[..., 0], ij[..., 1]] & ~off
    labels = cells.max(axis=(2, 3))  # OBSTACLE > STRUCTURE > FREE
    valid = inside.mean(axis=(2, 3)) > 0.5
    if people is not None and len(people):
        radius, height = person
        centres = np.asarray(people, np.float64)[:, :2]
        hit = np.zeros(world_xy.shape[:2], bool)
        for c in centres:  # a voxel column is hit when any of its sample points is in a disc
            hit |= (np.linalg.norm(world_xy - c, axis=-1) < radius).any(axis=(2, 3))
        bottoms = voxel.z_min + np.arange(voxel.nz) * voxel.z_resolution
        layers = (bottoms < height) & (bottoms + voxel.z_resolution > 0.0)
        labels = np.where(hit[..., None] & layers, OBSTACLE, labels)
    return labels.astype(np.uint8), valid


def iou_counts(predicted: np.ndarray, labels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[intersection, union, obstacle intersection, obstacle union]`` (int64) of predicted
    occupancy (bool, (..., X, Y, Z)) against labels, over valid columns ((..., X, Y)), to be
    summed over a split and turned into IoUs by :func:`ious_from_counts`.

    Total IoU: occupied (structure or obstacle) against predicted occupied, every valid voxel.
    Obstacle IoU: obstacle voxels against predicted occupied over the valid voxels that are not
    structure (walls are left out, so a prediction is not charged for seeing them).
    """
    predicted = np.asarray(predicted, bool)
    labels = np.asarray(labels)
    valid = np.broadcast_to(np.asarray(valid, bool)[..., None], labels.shape)
    occupied = labels != FREE
    region = valid & (labels != STRUCTURE)
    obstacle = labels == OBSTACLE
    return np.array([
        np.sum(predicted & occupied & valid), np.sum((predicted | occupied) & valid),
        np.sum(predicted & obstacle & region), np.sum((predicted | obstacle) & region),
    ], np.int64)  # fmt: skip


def ious_from_counts(counts: np.ndarray) -> dict[str, float]:
    """``total_iou`` and ``obstacle_iou`` of summed :func:`iou_counts` (nan without a union)."""
    i, u, oi, ou = (int(c) for c in counts)
    return {
        "total_iou": i / u if u else float("nan"),
        "obstacle_iou": oi / ou if ou else float("nan"),
    }
