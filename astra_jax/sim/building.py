"""Meshing a world: the building (walls, floors, ceiling, door frames, windows, room signs)
and each landmark, with textures from the world's atlas."""

from __future__ import annotations

import math
import zlib

import numpy as np
from scipy import ndimage

from astra_jax.sim import seeds
from astra_jax.sim.atlas import Atlas
from astra_jax.sim.materials import ROOM_MATERIALS, WALL_PAINTS
from astra_jax.sim.mesh import MeshBuilder, part_rotation
from astra_jax.sim.parts import Skin
from astra_jax.sim.structure import exposed_spans
from astra_jax.sim.world import Landmark, World

Z = np.array([0.0, 0.0, 1.0])
DECAL_OFFSET = 0.004  # m in front of a wall, so decals never z-fight with it
WINDOW_ROOMS = ("office", "open_office", "conference_room", "lobby", "kitchen", "break_room")
SIGN_SIDES = ("corridor", "lobby", "storage", "loading_area", "storage_aisles")


def room_finishes(world: World) -> list[tuple[str, int, str, str]]:
    """Per room: (floor material, floor variant, wall material, wall colour). Rooms with one
    label share a look, as they do in real buildings."""
    out = []
    for room in world.plan.rooms:
        floors, walls = ROOM_MATERIALS[room.label]
        code = zlib.crc32(room.label.encode())
        rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_TEXTURES, code)
        colour = WALL_PAINTS[int(rng.integers(len(WALL_PAINTS)))] if rng.random() < 0.5 else "white"
        out.append((room.floor or floors[0], code % 1000, room.wall or walls[0], colour))
    return out


def _filled_rooms(world: World) -> tuple[np.ndarray, object]:
    """Room label per 5 cm cell, with cells under walls given to the nearest room."""
    occ = world.occupancy(0.05)
    rooms = occ.rooms
    missing = rooms < 0
    dist, (ii, jj) = ndimage.distance_transform_edt(missing, return_indices=True)
    filled = rooms[ii, jj]
    filled[missing & (dist * occ.grid.resolution > 0.45)] = -1
    return filled, occ.grid


