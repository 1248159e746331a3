"""Worlds: a validated floor plan plus its landmark table, structure and occupancy.

A world is a pure function of its inputs:

* :func:`build_world` ``(family, seed)``: the procedural generator of that family writes a
  floor plan (the same JSON schema a file holds), then :func:`world_from_plan` builds it.
* :func:`world_from_file` ``(path, seed)``: a hand-made floor plan; the seed draws whatever the
  file leaves open (object sizes and attributes, textures).

Landmark ids are 1..N in the plan's object order; id 0 (:data:`BACKGROUND_ID`) is walls, floor,
ceiling and door frames in the segmentation images.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from astra_jax.config import SimConfig
from astra_jax.sim import seeds
from astra_jax.sim.catalog import CATEGORIES, sample_instance
from astra_jax.sim.floorplan import FloorPlan, FloorPlanError, load_plan, parse_plan
from astra_jax.sim.occupancy import (
    GridSpec,
    OccupancyMap,
    rasterize_polygons,
    rasterize_rects,
    signed_distance,
)
from astra_jax.sim.parts import Part
from astra_jax.sim.structure import Structure, build_structure

BACKGROUND_ID = 0
# Obstacles count when they overlap this height band above the floor (m): from just above the
# floor (pallets, forks) to the top of the robot (cameras at 1.0 m plus the housing).
OBSTACLE_BAND = (0.02, 1.2)


@dataclasses.dataclass(frozen=True)
class Landmark:
    """One object instance. ``position`` is the centre of its 3D bounding box in the world
    (m); ``size`` the box's extents (depth along ``yaw``, width, height); ``yaw`` the direction
    its front faces (rad); ``elevation`` the height of its base above the floor."""

    id: int
    category: str
    room: str
    room_label: str
    position: tuple[float, float, float]
    yaw: float
    size: tuple[float, float, float]
    elevation: float
    attributes: Mapping[str, str]
    function: str
    obstacle: bool
    parts: tuple[Part, ...] = dataclasses.field(repr=False, compare=False)
    origin: tuple[float, float] = (0.0, 0.0)  # the object frame's origin (x, y) on the floor plan

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "room": self.room,
            "room_label": self.room_label,
            "position": [round(v, 4) for v in self.position],
            "yaw": round(self.yaw, 5),
            "size": [round(v, 4) for v in self.size],
            "elevation": round(self.elevation, 4),
            "attributes": dict(self.attributes),
            "function": self.function,
            "obstacle": self.obstacle,
        }

    def footprints(self) -> list[tuple[float, float, float, float, float]]:
        """Oriented footprints (cx, cy, length, width, yaw) of the parts in the obstacle band."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        out = []
        for p in self.parts:
            z0 = self.elevation + p.center[2] - 0.5 * p.size[2]
            z1 = z0 + p.size[2]
            if p.shape == "cylinder" and p.axis != "z":
                z0 = self.elevation + p.center[2] - 0.5 * p.size[0]
                z1 = z0 + p.size[0]
            if z1 <= OBSTACLE_BAND[0] or z0 >= OBSTACLE_BAND[1]:
                continue
            dx, dy, _ = _part_extent(p)
            px, py = p.center[0], p.center[1]
            out.append(
                (
                    self.origin[0] + c * px - s * py,
                    self.origin[1] + s * px + c * py,
                    dx,
                    dy,
                    self.yaw + p.yaw,
                )
            )
        return out


def _part_extent(p: Part) -> tuple[float, float, float]:
    """Extents of a part along its own (yawed) x, y and along z."""
    if p.shape == "cylinder":
        d, _, length = p.size
        d = d * max(1.0, p.taper)
        return {"z": (d, d, length), "x": (length, d, d), "y": (d, length, d)}[p.axis]
    return p.size


def parts_bbox(parts: tuple[Part, ...] | list[Part]) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (object frame) bounding box (lo (3,), hi (3,)) of parts."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for p in parts:
        ex = np.asarray(_part_extent(p), np.float64) / 2
        c, s = abs(math.cos(p.yaw)), abs(math.sin(p.yaw))
        half = np.array([c * ex[0] + s * ex[1], s * ex[0] + c * ex[1], ex[2]])
        lo = np.minimum(lo, np.asarray(p.center) - half)
        hi = np.maximum(hi, np.asarray(p.center) + half)
    return lo, hi


@dataclasses.dataclass(frozen=True, eq=False)  # identity equality: worlds key caches
class World:
    """A built world: its plan, landmarks, wall structure and world-identity info."""

    family: str
    seed: int
    plan: FloorPlan
    landmarks: tuple[Landmark, ...]
    structure: Structure = dataclasses.field(repr=False)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def source(self) -> str | None:
        return self.plan.source

    @property
    def origin(self) -> str:
        """Which world this is, for error messages: family and seed, or plan file and seed."""
        if self.source is None:
            return f"<generated {self.family} world, seed {self.seed}>"
        return f"{self.source} (seed {self.seed})"

    @property
    def key(self) -> str:
        """What seeds this world's random streams: the family, or the plan's name for files."""
        return self.family if self.source is None else f"file:{self.plan.name}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.plan.bounds

    def info(self) -> dict[str, Any]:
        """World identity for episode manifests: family, seed, file (or None), name."""
        return {"family": self.family, "seed": self.seed, "file": self.source, "name": self.name}

    def landmark_table(self) -> list[dict[str, Any]]:
        return [lm.to_json() for lm in self.landmarks]

    def landmark(self, landmark_id: int) -> Landmark:
        if not 1 <= landmark_id <= len(self.landmarks):
            raise KeyError(f"landmark id {landmark_id}: expected 1..{len(self.landmarks)}")
        return self.landmarks[landmark_id - 1]

    def occupancy(self, resolution: float = 0.05) -> OccupancyMap:
        """The occupancy grid and signed ESDF at ``resolution`` m (cached per resolution)."""
        return _occupancy(self, resolution)


