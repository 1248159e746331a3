"""Worlds: a validated floor plan plus its landmark table, structure and occupancy.

A world is a pure function of its inputs:

* :func:`build_world` ``(family, seed)``: the procedural generator of that family writes a
  floor plan (the same JSON schema a file holds), then :func:`world_from_plan` builds it.
* :func:`world_from_file` ``(path, seed)``: a hand-made floor plan; the seed draws whatever the
  file leaves open (object sizes and attributes, textures).

Landmark ids are 1..N in the plan's object order; id 0 (:data:`BACKGROUND_ID`) is walls, floor,
ceiling and door frames in the segmentation images.

With ``SimConfig.clutter_density > 0`` a world also holds :attr:`World.clutter`: extra obstacles
(boxes, chairs, carts, standing people) that are not in the plan and not landmarks
(:mod:`astra_jax.sim.clutter`). They count in the occupancy grid and the ESDF, the scene renders
them, and the segmentation reads them as id 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from astra_jax.config import SimConfig
from astra_jax.sim import seeds
from astra_jax.sim.catalog import CATEGORIES, sample_instance
from astra_jax.sim.floorplan import (
    FloorPlan,
    FloorPlanError,
    distance_to_segment,
    load_plan,
    parse_plan,
)
from astra_jax.sim.occupancy import (
    GridSpec,
    OccupancyMap,
    rasterize_polygons,
    rasterize_rects,
    signed_distance,
)
from astra_jax.sim.parts import Part
from astra_jax.sim.structure import Structure, build_structure, exposed_spans

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

    def footprints(
        self, band: tuple[float, float] = OBSTACLE_BAND
    ) -> list[tuple[float, float, float, float, float]]:
        """Oriented footprints (cx, cy, length, width, yaw) of the parts overlapping the height
        ``band`` (z_lo, z_hi) m, by default the robot's obstacle band."""
        out = []
        for p in self.parts:
            z0 = self.elevation + p.center[2] - 0.5 * p.size[2]
            z1 = z0 + p.size[2]
            if p.shape == "cylinder" and p.axis != "z":
                z0 = self.elevation + p.center[2] - 0.5 * p.size[0]
                z1 = z0 + p.size[0]
            if z1 <= band[0] or z0 >= band[1]:
                continue
            out.append(self.part_footprint(p))
        return out

    def part_footprint(self, p: Part) -> tuple[float, float, float, float, float]:
        """The oriented footprint (cx, cy, length, width, yaw) of part ``p`` in the world."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy, _ = _part_extent(p)
        px, py = p.center[0], p.center[1]
        x, y = self.origin[0] + c * px - s * py, self.origin[1] + s * px + c * py
        return (x, y, dx, dy, self.yaw + p.yaw)


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
    # Out-of-distribution clutter (astra_jax.sim.clutter): obstacles that are not landmarks
    # (id 0); empty unless the world was built with SimConfig.clutter_density > 0.
    clutter: tuple[Landmark, ...] = dataclasses.field(default=(), repr=False)
    clutter_density: float = 0.0  # what was asked, per m^2 of free floor
    # The query day (astra_jax.sim.changes): its lights (None: the tour day's), the changes
    # asked (None: none) and how many objects they moved.
    lighting: Any = None
    changes: Any = None
    moved_objects: int = 0

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
        """World identity for episode manifests: family, seed, file (or None), name; and for a
        cluttered world ``clutter_density`` (asked, per m^2 of free floor) and
        ``clutter_objects`` (placed). Absent keys mean no clutter, so plain worlds' manifests
        stay as they were."""
        out: dict[str, Any] = {
            "family": self.family,
            "seed": self.seed,
            "file": self.source,
            "name": self.name,
        }
        if self.clutter_density > 0:
            out["clutter_density"] = self.clutter_density
            out["clutter_objects"] = len(self.clutter)
        if self.changes is not None:
            out["world_changes"] = self.changes.to_json()
            out["moved_objects"] = self.moved_objects
        return out

    def clutter_table(self) -> list[dict[str, Any]]:
        """The clutter objects as landmark-table rows (id 0, category box / chair / cart /
        person, ``attributes.model`` the builder used)."""
        return [c.to_json() for c in self.clutter]

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
    rects += [r for c in world.clutter for r in c.footprints()]
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
        pos, extent = placed_box(parts, obj.position, obj.yaw, elevation)
        room_idx = plan.room_of(obj.position)
        room = plan.rooms[room_idx]
        landmarks.append(
            Landmark(
                id=i + 1,
                category=obj.category,
                room=room.name,
                room_label=room.label,
                position=pos,
                yaw=float(obj.yaw),
                size=extent,
                elevation=elevation,
                attributes=attrs,
                function=function,
                obstacle=spec.obstacle,
                parts=parts,
                origin=obj.position,
            )
        )
    sim = sim or SimConfig()
    world = World(family, seed, plan, tuple(landmarks), build_structure(plan))
    if validate:
        check_reachable(world, sim)
    if sim.clutter_density > 0:
        from astra_jax.sim.clutter import scatter_clutter  # late: clutter builds on this module

        clutter = scatter_clutter(world, sim)
        world = dataclasses.replace(world, clutter=clutter, clutter_density=sim.clutter_density)
        if validate:  # the placement keeps every room reachable; this re-checks it
            check_reachable(world, sim)
    if sim.world_changes.active:
        from astra_jax.sim.changes import change_world  # late: it builds on this module

        world = change_world(world, sim.world_changes, sim)
    return world


def placed_box(
    parts: tuple[Part, ...], origin: tuple[float, float], yaw: float, elevation: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(world centre (x, y, z), extents (d, w, h)) of the object-frame bounding box of
    ``parts`` for an object at ``origin`` (x, y) turned by ``yaw`` with its base at
    ``elevation`` (m); rounded to 1 um, as in the landmark table."""
    lo, hi = parts_bbox(parts)
    c, s = math.cos(yaw), math.sin(yaw)
    mid = 0.5 * (lo + hi)
    pos = (
        origin[0] + c * mid[0] - s * mid[1],
        origin[1] + s * mid[0] + c * mid[1],
        elevation + mid[2],
    )
    position = tuple(round(float(v), 6) for v in pos)
    extent = tuple(round(float(v), 6) for v in (hi - lo))
    return position, extent  # type: ignore[return-value]


