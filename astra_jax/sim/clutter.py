"""Out-of-distribution clutter: extra obstacles scattered over a world's free floor.

The paper tests Astra-Local out of distribution on "unseen congested scenes". With
``SimConfig.clutter_density`` = D > 0, :func:`scatter_clutter` places about D objects per m^2
of free floor that are not in the floor plan: cardboard boxes (single or stacked), chairs
(catalogue chairs and office chairs), carts (platform trolleys, service carts, hand trucks)
and standing people. Every draw comes from the world's own stream
``seeds.rng_for(world.key, world.seed, STREAM_CLUTTER, 0)``, so a cluttered world is a pure
function of (world, density) and the plan's other streams do not move.

Each object stands at a random free spot with a random yaw. What the placement guarantees:

* its footprint (the parts in the robot's height band) keeps :data:`OBJECT_GAP` from walls,
  furniture and other clutter, and stays off wall-mounted objects (a painting, a fire
  extinguisher) by the same gap;
* it keeps out of a band :data:`DOOR_DEPTH` deep on both sides of every door, the opening's
  width plus :data:`DOOR_SIDE` on each side wide;
* it leaves a disc free in front of every landmark where the expert's goal pose stands;
* it never closes a passage: the free space at the expert's clearance (ESDF above the robot
  radius + :data:`PASSAGE_MARGIN`, as :func:`astra_jax.sim.planning.plan_path` plans) stays one
  connected piece, no free cell the robot could reach before is cut off, and every room keeps
  free space the robot can reach. A candidate that breaks any of this is redrawn.

So the expert, which plans on ``world.occupancy``, drives around the clutter, and every room
stays reachable. When the rules leave no room for more (near the 0.5 per m^2 upper bound, in
small buildings), fewer objects are placed than asked; ``World.info()`` records both numbers.
Placing costs about 0.1 s per 10 objects on one core (an 8-connected labelling of the free
space per accepted object).

Clutter objects are :class:`~astra_jax.sim.world.Landmark` records with id 0
(:data:`CLUTTER_SEG_ID`, the background id): they are not landmarks, so maps and goals never
see them, and the segmentation images read them as background.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from astra_jax.config import SimConfig
from astra_jax.sim import seeds
from astra_jax.sim.catalog import (
    CART_COLOURS,
    CATEGORIES,
    PERSON_BOTTOMS,
    PERSON_HAIR,
    PERSON_SKIN_TONES,
    PERSON_TOPS,
    cart_parts,
    person_parts,
    sample_instance,
)
from astra_jax.sim.occupancy import GridSpec, rasterize_rects
from astra_jax.sim.parts import Part
from astra_jax.sim.world import BACKGROUND_ID, Landmark, World, placed_box

CLUTTER_SEG_ID = BACKGROUND_ID  # segmentation id of clutter: not a landmark
KINDS = ("box", "chair", "cart", "person")
KIND_WEIGHTS = (0.3, 0.25, 0.15, 0.3)  # people and boxes are what congests real corridors

OBJECT_GAP = 0.1  # m between a clutter footprint and any other obstacle
PASSAGE_MARGIN = 0.05  # m beyond the robot radius: plan_path's default margin
DOOR_SIDE = 0.3  # m beyond each side of a door opening kept clear
DOOR_DEPTH = 1.0  # m in front of and behind a door kept clear
# The expert's goal pose in front of a landmark (generate.approach_pose, first choice): at
# 0.5 * max(depth, min(width, 1.2)) + radius + 0.1 + 0.35 m from its centre along its yaw. A disc
# of radius + GOAL_SPOT_MARGIN m around it stays clear, so its ESDF stays above radius + 0.1.
GOAL_SPOT_EXTRA = 0.45  # m: the 0.1 clearance margin + the 0.35 first distance step
GOAL_SPOT_MARGIN = 0.25  # m
ATTEMPTS_PER_OBJECT = 40  # candidate spots drawn per object asked before giving up
SPOTS_PER_MODEL = 20  # spots tried for one drawn object before drawing another


def free_floor_area(world: World, resolution: float) -> float:
    """m^2 of floor inside the rooms that no wall or obstacle covers (the density's unit)."""
    occ = world.occupancy(resolution)
    free = (occ.rooms >= 0) & ~occ.occupied
    return float(free.sum()) * resolution * resolution


def clutter_count(density: float, free_area: float) -> int:
    """How many objects a density asks for: round(density * free_area), at least 1 if > 0."""
    if not (math.isfinite(density) and density >= 0):
        raise ValueError(f"clutter density = {density!r}: expected a finite number >= 0")
    if density == 0:
        return 0
    return max(1, round(density * free_area))


def draw_model(kind: str, rng: np.random.Generator) -> tuple[str, dict[str, str], tuple[Part, ...]]:
    """(model name, attributes, parts in the object frame) of one clutter object of ``kind``."""
    variant = int(rng.integers(1 << 30))
    if kind == "box":
        size = (rng.uniform(0.35, 0.8), rng.uniform(0.35, 0.9), rng.uniform(0.3, 1.1))
        attrs = {"colour": ("brown", "beige")[int(rng.integers(2))], "material": "cardboard"}
        return "cardboard_boxes", attrs, _build("cardboard_boxes", size, attrs, variant)
    if kind == "chair":
        model = ("chair", "office_chair")[int(rng.integers(2))]
        size, attrs, _ = sample_instance(model, rng)
        return model, attrs, _build(model, size, attrs, variant)
    if kind == "cart":
        if rng.random() < 0.25:
            size, attrs, _ = sample_instance("hand_truck", rng)
            return "hand_truck", attrs, _build("hand_truck", size, attrs, variant)
        size = (rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7), rng.uniform(0.85, 1.0))
        attrs = {
            "colour": CART_COLOURS[int(rng.integers(len(CART_COLOURS)))],
            "material": ("metal", "plastic")[int(rng.integers(2))],
        }
        return "cart", attrs, tuple(cart_parts(size, attrs, variant))
    if kind == "person":
        size = (rng.uniform(0.26, 0.32), rng.uniform(0.42, 0.48), rng.uniform(1.6, 1.85))
        attrs = {
            "top": PERSON_TOPS[int(rng.integers(len(PERSON_TOPS)))],
            "bottom": PERSON_BOTTOMS[int(rng.integers(len(PERSON_BOTTOMS)))],
            "skin": PERSON_SKIN_TONES[int(rng.integers(len(PERSON_SKIN_TONES)))],
            "hair": PERSON_HAIR[int(rng.integers(len(PERSON_HAIR)))],
        }
        return "person", attrs, tuple(person_parts(size, attrs, variant))
    raise ValueError(f"clutter kind = {kind!r}: expected one of {', '.join(KINDS)}")


