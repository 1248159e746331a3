"""The floor-plan schema (version 1): walls, doors, rooms and objects, loaded from JSON.

A floor plan is the single input of the world pipeline: the procedural generators emit the
same JSON-shaped dict that a hand-made file holds, and both go through :func:`parse_plan`.

JSON layout (lengths in metres, angles in radians, world frame x right/forward, y left, z up)::

    {
      "schema_version": 1,
      "name": "small_office",
      "family": "office",                 # style: "office" or "warehouse"
      "wall_height": 2.7,                 # default height of walls
      "ceiling_height": 2.7,              # optional, default wall_height
      "walls": [{"start": [x, y], "end": [x, y], "thickness": 0.12, "height": 2.7}],
      "doors": [{"position": [x, y], "width": 0.9, "height": 2.1, "kind": "door"}],
      "rooms": [{"name": "office_1", "label": "office", "polygon": [[x, y], ...],
                 "floor": "carpet", "wall": "paint"}],
      "objects": [{"category": "printer", "position": [x, y], "yaw": 0.0,
                   "size": [0.6, 0.7, 1.2], "elevation": 0.0,
                   "attributes": {"colour": "grey", "material": "plastic"}}]
    }

* ``walls[i].height`` is optional (default ``wall_height``); a wall is a box of the given
  thickness centred on the segment.
* ``doors[i].position`` must lie on a wall's centre line; the door cuts an opening of
  ``width`` through every wall there, up to ``height`` (default 2.1 m). ``kind`` is ``door``
  (framed opening), ``opening`` (no frame) or ``dock`` (a loading-dock roller door, drawn open).
* ``rooms[i].label`` is one of :data:`ROOM_LABELS`; ``floor`` / ``wall`` name materials from
  :data:`astra_jax.sim.materials.FLOOR_MATERIALS` / ``WALL_MATERIALS`` (optional: the label's
  default). Rooms must not overlap; every room must be reachable through doors.
* ``objects[i].category`` names a landmark category (:mod:`astra_jax.sim.catalog`); ``yaw`` is
  the direction the object's front faces, in radians (a magnitude over 2 pi is refused as
  degrees). ``size`` (depth along the facing direction, width, height) and ``attributes`` are
  optional: missing values are drawn from the world seed. ``elevation`` lifts wall-mounted
  objects (default: the category's). No object may stand through a wall; that is checked when
  the world is built (:func:`astra_jax.sim.world.check_objects_off_walls`), once sizes are
  drawn.

Any missing or wrong field raises :class:`FloorPlanError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from astra_jax.sim.materials import FLOOR_MATERIALS, WALL_MATERIALS
from astra_jax.validation import JsonChecker, read_json

SCHEMA_VERSION = 1
FAMILIES = ("office", "warehouse")
ROOM_LABELS = (
    "office",
    "open_office",
    "conference_room",
    "kitchen",
    "lobby",
    "printer_corner",
    "restroom",
    "corridor",
    "storage",
    "break_room",
    "loading_area",
    "storage_aisles",
)
DOOR_KINDS = ("door", "opening", "dock")
MIN_WALL_LENGTH = 0.05  # m
# Yaw is in radians; a magnitude above one full turn is plainly degrees (90, 180, 270). The 1e-3
# lets a rounded 2 pi through (6.2832 > 2 pi by 7e-6). Degrees under 2 pi (a yaw of 5) cannot be
# told from radians and pass.
YAW_LIMIT = 2 * math.pi + 1e-3

Point = tuple[float, float]


class FloorPlanError(ValueError):
    """A floor plan is invalid. The message names the file, the field and the expectation."""


@dataclasses.dataclass(frozen=True)
class Wall:
    start: Point
    end: Point
    thickness: float
    height: float

    @property
    def length(self) -> float:
        return math.dist(self.start, self.end)


@dataclasses.dataclass(frozen=True)
class Door:
    position: Point
    width: float
    height: float = 2.1
    kind: str = "door"


@dataclasses.dataclass(frozen=True)
class Room:
    name: str
    label: str
    polygon: tuple[Point, ...]
    floor: str | None = None
    wall: str | None = None

    @property
    def area(self) -> float:
        return abs(polygon_area(self.polygon))

    @property
    def centroid(self) -> Point:
        return polygon_centroid(self.polygon)


@dataclasses.dataclass(frozen=True)
class PlacedObject:
    category: str
    position: Point
    yaw: float = 0.0
    size: tuple[float, float, float] | None = None
    elevation: float | None = None
    attributes: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class FloorPlan:
    """A validated floor plan. ``source`` is the file it came from (None if generated)."""

    name: str
    family: str
    wall_height: float
    ceiling_height: float
    walls: tuple[Wall, ...]
    doors: tuple[Door, ...]
    rooms: tuple[Room, ...]
    objects: tuple[PlacedObject, ...]
    source: str | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) over walls and rooms, in metres."""
        xs = [p[0] for w in self.walls for p in (w.start, w.end)]
        ys = [p[1] for w in self.walls for p in (w.start, w.end)]
        xs += [p[0] for r in self.rooms for p in r.polygon]
        ys += [p[1] for r in self.rooms for p in r.polygon]
        pad = max((w.thickness for w in self.walls), default=0.0)
        return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)

    def room_of(self, point: Point) -> int:
        """Index of the room containing ``point``, or -1."""
        for i, r in enumerate(self.rooms):
            if point_in_polygon(point, r.polygon):
                return i
        return -1

    def to_json(self) -> dict[str, Any]:
        """The JSON-shaped dict of this plan (what :func:`parse_plan` reads)."""
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "family": self.family,
            "wall_height": self.wall_height,
            "ceiling_height": self.ceiling_height,
            "walls": [
                {"start": list(w.start), "end": list(w.end), "thickness": w.thickness,
                 "height": w.height}
                for w in self.walls
            ],
            "doors": [dataclasses.asdict(d) | {"position": list(d.position)} for d in self.doors],
            "rooms": [],
            "objects": [],
        }  # fmt: skip
        for r in self.rooms:
            room: dict[str, Any] = {
                "name": r.name,
                "label": r.label,
                "polygon": [list(p) for p in r.polygon],
            }
            if r.floor:
                room["floor"] = r.floor
            if r.wall:
                room["wall"] = r.wall
            out["rooms"].append(room)
        for o in self.objects:
            obj: dict[str, Any] = {
                "category": o.category,
                "position": list(o.position),
                "yaw": o.yaw,
            }
            if o.size is not None:
                obj["size"] = list(o.size)
            if o.elevation is not None:
                obj["elevation"] = o.elevation
            if o.attributes:
                obj["attributes"] = dict(o.attributes)
            out["objects"].append(obj)
        return out