def _rectangles(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cover a boolean (nx, ny) mask with rectangles (i0, j0, i1, j1), exclusive ends."""
    rects = []
    open_runs: dict[tuple[int, int], int] = {}  # (j0, j1) -> starting column
    for i in range(mask.shape[0] + 1):
        runs = set()
        if i < mask.shape[0]:
            col = mask[i]
            if col.any():
                d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
                starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
                runs = set(zip(starts.tolist(), ends.tolist()))
        for run in list(open_runs):
            if run not in runs:
                rects.append((open_runs.pop(run), run[0], i, run[1]))
        for run in runs:
            open_runs.setdefault(run, i)
    return rects


def mesh_building(world: World, atlas: Atlas) -> MeshBuilder:
    mb = MeshBuilder()
    finishes = room_finishes(world)
    filled, grid = _filled_rooms(world)
    st = world.structure
    ceiling_h = world.plan.ceiling_height

    # floors, one run of rectangles per room, texture anchored to world coordinates
    for k, (floor, variant, _, _) in enumerate(finishes):
        patches, period = atlas.floor_variants(floor, variant)
        for i0, j0, i1, j1 in _rectangles(filled == k):
            x0, y0 = grid.origin[0] + i0 * grid.resolution, grid.origin[1] + j0 * grid.resolution
            a, b = (i1 - i0) * grid.resolution, (j1 - j0) * grid.resolution
            mb.rect((x0, y0, 0.0), (1, 0, 0), (0, 1, 0), a, b, patches, period, offset=(x0, y0))

    # ceiling over the building, seen from below
    patch, period = atlas.ceiling(world.plan.family)
    inside = filled >= 0
    for i0, j0, i1, j1 in _rectangles(inside):
        x0, y1 = grid.origin[0] + i0 * grid.resolution, grid.origin[1] + j1 * grid.resolution
        a, b = (i1 - i0) * grid.resolution, (j1 - j0) * grid.resolution
        mb.rect((x0, y1, ceiling_h), (1, 0, 0), (0, -1, 0), a, b, patch, period, offset=(x0, -y1))

    # walls: each face textured by the room it faces
    def room_at(p: np.ndarray) -> int:
        ij = grid.index(p[:2])
        return int(filled[ij[0], ij[1]])

    trim, trim_period = atlas.material("plastic", "white")
    exposed = exposed_spans(st.segments)
    for piece in st.pieces:
        seg = st.segments[piece.segment]
        d = np.array([*seg.direction, 0.0])
        for side in (1.0, -1.0):
            n = side * np.array([*seg.normal, 0.0])
            ea = np.cross(Z, n)  # u runs to the right of a viewer facing the wall
            face_off = 0.5 * seg.thickness
            ss = np.arange(piece.s0, piece.s1, 0.1)
            probe = [
                room_at(np.array([*seg.point(s + 0.05), 0.0]) + n * (face_off + 0.06)) for s in ss
            ]
            runs = _runs(ss, probe, piece.s1)
            for sa, sb, k in runs:
                if k < 0:
                    continue  # the outside of the building is never seen
                mat, colour = finishes[k][2], finishes[k][3]
                patches, period = atlas.wall_variants(mat, colour, seg.height, finishes[k][1])
                s_start = sb if side > 0 else sa  # p0 is where u starts (ea = -d for side > 0)
                p0 = np.array([*seg.point(s_start), piece.z0]) + n * face_off
                u0 = float(np.dot(ea, d)) * s_start
                # the variant sequence is keyed by the wall line and side: both faces of a
                # wall, and walls that share tile indices, wear differently
                mb.rect(
                    p0, ea, Z, sb - sa, piece.z1 - piece.z0, patches, period,
                    offset=(u0, piece.z0), salt=2 * piece.segment + (side > 0),
                )  # fmt: skip
        # ends, top and bottom of the piece (door jambs, lintel soffits, low office walls)
        centre = np.array([*seg.point(0.5 * (piece.s0 + piece.s1)), 0.5 * (piece.z0 + piece.z1)])
        rot = np.stack([d, np.array([*seg.normal, 0.0]), Z], 1)
        skip = ["+y", "-y"]
        # an end buried in another wall (a corner or T-junction) gets no cap: it is hidden, or
        # flush with that wall's far face, where it would z-fight with the face
        lo, hi = exposed[piece.segment]
        if piece.s0 <= lo + 1e-6:
            skip.append("-x")
        if piece.s1 >= hi - 1e-6:
            skip.append("+x")
        if piece.z1 >= ceiling_h - 1e-6:
            skip.append("+z")
        if piece.z0 <= 1e-6:
            skip.append("-z")
        faces = dict.fromkeys(("+x", "-x", "+z", "-z"), (trim, trim_period))
        mb.box(
            rot,
            centre,
            (piece.s1 - piece.s0, seg.thickness, piece.z1 - piece.z0),
            faces,
            skip=tuple(skip),
        )

    # door frames: jambs and a head, 1.5 cm proud of both wall faces
    frame_colour = ("white", "natural wood", "dark grey", "brown")[world.seed % 4]
    fp, fper = atlas.material(
        "wood" if "wood" in frame_colour or frame_colour == "brown" else "plastic", frame_colour
    )
    faces = dict.fromkeys(("+x", "-x", "+y", "-y", "+z", "-z"), (fp, fper))
    for cut in st.cuts:
        if cut.kind != "door":
            continue
        seg = st.segments[cut.segment]
        d = np.array([*seg.direction, 0.0])
        rot = np.stack([d, np.array([*seg.normal, 0.0]), Z], 1)
        t = seg.thickness + 0.03
        for sgn in (-1, 1):
            c = np.array(
                [*seg.point(cut.s + sgn * (cut.width / 2 + 0.03)), 0.5 * (cut.height + 0.06)]
            )
            mb.box(rot, c, (0.06, t, cut.height + 0.06), faces, skip=("-z",))
        c = np.array([*seg.point(cut.s), cut.height + 0.03])
        mb.box(rot, c, (cut.width, t, 0.06), faces)

    _windows_and_signs(world, atlas, mb, filled, grid)
    return mb


def _runs(ss: np.ndarray, labels: list[int], end: float) -> list[tuple[float, float, int]]:
    out = []
    if not len(ss):
        return out
    start, cur = float(ss[0]), labels[0]
    for s, lab in zip(ss[1:], labels[1:]):
        if lab != cur:
            out.append((start, float(s), cur))
            start, cur = float(s), lab
    out.append((start, end, cur))
    return out


def _windows_and_signs(
    world: World, atlas: Atlas, mb: MeshBuilder, filled: np.ndarray, grid
) -> None:
    st = world.structure
    rooms = world.plan.rooms
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_TEXTURES, 7)

    def room_at(p: np.ndarray) -> int:
        ij = grid.index(p[:2])
        return int(filled[ij[0], ij[1]])

    if world.plan.family == "office":
        for piece in st.pieces:
            seg = st.segments[piece.segment]
            if piece.z0 > 0 or seg.thickness < 0.2:  # exterior walls are the thick ones
                continue
            for side in (1.0, -1.0):
                n = side * np.array([*seg.normal, 0.0])
                ea = np.cross(Z, n)
                s = piece.s0 + rng.uniform(0.6, 1.2)
                while s + 1.2 < piece.s1 - 0.4:
                    k = room_at(np.array([*seg.point(s + 0.6), 0.0]) + n * 0.3)
                    width = float(rng.uniform(1.2, 1.8))
                    if k >= 0 and rooms[k].label in WINDOW_ROOMS and s + width < piece.s1 - 0.4:
                        patch = atlas.decal("window", "white" if rng.random() < 0.6 else "dark grey",
                                            int(rng.integers(1 << 20)), width, 1.4)  # fmt: skip
                        a = np.array([*seg.point(s if side < 0 else s + width), 0.85])
                        p0 = a + n * (0.5 * seg.thickness + DECAL_OFFSET)
                        mb.rect(p0, ea, Z, width, 1.4, patch, None)
                    s += width + float(rng.uniform(0.8, 1.8))

    for cut in st.cuts:
        if cut.kind != "door":
            continue
        seg = st.segments[cut.segment]
        for side in (1.0, -1.0):
            n = side * np.array([*seg.normal, 0.0])
            here = room_at(np.array([*seg.point(cut.s), 0.0]) + n * (0.5 * seg.thickness + 0.3))
            there = room_at(np.array([*seg.point(cut.s), 0.0]) - n * (0.5 * seg.thickness + 0.3))
            if (
                here < 0
                or there < 0
                or rooms[here].label not in SIGN_SIDES
                or rooms[there].label in SIGN_SIDES
            ):
                continue
            ea = np.cross(Z, n)
            text = (
                rooms[there].name.replace("_", " ").upper().replace("CONFERENCE ROOM", "CONFERENCE")
            )
            patch = atlas.decal(
                f"sign:{text}",
                "navy" if world.plan.family == "office" else "dark grey",
                cut.door,
                0.36,
                0.14,
            )
            s_sign = cut.s + float(np.dot(ea, np.array([*seg.direction, 0.0]))) * (
                cut.width / 2 + 0.15
            )
            p0 = np.array([*seg.point(s_sign), 1.45]) + n * (0.5 * seg.thickness + DECAL_OFFSET)
            mb.rect(p0, ea, Z, 0.36, 0.14, patch, None)


# ----------------------------------------------------------------------------- landmarks


def _skin_patch(
    atlas: Atlas, skin: Skin, w: float, h: float
) -> tuple[int, tuple[float, float] | None]:
    if skin.kind == "decal":
        return atlas.decal(skin.decal or "poster", skin.colour, skin.variant, w, h), None
    return atlas.material(skin.kind, skin.colour)


def mesh_landmark(lm: Landmark, atlas: Atlas) -> MeshBuilder:
    """All parts of ``lm`` in world coordinates, one mesh."""
    mb = MeshBuilder()
    r_obj = part_rotation(lm.yaw)
    t_obj = np.array([lm.origin[0], lm.origin[1], lm.elevation])
    for p in lm.parts:
        r = r_obj @ part_rotation(p.yaw, p.axis)
        c = r_obj @ np.asarray(p.center, np.float64) + t_obj
        if p.shape == "box":
            dx, dy, dz = p.size
            faces = {}
            for face, (w, h) in {"+x": (dy, dz), "-x": (dy, dz), "+y": (dx, dz), "-y": (dx, dz),
                                 "+z": (dx, dy), "-z": (dx, dy)}.items():  # fmt: skip
                faces[face] = _skin_patch(atlas, p.skin, w, h)
            if p.front is not None:
                faces["+x"] = _skin_patch(atlas, p.front, dy, dz)
            mb.box(r, c, p.size, faces)
        elif p.shape == "cylinder":
            patch, period = _skin_patch(atlas, p.skin, math.pi * p.size[0], p.size[2])
            mb.cylinder(
                r,
                c,
                p.size[0],
                p.size[2],
                patch,
                period or (math.pi * p.size[0], p.size[2]),
                p.taper,
            )
        elif p.shape == "ellipsoid":
            patch, period = _skin_patch(atlas, p.skin, p.size[0], p.size[2])
            mb.ellipsoid(c, 0.5 * np.asarray(p.size), patch, period or (p.size[0], p.size[2]), r)
        else:
            raise ValueError(f"landmark {lm.id} ({lm.category}): unknown part shape {p.shape!r}")
    return mb
