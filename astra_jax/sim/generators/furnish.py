"""Placing objects where they belong: against walls, on walls, on counters, around tables.

The furnisher keeps 3D boxes of everything placed plus keep-out zones in front of every door,
and rejects a candidate that would overlap any of them, so rooms stay walkable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from astra_jax.sim.catalog import CATEGORIES, sample_instance
from astra_jax.sim.generators.layout import EPS, Layout, snap

YAW_INTO_ROOM = {"S": math.pi / 2, "N": -math.pi / 2, "W": 0.0, "E": math.pi}
Box3 = tuple[float, float, float, float, float, float]  # x0, y0, z0, x1, y1, z1


def _overlap(a: Box3, b: Box3) -> bool:
    return all(a[k] < b[k + 3] - EPS and b[k] < a[k + 3] - EPS for k in range(3))


class Furnisher:
    """Accumulates objects (floor-plan schema dicts) for a layout."""

    def __init__(self, layout: Layout, rng: np.random.Generator, door_clearance: float = 1.1):
        self.layout = layout
        self.rng = rng
        self.objects: list[dict[str, Any]] = []
        self.boxes: list[Box3] = []
        for d in layout.doors:  # keep the floor in front of and behind each door clear
            x, y = d["position"]
            half = d["width"] / 2 + 0.25
            vertical = self._door_axis(d) == "x"
            dx, dy = (door_clearance, half) if vertical else (half, door_clearance)
            self.boxes.append((x - dx, y - dy, 0.0, x + dx, y + dy, 2.15))

    def _door_axis(self, d: dict[str, Any]) -> str:
        a, b = (self.layout.rooms[self.layout.index(n)] for n in d["rooms"])
        from astra_jax.sim.generators.layout import shared_edge

        return shared_edge(a, b)[1]  # type: ignore[index]

    # ------------------------------------------------------------------------- primitives

    def sample(
        self, category: str, **attrs: str
    ) -> tuple[tuple[float, float, float], dict[str, str]]:
        size, a, _ = sample_instance(category, self.rng, attrs or None)
        return size, a

    def place(self, category: str, x: float, y: float, yaw: float, size: tuple[float, float, float],
              attrs: dict[str, str], elevation: float = 0.0, margin: float = 0.05,
              check: bool = True) -> bool:  # fmt: skip
        """Place if its box (grown by ``margin`` in x/y) overlaps nothing placed so far."""
        d, w, h = size
        c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
        ex, ey = 0.5 * (c * d + s * w), 0.5 * (s * d + c * w)
        box = (
            x - ex - margin,
            y - ey - margin,
            elevation,
            x + ex + margin,
            y + ey + margin,
            elevation + h,
        )
        if check and any(_overlap(box, b) for b in self.boxes):
            return False
        if not self._inside_some_room(x, y):
            return False
        self.boxes.append(box)
        obj = {
            "category": category,
            "position": [round(x, 3), round(y, 3)],
            "yaw": round(yaw, 6),
            "size": [round(v, 3) for v in size],
            "attributes": dict(attrs),
        }
        if CATEGORIES[category].mount != "floor" or elevation:
            obj["elevation"] = round(elevation, 3)
        self.objects.append(obj)
        return True

    def _inside_some_room(self, x: float, y: float) -> bool:
        return any(r.x0 < x < r.x1 and r.y0 < y < r.y1 for r in self.layout.rooms)

    def against_wall(self, room: int, category: str, side: str | None = None, tries: int = 12,
                     size: tuple[float, float, float] | None = None, attrs: dict[str, str] | None = None,
                     at: float | None = None, gap: float = 0.02) -> dict[str, Any] | None:  # fmt: skip
        """Stand (or hang) an object with its back to a wall of ``room``; returns it or None.

        ``at`` in [0, 1] asks for a position along the wall (else random).
        """
        spec = CATEGORIES[category]
        r = self.layout.rooms[room]
        sides = [side] if side else list(self.rng.permutation(["S", "E", "N", "W"]))
        s_size, s_attrs = self.sample(category)
        size = size or s_size
        attrs = {**s_attrs, **(attrs or {})}
        d, w, _h = size
        elev = float(self.rng.uniform(*spec.elevation)) if spec.mount == "wall" else 0.0
        for k in range(tries):
            sd = sides[k % len(sides)]
            intervals = [
                iv for iv in self.layout.walled.get((room, sd), []) if iv[1] - iv[0] > w + 0.1
            ]
            if not intervals:
                continue
            lo, hi = intervals[int(self.rng.integers(len(intervals)))]
            lo_c, hi_c = lo + w / 2 + 0.05, hi - w / 2 - 0.05
            if hi_c < lo_c:
                continue
            s = lo_c + (hi_c - lo_c) * (at if at is not None and k == 0 else self.rng.random())
            axis, c, _, _ = r.edge(sd)
            inset = self.layout.thickness(room, sd, s) / 2 + gap + d / 2
            sign = 1.0 if sd in ("S", "W") else -1.0
            x, y = (c + sign * inset, s) if axis == "x" else (s, c + sign * inset)
            if self.place(category, x, y, YAW_INTO_ROOM[sd], size, attrs, elev):
                return self.objects[-1]
        return None

    def on_top(self, base: dict[str, Any], category: str, frac: float) -> dict[str, Any] | None:
        """Stand an object on a counter-like ``base`` at ``frac`` (0..1) along its width."""
        size, attrs = self.sample(category)
        bd, bw, bh = base["size"]
        yaw = base["yaw"]
        off = (frac - 0.5) * (bw - size[1] - 0.1)
        back = -bd / 2 + size[0] / 2 + 0.05
        c, s = math.cos(yaw), math.sin(yaw)
        x = base["position"][0] + c * back - s * off
        y = base["position"][1] + s * back + c * off
        if self.place(category, x, y, yaw, size, attrs, elevation=bh, margin=0.0):
            return self.objects[-1]
        return None

    def free_spot(self, room: int, category: str, tries: int = 20, margin: float = 0.6,
                  yaw: float | None = None) -> dict[str, Any] | None:  # fmt: skip
        """Stand an object somewhere in the open floor of ``room`` with ``margin`` clearance."""
        r = self.layout.rooms[room]
        size, attrs = self.sample(category)
        for _ in range(tries):
            x = self.rng.uniform(r.x0 + 0.5, r.x1 - 0.5)
            y = self.rng.uniform(r.y0 + 0.5, r.y1 - 0.5)
            a = (
                yaw
                if yaw is not None
                else float(self.rng.choice([0, math.pi / 2, math.pi, -math.pi / 2]))
            )
            if self._into_wall(room, x, y, a, size):
                continue
            if self.place(category, x, y, a, size, attrs, margin=margin):
                return self.objects[-1]
        return None

    def _into_wall(self, room: int, x: float, y: float, yaw: float,
                   size: tuple[float, float, float]) -> bool:  # fmt: skip
        """Whether the box of an object at (x, y) reaches into a wall of ``room`` (a forklift
        2.6 m long, 0.5 m from the room's edge, stood through the building's outline)."""
        r = self.layout.rooms[room]
        d, w, _ = size
        c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
        ex, ey = 0.5 * (c * d + s * w), 0.5 * (s * d + c * w)
        for side in ("S", "E", "N", "W"):
            axis, line, _, _ = r.edge(side)  # axis "x": the wall runs along y at x = line
            depth = (x - ex, x + ex) if axis == "x" else (y - ey, y + ey)
            span = (y - ey, y + ey) if axis == "x" else (x - ex, x + ex)
            for lo, hi in self.layout.walled.get((room, side), []):
                a, b = max(lo, span[0]), min(hi, span[1])
                if b <= a:
                    continue
                half = self.layout.thickness(room, side, 0.5 * (a + b)) / 2
                if (depth[0] < line + half) if side in ("S", "W") else (depth[1] > line - half):
                    return True
        return False

    def corner(self, room: int, category: str) -> dict[str, Any] | None:
        """Stand an object (a plant, a bin) in a random corner of ``room``."""
        r = self.layout.rooms[room]
        size, attrs = self.sample(category)
        half = max(size[0], size[1]) / 2 + 0.1
        corners = [
            (r.x0, r.y0, 1, 1),
            (r.x1, r.y0, -1, 1),
            (r.x1, r.y1, -1, -1),
            (r.x0, r.y1, 1, -1),
        ]
        for k in self.rng.permutation(4):
            cx, cy, sx, sy = corners[k]
            x = cx + sx * (self.layout.exterior_thickness / 2 + half)
            y = cy + sy * (self.layout.exterior_thickness / 2 + half)
            if self.place(category, x, y, 0.0, size, attrs):
                return self.objects[-1]
        return None

    # ------------------------------------------------------------------------- ensembles

    def table_with_chairs(self, room: int, table: str, chair: str, clearance: float = 1.0) -> bool:
        """A table centred in ``room`` (long side along the room) with chairs around it."""
        r = self.layout.rooms[room]
        size, attrs = self.sample(table)
        d, w, h = size
        along_x = r.w >= r.h
        span, depth = (r.w, r.h) if along_x else (r.h, r.w)
        w = min(w, span - 2 * (clearance + 0.6))
        d = min(d, depth - 2 * (clearance + 0.6))
        if w < 1.0 or d < 0.6:
            return False
        w, d = snap(w), snap(d)
        yaw = math.pi / 2 if along_x else 0.0  # the table's width axis runs along the room
        cx, cy = r.centre
        if not self.place(table, cx, cy, yaw, (d, w, h), attrs, margin=0.0):
            return False
        csize, cattrs = self.sample(chair)
        n = max(1, int(w / 0.75))
        for side in (-1, 1):
            for i in range(n):
                t = -w / 2 + w * (i + 0.5) / n
                off = d / 2 + csize[0] / 2 + 0.02
                if along_x:
                    x, y, a = cx + t, cy + side * off, (-math.pi / 2 if side > 0 else math.pi / 2)
                else:
                    x, y, a = cx + side * off, cy + t, (math.pi if side > 0 else 0.0)
                self.place(chair, x, y, a, csize, cattrs, margin=0.0)
        return True

    def desk_with_chair(self, room: int, side: str | None = None) -> bool:
        desk = self.against_wall(room, "desk", side)
        if desk is None:
            return False
        dd = desk["size"][0]
        yaw = desk["yaw"]
        csize, cattrs = self.sample("office_chair")
        off = dd / 2 + csize[0] / 2 + 0.02
        x = desk["position"][0] + math.cos(yaw) * off
        y = desk["position"][1] + math.sin(yaw) * off
        self.place("office_chair", x, y, yaw + math.pi, csize, cattrs, margin=0.0)
        return True

    def desk_cluster(self, x: float, y: float, along_x: bool, n_pairs: int) -> int:
        """Back-to-back desk pairs with chairs, the open-plan office classic."""
        size, attrs = self.sample("desk")
        d, w, h = size
        csize, cattrs = self.sample("office_chair")
        placed = 0
        for i in range(n_pairs):
            t = (i - (n_pairs - 1) / 2) * w
            for side in (-1, 1):
                if along_x:
                    px, py, yaw = (
                        x + t,
                        y + side * d / 2,
                        (math.pi / 2 if side > 0 else -math.pi / 2),
                    )
                else:
                    px, py, yaw = x + side * d / 2, y + t, (0.0 if side > 0 else math.pi)
                if self.place("desk", px, py, yaw, (d, w, h), attrs, margin=0.0):
                    placed += 1
                    off = d / 2 + csize[0] / 2 + 0.02
                    cx = px + math.cos(yaw) * off
                    cy = py + math.sin(yaw) * off
                    self.place("office_chair", cx, cy, yaw + math.pi, csize, cattrs, margin=0.0)
        return placed