@functools.lru_cache(maxsize=8)
def _occupancy(world: World, resolution: float) -> OccupancyMap:
    grid = GridSpec.covering(world.bounds, resolution)
    occupied = rasterize_rects(grid, world.structure.piece_rects(*OBSTACLE_BAND))
    rects = [r for lm in world.landmarks if lm.obstacle for r in lm.footprints()]
    rasterize_rects(grid, rects, occupied)
    rooms = rasterize_polygons(grid, [r.polygon for r in world.plan.rooms])
    occupied |= rooms < 0  # outside the building counts as obstacle
    return OccupancyMap(grid, occupied, signed_distance(occupied, resolution), rooms)


def world_from_plan(
    plan: FloorPlan, seed: int, family: str | None = None, sim: SimConfig | None = None,
    validate: bool = True,
) -> World:  # fmt: skip
    """Build a world from a validated plan: draw open attributes, build landmarks, check that
    every room is reachable by the robot."""
    seed = seeds.check_seed(seed)
    family = family or plan.family
    key = family if plan.source is None else f"file:{plan.name}"
    landmarks = []
    for i, obj in enumerate(plan.objects):
        spec = CATEGORIES[obj.category]
        rng = seeds.rng_for(key, seed, seeds.STREAM_ATTRIBUTES, i)
        size, attrs, function = sample_instance(obj.category, rng, obj.attributes)
        size = obj.size or size
        elev = rng.uniform(*spec.elevation)
        elevation = float(obj.elevation if obj.elevation is not None else elev)
        variant = int(rng.integers(1 << 30))
        attrs["size"] = spec.size_class(size)
        parts = tuple(spec.build(size, attrs, variant))
        lo, hi = parts_bbox(parts)
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        mid = 0.5 * (lo + hi)
        pos = (
            obj.position[0] + c * mid[0] - s * mid[1],
            obj.position[1] + s * mid[0] + c * mid[1],
            elevation + mid[2],
        )
        room_idx = plan.room_of(obj.position)
        room = plan.rooms[room_idx]
        landmarks.append(
            Landmark(
                id=i + 1,
                category=obj.category,
                room=room.name,
                room_label=room.label,
                position=tuple(round(float(v), 6) for v in pos),
                yaw=float(obj.yaw),
                size=tuple(round(float(v), 6) for v in (hi - lo)),
                elevation=elevation,
                attributes=attrs,
                function=function,
                obstacle=spec.obstacle,
                parts=parts,
                origin=obj.position,
            )
        )
    world = World(family, seed, plan, tuple(landmarks), build_structure(plan))
    if validate:
        check_reachable(world, sim or SimConfig())
    return world


def check_reachable(world: World, sim: SimConfig) -> None:
    """Raise FloorPlanError unless the robot fits somewhere and reaches every room."""
    src = world.origin
    occ = world.occupancy(sim.occupancy_resolution)
    free = occ.esdf > sim.robot.radius
    if not free.any():
        raise FloorPlanError(
            f"{src}: walls: the walls and objects leave no free space for the robot "
            f"(radius {sim.robot.radius} m)"
        )
    comp, n = ndimage.label(free, structure=np.ones((3, 3)))
    sizes = ndimage.sum(free, comp, index=np.arange(1, n + 1))
    main = int(np.argmax(sizes)) + 1
    for k, room in enumerate(world.plan.rooms):
        in_room = occ.rooms == k
        if not (free & in_room).any():
            raise FloorPlanError(
                f"{src}: rooms[{k}] ({room.name}): no free space for the robot "
                f"(radius {sim.robot.radius} m) inside this room"
            )
        if not (in_room & (comp == main)).any():
            raise FloorPlanError(
                f"{src}: rooms[{k}] ({room.name}): not reachable from the rest of the building "
                f"by a robot of radius {sim.robot.radius} m (add a door or widen one)"
            )


def build_world(family: str, seed: int, sim: SimConfig | None = None) -> World:
    """The procedural world of ``family`` ("office" or "warehouse") and ``seed``."""
    from astra_jax.sim.generators import generate_plan

    raw = generate_plan(family, seeds.check_seed(seed))
    plan = parse_plan(raw, f"<generated {family} world, seed {seed}>")
    return world_from_plan(plan, seed, family, sim)


def world_from_file(path: str | Path, seed: int = 0, sim: SimConfig | None = None) -> World:
    """The world of a floor-plan JSON file; ``seed`` draws sizes/attributes/textures left open."""
    plan = load_plan(path)
    return world_from_plan(plan, seed, plan.family, sim)


def load_world(family: str | None = None, seed: int = 0, file: str | Path | None = None,
               sim: SimConfig | None = None) -> World:  # fmt: skip
    """``world_from_file(file, seed)`` if ``file`` is given, else ``build_world(family, seed)``."""
    if file is not None:
        return world_from_file(file, seed, sim)
    if family is None:
        raise ValueError("family: expected office or warehouse when no --world file is given")
    if family not in ("office", "warehouse"):
        raise ValueError(f"family = {family!r}: expected office or warehouse")
    return build_world(family, seed, sim)