def check_reachable(world: World, sim: SimConfig) -> None:
    """Raise FloorPlanError unless every object stands clear of the walls (see
    :func:`check_objects_off_walls`) and the robot fits somewhere and reaches every room."""
    check_objects_off_walls(world)
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
            where = f"{src}: rooms[{k}] ({room.name}): not reachable from the rest of the building"
            blocking = _blocking_objects(world, occ, free & in_room, comp == main, sim.robot.radius)
            if blocking is None:
                raise FloorPlanError(
                    f"{where} by a robot of radius {sim.robot.radius} m (add a door or widen one)"
                )
            objs, door = blocking
            names = ", ".join(
                f"objects[{i}] ({world.plan.objects[i].category} at "
                f"{_fmt_point(world.plan.objects[i].position)})"
                for i in objs
            )
            at = "" if door is None else f" in front of doors[{door}]"
            them = "it" if len(objs) == 1 else "them"
            raise FloorPlanError(
                f"{where} by a robot of radius {sim.robot.radius} m: the walls and doors leave a "
                f"way in, but {names} block{'s' if len(objs) == 1 else ''} it{at} "
                f"(move or remove {them})"
            )


def _fmt_point(p: tuple[float, ...] | np.ndarray) -> str:
    return "[" + ", ".join(f"{round(float(v), 3):g}" for v in p) + "]"


# ----------------------------------------------------------------------------- objects vs walls

# Objects through walls are checked on the built world, not in parse_plan: a plan may leave an
# object's size open (drawn from the seed in world_from_plan), an object's footprint is its
# parts (built from that size, not always centred on its origin), and a door gap is where
# structure.py cut the merged walls (the lintel above stays). All three are known only here.
#
# An object may touch a wall or sink into its near face (a painting or a hand dryer hung on it,
# a shelf pushed against it, a generated object sampled a little deeper than its slot): that is
# legal. It stands *through* the wall when one of its parts reaches out of the far face as well,
# or when its centre lies inside the wall's body. WALL_TOLERANCE is how far a part must reach
# past the far face, and into a wall piece's length and height, to count; the centre must lie
# that far inside the body. 2 cm is twenty times the 1 mm rounding of generated positions and
# sizes and of hand-written decimals, so rounding never trips the check; it lets a poke of up to
# 2 cm out of the far face pass, while an object really standing through a wall sticks out of
# both faces by far more (generated walls are 0.12 to 0.3 m thick). With no tolerance, one of
# the 400 generated worlds of seeds 0-199 would fail: warehouse 149 sets a fire extinguisher in
# a corner with its centre 1.1 cm inside the side wall (Furnisher.against_wall keeps 5 cm from
# a wall's end, not the corner wall's half thickness).
WALL_TOLERANCE = 0.02


