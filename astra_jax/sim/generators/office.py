"""The procedural office: a ring of two corridors around a core, about 30 x 20 m.

Bands from south to north: perimeter rooms, corridor, core rooms, corridor, perimeter rooms.
A lobby at the west end spans the core band and both corridors; a cross corridor at the east
end closes the ring. Perimeter bands hold private offices, conference rooms and an open-plan
office; the core holds the kitchen, restrooms, a printer corner (an alcove open to the
corridor), a storage room and more conference rooms. Everything is then mirrored at random.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from astra_jax.sim.generators.furnish import Furnisher
from astra_jax.sim.generators.layout import (
    GeneratorError,
    Layout,
    Rect,
    add_room,
    assign_materials,
    cuts,
    generate_family,
    shared_edge,
    snap,
    split,
)

WALL_HEIGHT = 2.7


def _perimeter_mix(rng: np.random.Generator, length: float) -> list[tuple[str, float]]:
    """Room kinds and widths along a perimeter band of ``length`` metres."""
    out: list[tuple[str, float]] = []
    used = 0.0
    has_open = False
    while used < length - 2.5:
        u = rng.random()
        if u < 0.2 and not has_open and length - used > 10:
            kind, w = "open_office", rng.uniform(8.0, 11.0)
            has_open = True
        elif u < 0.42:
            kind, w = "conference_room", rng.uniform(4.8, 6.5)
        else:
            kind, w = "office", rng.uniform(3.0, 4.2)
        if used + w > length:
            w = length - used
            kind = "office" if w < 4.8 else kind
        out.append((kind, w))
        used += w
    if length - used > 0.5:
        k, w = out[-1]
        out[-1] = (k, w + length - used)
    return out


def office_layout(rng: np.random.Generator) -> Layout:
    W = snap(rng.uniform(27.0, 33.0))
    H = snap(rng.uniform(18.0, 22.0))
    c1, c2 = snap(rng.uniform(1.8, 2.2)), snap(rng.uniform(1.8, 2.2))
    p1, p2 = snap(rng.uniform(4.6, 5.6)), snap(rng.uniform(4.6, 5.6))
    core = H - p1 - p2 - c1 - c2
    if core < 4.5:
        p1 = p2 = snap((H - c1 - c2 - 4.5) / 2)
        core = H - p1 - p2 - c1 - c2
    lw = snap(rng.uniform(6.0, 8.0))  # lobby width
    cw = snap(rng.uniform(1.8, 2.1))  # east cross corridor
    y_c1, y_core, y_c2, y_p2 = p1, p1 + c1, p1 + c1 + core, p1 + c1 + core + c2

    rooms: list[Rect] = []
    add = functools.partial(add_room, rooms)

    lobby = add(0, y_c1, lw, y_p2, "lobby")
    corr1 = add(lw, y_c1, W - cw, y_core, "corridor")
    corr2 = add(lw, y_c2, W - cw, y_p2, "corridor")
    corr3 = add(W - cw, y_c1, W, y_p2, "corridor")
    open_pairs = {frozenset((lobby, corr1)), frozenset((lobby, corr2)),
                  frozenset((corr1, corr3)), frozenset((corr2, corr3))}  # fmt: skip

    # Perimeter bands: rooms open onto the corridor (or the lobby at the west end).
    perim: list[tuple[int, int]] = []  # (room, room it opens to)
    for y0, y1, corr in ((0.0, p1, corr1), (y_p2, H, corr2)):
        mix = _perimeter_mix(rng, W)
        widths = split(W, [w for _, w in mix])
        for (kind, _), (x0, x1) in zip(mix, cuts(0.0, widths)):
            i = add(x0, y0, x1, y1, kind)
            mid = 0.5 * (x0 + x1)
            perim.append((i, lobby if mid < lw else (corr3 if mid > W - cw else corr)))

    # Core: kitchen, restrooms, printer corner + storage, conference rooms.
    core_len = W - cw - lw
    kinds = ["kitchen", "restrooms", "printer", "conference_room"]
    widths = [
        rng.uniform(5.0, 7.0),
        rng.uniform(3.5, 4.5),
        rng.uniform(2.6, 3.2),
        rng.uniform(5.0, 6.5),
    ]
    while sum(widths) + 4.5 < core_len:
        kinds.append(("conference_room", "office", "storage")[int(rng.integers(3))])
        widths.append(rng.uniform(4.0, 6.0) if kinds[-1] != "office" else rng.uniform(3.0, 4.0))
    order = rng.permutation(len(kinds))
    kinds = [kinds[i] for i in order]
    widths = split(core_len, [widths[i] for i in order])
    core_links: list[tuple[int, int, str]] = []
    for kind, (x0, x1) in zip(kinds, cuts(lw, widths)):
        north_first = bool(rng.random() < 0.5)
        if kind == "restrooms":
            ym = snap(y_core + core / 2)
            a = add(x0, y_core, x1, ym, "restroom")
            b = add(x0, ym, x1, y_c2, "restroom")
            core_links += [(a, corr1, "end"), (b, corr2, "end")]
        elif kind == "printer":
            depth = snap(min(2.6, core / 2))
            if north_first:
                a = add(x0, y_c2 - depth, x1, y_c2, "printer_corner")
                b = add(x0, y_core, x1, y_c2 - depth, "storage")
                open_pairs.add(frozenset((a, corr2)))
                core_links.append((b, corr1, "middle"))
            else:
                a = add(x0, y_core, x1, y_core + depth, "printer_corner")
                b = add(x0, y_core + depth, x1, y_c2, "storage")
                open_pairs.add(frozenset((a, corr1)))
                core_links.append((b, corr2, "middle"))
        else:
            i = add(x0, y_core, x1, y_c2, kind)
            core_links.append((i, corr2 if north_first else corr1, "end"))
            if kind == "kitchen":
                core_links.append((i, corr1 if north_first else corr2, "end"))

    layout = Layout(
        rooms, open_pairs, exterior_thickness=0.25, interior_thickness=0.12, wall_height=WALL_HEIGHT
    )
    layout.walls()
    for i, j in perim:
        big = rooms[i].label in ("conference_room", "open_office")
        width, where = (1.2, "any") if big else (1.0, "end")
        candidates = [j] + [k for k in (lobby, corr1, corr2, corr3) if k != j]
        neighbours = [k for k in candidates if shared_edge(rooms[i], rooms[k]) is not None]
        for k in neighbours:
            if layout.add_door(rooms[i].name, rooms[k].name, rng, width=width, where=where):
                if rooms[i].label == "open_office":
                    layout.add_door(rooms[i].name, rooms[k].name, rng, width=1.2, where="any")
                break
        else:
            # A room whose edge is split between the lobby and a corridor may fit its door on
            # neither piece; the wall facing both is one wall, so the door may straddle their
            # border. (Without this, office seeds 78 and 161 had a room with no door.)
            for k in neighbours:
                if layout.add_door(rooms[i].name, rooms[k].name, rng, width=width, where=where,
                                   through_openings=True):  # fmt: skip
                    break
            else:
                raise GeneratorError(f"office layout: no door fits room {rooms[i].name}")
    for i, j, where in core_links:
        wide = rooms[i].label in ("kitchen", "conference_room")
        layout.add_door(rooms[i].name, rooms[j].name, rng, width=1.2 if wide else 1.0, where=where)
    assign_materials(rooms, rng)
    return layout


def furnish_office(layout: Layout, rng: np.random.Generator) -> list[dict[str, Any]]:
    f = Furnisher(layout, rng)
    for i, r in enumerate(layout.rooms):
        label = r.label
        if label == "office":
            f.desk_with_chair(i)
            if r.w * r.h > 14 and rng.random() < 0.5:
                f.desk_with_chair(i)
            for cat, p in (("bookshelf", 0.7), ("filing_cabinet", 0.6), ("whiteboard", 0.4), ("painting", 0.5),
                           ("armchair", 0.25), ("coat_rack", 0.3), ("floor_lamp", 0.2)):  # fmt: skip
                if rng.random() < p:
                    f.against_wall(i, cat)
            f.corner(i, "potted_plant") if rng.random() < 0.6 else None
            f.corner(i, "trash_bin")
        elif label == "open_office":
            along_x = r.w >= r.h
            span = r.w if along_x else r.h
            n_clusters = max(1, int((span - 2.0) / 4.0))
            for k in range(n_clusters):
                t = (k + 0.5) / n_clusters
                x = r.x0 + t * r.w if along_x else r.centre[0]
                y = r.centre[1] if along_x else r.y0 + t * r.h
                f.desk_cluster(x, y, along_x, 2)
            for cat in (
                "printer",
                "whiteboard",
                "bookshelf",
                "notice_board",
                "recycling_bin",
                "tv_screen",
            ):
                if rng.random() < 0.7:
                    f.against_wall(i, cat)
            for _ in range(2):
                f.corner(i, "potted_plant")
        elif label == "conference_room":
            f.table_with_chairs(
                i, "conference_table", "chair" if rng.random() < 0.4 else "office_chair"
            )
            f.against_wall(i, "tv_screen")
            f.against_wall(i, "whiteboard")
            for cat, p in (
                ("wall_clock", 0.6),
                ("painting", 0.5),
                ("potted_plant", 0.5),
                ("coat_rack", 0.3),
            ):
                if rng.random() < p:
                    f.against_wall(i, cat)
        elif label == "kitchen":
            side = ("S", "N", "E", "W")[int(rng.integers(4))]
            counter = f.against_wall(i, "kitchen_counter", side)
            if counter is not None:
                f.on_top(counter, "coffee_machine", 0.2)
                f.on_top(counter, "microwave", 0.85)
            for cat in ("refrigerator", "vending_machine", "water_dispenser", "recycling_bin", "trash_bin",
                        "wall_clock", "notice_board", "fire_extinguisher", "first_aid_kit"):  # fmt: skip
                if rng.random() < 0.85:
                    f.against_wall(i, cat)
            if r.w * r.h > 20:
                f.table_with_chairs(i, "dining_table", "chair", clearance=0.9)
        elif label == "lobby":
            desk = f.against_wall(i, "reception_desk", "W")
            if desk is None:
                f.free_spot(i, "reception_desk", margin=1.0)
            cx, cy = r.centre
            size, attrs = f.sample("coffee_table")
            if f.place("coffee_table", cx + 0.5, cy, 0.0, size, attrs, margin=0.2):
                ss, sa = f.sample("sofa")
                f.place(
                    "sofa",
                    cx + 0.5,
                    cy + size[1] / 2 + ss[0] / 2 + 0.35,
                    -math.pi / 2,
                    ss,
                    sa,
                    margin=0.0,
                )
                asz, aa = f.sample("armchair")
                f.place(
                    "armchair",
                    cx + 0.5,
                    cy - size[1] / 2 - asz[0] / 2 - 0.35,
                    math.pi / 2,
                    asz,
                    aa,
                    margin=0.0,
                )
            for cat in ("potted_plant", "potted_plant", "painting", "tv_screen", "water_dispenser",
                        "fire_extinguisher", "exit_sign", "wall_clock", "bench", "floor_lamp"):  # fmt: skip
                if rng.random() < 0.8:
                    f.against_wall(i, cat)
            f.corner(i, "potted_plant")
        elif label == "printer_corner":
            f.against_wall(i, "printer")
            for cat in (
                "paper_shredder",
                "filing_cabinet",
                "recycling_bin",
                "notice_board",
                "cardboard_boxes",
            ):
                if rng.random() < 0.75:
                    f.against_wall(i, cat)
        elif label == "restroom":
            long_side = ("S", "N") if r.w >= r.h else ("W", "E")
            n = max(1, int((max(r.w, r.h) - 1.2) / 1.0))
            for _ in range(min(n, 3)):
                f.against_wall(i, "toilet_stall", long_side[0], tries=4)
            f.against_wall(i, "sink", long_side[1], tries=6)
            f.against_wall(i, "hand_dryer")
            f.corner(i, "trash_bin")
        elif label == "storage":
            for cat in (
                "filing_cabinet",
                "cardboard_boxes",
                "cardboard_boxes",
                "lockers",
                "server_rack",
            ):
                if rng.random() < 0.7:
                    f.against_wall(i, cat)
        elif label == "corridor":
            length = max(r.w, r.h)
            for _ in range(int(length / 6)):
                cat = ("fire_extinguisher", "notice_board", "painting", "exit_sign", "potted_plant",
                       "drinking_fountain", "bench", "trash_bin")[int(rng.integers(8))]  # fmt: skip
                f.against_wall(i, cat)
            f.against_wall(i, "fire_extinguisher")
            f.against_wall(i, "exit_sign")
    return f.objects


def generate_office(
    rng_layout: np.random.Generator, rng_furniture: np.random.Generator
) -> dict[str, Any]:
    return generate_family(
        "office", WALL_HEIGHT, office_layout, furnish_office, rng_layout, rng_furniture
    )
