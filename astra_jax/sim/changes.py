"""The world changes between the mapping tour and a query, as real buildings do.

A map is built from a tour on one day; the robot localizes on another, when the light differs
and chairs, bins, boxes and carts stand elsewhere. :class:`WorldChanges` (the simulator knob
``SimConfig.world_changes``) describes that second day, and :func:`change_world` applies it to
a built world, deterministically per (world, ``seed``):

* **lighting** (strength in [0, 1]): the headlight's ambient and diffuse intensity and the
  ceiling light's intensity are scaled by factors drawn in [1 - 0.5 s, 1 + 0.4 s], the lights
  get a warm or cool tint of up to 15% s per channel, and the ceiling light's direction turns
  by up to 60 s degrees. At 1.0 a corridor may be half as bright as on the tour day.
* **moved objects**: each movable object (:data:`MOVABLE`: chairs, bins, boxes, carts, lamps,
  ladders, cones, and all clutter) is moved with probability ``moved_fraction`` by up to
  ``max_shift`` m and turned by up to ``max_turn`` rad, to a spot where its footprint keeps
  ``OBJECT_GAP`` from walls and every other object, stays in a room, and covers no door band
  or landmark's goal spot (the clutter rules). An object with no such spot among
  ``ATTEMPTS`` draws stays where it was.

Landmark ids, categories and attributes do not change (a moved chair is the same chair), so
the simulator's oracle and the map still agree on what an object is; only where it stands and
how it is lit differ. :meth:`World.info` records the changes and how many objects moved.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import ndimage

from astra_jax.config import WorldChanges

MOVABLE = frozenset(
    {
        "office_chair", "chair", "armchair", "trash_bin", "recycling_bin", "cardboard_boxes",
        "hand_truck", "pallet_jack", "traffic_cone", "rolling_ladder", "floor_lamp",
        "coat_rack", "coffee_table",
    }
)  # fmt: skip
ATTEMPTS = 24  # candidate moves drawn per object


@dataclasses.dataclass(frozen=True)
class Lighting:
    """The scene's lights: headlight ambient and diffuse RGB, the ceiling light's diffuse RGB
    and its direction (unit 3-vector, pointing down). :meth:`tour_day` is the default."""

    headlight_ambient: tuple[float, float, float] = (0.52, 0.52, 0.52)
    headlight_diffuse: tuple[float, float, float] = (0.38, 0.38, 0.38)
    ceiling_diffuse: tuple[float, float, float] = (0.22, 0.22, 0.22)
    ceiling_dir: tuple[float, float, float] = (0.25, 0.35, -1.0)

    @classmethod
    def tour_day(cls) -> Lighting:
        return cls()


def changed_lighting(strength: float, rng: np.random.Generator) -> Lighting:
    """The tour day's lights changed with ``strength`` in [0, 1] (see the module docstring)."""
    base = Lighting.tour_day()
    if strength == 0:
        return base
    tint = 1.0 + rng.uniform(-0.15, 0.15, 3) * strength  # warm or cool per channel

    def scaled(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
        k = rng.uniform(1.0 - 0.5 * strength, 1.0 + 0.4 * strength)
        return tuple(float(min(1.0, v * k * t)) for v, t in zip(rgb, tint, strict=True))  # type: ignore[return-value]

    turn = math.radians(rng.uniform(-60.0, 60.0) * strength)
    dx, dy, dz = base.ceiling_dir
    c, s = math.cos(turn), math.sin(turn)
    return Lighting(
        headlight_ambient=scaled(base.headlight_ambient),
        headlight_diffuse=scaled(base.headlight_diffuse),
        ceiling_diffuse=scaled(base.ceiling_diffuse),
        ceiling_dir=(c * dx - s * dy, s * dx + c * dy, dz),
    )


def change_world(world: Any, changes: WorldChanges, sim: Any) -> Any:
    """``world`` on the query day: lights changed and movable objects moved (a new World;
    ``world`` is unchanged). ``sim`` is the SimConfig (occupancy resolution, robot radius)."""
    from astra_jax.sim import seeds
    from astra_jax.sim.clutter import OBJECT_GAP, _keepout, _local_footprint
    from astra_jax.sim.world import OBSTACLE_BAND

    if not changes.active:
        return world
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_CHANGES, changes.seed)
    lighting = changed_lighting(changes.lighting, rng)
    landmarks, clutter, moved = list(world.landmarks), list(world.clutter), 0
    if changes.moved_fraction > 0:
        occ = world.occupancy(sim.occupancy_resolution)
        grid, res = occ.grid, occ.grid.resolution
        keepout = _keepout(world, grid, sim.robot.radius)
        rooms = occ.rooms
        objects = [("landmark", i) for i, lm in enumerate(landmarks)
                   if lm.obstacle and lm.category in MOVABLE]  # fmt: skip
        objects += [("clutter", i) for i in range(len(clutter))]
        pad = math.ceil(OBJECT_GAP / res) + 2
        walls = list(world.structure.piece_rects(*OBSTACLE_BAND))
        for kind, i in objects:
            if rng.random() >= changes.moved_fraction:
                continue
            table = landmarks if kind == "landmark" else clutter
            obj = table[i]
            # what stands there without this object: walls and every other object, as now
            others = [
                o for j, o in enumerate(landmarks) if o.obstacle and ("landmark", j) != (kind, i)
            ]
            others += [o for j, o in enumerate(clutter) if ("clutter", j) != (kind, i)]
            rects = walls + [r for o in others for r in o.footprints()]
            for _ in range(ATTEMPTS):
                r = changes.max_shift * math.sqrt(rng.random())
                a = rng.uniform(-math.pi, math.pi)
                turn = rng.uniform(-changes.max_turn, changes.max_turn)
                cand = _moved(obj, r * math.cos(a), r * math.sin(a), turn)
                win, fp = _local_footprint(grid, cand, pad)
                if not fp.any() or keepout[win][fp].any() or (rooms[win][fp] < 0).any():
                    continue
                blocked = _blocked(rects, grid, win)
                gap = ndimage.distance_transform_edt(~blocked) * res
                if (gap[fp] <= OBJECT_GAP).any():
                    continue
                table[i] = cand
                moved += 1
                break
    return dataclasses.replace(
        world,
        landmarks=tuple(landmarks),
        clutter=tuple(clutter),
        lighting=lighting,
        changes=changes,
        moved_objects=moved,
    )