def _part_boxes(lm: Landmark) -> list[tuple[float, float, float, float, float, float, float]]:
    """World boxes (cx, cy, length, width, yaw, z0, z1) of all of a landmark's parts."""
    out = []
    for p in lm.parts:
        dz = _part_extent(p)[2]
        z0 = lm.elevation + p.center[2] - 0.5 * dz
        out.append((*lm.part_footprint(p), z0, z0 + dz))
    return out


def _aabb(rects: list[tuple[float, float, float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds (lo (n, 2), hi (n, 2)) of oriented rectangles (cx, cy, l, w, yaw)."""
    r = np.asarray(rects, np.float64).reshape(-1, 5)
    c, s = np.abs(np.cos(r[:, 4])), np.abs(np.sin(r[:, 4]))
    ext = 0.5 * np.stack([c * r[:, 2] + s * r[:, 3], s * r[:, 2] + c * r[:, 3]], 1)
    return r[:, :2] - ext, r[:, :2] + ext


def _clip_strip(poly: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """The part of a convex polygon of (s, t) points with lo <= s <= hi (Sutherland-Hodgman)."""
    for keep in (lambda q: q[0] - lo, lambda q: hi - q[0]):
        out: list[tuple[float, float]] = []
        for a, b in zip(poly, [*poly[1:], *poly[:1]]):
            fa, fb = keep(a), keep(b)
            if fa >= 0:
                out.append(a)
            if (fa >= 0) != (fb >= 0):
                u = fa / (fa - fb)
                out.append((a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1])))
        poly = out
        if not poly:
            break
    return poly


def check_objects_off_walls(world: World, tol: float = WALL_TOLERANCE) -> None:
    """Raise FloorPlanError naming the first object that stands through a wall (and the wall).

    Door openings are gaps in the wall pieces, so an object standing in a doorway is fine as
    long as it fits the opening and stays under the lintel.
    """
    st = world.structure
    exposed = exposed_spans(st.segments)
    pieces = []
    for pc in st.pieces:
        seg = st.segments[pc.segment]
        s_lo = max(pc.s0, exposed[pc.segment][0]) + tol
        s_hi = min(pc.s1, exposed[pc.segment][1]) - tol
        if s_hi > s_lo:
            pieces.append((pc, seg, np.asarray(seg.start), seg.direction, seg.normal, s_lo, s_hi))
    if not pieces:
        return
    # Axis-aligned xy bounds of the pieces and of each object, to test only the walls near it.
    rects = [
        (*(a + 0.5 * (pc.s0 + pc.s1) * d), pc.s1 - pc.s0, seg.thickness, seg.yaw)
        for pc, seg, a, d, *_ in pieces
    ]
    piece_lo, piece_hi = _aabb(rects)
    for i, lm in enumerate(world.landmarks):
        boxes = _part_boxes(lm)
        if not boxes:
            continue
        lo, hi = _aabb([b[:5] for b in boxes])
        near = np.all((piece_lo < hi.max(0) + tol) & (piece_hi > lo.min(0) - tol), axis=1)
        centre = np.asarray(lm.position[:2])
        lz0, lz1 = lm.position[2] - 0.5 * lm.size[2], lm.position[2] + 0.5 * lm.size[2]
        for pc, seg, a, d, n, s_lo, s_hi in (pieces[k] for k in np.flatnonzero(near)):
            half = 0.5 * seg.thickness
            hit = None
            if lz0 < pc.z1 - tol and lz1 > pc.z0 + tol:
                s_c, t_c = float(np.dot(centre - a, d)), float(np.dot(centre - a, n))
                if s_lo < s_c < s_hi and abs(t_c) < half - tol:
                    hit, how = s_c, "its centre is inside the wall"
            for cx, cy, length, width, yaw, z0, z1 in boxes:
                if hit is not None:
                    break
                if z0 >= pc.z1 - tol or z1 <= pc.z0 + tol:
                    continue
                u = np.array([math.cos(yaw), math.sin(yaw)])
                v = np.array([-u[1], u[0]])
                poly = []
                for su, sv in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
                    q = np.array([cx, cy]) + 0.5 * (su * length * u + sv * width * v) - a
                    poly.append((float(np.dot(q, d)), float(np.dot(q, n))))
                poly = _clip_strip(poly, s_lo, s_hi)
                if not poly:
                    continue
                ts = [q[1] for q in poly]
                if min(ts) < -half - tol and max(ts) > half + tol:
                    hit, how = sum(q[0] for q in poly) / len(poly), "it sticks out of both faces"
            if hit is None:
                continue
            at = a + hit * d
            j = min(
                range(len(world.plan.walls)),
                key=lambda k: distance_to_segment(
                    (float(at[0]), float(at[1])), world.plan.walls[k].start, world.plan.walls[k].end
                )[0],
            )
            w = world.plan.walls[j]
            raise FloorPlanError(
                f"{world.origin}: objects[{i}].position: the {lm.category} at "
                f"{_fmt_point(lm.origin)} stands through walls[{j}] (from {_fmt_point(w.start)} "
                f"to {_fmt_point(w.end)}, {w.thickness:g} m thick) at {_fmt_point(at)}: {how}; "
                f"expected it on one side of the wall (touching the wall or hung on it is fine)"
            )


# ----------------------------------------------------------------------------- blocked rooms


def _blocking_objects(
    world: World, occ: OccupancyMap, sources: np.ndarray, targets: np.ndarray, radius: float
) -> tuple[list[int], int | None] | None:
    """Why a room is cut off: None if the walls alone cut it off (then it needs a door), else
    (indices of the objects in the way, the door they stand in front of or None).

    The walls-only free space (walls, door cuts and the building outline, no objects) is
    searched for the way from the room's free cells (``sources``) to the main free component
    (``targets``) that crosses the fewest cells the objects block; the objects named are those
    within the robot's reach of a blocked cell on that way, that is, the ones to move.
    """
    grid = occ.grid
    res = grid.resolution
    walls = rasterize_rects(grid, world.structure.piece_rects(*OBSTACLE_BAND))
    walls |= occ.rooms < 0
    free_w = signed_distance(walls, res) > radius
    free = occ.esdf > radius  # free_w holds it: objects only take free space away
    comp_w, _ = ndimage.label(free_w, structure=np.ones((3, 3)))
    main_w = np.unique(comp_w[targets & free_w])
    if not np.isin(comp_w[sources], main_w[main_w > 0]).any():
        return None
    # Shortest way on the walls-only free cells: a step onto a cell the objects block costs 1,
    # onto a free cell 1e-6 (a whole grid of free steps stays under one blocked cell).
    idx = np.full(free_w.shape, -1, np.int64)
    cells = np.argwhere(free_w)
    idx[free_w] = np.arange(len(cells))
    cost = np.where(free, 1e-6, 1.0)
    us, vs, ws = [], [], []
    nx, ny = free_w.shape
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == dj == 0:
                continue
            a = (slice(max(0, -di), nx - max(0, di)), slice(max(0, -dj), ny - max(0, dj)))
            b = (slice(max(0, di), nx - max(0, -di)), slice(max(0, dj), ny - max(0, -dj)))
            both = free_w[a] & free_w[b]
            us.append(idx[a][both])
            vs.append(idx[b][both])
            ws.append(cost[b][both])
    graph = sparse.csr_matrix(
        (np.concatenate(ws), (np.concatenate(us), np.concatenate(vs))),
        shape=(len(cells), len(cells)),
    )
    dist, pred, _ = csgraph.dijkstra(
        graph, indices=idx[sources & free_w], min_only=True, return_predecessors=True
    )
    goal = idx[targets & free_w]
    end = int(goal[np.argmin(dist[goal])])
    if not np.isfinite(dist[end]):
        return None
    path = [end]
    while pred[path[-1]] >= 0:
        path.append(int(pred[path[-1]]))
    path_cells = cells[path]
    blocked = path_cells[~free[path_cells[:, 0], path_cells[:, 1]]]
    if not len(blocked):
        return None
    pts = grid.to_world(blocked)
    # A cell is blocked when its centre is within radius + res/2 of an occupied cell's centre
    # (the ESDF's half-cell offset), and an occupied cell's centre lies in a footprint.
    reach = radius + 0.5 * res + 1e-6
    objs = []
    for i, lm in enumerate(world.landmarks):
        if not lm.obstacle:
            continue
        for cx, cy, length, width, yaw in lm.footprints():
            c, s = math.cos(yaw), math.sin(yaw)
            dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
            u = np.maximum(np.abs(c * dx + s * dy) - 0.5 * length, 0.0)
            v = np.maximum(np.abs(-s * dx + c * dy) - 0.5 * width, 0.0)
            if (np.hypot(u, v) <= reach).any():
                objs.append(i)
                break
    if not objs:
        return None
    door = None
    if world.plan.doors:
        gaps = [
            (float(np.min(np.linalg.norm(pts - np.asarray(d.position), axis=1))) - 0.5 * d.width, k)
            for k, d in enumerate(world.plan.doors)
        ]
        gap, k = min(gaps)
        door = k if gap <= 2 * radius else None
    return objs, door


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