def _build(
    model: str, size: tuple[float, ...], attrs: Mapping[str, str], variant: int
) -> tuple[Part, ...]:
    size3 = tuple(round(float(v), 3) for v in size)
    return tuple(CATEGORIES[model].build(size3, attrs, variant))  # type: ignore[arg-type]


def scatter_clutter(world: World, sim: SimConfig) -> tuple[Landmark, ...]:
    """The clutter objects of ``world`` at ``sim.clutter_density`` (see the module docstring
    for the rules); () for density 0. ``world`` is the plain world (no clutter yet)."""
    if world.clutter:
        raise ValueError(f"{world.origin}: already has clutter; scatter it on the plain world")
    occ = world.occupancy(sim.occupancy_resolution)
    grid, res = occ.grid, occ.grid.resolution
    target = clutter_count(sim.clutter_density, free_floor_area(world, res))
    if target == 0:
        return ()
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_CLUTTER, 0)
    radius = sim.robot.radius
    passage = radius + PASSAGE_MARGIN
    esdf = occ.esdf.astype(np.float64)  # updated as objects are placed (exact below passage)
    keepout = _keepout(world, grid, radius)
    reach = _largest_component(esdf > passage)  # where the robot can go: must stay connected
    rooms = occ.rooms
    room_free = np.bincount(rooms[reach & (rooms >= 0)], minlength=len(world.plan.rooms))
    must_keep = room_free > 0
    candidates = np.argwhere((rooms >= 0) & ~keepout & (esdf > OBJECT_GAP))
    if len(candidates) == 0:
        return ()
    pad = math.ceil(passage / res) + 2  # cells around a footprint whose clearance may drop
    placed: list[Landmark] = []
    p = np.asarray(KIND_WEIGHTS) / sum(KIND_WEIGHTS)
    spots_left = 0
    for _ in range(target * ATTEMPTS_PER_OBJECT):
        if len(placed) == target:
            break
        if spots_left == 0:
            # An object keeps its model over several spots, so that where space is tight the
            # large kinds (carts) are not crowded out by redrawing small ones (people).
            kind = KINDS[int(rng.choice(len(KINDS), p=p))]
            model, attrs, parts = draw_model(kind, rng)
            spots_left = SPOTS_PER_MODEL
        spots_left -= 1
        cell = candidates[int(rng.integers(len(candidates)))]
        xy = grid.to_world(cell) + rng.uniform(-0.5, 0.5, 2) * res
        yaw = float(rng.uniform(-math.pi, math.pi))
        obj = _clutter_object(world, kind, model, attrs, parts, (float(xy[0]), float(xy[1])), yaw)
        win, fp = _local_footprint(grid, obj, pad)
        if not fp.any():
            continue
        if (
            keepout[win][fp].any()
            or (esdf[win][fp] <= OBJECT_GAP).any()
            or (rooms[win][fp] < 0).any()
        ):
            continue
        dist = ndimage.distance_transform_edt(~fp) * res - 0.5 * res
        new_esdf = np.minimum(esdf[win], dist)
        lost = reach[win] & (new_esdf <= passage)
        new_free = room_free
        if lost.any():
            in_room = rooms[win][lost]
            new_free = room_free - np.bincount(in_room[in_room >= 0], minlength=len(room_free))
            if (must_keep & (new_free <= 0)).any():
                # it would fill a room's last reachable free space (a safety net: the door
                # bands keep free space behind every door already)
                continue
            new_reach = reach.copy()
            new_reach[win] &= ~lost
            if ndimage.label(new_reach, structure=np.ones((3, 3)))[1] > 1:
                continue  # it would cut the free space in two: a passage closed, a pocket lost
            reach = new_reach
        esdf[win] = new_esdf
        room_free = new_free
        placed.append(obj)
        spots_left = 0
    return tuple(placed)


