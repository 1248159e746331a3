"""Names of surface materials and colours, and which material each kind of room uses.

The procedural textures for these names live in :mod:`astra_jax.sim.textures`.
"""

from __future__ import annotations

FLOOR_MATERIALS = (
    "carpet",
    "carpet_tiles",
    "wood_floor",
    "floor_tiles",
    "stone_tiles",
    "concrete",
    "epoxy",
)
WALL_MATERIALS = (
    "paint",
    "wallpaper",
    "wood_panel",
    "brick",
    "concrete_block",
    "wall_tiles",
    "metal_cladding",
)

# Defaults per room label: (floor choices, wall choices); a world picks one by seed.
ROOM_MATERIALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "office": (("carpet", "carpet_tiles", "wood_floor"), ("paint", "wallpaper")),
    "open_office": (("carpet_tiles", "carpet"), ("paint", "brick")),
    "conference_room": (("carpet", "wood_floor"), ("wood_panel", "wallpaper", "paint")),
    "kitchen": (("floor_tiles",), ("wall_tiles", "paint")),
    "lobby": (("stone_tiles", "wood_floor"), ("wood_panel", "brick", "paint")),
    "printer_corner": (("carpet_tiles",), ("paint",)),
    "restroom": (("floor_tiles",), ("wall_tiles",)),
    "corridor": (("carpet_tiles", "stone_tiles"), ("paint", "wallpaper")),
    "storage": (("concrete", "epoxy"), ("concrete_block", "paint")),
    "break_room": (("floor_tiles", "epoxy"), ("paint", "concrete_block")),
    "loading_area": (("concrete",), ("concrete_block", "metal_cladding")),
    "storage_aisles": (("concrete", "epoxy"), ("concrete_block", "metal_cladding")),
}

# Named colours (sRGB 0-255). Attribute values use these names.
COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (236, 236, 232),
    "light grey": (190, 192, 194),
    "grey": (128, 130, 134),
    "dark grey": (70, 72, 76),
    "black": (32, 32, 34),
    "beige": (214, 196, 164),
    "brown": (122, 84, 52),
    "dark brown": (78, 52, 34),
    "red": (182, 40, 38),
    "dark red": (120, 28, 32),
    "orange": (226, 122, 36),
    "yellow": (232, 196, 48),
    "green": (62, 142, 72),
    "dark green": (36, 84, 48),
    "teal": (36, 132, 136),
    "blue": (46, 92, 170),
    "navy": (34, 48, 92),
    "light blue": (140, 180, 220),
    "purple": (110, 66, 140),
    "pink": (220, 140, 160),
    "silver": (176, 180, 186),
    "natural wood": (176, 132, 86),
    "terracotta": (176, 92, 62),
}

# Paint colours walls are drawn from (subtle office tones).
WALL_PAINTS = ("white", "light grey", "beige", "light blue", "teal", "grey")
