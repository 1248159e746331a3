"""The landmark catalogue: object categories with functions, attributes, sizes and shapes.

Each :class:`Category` says what an object is for (function phrases), which visual attributes
(colour, material) and sizes it may take, how it is mounted (standing on the floor, hung on a
wall, or standing on a counter), which rooms it belongs in, and how to build it from
:class:`~astra_jax.sim.parts.Part` primitives. A world draws each instance's attributes and size
from its seed (:func:`sample_instance`).

Sizes are (depth along the facing direction, width, height) in metres; ``elevation`` is the
height of the object's base above the floor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import numpy as np

from astra_jax.sim.parts import Part, Skin, blob, box, cyl, decal

Size = tuple[float, float, float]
Builder = Callable[[Size, Mapping[str, str], int], list[Part]]


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    functions: tuple[str, ...]
    size: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    colours: tuple[str, ...]
    materials: tuple[str, ...]
    build: Builder
    rooms: tuple[str, ...]
    mount: str = "floor"  # floor | wall | counter
    elevation: tuple[float, float] = (0.0, 0.0)
    obstacle: bool = True

    def size_class(self, size: Size) -> str:
        """ "small", "medium" or "large" relative to the category's size range (by volume)."""
        lo = math.prod(r[0] for r in self.size)
        hi = math.prod(r[1] for r in self.size)
        v = math.prod(size)
        if hi <= lo * 1.01:
            return "medium"
        t = (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return "small" if t < 1 / 3 else ("medium" if t < 2 / 3 else "large")


CATEGORIES: dict[str, Category] = {}


def _register(
    name: str,
    functions: tuple[str, ...],
    size: tuple[tuple[float, float], tuple[float, float], tuple[float, float]],
    colours: tuple[str, ...],
    materials: tuple[str, ...],
    rooms: tuple[str, ...],
    **kw,
) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        CATEGORIES[name] = Category(name, functions, size, colours, materials, fn, rooms, **kw)
        return fn

    return deco


def _main(attrs: Mapping[str, str]) -> Skin:
    return Skin(attrs["material"], attrs["colour"])


BLACK = Skin("plastic", "black")
DARK = Skin("plastic", "dark grey")
STEEL = Skin("metal", "silver")
WHITE = Skin("plastic", "white")
LEAVES = Skin("leaves", "green")


# ----------------------------------------------------------------------------- office


@_register(
    "printer",
    ("print and copy documents", "scan documents", "make photocopies"),
    ((0.55, 0.7), (0.55, 0.7), (1.0, 1.25)),
    ("light grey", "white", "dark grey"),
    ("plastic",),
    ("printer_corner", "open_office", "office"),
)
def _printer(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    body = _main(a)
    return [
        box(0, 0, 0, d * 0.95, w * 0.95, h * 0.45, body, front=decal("drawers3", a["colour"], v)),
        box(
            0,
            0,
            h * 0.45,
            d,
            w,
            h * 0.35,
            Skin("plastic", "white"),
            front=decal("printer", a["colour"], v),
        ),
        box(0.0, 0, h * 0.8, d * 0.7, w * 0.9, h * 0.05, DARK),
        box(-0.05 * d, 0, h * 0.85, d * 0.85, w, h * 0.15, body),
        box(d * 0.42, w * 0.25, h * 0.8, d * 0.16, w * 0.35, h * 0.06, decal("panel", "black", v)),
    ]


@_register(
    "sofa",
    ("sit and wait comfortably", "relax on a couch"),
    ((0.85, 0.95), (1.6, 2.4), (0.8, 0.9)),
    ("grey", "dark grey", "navy", "beige", "teal", "dark red", "brown"),
    ("fabric", "leather"),
    ("lobby", "break_room", "open_office"),
)
def _sofa(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    arm = 0.18
    parts = [
        box(0.05, 0, 0.08, d - 0.1, w - 2 * arm, 0.34, m),
        box(-d / 2 + 0.12, 0, 0.08, 0.24, w, h - 0.08, m),
        box(0, w / 2 - arm / 2, 0.08, d, arm, 0.55, m),
        box(0, -w / 2 + arm / 2, 0.08, d, arm, 0.55, m),
    ]
    n = 2 if w < 2.0 else 3
    cw = (w - 2 * arm) / n
    for i in range(n):
        y = -w / 2 + arm + cw * (i + 0.5)
        parts.append(box(0.08, y, 0.42, d - 0.3, cw - 0.02, 0.12, m))
    parts += [cyl(sx * (d / 2 - 0.08), sy * (w / 2 - 0.08), 0, 0.05, 0.08, BLACK)
              for sx in (-1, 1) for sy in (-1, 1)]  # fmt: skip
    return parts


@_register(
    "whiteboard",
    ("write and sketch ideas during meetings", "draw diagrams"),
    ((0.04, 0.05), (1.2, 2.4), (0.9, 1.2)),
    ("white",),
    ("melamine",),
    ("conference_room", "office", "open_office"),
    mount="wall",
    elevation=(0.85, 0.95),
    obstacle=False,
)
def _whiteboard(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(0, 0, 0, d, w, h, STEEL, front=decal("whiteboard", "white", v)),
        box(0.04, 0, -0.02, 0.08, w * 0.6, 0.03, STEEL),
    ]


@_register(
    "fire_extinguisher",
    ("put out small fires", "fight a fire"),
    ((0.16, 0.16), (0.16, 0.2), (0.5, 0.65)),
    ("red",),
    ("metal",),
    ("corridor", "kitchen", "lobby", "loading_area", "storage_aisles", "storage", "printer_corner"),
    mount="wall",
    elevation=(0.15, 0.2),
    obstacle=False,
)
def _extinguisher(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    r = min(d, w)
    return [
        cyl(0, 0, 0, r, h * 0.8, Skin("metal", "red"), taper=0.95),
        cyl(0, 0, h * 0.8, r * 0.3, h * 0.12, BLACK),
        box(0.0, -r * 0.2, h * 0.88, r * 0.5, 0.03, 0.04, BLACK),
        cyl(r * 0.45, r * 0.3, h * 0.3, 0.03, h * 0.55, BLACK),
        box(
            -r / 2 + 0.005, 0, h + 0.1, 0.01, 0.22, 0.22, STEEL, front=decal("sign:FIRE", "red", v)
        ),
    ]


@_register(
    "potted_plant",
    ("decorate the space", "add greenery"),
    ((0.4, 0.7), (0.4, 0.7), (0.7, 1.8)),
    ("white", "terracotta", "grey", "black"),
    ("ceramic", "plastic"),
    ("lobby", "office", "corridor", "conference_room", "open_office", "kitchen", "break_room"),
)
def _plant(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    r = min(d, w)
    ph = min(0.45, 0.3 * h)
    pot = Skin(a["material"], a["colour"])
    parts = [cyl(0, 0, 0, r * 0.6, ph, pot, taper=1.2)]
    rng = np.random.default_rng(v)
    fh = h - ph
    for _ in range(3):
        dx, dy = rng.uniform(-0.18, 0.18, 2) * r
        zc = ph + fh * rng.uniform(0.4, 0.65)
        parts.append(
            blob(
                dx,
                dy,
                zc,
                r * rng.uniform(0.6, 0.95),
                r * rng.uniform(0.6, 0.95),
                fh * rng.uniform(0.55, 0.8),
                LEAVES,
            )
        )
    return parts


@_register(
    "water_dispenser",
    ("fetch drinking water", "fill a water bottle"),
    ((0.32, 0.38), (0.32, 0.38), (1.3, 1.45)),
    ("white", "silver", "black"),
    ("plastic", "metal"),
    ("kitchen", "corridor", "lobby", "break_room", "open_office"),
)
def _dispenser(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    body = _main(a)
    return [
        box(0, 0, 0, d, w, h * 0.72, body, front=decal("dispenser", a["colour"], v)),
        cyl(0, 0, h * 0.72, min(d, w) * 0.85, h * 0.28, Skin("glass", "light blue")),
        box(d / 2 + 0.02, 0, h * 0.42, 0.06, w * 0.5, 0.04, DARK),
    ]


@_register(
    "vending_machine",
    ("buy snacks and drinks", "get a soda"),
    ((0.75, 0.9), (0.9, 1.2), (1.8, 1.95)),
    ("red", "blue", "black", "dark grey", "orange"),
    ("metal",),
    ("kitchen", "break_room", "lobby", "corridor"),
)
def _vending(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(0, 0, 0, d, w, h, _main(a), front=decal("vending", a["colour"], v)),
        box(d / 2, 0, 0, 0.02, w, 0.08, BLACK),
    ]


@_register(
    "coffee_machine",
    ("make coffee", "brew an espresso"),
    ((0.35, 0.45), (0.28, 0.4), (0.38, 0.5)),
    ("black", "silver", "red"),
    ("metal", "plastic"),
    ("kitchen", "break_room"),
    mount="counter",
    elevation=(0.9, 0.9),
)
def _coffee(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(-d * 0.15, 0, 0, d * 0.7, w, h, m, front=decal("coffee", a["colour"], v)),
        box(d * 0.2, 0, 0, d * 0.6, w, h * 0.08, DARK),
        box(d * 0.2, 0, h * 0.8, d * 0.6, w, h * 0.2, m),
        cyl(d * 0.3, 0, h * 0.08, 0.08, 0.1, WHITE),
    ]


@_register(
    "refrigerator",
    ("keep food cold", "store lunch"),
    ((0.65, 0.75), (0.6, 0.85), (1.7, 1.9)),
    ("white", "silver", "black"),
    ("metal",),
    ("kitchen", "break_room"),
)
def _fridge(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(0, 0, 0, d, w, h, _main(a), front=decal("fridge", a["colour"], v)),
        cyl(d / 2 + 0.03, -w * 0.38, h * 0.72, 0.025, h * 0.18, STEEL, axis="z"),
        cyl(d / 2 + 0.03, -w * 0.38, h * 0.35, 0.025, h * 0.22, STEEL, axis="z"),
    ]


@_register(
    "microwave",
    ("heat up food", "warm up lunch"),
    ((0.35, 0.42), (0.45, 0.55), (0.26, 0.32)),
    ("white", "black", "silver"),
    ("metal", "plastic"),
    ("kitchen", "break_room"),
    mount="counter",
    elevation=(0.9, 0.9),
)
def _microwave(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, _main(a), front=decal("microwave", a["colour"], v))]


@_register(
    "desk",
    ("work at a computer", "sit down and write"),
    ((0.7, 0.8), (1.2, 1.8), (0.72, 0.76)),
    ("white", "natural wood", "light grey", "dark brown"),
    ("wood", "laminate"),
    ("office", "open_office"),
)
def _desk(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    top = _main(a)
    return [
        box(0, 0, h - 0.03, d, w, 0.03, top),
        box(0, -w / 2 + 0.02, 0, d * 0.9, 0.03, h - 0.03, top),
        box(0, w / 2 - 0.02, 0, d * 0.9, 0.03, h - 0.03, top),
        box(-d / 2 + 0.03, 0, h * 0.45, 0.02, w - 0.06, h * 0.5, top),
        box(-d * 0.22, 0, h, 0.18, 0.22, 0.02, BLACK),
        box(-d * 0.22, 0, h + 0.02, 0.04, 0.04, 0.2, BLACK),
        box(
            -d * 0.22 + 0.02,
            0,
            h + 0.14,
            0.03,
            0.56,
            0.34,
            BLACK,
            front=decal("monitor", "black", v),
        ),
        box(d * 0.12, 0, h, 0.15, 0.44, 0.02, DARK),
        box(0.0, -w * 0.3, h, 0.22, 0.3, 0.004, Skin("paper", "white")),
    ]


@_register(
    "office_chair",
    ("sit while working", "take a seat at the desk"),
    ((0.55, 0.65), (0.55, 0.65), (0.9, 1.15)),
    ("black", "dark grey", "blue", "red", "green"),
    ("fabric", "mesh"),
    ("office", "open_office", "conference_room"),
)
def _office_chair(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = Skin("fabric" if a["material"] == "fabric" else "mesh", a["colour"])
    return [
        cyl(0, 0, 0, min(d, w) * 0.9, 0.05, BLACK),
        cyl(0, 0, 0.05, 0.05, 0.38, STEEL),
        box(0.03, 0, 0.43, d * 0.8, w * 0.85, 0.08, m),
        box(-d * 0.38, 0, 0.55, 0.07, w * 0.8, h - 0.6, m),
        box(0.0, w * 0.42, 0.6, d * 0.5, 0.05, 0.04, BLACK),
        box(0.0, -w * 0.42, 0.6, d * 0.5, 0.05, 0.04, BLACK),
    ]


@_register(
    "conference_table",
    ("hold meetings", "gather around for a discussion"),
    ((1.1, 1.5), (2.4, 4.2), (0.73, 0.76)),
    ("natural wood", "dark brown", "white", "black"),
    ("wood", "laminate"),
    ("conference_room",),
)
def _conf_table(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(0, 0, h - 0.05, d, w, 0.05, m),
        box(0, -w * 0.3, 0, d * 0.3, 0.12, h - 0.05, m),
        box(0, w * 0.3, 0, d * 0.3, 0.12, h - 0.05, m),
        box(0, 0, h, 0.2, 0.3, 0.03, BLACK),
    ]


@_register(
    "bookshelf",
    ("store books and binders", "find a reference book"),
    ((0.3, 0.4), (0.8, 1.6), (1.6, 2.1)),
    ("natural wood", "white", "dark brown", "grey"),
    ("wood", "metal"),
    ("office", "open_office", "lobby", "conference_room"),
)
def _bookshelf(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(-0.01, 0, 0, d - 0.02, w - 0.04, h - 0.02, m, front=decal("books", a["colour"], v)),
        box(0, -w / 2 + 0.01, 0, d, 0.02, h, m),
        box(0, w / 2 - 0.01, 0, d, 0.02, h, m),
        box(0, 0, h - 0.02, d, w, 0.02, m),
    ]


@_register(
    "filing_cabinet",
    ("store paper files", "archive documents"),
    ((0.5, 0.65), (0.4, 0.5), (0.7, 1.35)),
    ("light grey", "dark grey", "white", "beige"),
    ("metal",),
    ("office", "open_office", "printer_corner", "storage"),
)
def _filing(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    n = 2 if h < 0.9 else 4
    return [box(0, 0, 0, d, w, h, _main(a), front=decal(f"drawers{n}", a["colour"], v))]


@_register(
    "tv_screen",
    ("show presentations", "join a video call", "display information"),
    ((0.06, 0.08), (1.0, 1.6), (0.6, 0.95)),
    ("black",),
    ("plastic",),
    ("conference_room", "lobby", "break_room", "open_office"),
    mount="wall",
    elevation=(1.0, 1.2),
    obstacle=False,
)
def _tv(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, BLACK, front=decal("slide", "black", v))]


@_register(
    "reception_desk",
    ("greet visitors and sign in", "ask for directions"),
    ((0.8, 1.0), (2.2, 3.2), (1.05, 1.15)),
    ("white", "natural wood", "dark brown", "navy"),
    ("wood", "laminate"),
    ("lobby",),
)
def _reception(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(d * 0.35, 0, 0, d * 0.3, w, h, m, front=decal("logo", a["colour"], v)),
        box(d * 0.4, 0, h, d * 0.35, w + 0.06, 0.04, Skin("wood", "natural wood")),
        box(-d * 0.1, 0, 0.7, d * 0.6, w, 0.04, m),
        box(-d * 0.1, -w / 2 + 0.03, 0, d * 0.6, 0.05, 0.72, m),
        box(-d * 0.1, w / 2 - 0.03, 0, d * 0.6, 0.05, 0.72, m),
        box(-d * 0.2, w * 0.2, 0.74, 0.03, 0.5, 0.32, BLACK, front=decal("monitor", "black", v)),
    ]


@_register(
    "armchair",
    ("sit and relax", "read in a comfortable chair"),
    ((0.75, 0.9), (0.75, 0.95), (0.75, 0.95)),
    ("grey", "navy", "beige", "dark red", "teal", "brown", "yellow"),
    ("fabric", "leather"),
    ("lobby", "break_room", "office"),
)
def _armchair(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(0.04, 0, 0.1, d - 0.08, w - 0.3, 0.36, m),
        box(-d / 2 + 0.1, 0, 0.1, 0.2, w, h - 0.1, m),
        box(0, w / 2 - 0.08, 0.1, d, 0.16, 0.52, m),
        box(0, -w / 2 + 0.08, 0.1, d, 0.16, 0.52, m),
        *[cyl(sx * (d / 2 - 0.08), sy * (w / 2 - 0.08), 0, 0.05, 0.1, Skin("wood", "dark brown"))
          for sx in (-1, 1) for sy in (-1, 1)],
    ]  # fmt: skip


@_register(
    "coffee_table",
    ("put down drinks and magazines",),
    ((0.5, 0.7), (0.9, 1.3), (0.38, 0.45)),
    ("natural wood", "black", "white", "dark brown"),
    ("wood", "glass"),
    ("lobby", "break_room"),
)
def _coffee_table(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a) if a["material"] == "wood" else Skin("glass", "dark grey")
    legs = Skin("metal", "black" if a["colour"] != "black" else "silver")
    return [
        box(0, 0, h - 0.03, d, w, 0.03, m),
        box(0, 0, 0.08, d * 0.9, w * 0.9, 0.02, Skin("wood", a["colour"] if a["material"] == "wood" else "black")),
        box(0.05, 0.1, h, 0.22, 0.3, 0.015, decal("magazine", "white", v)),
        *[box(sx * (d / 2 - 0.03), sy * (w / 2 - 0.03), 0, 0.04, 0.04, h - 0.03, legs)
          for sx in (-1, 1) for sy in (-1, 1)],
    ]  # fmt: skip


@_register(
    "trash_bin",
    ("throw away rubbish", "dispose of waste"),
    ((0.3, 0.45), (0.3, 0.45), (0.45, 0.8)),
    ("black", "grey", "silver", "blue"),
    ("plastic", "metal"),
    (
        "office",
        "kitchen",
        "corridor",
        "printer_corner",
        "restroom",
        "break_room",
        "lobby",
        "loading_area",
    ),
)
def _trash(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    r = min(d, w)
    return [
        cyl(0, 0, 0, r * 0.92, h * 0.9, _main(a), taper=1.08),
        cyl(0, 0, h * 0.9, r, h * 0.1, DARK),
    ]


@_register(
    "recycling_bin",
    ("recycle paper and bottles", "sort recyclables"),
    ((0.35, 0.5), (0.4, 0.6), (0.7, 0.95)),
    ("blue", "green", "yellow"),
    ("plastic",),
    ("kitchen", "printer_corner", "corridor", "break_room", "open_office"),
)
def _recycling(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(0, 0, 0, d, w, h * 0.92, m, front=decal("recycle", a["colour"], v)),
        box(0, 0, h * 0.92, d * 1.02, w * 1.02, h * 0.08, Skin("plastic", "dark grey")),
    ]


@_register(
    "kitchen_counter",
    ("wash dishes and prepare food", "rinse a cup at the sink"),
    ((0.6, 0.65), (1.8, 3.2), (0.9, 0.92)),
    ("white", "natural wood", "dark grey", "navy", "green"),
    ("laminate", "wood"),
    ("kitchen", "break_room"),
)
def _counter(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    top = Skin("stone", "dark grey" if a["colour"] in ("white", "natural wood") else "white")
    return [
        box(-0.02, 0, 0.1, d - 0.04, w, h - 0.14, m, front=decal("cabinets", a["colour"], v)),
        box(0.0, 0, 0, d - 0.1, w, 0.1, Skin("plastic", "black")),
        box(0.01, 0, h - 0.04, d, w, 0.04, top),
        box(0.05, -w * 0.25, h - 0.015, d * 0.55, 0.6, 0.02, Skin("metal", "silver")),
        cyl(-d * 0.32, -w * 0.25, h, 0.04, 0.3, STEEL),
        box(-d * 0.22, -w * 0.25, h + 0.26, 0.22, 0.03, 0.03, STEEL),
        box(-d / 2 + 0.18, 0, 1.45, 0.35, w, 0.7, m, front=decal("cabinets_upper", a["colour"], v)),
    ]


@_register(
    "dining_table",
    ("eat lunch", "sit down for a meal"),
    ((0.8, 1.0), (1.2, 2.0), (0.73, 0.76)),
    ("natural wood", "white", "black", "dark brown"),
    ("wood", "laminate"),
    ("kitchen", "break_room"),
)
def _dining(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    legs = Skin("metal", "black")
    return [
        box(0, 0, h - 0.04, d, w, 0.04, m),
        *[box(sx * (d / 2 - 0.06), sy * (w / 2 - 0.06), 0, 0.05, 0.05, h - 0.04, legs)
          for sx in (-1, 1) for sy in (-1, 1)],
        box(0.1, -0.2, h, 0.1, 0.1, 0.1, Skin("ceramic", "white")),
    ]  # fmt: skip


@_register(
    "chair",
    ("sit down at the table",),
    ((0.45, 0.52), (0.42, 0.5), (0.8, 0.9)),
    ("black", "white", "natural wood", "red", "grey", "blue"),
    ("plastic", "wood"),
    ("kitchen", "break_room", "conference_room"),
)
def _chair(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    legs = Skin("metal", "silver")
    return [
        box(0, 0, 0.43, d, w, 0.04, m),
        box(-d / 2 + 0.02, 0, 0.47, 0.04, w, h - 0.47, m),
        *[box(sx * (d / 2 - 0.03), sy * (w / 2 - 0.03), 0, 0.03, 0.03, 0.43, legs)
          for sx in (-1, 1) for sy in (-1, 1)],
    ]  # fmt: skip


@_register(
    "toilet_stall",
    ("use the toilet",),
    ((1.4, 1.6), (0.85, 1.0), (1.9, 2.0)),
    ("light grey", "beige", "blue", "dark grey"),
    ("laminate",),
    ("restroom",),
)
def _stall(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    ph = h - 0.15
    return [
        box(0, -w / 2 + 0.015, 0.15, d, 0.03, ph, m),
        box(0, w / 2 - 0.015, 0.15, d, 0.03, ph, m),
        box(
            d / 2 - 0.015,
            0.05,
            0.15,
            0.03,
            w - 0.2,
            ph,
            m,
            front=decal("stall_door", a["colour"], v),
        ),
        box(d / 2 - 0.015, -w / 2 + 0.06, 0, 0.04, 0.06, h, STEEL),
        box(-d / 2 + 0.3, 0, 0, 0.45, 0.38, 0.4, Skin("ceramic", "white")),
        box(-d / 2 + 0.1, 0, 0.4, 0.18, 0.42, 0.38, Skin("ceramic", "white")),
    ]


@_register(
    "sink",
    ("wash hands",),
    ((0.5, 0.6), (1.0, 2.0), (0.85, 0.9)),
    ("white", "light grey", "dark grey", "beige"),
    ("stone", "ceramic"),
    ("restroom",),
)
def _sink(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    n = max(1, int(w / 0.7))
    parts = [
        box(0, 0, h - 0.12, d, w, 0.12, m),
        box(-d / 2 + 0.005, 0, 1.1, 0.01, w * 0.95, 0.8, STEEL, front=decal("mirror", "silver", v)),
    ]
    for i in range(n):
        y = -w / 2 + w * (i + 0.5) / n
        parts.append(box(0.05, y, h - 0.005, d * 0.5, 0.4, 0.01, Skin("ceramic", "white")))
        parts.append(cyl(-d * 0.32, y, h, 0.04, 0.2, STEEL))
    return parts


@_register(
    "hand_dryer",
    ("dry hands",),
    ((0.18, 0.22), (0.26, 0.32), (0.3, 0.66)),
    ("white", "silver", "black"),
    ("metal", "plastic"),
    ("restroom",),
    mount="wall",
    elevation=(1.0, 1.1),
    obstacle=False,
)
def _dryer(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, _main(a), front=decal("dryer", a["colour"], v))]


@_register(
    "notice_board",
    ("read announcements", "pin up a notice"),
    ((0.03, 0.04), (0.9, 1.8), (0.6, 1.2)),
    ("natural wood", "blue", "green"),
    ("cork", "felt"),
    (
        "corridor",
        "kitchen",
        "break_room",
        "open_office",
        "office",
        "printer_corner",
        "loading_area",
    ),
    mount="wall",
    elevation=(1.0, 1.2),
    obstacle=False,
)
def _notice(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(0, 0, 0, d, w, h, Skin("wood", "natural wood"), front=decal("notices", a["colour"], v))
    ]


@_register(
    "wall_clock",
    ("check the time",),
    ((0.04, 0.06), (0.3, 0.45), (0.3, 0.45)),
    ("white", "black", "silver"),
    ("plastic", "metal"),
    ("kitchen", "conference_room", "lobby", "break_room", "corridor", "office", "loading_area"),
    mount="wall",
    elevation=(1.9, 2.05),
    obstacle=False,
)
def _clock(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        cyl(0, 0, h / 2, min(w, h), d, _main(a), axis="x"),
        box(
            d / 2,
            0,
            h * 0.12,
            0.004,
            w * 0.72,
            h * 0.72,
            WHITE,
            front=decal("clock", a["colour"], v),
        ),
    ]


@_register(
    "paper_shredder",
    ("shred confidential documents",),
    ((0.3, 0.4), (0.38, 0.5), (0.6, 0.75)),
    ("black", "dark grey", "silver"),
    ("plastic",),
    ("printer_corner", "office"),
)
def _shredder(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(0, 0, 0, d, w, h * 0.85, _main(a), front=decal("shredder", a["colour"], v)),
        box(0, 0, h * 0.85, d * 1.02, w * 1.02, h * 0.15, BLACK),
    ]


@_register(
    "lockers",
    ("store personal belongings", "lock away a bag"),
    ((0.45, 0.5), (0.9, 1.8), (1.8, 1.9)),
    ("grey", "blue", "green", "red", "light grey", "yellow"),
    ("metal",),
    ("break_room", "storage", "loading_area", "corridor"),
)
def _lockers(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, _main(a), front=decal("lockers", a["colour"], v))]


@_register(
    "bench",
    ("sit down for a moment",),
    ((0.4, 0.5), (1.2, 1.8), (0.42, 0.46)),
    ("natural wood", "black", "grey", "dark brown"),
    ("wood", "metal"),
    ("corridor", "lobby", "loading_area", "break_room"),
)
def _bench(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    seat = _main(a)
    return [
        *[
            box(-d / 2 + d * (i + 0.5) / 4, 0, h - 0.04, d / 4 - 0.02, w, 0.04, seat)
            for i in range(4)
        ],
        box(0, -w / 2 + 0.1, 0, d * 0.9, 0.05, h - 0.04, Skin("metal", "black")),
        box(0, w / 2 - 0.1, 0, d * 0.9, 0.05, h - 0.04, Skin("metal", "black")),
    ]


@_register(
    "painting",
    ("decorate the wall", "look at art"),
    ((0.03, 0.05), (0.6, 1.6), (0.5, 1.1)),
    ("black", "natural wood", "silver", "white"),
    ("wood", "metal"),
    ("lobby", "corridor", "office", "conference_room", "break_room"),
    mount="wall",
    elevation=(1.2, 1.4),
    obstacle=False,
)
def _painting(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, _main(a), front=decal("painting", a["colour"], v))]


@_register(
    "floor_lamp",
    ("light the room", "read under a lamp"),
    ((0.35, 0.45), (0.35, 0.45), (1.5, 1.8)),
    ("black", "silver", "white", "natural wood"),
    ("metal", "wood"),
    ("lobby", "office", "break_room"),
)
def _lamp(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    r = min(d, w)
    m = _main(a)
    return [
        cyl(0, 0, 0, r * 0.75, 0.03, m),
        cyl(0, 0, 0.03, 0.03, h - 0.35, m),
        cyl(0, 0, h - 0.35, r, 0.35, Skin("fabric", "beige"), taper=0.7),
    ]


@_register(
    "coat_rack",
    ("hang coats",),
    ((0.4, 0.5), (0.4, 0.5), (1.7, 1.85)),
    ("black", "natural wood", "silver"),
    ("wood", "metal"),
    ("lobby", "office", "conference_room"),
)
def _coat_rack(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    rng = np.random.default_rng(v)
    parts = [cyl(0, 0, 0, min(d, w) * 0.8, 0.04, m), cyl(0, 0, 0.04, 0.04, h - 0.04, m)]
    for i in range(4):
        ang = i * math.pi / 2 + 0.4
        parts.append(
            box(0.1 * math.cos(ang), 0.1 * math.sin(ang), h - 0.15, 0.2, 0.03, 0.03, m, yaw=ang)
        )
    if rng.random() < 0.7:
        col = ("navy", "beige", "dark grey", "dark red")[int(rng.integers(4))]
        parts.append(box(0.12, 0, h - 1.0, 0.16, 0.42, 0.85, Skin("fabric", col)))
    return parts


@_register(
    "first_aid_kit",
    ("treat minor injuries", "find a bandage"),
    ((0.12, 0.16), (0.3, 0.45), (0.3, 0.4)),
    ("green", "white", "red"),
    ("plastic", "metal"),
    ("kitchen", "corridor", "loading_area", "break_room", "restroom"),
    mount="wall",
    elevation=(1.3, 1.5),
    obstacle=False,
)
def _first_aid(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, _main(a), front=decal("first_aid", a["colour"], v))]


@_register(
    "exit_sign",
    ("show the way out", "find the emergency exit"),
    ((0.05, 0.08), (0.35, 0.45), (0.15, 0.2)),
    ("green",),
    ("plastic",),
    ("corridor", "lobby", "loading_area", "storage_aisles"),
    mount="wall",
    elevation=(2.15, 2.3),
    obstacle=False,
)
def _exit(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, WHITE, front=decal("sign:EXIT", "green", v))]


@_register(
    "drinking_fountain",
    ("drink water", "take a sip of water"),
    ((0.35, 0.45), (0.4, 0.5), (0.3, 0.4)),
    ("silver", "white", "light grey"),
    ("metal",),
    ("corridor", "lobby", "loading_area"),
    mount="wall",
    elevation=(0.75, 0.85),
)
def _fountain(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(0, 0, 0, d, w, h, _main(a), front=decal("fountain", a["colour"], v)),
        box(-d / 2 + 0.04, 0, h, 0.06, w * 0.8, 0.15, _main(a)),
    ]


# ----------------------------------------------------------------------------- warehouse


@_register(
    "pallet_rack",
    ("store pallets of goods", "pick stock from the shelves"),
    ((1.0, 1.2), (8.0, 16.0), (3.0, 4.5)),
    ("orange", "blue", "yellow", "green"),
    ("metal",),
    ("storage_aisles", "storage"),
)
def _rack(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    frame = Skin("metal", a["colour"])
    beam = Skin("metal", "orange" if a["colour"] != "orange" else "blue")
    bays = max(1, round(w / 2.7))
    bw = w / bays
    levels = max(2, int(h / 1.3))
    lh = h / levels
    rng = np.random.default_rng(v)
    parts: list[Part] = []
    for b in range(bays + 1):
        y = -w / 2 + b * bw
        for sx in (-1, 1):
            parts.append(box(sx * (d / 2 - 0.04), y, 0, 0.08, 0.08, h, frame))
    for lvl in range(levels):
        z = 0.12 + lvl * lh
        for sx in (-1, 1):
            parts.append(box(sx * (d / 2 - 0.04), 0, z, 0.05, w, 0.12, beam))
        for b in range(bays):
            yc = -w / 2 + (b + 0.5) * bw
            for k in range(2):
                if rng.random() < 0.15:
                    continue  # an empty slot
                py = yc + (k - 0.5) * bw / 2
                pw = bw / 2 - 0.15
                parts.append(box(0, py, z + 0.12, d * 0.9, pw, 0.14, Skin("wood", "natural wood")))
                bh = min(lh - 0.45, rng.uniform(0.45, 1.0))
                kind = rng.random()
                if kind < 0.6:
                    parts.append(
                        box(
                            0,
                            py,
                            z + 0.26,
                            d * 0.85,
                            pw * 0.95,
                            bh,
                            Skin("cardboard", "brown"),
                            front=decal("carton", "brown", int(rng.integers(1 << 30))),
                        )
                    )
                elif kind < 0.85:
                    parts.append(
                        box(0, py, z + 0.26, d * 0.85, pw * 0.95, bh, Skin("wrap", "light grey"))
                    )
                else:
                    col = ("blue", "grey", "green", "red")[int(rng.integers(4))]
                    parts.append(
                        box(0, py, z + 0.26, d * 0.85, pw * 0.95, bh * 0.8, Skin("plastic", col))
                    )
    parts.append(
        box(
            d / 2 + 0.003,
            -w / 2 + 0.35,
            2.0,
            0.01,
            0.5,
            0.35,
            WHITE,
            front=decal(f"aisle:{v % 97}", a["colour"], v),
        )
    )
    return parts


@_register(
    "forklift",
    ("lift and move pallets", "carry heavy loads"),
    ((2.2, 2.6), (1.0, 1.2), (2.0, 2.2)),
    ("yellow", "orange", "red", "green"),
    ("metal",),
    ("loading_area", "storage_aisles"),
)
def _forklift(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    body = _main(a)
    return [
        box(-d * 0.12, 0, 0.15, d * 0.6, w, 0.85, body, front=decal("forklift", a["colour"], v)),
        box(-d * 0.38, 0, 0.3, d * 0.2, w * 0.9, 0.75, Skin("metal", "dark grey")),
        box(-d * 0.05, 0, 1.0, 0.45, 0.45, 0.12, BLACK),
        box(-d * 0.15, 0, 1.1, 0.1, 0.45, 0.45, BLACK),
        *[box(sx, sy * (w / 2 - 0.04), 1.0, 0.06, 0.06, h - 1.0, BLACK)
          for sx in (-d * 0.35, d * 0.15) for sy in (-1, 1)],
        box(-d * 0.1, 0, h - 0.05, d * 0.55, w, 0.05, BLACK),
        box(d * 0.22, 0, 0.05, 0.1, w * 0.8, h - 0.1, Skin("metal", "dark grey")),
        box(d * 0.38, -0.25, 0.05, d * 0.3, 0.12, 0.05, Skin("metal", "dark grey")),
        box(d * 0.38, 0.25, 0.05, d * 0.3, 0.12, 0.05, Skin("metal", "dark grey")),
        *[cyl(sx, sy * (w / 2 - 0.08), 0.25, 0.5, 0.2, BLACK, axis="y")
          for sx in (-d * 0.32, d * 0.08) for sy in (-1, 1)],
    ]  # fmt: skip


@_register(
    "pallet_jack",
    ("move pallets by hand",),
    ((1.5, 1.6), (0.55, 0.7), (1.2, 1.3)),
    ("red", "yellow", "blue", "orange"),
    ("metal",),
    ("loading_area", "storage_aisles"),
)
def _jack(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(0.15, -w / 2 + 0.09, 0.02, d * 0.75, 0.16, 0.07, m),
        box(0.15, w / 2 - 0.09, 0.02, d * 0.75, 0.16, 0.07, m),
        box(-d / 2 + 0.15, 0, 0.02, 0.3, w, 0.3, m),
        cyl(-d / 2 + 0.15, 0, 0.3, 0.08, 0.3, m),
        box(-d / 2 + 0.1, 0, 0.6, 0.05, 0.05, h - 0.6, BLACK),
        box(-d / 2 + 0.1, 0, h - 0.04, 0.05, 0.3, 0.04, BLACK),
    ]


@_register(
    "pallet_stack",
    ("hold stacked goods", "store boxes on a pallet"),
    ((1.0, 1.2), (0.8, 1.2), (0.8, 1.8)),
    ("brown", "light grey", "blue"),
    ("cardboard", "wrap"),
    ("loading_area", "storage_aisles", "storage"),
)
def _pallet_stack(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    parts = [box(0, 0, 0, d, w, 0.14, Skin("wood", "natural wood"))]
    if a["material"] == "wrap":
        parts.append(box(0, 0, 0.14, d * 0.96, w * 0.96, h - 0.14, Skin("wrap", a["colour"])))
        return parts
    rng = np.random.default_rng(v)
    layers = max(1, int((h - 0.14) / 0.4))
    lh = (h - 0.14) / layers
    for lyr in range(layers):
        for i in range(2):
            for j in range(2):
                if lyr == layers - 1 and rng.random() < 0.25:
                    continue
                parts.append(
                    box((i - 0.5) * d / 2, (j - 0.5) * w / 2, 0.14 + lyr * lh, d / 2 - 0.02, w / 2 - 0.02, lh - 0.01,
                        Skin("cardboard", "brown"), front=decal("carton", "brown", int(rng.integers(1 << 30))))
                )  # fmt: skip
    return parts


@_register(
    "cardboard_boxes",
    ("hold packed goods", "ship parcels"),
    ((0.6, 1.0), (0.6, 1.2), (0.5, 1.2)),
    ("brown", "beige"),
    ("cardboard",),
    ("storage", "loading_area", "printer_corner"),
)
def _boxes(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    rng = np.random.default_rng(v)
    parts = []
    z = 0.0
    while z < h - 0.2:
        bh = min(h - z, rng.uniform(0.25, 0.5))
        bd, bw = d * rng.uniform(0.75, 1.0), w * rng.uniform(0.75, 1.0)
        parts.append(box(rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), z, bd, bw, bh,
                         Skin("cardboard", a["colour"]), front=decal("carton", a["colour"], int(rng.integers(1 << 30))),
                         yaw=rng.uniform(-0.15, 0.15)))  # fmt: skip
        z += bh
        d, w = bd, bw
    return parts


@_register(
    "workbench",
    ("repair and assemble items", "use hand tools"),
    ((0.7, 0.8), (1.5, 2.2), (0.88, 0.95)),
    ("grey", "blue", "natural wood", "dark grey"),
    ("wood", "metal"),
    ("loading_area", "storage"),
)
def _workbench(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = Skin("metal", a["colour"]) if a["material"] == "metal" else Skin("wood", "natural wood")
    return [
        box(0, 0, h - 0.05, d, w, 0.05, Skin("wood", "natural wood")),
        box(0, 0, 0.15, d * 0.9, w * 0.95, 0.03, m),
        *[box(sx * (d / 2 - 0.04), sy * (w / 2 - 0.04), 0, 0.06, 0.06, h - 0.05, m)
          for sx in (-1, 1) for sy in (-1, 1)],
        box(-d / 2 + 0.02, 0, h, 0.03, w, 0.9, Skin("metal", "light grey"), front=decal("pegboard", a["colour"], v)),
        box(0.1, 0.3, h, 0.3, 0.2, 0.15, Skin("plastic", "red")),
    ]  # fmt: skip


@_register(
    "safety_barrier",
    ("protect walls from forklifts", "mark a walkway"),
    ((0.2, 0.25), (1.5, 3.0), (0.9, 1.1)),
    ("yellow", "orange"),
    ("metal",),
    ("loading_area", "storage_aisles"),
)
def _barrier(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    _d, w, h = s
    m = Skin("hazard", a["colour"])
    n = max(2, int(w / 1.2) + 1)
    parts = [cyl(0, -w / 2 + 0.1 + i * (w - 0.2) / (n - 1), 0, 0.12, h, m) for i in range(n)]
    parts += [box(0, 0, h * f, 0.08, w, 0.12, m) for f in (0.45, 0.85)]
    return parts


@_register(
    "hand_truck",
    ("carry boxes", "wheel a load around"),
    ((0.45, 0.55), (0.45, 0.55), (1.15, 1.3)),
    ("red", "black", "blue", "silver"),
    ("metal",),
    ("loading_area", "storage"),
)
def _hand_truck(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(-d * 0.3, -w * 0.4, 0.1, 0.04, 0.04, h - 0.1, m),
        box(-d * 0.3, w * 0.4, 0.1, 0.04, 0.04, h - 0.1, m),
        *[box(-d * 0.3, 0, 0.3 + i * 0.3, 0.03, w * 0.8, 0.03, m) for i in range(3)],
        box(d * 0.05, 0, 0.02, d * 0.5, w * 0.6, 0.02, STEEL),
        cyl(-d * 0.35, -w / 2 + 0.04, 0.12, 0.24, 0.06, BLACK, axis="y"),
        cyl(-d * 0.35, w / 2 - 0.04, 0.12, 0.24, 0.06, BLACK, axis="y"),
    ]


@_register(
    "rolling_ladder",
    ("reach high shelves",),
    ((1.2, 1.6), (0.6, 0.8), (1.8, 2.6)),
    ("grey", "silver", "yellow", "orange"),
    ("metal",),
    ("storage_aisles", "storage"),
)
def _ladder(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    steps = max(4, int(h / 0.25))
    parts = [box(-d / 2 + 0.2, 0, h - 0.05, 0.4, w, 0.05, m)]
    for i in range(steps):
        z = (i + 1) * (h - 0.05) / (steps + 1)
        x = d / 2 - 0.1 - (d - 0.4) * z / h
        parts.append(box(x, 0, z, 0.2, w * 0.9, 0.03, Skin("metal", "silver")))
    parts += [box(0, sy * (w / 2 - 0.03), 0, d, 0.05, 0.06, m) for sy in (-1, 1)]
    parts += [box(-d / 2 + 0.03, sy * (w / 2 - 0.03), 0, 0.05, 0.05, h + 0.9, m) for sy in (-1, 1)]
    parts += [
        box(d / 2 - 0.6 * d / 2, sy * (w / 2 - 0.03), h * 0.5, d * 0.95, 0.04, 0.04, m, yaw=0.0)
        for sy in (-1, 1)
    ]
    return parts


@_register(
    "dumpster",
    ("dispose of large waste", "throw out packaging"),
    ((1.0, 1.2), (1.6, 2.0), (1.2, 1.4)),
    ("green", "blue", "dark grey"),
    ("metal", "plastic"),
    ("loading_area",),
)
def _dumpster(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    m = _main(a)
    return [
        box(0, 0, 0.15, d, w, h - 0.2, m, front=decal("dumpster", a["colour"], v)),
        box(-0.03, 0, h - 0.05, d + 0.04, w + 0.04, 0.05, Skin("plastic", "black")),
        *[cyl(sx * (d / 2 - 0.1), sy * (w / 2 - 0.12), 0, 0.15, 0.15, BLACK) for sx in (-1, 1) for sy in (-1, 1)],
    ]  # fmt: skip


@_register(
    "traffic_cone",
    ("mark a hazard", "block off an area"),
    ((0.35, 0.4), (0.35, 0.4), (0.5, 0.75)),
    ("orange", "red", "yellow"),
    ("rubber",),
    ("loading_area", "storage_aisles"),
)
def _cone(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    r = min(d, w)
    return [
        box(0, 0, 0, r, r, 0.03, Skin("rubber", "black")),
        cyl(0, 0, 0.03, r * 0.7, h * 0.4, _main(a), taper=0.62),
        cyl(0, 0, 0.03 + h * 0.4, r * 0.44, h * 0.12, Skin("plastic", "white"), taper=0.7),
        cyl(0, 0, 0.03 + h * 0.52, r * 0.31, h * 0.45, _main(a), taper=0.2),
    ]


@_register(
    "dock_door",
    ("load and unload trucks", "receive deliveries"),
    ((0.1, 0.15), (2.8, 3.4), (3.0, 3.6)),
    ("silver", "grey", "blue", "white"),
    ("metal",),
    ("loading_area",),
    mount="wall",
    elevation=(0.0, 0.0),
    obstacle=False,
)
def _dock_door(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [
        box(
            0, 0, 0, d, w, h, Skin("metal", a["colour"]), front=decal("roller_door", a["colour"], v)
        ),
        box(d / 2, -w / 2 - 0.08, 0, 0.12, 0.16, h, Skin("hazard", "yellow")),
        box(d / 2, w / 2 + 0.08, 0, 0.12, 0.16, h, Skin("hazard", "yellow")),
        box(
            d / 2 + 0.003,
            0,
            h + 0.15,
            0.02,
            0.5,
            0.25,
            WHITE,
            front=decal(f"sign:DOCK {v % 9 + 1}", "yellow", v),
        ),
    ]


@_register(
    "server_rack",
    ("host computer servers",),
    ((0.9, 1.1), (0.6, 0.8), (1.9, 2.1)),
    ("black", "dark grey"),
    ("metal",),
    ("storage", "office"),
)
def _server(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    d, w, h = s
    return [box(0, 0, 0, d, w, h, _main(a), front=decal("servers", a["colour"], v))]


# ----------------------------------------------------------------------------- clutter models

# Objects that are not landmarks: astra_jax.sim.clutter scatters them over free floor for
# out-of-distribution tests. They are not in CATEGORIES, so no floor plan can name them and no
# generator places them. Boxes and chairs reuse the catalogue's builders.

PERSON_SKIN_TONES = ("beige", "pink", "terracotta", "brown", "dark brown")
PERSON_HAIR = ("black", "dark brown", "brown", "grey", "beige")
PERSON_TOPS = ("white", "light blue", "blue", "navy", "grey", "dark grey", "black", "red",
               "dark red", "green", "teal", "yellow", "purple", "pink", "orange")  # fmt: skip
PERSON_BOTTOMS = ("navy", "blue", "black", "dark grey", "grey", "beige", "brown", "dark green")
CART_COLOURS = ("silver", "grey", "dark grey", "blue", "black", "red")


def person_parts(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    """A standing person: shoes, legs, hips, torso, hanging arms with hands, neck, head and
    hair, in clothing colours. ``s`` = (depth ~0.3, shoulder width ~0.45, height 1.6-1.85) m;
    ``a`` holds the colours ``top``, ``bottom``, ``skin``, ``hair``; ``v`` picks the stance
    (which foot is ahead) and the arm swing."""
    d, w, h = s
    top, bottom = Skin("fabric", a["top"]), Skin("fabric", a["bottom"])
    skin, hair = Skin("rubber", a["skin"]), Skin("fabric", a["hair"])
    rng = np.random.default_rng(v)
    step = float(rng.uniform(-0.05, 0.05))  # one foot ahead of the other (m)
    swing = float(rng.uniform(-0.04, 0.04))  # arms a little ahead / behind (m)
    hip, shoulder = 0.48 * h, 0.81 * h  # heights (m), adult proportions
    leg_y, leg_d = 0.21 * w, 0.27 * w  # legs under the hips
    arm_d = 0.17 * w
    arm_y = 0.5 * w - 0.5 * arm_d  # arms hang at the shoulders' sides: width = w
    torso_w = w - 2 * arm_d - 0.01
    parts = []
    for side, ahead in ((1, step), (-1, -step)):
        parts += [
            box(ahead + 0.03, side * leg_y, 0.0, min(d, 0.27), 0.1, 0.07, Skin("leather", "black")),
            cyl(ahead, side * leg_y, 0.07, leg_d, hip - 0.07, bottom, taper=1.15),
            cyl(side * swing, side * arm_y, hip - 0.04, arm_d, shoulder - hip + 0.02, top,
                taper=1.2),
            blob(side * swing, side * arm_y, hip - 0.08, arm_d * 0.9, arm_d * 0.7, 0.11, skin),
        ]  # fmt: skip
    parts += [
        box(0, 0, hip - 0.06, d * 0.65, torso_w, 0.12, bottom),  # hips, in the trousers' colour
        box(0, 0, hip + 0.06, d * 0.72, torso_w, shoulder - hip - 0.04, top),
        blob(0, 0, shoulder + 0.005, d * 0.7, torso_w, 0.07, top),  # rounded shoulders
        cyl(0, 0, shoulder, 0.11, 0.05 * h, skin),
        blob(0.01, 0, h - 0.12, 0.2, 0.16, 0.24, skin),  # head
        blob(-0.015, 0, h - 0.085, 0.205, 0.17, 0.17, hair),  # hair over the crown and back
    ]
    return parts


def cart_parts(s: Size, a: Mapping[str, str], v: int) -> list[Part]:
    """A push cart: a platform trolley with a handle (``v`` even) or a two-shelf service cart
    (``v`` odd), on four castors, sometimes loaded with a carton. ``s`` = (length along the
    push direction, width, handle height) m; ``a`` holds ``colour`` and ``material``."""
    d, w, h = s
    m, frame = _main(a), STEEL if a["material"] == "metal" else DARK
    wheel = Skin("rubber", "black")
    rng = np.random.default_rng(v)
    parts = [
        cyl(sx * (d / 2 - 0.07), sy * (w / 2 - 0.06), 0.06, 0.12, 0.04, wheel, axis="y")
        for sx in (-1, 1) for sy in (-1, 1)
    ]  # fmt: skip
    if v % 2 == 0:  # platform trolley: a deck and a U handle at the back
        parts += [
            box(0, 0, 0.12, d, w, 0.04, m),
            box(-d / 2 + 0.02, -w / 2 + 0.03, 0.16, 0.03, 0.03, h - 0.16, frame),
            box(-d / 2 + 0.02, w / 2 - 0.03, 0.16, 0.03, 0.03, h - 0.16, frame),
            cyl(-d / 2 + 0.02, 0, h - 0.015, 0.035, w, frame, axis="y"),
        ]
        deck = 0.16
    else:  # service cart: two shelves on four posts, a handle bar at the back
        parts += [box(0, 0, z, d, w, 0.03, m) for z in (0.14, h - 0.1)]
        parts += [
            box(sx * (d / 2 - 0.02), sy * (w / 2 - 0.02), 0.12, 0.025, 0.025, h - 0.2, frame)
            for sx in (-1, 1) for sy in (-1, 1)
        ]  # fmt: skip
        parts.append(cyl(-d / 2 - 0.04, 0, h - 0.04, 0.03, w * 0.8, frame, axis="y"))
        deck = h - 0.07
    if rng.random() < 0.6:  # a carton on top
        bd, bw = d * rng.uniform(0.35, 0.7), w * rng.uniform(0.5, 0.9)
        bh = rng.uniform(0.2, 0.45)
        parts.append(box(rng.uniform(-0.1, 0.1) * d, 0, deck, bd, bw, bh,
                         Skin("cardboard", "brown"), front=decal("carton", "brown", v)))  # fmt: skip
    return parts


# ----------------------------------------------------------------------------- sampling


def sample_instance(
    category: str, rng: np.random.Generator, attributes: Mapping[str, str] | None = None
) -> tuple[Size, dict[str, str], str]:
    """Draw (size, attributes, function phrase) for one instance of ``category``.

    Given ``attributes`` (from a floor-plan file) win over drawn ones. Draws the same numbers
    whether or not attributes are given, so a file's choices do not shift other objects.
    """
    spec = CATEGORIES[category]
    size = tuple(round(float(rng.uniform(lo, hi)), 3) for lo, hi in spec.size)
    attrs = {
        "colour": spec.colours[int(rng.integers(len(spec.colours)))],
        "material": spec.materials[int(rng.integers(len(spec.materials)))],
    }
    function = spec.functions[int(rng.integers(len(spec.functions)))]
    if attributes:
        attrs.update(attributes)
    return size, attrs, function  # type: ignore[return-value]