def _moved(obj: Any, dx: float, dy: float, turn: float) -> Any:
    """``obj`` turned by ``turn`` about its box centre, then shifted by (dx, dy) m."""
    from astra_jax.sim.world import placed_box

    cx, cy = obj.position[0], obj.position[1]
    ox, oy = obj.origin
    c, s = math.cos(turn), math.sin(turn)
    origin = (cx + c * (ox - cx) - s * (oy - cy) + dx, cy + s * (ox - cx) + c * (oy - cy) + dy)
    yaw = math.remainder(obj.yaw + turn, math.tau)
    position, size = placed_box(obj.parts, origin, yaw, obj.elevation)
    return dataclasses.replace(obj, origin=origin, yaw=yaw, position=position, size=size)


def _blocked(rects: list[Any], grid: Any, win: tuple[slice, slice]) -> np.ndarray:
    """Cells of ``grid``'s window ``win`` covered by the oriented ``rects`` (walls and the
    other objects' footprints)."""
    from astra_jax.sim.occupancy import GridSpec, rasterize_rects

    res = grid.resolution
    sub = GridSpec(
        (grid.origin[0] + win[0].start * res, grid.origin[1] + win[1].start * res),
        res,
        (win[0].stop - win[0].start, win[1].stop - win[1].start),
    )
    return rasterize_rects(sub, rects)


def parse_changes(text: str) -> WorldChanges:
    """``"lighting=0.8,moved=0.3[,shift=0.6][,turn_deg=45][,seed=1]"`` -> WorldChanges (the
    command-line form); an unknown key or a bad value names itself."""
    keys = {"lighting": "lighting", "moved": "moved_fraction", "shift": "max_shift",
            "turn_deg": "max_turn", "seed": "seed"}  # fmt: skip
    fields: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in keys:
            raise ValueError(
                f"--changes {text!r}: {item!r} is not KEY=VALUE with KEY one of {', '.join(keys)}"
            )
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"--changes {text!r}: {key} = {value!r} is not a number") from None
        name = keys[key.strip()]
        fields[name] = int(v) if name == "seed" else math.radians(v) if name == "max_turn" else v
    return WorldChanges(**fields)
