"""Rectangular room layouts → walls and doors in the floor-plan schema.

Rooms are axis-aligned rectangles that tile the building; walls run along their shared edges
(centred on them) and along the building's outline. Pairs of rooms listed as open get no wall
between them (a lobby opening onto a corridor, a printer alcove).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from astra_jax.sim.materials import ROOM_MATERIALS

EPS = 1e-6
SIDES = ("S", "E", "N", "W")  # y = y0, x = x1, y = y1, x = x0


class GeneratorError(RuntimeError):
    """A generator cannot lay out a seed (a bug in the generator, not in any input);
    :func:`astra_jax.sim.generators.generate_plan` adds the world's name."""


def snap(v: float, step: float = 0.05) -> float:
    return round(round(v / step) * step, 3)


@dataclasses.dataclass
class Rect:
    x0: float
    y0: float
    x1: float
    y1: float
    name: str
    label: str
    floor: str | None = None
    wall: str | None = None

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1))

    def edge(self, side: str) -> tuple[str, float, float, float]:
        """(axis of the edge line: 'x' = vertical line x=c / 'y' = horizontal, c, lo, hi)."""
        return {
            "S": ("y", self.y0, self.x0, self.x1),
            "N": ("y", self.y1, self.x0, self.x1),
            "W": ("x", self.x0, self.y0, self.y1),
            "E": ("x", self.x1, self.y0, self.y1),
        }[side]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "polygon": [
                [self.x0, self.y0],
                [self.x1, self.y0],
                [self.x1, self.y1],
                [self.x0, self.y1],
            ],
        }
        if self.floor:
            out["floor"] = self.floor
        if self.wall:
            out["wall"] = self.wall
        return out


def add_room(rooms: list[Rect], x0: float, y0: float, x1: float, y1: float, label: str) -> int:
    """Append the room ``[x0, x1] x [y0, y1]`` (corners snapped) named ``<label>_<n>``, the
    ``n``-th room with that label, to ``rooms``; its index."""
    n = sum(r.label == label for r in rooms) + 1
    rooms.append(Rect(snap(x0), snap(y0), snap(x1), snap(y1), f"{label}_{n}", label))
    return len(rooms) - 1


def assign_materials(rooms: list[Rect], rng: np.random.Generator) -> None:
    """Draw each room's floor and wall material from its label's choices, in room order."""
    for r in rooms:
        floors, walls = ROOM_MATERIALS[r.label]
        r.floor = floors[int(rng.integers(len(floors)))]
        r.wall = walls[int(rng.integers(len(walls)))]


OPPOSITE = {"S": "N", "N": "S", "E": "W", "W": "E"}


def shared_edge(a: Rect, b: Rect) -> tuple[str, str, float, float, float] | None:
    """(side of a, axis, coordinate, lo, hi) of the edge a shares with b, or None."""
    for side in SIDES:
        axis, c, lo, hi = a.edge(side)
        _baxis, bc, blo, bhi = b.edge(OPPOSITE[side])
        if abs(c - bc) < EPS:
            start, stop = max(lo, blo), min(hi, bhi)
            if stop - start > EPS:
                return side, axis, c, start, stop
    return None


def _subtract(
    intervals: list[tuple[float, float]], cut: tuple[float, float]
) -> list[tuple[float, float]]:
    out = []
    for lo, hi in intervals:
        if cut[1] <= lo or cut[0] >= hi:
            out.append((lo, hi))
            continue
        if cut[0] > lo:
            out.append((lo, cut[0]))
        if cut[1] < hi:
            out.append((cut[1], hi))
    return [(lo, hi) for lo, hi in out if hi - lo > EPS]


