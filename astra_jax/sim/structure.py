"""Walls after merging and door cutting: the solid pieces the scene and the occupancy grid use.

Collinear walls that touch are merged into one segment. Each segment is extended by half its
thickness at both ends so that corners and T-junctions close. Every door cuts an opening of its
width through the walls it lies on, from the floor to the door's height; the wall above the
opening (the lintel) stays.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from astra_jax.sim.floorplan import Door, FloorPlan, Wall, distance_to_segment


@dataclasses.dataclass(frozen=True)
class WallSegment:
    """A merged wall: from ``start`` along the unit ``direction`` for ``length`` metres."""

    start: tuple[float, float]
    end: tuple[float, float]
    thickness: float
    height: float

    @property
    def length(self) -> float:
        return math.dist(self.start, self.end)

    @property
    def direction(self) -> np.ndarray:
        d = np.subtract(self.end, self.start)
        return d / np.linalg.norm(d)

    @property
    def normal(self) -> np.ndarray:
        """Unit normal to the left of the direction."""
        d = self.direction
        return np.array([-d[1], d[0]])

    @property
    def yaw(self) -> float:
        d = self.direction
        return math.atan2(d[1], d[0])

    def point(self, s: float) -> np.ndarray:
        return np.asarray(self.start) + s * self.direction


@dataclasses.dataclass(frozen=True)
class WallPiece:
    """A solid box of wall ``segment`` from ``s0`` to ``s1`` m along it, ``z0`` to ``z1`` high."""

    segment: int
    s0: float
    s1: float
    z0: float
    z1: float


@dataclasses.dataclass(frozen=True)
class DoorCut:
    """Door ``door`` opening ``[s - width/2, s + width/2]`` of wall ``segment``."""

    door: int
    segment: int
    s: float
    width: float
    height: float
    kind: str


@dataclasses.dataclass(frozen=True)
class Structure:
    segments: tuple[WallSegment, ...]
    pieces: tuple[WallPiece, ...]
    cuts: tuple[DoorCut, ...]

    def piece_rects(
        self, z_lo: float, z_hi: float
    ) -> list[tuple[float, float, float, float, float]]:
        """Oriented footprints (cx, cy, length, thickness, yaw) of pieces overlapping [z_lo, z_hi]."""
        out = []
        for p in self.pieces:
            if p.z1 <= z_lo or p.z0 >= z_hi:
                continue
            seg = self.segments[p.segment]
            c = seg.point(0.5 * (p.s0 + p.s1))
            out.append((float(c[0]), float(c[1]), p.s1 - p.s0, seg.thickness, seg.yaw))
        return out


def _collinear(a: Wall, b: Wall, tol: float = 1e-6) -> bool:
    if abs(a.thickness - b.thickness) > tol or abs(a.height - b.height) > tol:
        return False
    da = np.subtract(a.end, a.start)
    da = da / np.linalg.norm(da)
    for p in (b.start, b.end):
        v = np.subtract(p, a.start)
        if abs(da[0] * v[1] - da[1] * v[0]) > 1e-4:
            return False
    return True


def merge_walls(walls: tuple[Wall, ...]) -> list[WallSegment]:
    """Merge collinear walls of equal thickness and height whose intervals touch or overlap."""
    items = [(w.start, w.end, w.thickness, w.height) for w in walls]
    merged = True
    while merged:
        merged = False
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                a = Wall(*items[i])
                b = Wall(*items[j])
                if not _collinear(a, b):
                    continue
                d = np.subtract(a.end, a.start) / a.length
                s = [float(np.dot(np.subtract(p, a.start), d)) for p in (b.start, b.end)]
                lo, hi = min(s), max(s)
                if hi < -1e-6 or lo > a.length + 1e-6:
                    continue
                s0, s1 = min(0.0, lo), max(a.length, hi)
                start = tuple(float(v) for v in np.asarray(a.start) + s0 * d)
                end = tuple(float(v) for v in np.asarray(a.start) + s1 * d)
                items[i] = (start, end, a.thickness, a.height)
                del items[j]
                merged = True
                break
            if merged:
                break
    return [WallSegment(*it) for it in items]


def build_structure(plan: FloorPlan) -> Structure:
    """Merge walls, extend them at the ends and cut the doors."""
    segments = merge_walls(plan.walls)
    cuts: list[DoorCut] = []
    for k, door in enumerate(plan.doors):
        cuts += _cuts_for(k, door, segments)
    pieces: list[WallPiece] = []
    for i, seg in enumerate(segments):
        ext = 0.5 * seg.thickness
        intervals = [(-ext, seg.length + ext)]
        own = sorted((c for c in cuts if c.segment == i), key=lambda c: c.s)
        for c in own:
            a, b = c.s - 0.5 * c.width, c.s + 0.5 * c.width
            nxt = []
            for lo, hi in intervals:
                if b <= lo or a >= hi:
                    nxt.append((lo, hi))
                    continue
                if a > lo:
                    nxt.append((lo, a))
                if b < hi:
                    nxt.append((b, hi))
            intervals = nxt
            if c.height < seg.height:
                pieces.append(
                    WallPiece(i, max(a, -ext), min(b, seg.length + ext), c.height, seg.height)
                )
        pieces += [WallPiece(i, lo, hi, 0.0, seg.height) for lo, hi in intervals if hi - lo > 1e-4]
    return Structure(tuple(segments), tuple(pieces), tuple(cuts))


def _cuts_for(k: int, door: Door, segments: list[WallSegment]) -> list[DoorCut]:
    out = []
    for i, seg in enumerate(segments):
        dist, s = distance_to_segment(door.position, seg.start, seg.end)
        if dist <= 0.5 * seg.thickness + 0.02:
            out.append(DoorCut(k, i, s, door.width, min(door.height, seg.height), door.kind))
    return out


def exposed_spans(
    segments: tuple[WallSegment, ...] | list[WallSegment],
) -> list[tuple[float, float]]:
    """Per merged wall, the span (s0, s1) along it that is not buried in another wall.

    Walls are extended by half their thickness at both ends (structure.py); where a wall ends
    against another (a corner, a T-junction), its end lies inside that wall's body, out of
    sight, or, for walls of equal thickness, flush with that wall's far face. The mesher draws no
    end cap there (it would be hidden, or coplanar with the other wall's face and z-fight with
    it), and the through-wall check leaves the buried ends out (an object pushed against the
    other wall's face may overlap one without standing through anything).
    """
    out = []
    for seg in segments:
        a, d, length = np.asarray(seg.start), seg.direction, seg.length
        lo, hi = -0.5 * seg.thickness, length + 0.5 * seg.thickness
        for other in segments:
            if other is seg:
                continue
            # where the centre line a + s d runs inside the other wall's (extended) body: inside
            # both its thickness slab (along its normal) and its length slab (along it)
            o, half = np.asarray(other.start), 0.5 * other.thickness
            span = [-math.inf, math.inf]
            for axis, v0, v1 in (
                (other.normal, -half, half),
                (other.direction, -half, other.length + half),
            ):
                k, base = float(np.dot(d, axis)), float(np.dot(a - o, axis))
                if abs(k) < 1e-9:  # parallel to this slab: all inside or all outside
                    if not v0 <= base <= v1:
                        span = [math.inf, -math.inf]
                    continue
                s0, s1 = sorted(((v0 - base) / k, (v1 - base) / k))
                span = [max(span[0], s0), min(span[1], s1)]
            if span[0] >= span[1]:
                continue
            if span[0] <= 1e-9 and span[1] > 0:  # buries this wall's start
                lo = max(lo, span[1])
            if span[1] >= length - 1e-9 and span[0] < length:  # buries its end
                hi = min(hi, span[0])
        out.append((lo, hi))
    return out