# ----------------------------------------------------------------------------- polygons


def polygon_area(poly: tuple[Point, ...] | list[Point]) -> float:
    """Signed area (m^2), positive for counter-clockwise polygons (shoelace formula)."""
    a = 0.0
    for (x0, y0), (x1, y1) in zip(poly, [*poly[1:], poly[0]]):
        a += x0 * y1 - x1 * y0
    return 0.5 * a


def polygon_centroid(poly: tuple[Point, ...] | list[Point]) -> Point:
    a = polygon_area(poly)
    if abs(a) < 1e-12:
        return (sum(p[0] for p in poly) / len(poly), sum(p[1] for p in poly) / len(poly))
    cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(poly, [*poly[1:], poly[0]]):
        c = x0 * y1 - x1 * y0
        cx += (x0 + x1) * c
        cy += (y0 + y1) * c
    return (cx / (6 * a), cy / (6 * a))


def point_in_polygon(p: Point, poly: tuple[Point, ...] | list[Point]) -> bool:
    """Even-odd rule; points on the boundary may go either way."""
    x, y = p
    inside = False
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def distance_to_segment(p: Point, a: Point, b: Point) -> tuple[float, float]:
    """(distance from p to segment ab, position along ab in metres from a, clamped)."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length = math.hypot(dx, dy)
    if length == 0.0:
        return math.dist(p, a), 0.0
    s = ((p[0] - ax) * dx + (p[1] - ay) * dy) / length
    s = min(max(s, 0.0), length)
    q = (ax + dx * s / length, ay + dy * s / length)
    return math.dist(p, q), s


# ----------------------------------------------------------------------------- parsing


def _point(c: JsonChecker, v: Any, field: str) -> Point:
    if not isinstance(v, list | tuple) or len(v) != 2:
        c.fail(field, "a point [x, y] in metres", v)
    return (c.number(v[0], f"{field}[0]"), c.number(v[1], f"{field}[1]"))


def parse_plan(raw: Any, source: str = "<floor plan>") -> FloorPlan:
    """Validate a JSON-shaped dict and return a :class:`FloorPlan`.

    ``source`` names the file in error messages. Geometric consistency that needs the whole
    world (free space, reachability) is checked later by :func:`astra_jax.sim.world.build_world`.
    """
    from astra_jax.sim.catalog import CATEGORIES  # late: catalog imports materials too

    c = JsonChecker(source, FloorPlanError)
    top = c.at(raw)
    version = top.value("schema_version")
    if version != SCHEMA_VERSION:
        c.fail("schema_version", f"{SCHEMA_VERSION}", version)
    name = top.string("name")
    family = top.string("family", FAMILIES)
    wall_height = top.number("wall_height", 0.5, 20.0)
    ceiling_height = top.number("ceiling_height", 0.5, 20.0, default=wall_height)

    walls = []
    for f, raw_wall in top.items("walls", 3):
        w = c.at(raw_wall, f)
        start = _point(c, w.value("start"), f"{f}.start")
        end = _point(c, w.value("end"), f"{f}.end")
        # 1e-9: coordinates are decimals, so a 5 cm wall (9.4 to 9.45) measures 0.0499999...
        if math.dist(start, end) < MIN_WALL_LENGTH - 1e-9:
            c.fail(f"{f}.end", f"an end point at least {MIN_WALL_LENGTH} m from start", list(end))
        t = w.number("thickness", 0.0, 1.0)
        h = w.number("height", 0.0, 20.0, default=wall_height)
        walls.append(Wall(start, end, t, h))

    doors = []
    for f, raw_door in top.items("doors"):
        d = c.at(raw_door, f)
        pos = _point(c, d.value("position"), f"{f}.position")
        width = d.number("width", 0.6, 6.0)
        h = d.number("height", 1.8, 20.0, default=2.1)
        kind = d.string("kind", DOOR_KINDS, default="door")
        near = [
            distance_to_segment(pos, w.start, w.end)[0] <= 0.5 * w.thickness + 0.02 for w in walls
        ]
        if not any(near):
            c.fail(f"{f}.position", "a point on a wall's centre line", list(pos))
        doors.append(Door(pos, width, h, kind))

    rooms: list[Room] = []
    names: set[str] = set()
    for f, raw_room in top.items("rooms", 1):
        r = c.at(raw_room, f)
        rname = r.string("name")
        if rname in names:
            c.fail(f"{f}.name", "a name no other room has", rname)
        names.add(rname)
        label = r.string("label", ROOM_LABELS)
        poly = tuple(_point(c, p, k) for k, p in r.items("polygon", 3))
        if abs(polygon_area(poly)) < 0.5:
            c.fail(
                f"{f}.polygon",
                "a polygon of at least 0.5 m^2",
                f"{abs(polygon_area(poly)):.3f} m^2",
            )
        floor = r.string("floor", FLOOR_MATERIALS, default=None)
        wall = r.string("wall", WALL_MATERIALS, default=None)
        rooms.append(Room(rname, label, poly, floor, wall))
    for i, a in enumerate(rooms):
        for j in range(i):
            if point_in_polygon(a.centroid, rooms[j].polygon):
                c.fail(
                    f"rooms[{i}].polygon", f"a room not overlapping rooms[{j}] ({rooms[j].name})"
                )

    objects = []
    for f, raw_object in top.items("objects"):
        o = c.at(raw_object, f)
        cat = o.string("category", tuple(CATEGORIES))
        pos = _point(c, o.value("position"), f"{f}.position")
        if not any(point_in_polygon(pos, room.polygon) for room in rooms):
            c.fail(f"{f}.position", "a point inside one of the rooms", list(pos))
        yaw = c.number(raw_object.get("yaw", 0.0), f"{f}.yaw")  # a null yaw is refused
        if abs(yaw) > YAW_LIMIT:
            c.fail(
                f"{f}.yaw",
                f"an angle in radians (|yaw| at most 2 pi = {2 * math.pi:.4f}); this looks like "
                f"degrees: {yaw:g} degrees is {math.radians(yaw):.4f} rad",
                yaw,
            )
        size = o.value("size", default=None)
        if size is not None:
            if not isinstance(size, list) or len(size) != 3:
                c.fail(f"{f}.size", "[depth, width, height] in metres", size)
            size = tuple(c.number(v, f"{f}.size[{k}]", 0.0, 30.0) for k, v in enumerate(size))
        elev = o.number("elevation", -1e-9, 10.0, default=None)
        attrs = o.value("attributes", default=None)
        if attrs is not None:
            if not isinstance(attrs, Mapping):
                c.fail(f"{f}.attributes", "a JSON object of strings", attrs)
            spec = CATEGORIES[cat]
            for k, v in attrs.items():
                choices = {"colour": spec.colours, "material": spec.materials}.get(k)
                if choices is None:
                    c.fail(f"{f}.attributes.{k}", "one of the keys colour, material")
                c.string(v, f"{f}.attributes.{k}", tuple(choices))
            attrs = dict(attrs)
        objects.append(PlacedObject(cat, pos, yaw, size, elev, attrs))

    return FloorPlan(
        name=name,
        family=family,
        wall_height=wall_height,
        ceiling_height=ceiling_height,
        walls=tuple(walls),
        doors=tuple(doors),
        rooms=tuple(rooms),
        objects=tuple(objects),
        source=None if source.startswith("<") else source,
    )


def load_plan(path: str | os.PathLike[str]) -> FloorPlan:
    """Read and validate a floor-plan JSON file."""
    p = Path(path)
    raw = read_json(p, FloorPlanError, missing="floor-plan file not found")
    return parse_plan(raw, str(p))


def save_plan(plan: FloorPlan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` as JSON atomically; refuses to overwrite an existing file."""
    p = Path(path)
    if p.exists():
        raise FileExistsError(f"{p}: already exists; choose another path")
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(plan.to_json(), indent=1) + "\n")
    os.replace(tmp, p)