@dataclasses.dataclass
class Layout:
    """Rooms, the open pairs, and walls/doors derived from them."""

    rooms: list[Rect]
    open_pairs: set[frozenset[int]]
    exterior_thickness: float
    interior_thickness: float
    wall_height: float
    interior_height: float | None = None  # height of interior walls (default wall_height)
    doors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # (room index, side) -> intervals along that side that carry a wall
    walled: dict[tuple[int, str], list[tuple[float, float]]] = dataclasses.field(
        default_factory=dict
    )
    exterior: dict[tuple[int, str], list[tuple[float, float]]] = dataclasses.field(
        default_factory=dict
    )

    def index(self, name: str) -> int:
        for i, r in enumerate(self.rooms):
            if r.name == name:
                return i
        raise KeyError(name)

    def plan(
        self,
        family: str,
        wall_height: float,
        walls: list[dict[str, Any]],
        objects: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The floor-plan dict (schema version 1) of this layout, its walls and its objects.

        ``walls`` comes from :meth:`walls`, called before furnishing (which reads the walled
        intervals it records).
        """
        return {
            "schema_version": 1,
            "name": family,
            "family": family,
            "wall_height": wall_height,
            "walls": walls,
            "doors": [{k: v for k, v in d.items() if k != "rooms"} for d in self.doors],
            "rooms": [r.to_json() for r in self.rooms],
            "objects": objects,
        }

    def walls(self) -> list[dict[str, Any]]:
        """Wall segments (schema dicts) and, as a side effect, the walled/exterior intervals."""
        out: list[dict[str, Any]] = []
        self.walled.clear()
        self.exterior.clear()
        ih = self.interior_height or self.wall_height
        for i, a in enumerate(self.rooms):
            for side in SIDES:
                axis, c, lo, hi = a.edge(side)
                free = [(lo, hi)]
                walled: list[tuple[float, float]] = []
                for j, b in enumerate(self.rooms):
                    if i == j:
                        continue
                    sh = shared_edge(a, b)
                    if sh is None or sh[0] != side:
                        continue
                    free = _subtract(free, (sh[3], sh[4]))
                    if frozenset((i, j)) in self.open_pairs:
                        continue
                    walled.append((sh[3], sh[4]))
                    if i < j:
                        out.append(_wall(axis, c, sh[3], sh[4], self.interior_thickness, ih))
                self.exterior[(i, side)] = free
                for lo2, hi2 in free:
                    out.append(_wall(axis, c, lo2, hi2, self.exterior_thickness, self.wall_height))
                self.walled[(i, side)] = sorted(walled + free)
        return out

    def thickness(self, i: int, side: str, s: float) -> float:
        """Thickness of the wall on room i's ``side`` at position ``s`` along it."""
        for lo, hi in self.exterior.get((i, side), []):
            if lo - EPS <= s <= hi + EPS:
                return self.exterior_thickness
        return self.interior_thickness

    def add_door(self, a: str, b: str, rng: np.random.Generator, width: float = 0.9,
                 where: str = "any", kind: str = "door", through_openings: bool = False,
                 ) -> dict[str, Any] | None:  # fmt: skip
        """A door between rooms ``a`` and ``b`` on their shared edge (None if it does not fit).

        ``where``: ``any`` (uniform), ``end`` (near one end, as office doors usually are) or
        ``middle``. ``through_openings``: the edge also runs on along rooms that ``b`` is open
        to (a lobby and a corridor with no wall between them): ``a``'s wall facing them is one
        wall, so a door may sit across their border.
        """
        ia, ib = self.index(a), self.index(b)
        ra, rb = self.rooms[ia], self.rooms[ib]
        sh = shared_edge(ra, rb)
        if sh is None:
            raise ValueError(f"rooms {a} and {b} share no edge")
        side, axis, c, lo, hi = sh
        if through_openings:
            lo, hi = self._open_span(ia, ib, side, lo, hi)
        margin = 0.25 + self.exterior_thickness / 2
        lo_c, hi_c = lo + margin + width / 2, hi - margin - width / 2
        if hi_c < lo_c:
            return None
        for _ in range(8):
            if where == "middle":
                s = 0.5 * (lo_c + hi_c)
            elif where == "end":
                s = lo_c + rng.uniform(0, 0.4) if rng.random() < 0.5 else hi_c - rng.uniform(0, 0.4)
                s = min(max(s, lo_c), hi_c)
            else:
                s = rng.uniform(lo_c, hi_c)
            s = snap(s)
            pos = [c, s] if axis == "x" else [s, c]
            clash = any(
                abs(d["position"][0] - pos[0]) + abs(d["position"][1] - pos[1])
                < (d["width"] + width) / 2 + 0.4
                for d in self.doors
            )
            if not clash:
                break
        else:
            return None
        door = {"position": pos, "width": width, "kind": kind, "rooms": (a, b)}
        self.doors.append(door)
        return door

    def _open_span(self, ia: int, ib: int, side: str, lo: float, hi: float) -> tuple[float, float]:
        """[lo, hi] on room ``ia``'s ``side`` grown along the rooms open to ``ib`` (transitively)
        that ``ia`` also borders there, while they stay contiguous."""
        group, grown = {ib}, True
        while grown:
            grown = False
            for k, rk in enumerate(self.rooms):
                if (
                    k in group
                    or k == ia
                    or not any(frozenset((k, g)) in self.open_pairs for g in group)
                ):
                    continue
                sh = shared_edge(self.rooms[ia], rk)
                if sh is None or sh[0] != side:
                    continue
                if abs(sh[3] - hi) < EPS or abs(sh[4] - lo) < EPS:
                    lo, hi = min(lo, sh[3]), max(hi, sh[4])
                    group.add(k)
                    grown = True
        return lo, hi


def _wall(axis: str, c: float, lo: float, hi: float, t: float, h: float) -> dict[str, Any]:
    if axis == "x":
        return {"start": [c, lo], "end": [c, hi], "thickness": t, "height": h}
    return {"start": [lo, c], "end": [hi, c], "thickness": t, "height": h}


def split(total: float, widths: list[float]) -> list[float]:
    """Scale ``widths`` to sum to ``total`` (snapped to 5 cm)."""
    k = total / sum(widths)
    out = [snap(w * k) for w in widths[:-1]]
    out.append(snap(total - sum(out)))
    return out


def cuts(x0: float, widths: list[float]) -> list[tuple[float, float]]:
    out = []
    for w in widths:
        out.append((snap(x0), snap(x0 + w)))
        x0 += w
    return out


def generate_family(
    family: str,
    wall_height: float,
    make_layout: Callable[[np.random.Generator], Layout],
    furnish: Callable[[Layout, np.random.Generator], list[dict[str, Any]]],
    rng_layout: np.random.Generator,
    rng_furniture: np.random.Generator,
) -> dict[str, Any]:
    """The floor-plan dict of one procedural world: ``make_layout`` draws the rooms, walls and
    doors from ``rng_layout``, ``furnish`` the objects from ``rng_furniture``; the plan is then
    mirrored at random (``rng_layout`` again)."""
    layout = make_layout(rng_layout)
    walls = layout.walls()
    objects = furnish(layout, rng_furniture)
    plan = layout.plan(family, wall_height, walls, objects)
    return mirror_plan(plan, rng_layout)


def mirror_plan(plan: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Mirror the plan in x and/or y at random (the building stays in the positive quadrant)."""
    fx, fy = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    if not (fx or fy):
        return plan
    xs = [p[0] for r in plan["rooms"] for p in r["polygon"]]
    ys = [p[1] for r in plan["rooms"] for p in r["polygon"]]
    X, Y = max(xs) + min(xs), max(ys) + min(ys)

    def m(p: list[float]) -> list[float]:
        return [round(X - p[0], 3) if fx else p[0], round(Y - p[1], 3) if fy else p[1]]

    for w in plan["walls"]:
        w["start"], w["end"] = m(w["start"]), m(w["end"])
    for d in plan["doors"]:
        d["position"] = m(d["position"])
    for r in plan["rooms"]:
        poly = [m(p) for p in r["polygon"]]
        r["polygon"] = poly[::-1] if fx != fy else poly
    for o in plan["objects"]:
        o["position"] = m(o["position"])
        c, s = math.cos(o["yaw"]), math.sin(o["yaw"])
        o["yaw"] = round(math.atan2(-s if fy else s, -c if fx else c), 6)
    return plan