def _clutter_object(world: World, kind: str, model: str, attrs: Mapping[str, str],
                    parts: tuple[Part, ...], origin: tuple[float, float], yaw: float
                    ) -> Landmark:  # fmt: skip
    """A clutter record (id 0, not a landmark) standing at ``origin`` facing ``yaw``."""
    position, extent = placed_box(parts, origin, yaw, 0.0)
    k = world.plan.room_of(origin)
    room = world.plan.rooms[k] if k >= 0 else None
    return Landmark(
        id=CLUTTER_SEG_ID,
        category=kind,
        room=room.name if room else "",
        room_label=room.label if room else "",
        position=position,
        yaw=yaw,
        size=extent,
        elevation=0.0,
        attributes={"model": model, **attrs},
        function="",
        obstacle=True,
        parts=parts,
        origin=origin,
    )


def _local_footprint(
    grid: GridSpec, obj: Landmark, pad: int
) -> tuple[tuple[slice, slice], np.ndarray]:
    """(window slices into the grid, bool mask of the window's cells under ``obj``'s
    footprints). The window is the footprints' bounding box plus ``pad`` cells, clipped."""
    rects = obj.footprints()
    if not rects:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
    r = np.asarray(rects, np.float64)
    c, s = np.abs(np.cos(r[:, 4])), np.abs(np.sin(r[:, 4]))
    ex = 0.5 * np.stack([c * r[:, 2] + s * r[:, 3], s * r[:, 2] + c * r[:, 3]], 1)
    lo = grid.index((r[:, :2] - ex).min(0)) - pad
    hi = grid.index((r[:, :2] + ex).max(0)) + pad + 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.asarray(grid.shape))
    res = grid.resolution
    sub = GridSpec(
        (grid.origin[0] + int(lo[0]) * res, grid.origin[1] + int(lo[1]) * res),
        res,
        (int(hi[0] - lo[0]), int(hi[1] - lo[1])),
    )
    win = (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])))
    return win, rasterize_rects(sub, rects)


def _keepout(world: World, grid: GridSpec, radius: float) -> np.ndarray:
    """(nx, ny) bool: cells no clutter footprint may cover (door bands, goal spots in front of
    landmarks, wall-mounted objects plus the gap)."""
    res = grid.resolution
    st = world.structure
    rects = []
    for cut in st.cuts:
        seg = st.segments[cut.segment]
        cx, cy = seg.point(cut.s)
        rects.append(
            (
                float(cx),
                float(cy),
                cut.width + 2 * DOOR_SIDE,
                seg.thickness + 2 * DOOR_DEPTH,
                seg.yaw,
            )
        )
    out = rasterize_rects(grid, rects)
    mounted = rasterize_rects(
        grid, [lm.part_footprint(p) for lm in world.landmarks if not lm.obstacle for p in lm.parts]
    )
    if mounted.any():
        out |= ndimage.distance_transform_edt(~mounted) * res <= OBJECT_GAP + 0.5 * res
    xs, ys = grid.centres()
    spot_r = radius + GOAL_SPOT_MARGIN
    for lm in world.landmarks:
        d = 0.5 * max(lm.size[0], min(lm.size[1], 1.2)) + radius + GOAL_SPOT_EXTRA
        px = lm.position[0] + d * math.cos(lm.yaw)
        py = lm.position[1] + d * math.sin(lm.yaw)
        i0, j0 = grid.index(np.array([px - spot_r, py - spot_r]))
        i1, j1 = grid.index(np.array([px + spot_r, py + spot_r])) + 1
        dx, dy = xs[i0:i1, None] - px, ys[None, j0:j1] - py
        out[i0:i1, j0:j1] |= dx * dx + dy * dy <= spot_r * spot_r
    return out


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool mask (all False if it is empty)."""
    comp, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask.copy()
    sizes = ndimage.sum(mask, comp, index=np.arange(1, n + 1))
    return comp == int(np.argmax(sizes)) + 1
