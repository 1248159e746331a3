"""The procedural warehouse: long repetitive pallet-rack aisles, a loading area with dock doors,
bulk floor storage and a small office block; about 40 x 30 m.

The hall is one open space split into labelled rooms without walls between them. The office
block (offices, a restroom and a break room with 3 m walls) sits in the south-west corner and
opens north onto the bulk-storage area. Everything is then mirrored at random.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from astra_jax.sim.generators.furnish import Furnisher
from astra_jax.sim.generators.layout import (
    Layout,
    Rect,
    add_room,
    assign_materials,
    cuts,
    generate_family,
    snap,
    split,
)

WALL_HEIGHT = 8.0
OFFICE_WALL_HEIGHT = 3.0


def warehouse_layout(rng: np.random.Generator) -> Layout:
    W = snap(rng.uniform(38.0, 44.0))
    H = snap(rng.uniform(28.0, 32.0))
    ld = snap(rng.uniform(8.0, 10.0))
    ow = snap(rng.uniform(11.0, 15.0))
    oh = snap(rng.uniform(5.0, 6.5))
    rooms: list[Rect] = []
    add = functools.partial(add_room, rooms)

    loading = add(0, H - ld, W, H, "loading_area")
    aisles = add(ow, 0, W, H - ld, "storage_aisles")
    bulk = add(0, oh, ow, H - ld, "storage")
    kinds = ["office", "office", "restroom", "break_room"]
    if ow > 13.5:
        kinds.insert(0, "office")
    order = list(rng.permutation(len(kinds)))
    kinds = [kinds[i] for i in order]
    widths = split(
        ow, [rng.uniform(3.0, 4.0) if k != "break_room" else rng.uniform(4.0, 5.0) for k in kinds]
    )
    block = [add(x0, 0, x1, oh, k) for k, (x0, x1) in zip(kinds, cuts(0.0, widths))]
    open_pairs = {
        frozenset((loading, aisles)),
        frozenset((loading, bulk)),
        frozenset((aisles, bulk)),
    }
    layout = Layout(rooms, open_pairs, exterior_thickness=0.3, interior_thickness=0.15,
                    wall_height=WALL_HEIGHT, interior_height=OFFICE_WALL_HEIGHT)  # fmt: skip
    layout.walls()
    for i in block:
        layout.add_door(rooms[i].name, rooms[bulk].name, rng, width=1.0, where="any")
    assign_materials(rooms, rng)
    return layout


def furnish_warehouse(layout: Layout, rng: np.random.Generator) -> list[dict[str, Any]]:
    f = Furnisher(layout, rng)
    rack_colour = ("orange", "blue", "yellow", "green")[int(rng.integers(4))]
    for i, r in enumerate(layout.rooms):
        label = r.label
        if label == "storage_aisles":
            _racks(f, i, r, rack_colour, rng)
            for cat in ("fire_extinguisher", "fire_extinguisher", "exit_sign", "rolling_ladder"):
                f.against_wall(i, cat)
        elif label == "loading_area":
            n_docks = max(2, int(r.w / 6.0))
            for k in range(n_docks):
                f.against_wall(i, "dock_door", "N", at=(k + 0.5) / n_docks, tries=3)
            _staging(f, i, r, rng)
            for cat in ("forklift", "pallet_jack", "pallet_jack", "hand_truck", "dumpster", "workbench",
                        "lockers", "traffic_cone", "traffic_cone", "fire_extinguisher", "first_aid_kit",
                        "notice_board", "wall_clock", "exit_sign", "bench"):  # fmt: skip
                if cat in ("forklift", "pallet_jack", "hand_truck", "traffic_cone"):
                    f.free_spot(i, cat, margin=0.8)
                else:
                    f.against_wall(i, cat, side=("E", "W")[int(rng.integers(2))])
        elif label == "storage":
            _bulk(f, i, r, rng)
            f.against_wall(i, "safety_barrier", "S")
            f.against_wall(i, "fire_extinguisher")
        elif label == "office":
            f.desk_with_chair(i)
            for cat in (
                "filing_cabinet",
                "bookshelf",
                "notice_board",
                "wall_clock",
                "potted_plant",
            ):
                if rng.random() < 0.6:
                    f.against_wall(i, cat)
            f.corner(i, "trash_bin")
        elif label == "break_room":
            counter = f.against_wall(i, "kitchen_counter")
            if counter is not None:
                f.on_top(counter, "microwave", 0.8)
                f.on_top(counter, "coffee_machine", 0.2)
            for cat in (
                "refrigerator",
                "vending_machine",
                "water_dispenser",
                "lockers",
                "trash_bin",
            ):
                if rng.random() < 0.8:
                    f.against_wall(i, cat)
            f.table_with_chairs(i, "dining_table", "chair", clearance=0.8)
        elif label == "restroom":
            f.against_wall(i, "toilet_stall", tries=6)
            f.against_wall(i, "sink", tries=6)
            f.against_wall(i, "hand_dryer")
    return f.objects


def _racks(f: Furnisher, i: int, r: Rect, colour: str, rng: np.random.Generator) -> None:
    """Back-to-back rack pairs along y with ~3 m aisles and a cross aisle in the middle."""
    depth = snap(rng.uniform(1.0, 1.2))
    aisle = snap(rng.uniform(2.8, 3.3))
    height = snap(rng.uniform(3.2, 4.5))
    end_gap, cross = 2.0, snap(rng.uniform(2.8, 3.5))
    usable = r.h - 2 * end_gap - cross
    run = snap(usable / 2)
    attrs = {"colour": colour, "material": "metal"}
    x = r.x0 + aisle
    while x + 2 * depth + aisle / 2 < r.x1 - 0.3:
        for side, yaw in ((0, math.pi), (1, 0.0)):
            cx = x + depth * (side + 0.5)
            for k in range(2):
                cy = r.y0 + end_gap + run / 2 + k * (run + cross)
                f.place("pallet_rack", cx, cy, yaw, (depth, run, height), attrs, margin=0.0)
        x += 2 * depth + aisle


def _staging(f: Furnisher, i: int, r: Rect, rng: np.random.Generator) -> None:
    """Rows of pallet stacks in the middle of the loading area (away from the dock doors)."""
    y = r.y0 + rng.uniform(1.8, 2.5)
    x = r.x0 + rng.uniform(4.0, 7.0)
    while x < r.x1 - 4.0:
        if rng.random() < 0.6:
            _try(f, "pallet_stack", x, y)
        x += rng.uniform(1.6, 3.0)


def _try(f: Furnisher, category: str, x: float, y: float) -> bool:
    size, attrs = f.sample(category)
    return f.place(category, x, y, 0.0, size, attrs, margin=0.3)


def _bulk(f: Furnisher, i: int, r: Rect, rng: np.random.Generator) -> None:
    """A grid of pallet stacks and carton piles with a walkway through the middle."""
    cols = int((r.w - 3.0) / 2.0)
    rows = int((r.h - 3.0) / 2.2)
    walkway = int(rng.integers(max(1, cols)))
    for a in range(cols):
        if a == walkway:
            continue
        for b in range(rows):
            if rng.random() < 0.35:
                continue
            x = r.x0 + 1.5 + (a + 0.5) * (r.w - 3.0) / cols
            y = r.y0 + 1.8 + (b + 0.5) * (r.h - 3.0) / rows
            _try(f, "pallet_stack" if rng.random() < 0.7 else "cardboard_boxes", x, y)


def generate_warehouse(
    rng_layout: np.random.Generator, rng_furniture: np.random.Generator
) -> dict[str, Any]:
    return generate_family(
        "warehouse", WALL_HEIGHT, warehouse_layout, furnish_warehouse, rng_layout, rng_furniture
    )
