"""``astra sim``: build worlds, draw them, render tours and generate training episodes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from astra_jax.cli._common import emit_json, run


def _world(family: str, world_seed: int, world: str | None, preset: str = "small",
           changes: str | None = None, people: float = 0.0):  # fmt: skip
    import dataclasses

    from astra_jax.config import get_preset
    from astra_jax.sim.world import load_world

    cfg = get_preset(preset).with_people(people)
    if changes:
        from astra_jax.sim.changes import parse_changes

        sim = dataclasses.replace(cfg.sim, world_changes=parse_changes(changes))
        cfg = dataclasses.replace(cfg, sim=sim)
    return load_world(family, world_seed, world, cfg.sim), cfg


def world(out: str, family: str = "office", world_seed: int = 0, world: str | None = None, ids: bool = False,
          json: bool = False) -> int:  # fmt: skip
    """Draw a world top-down (rooms, walls, doors, landmarks) as a PNG.

    Args:
        out: PNG file to write (must not exist).
        family: procedural family, office or warehouse (ignored with --world).
        world_seed: world seed (see the train/val/test seed ranges in docs/design.md).
        world: a floor-plan JSON file instead of a procedural world.
        ids: label landmarks with their ids instead of their categories.
        json: also print a one-line JSON summary.
    """
    from astra_jax.sim.topdown import draw_world

    p = Path(out)
    if p.exists():
        raise FileExistsError(f"{p}: already exists; choose another --out")
    w, _ = _world(family, world_seed, world)
    draw_world(w, p, show_ids=ids)
    counts: dict[str, int] = {}
    for r in w.plan.rooms:
        counts[r.label] = counts.get(r.label, 0) + 1
    print(f"{w.name}: {len(w.plan.rooms)} rooms, {len(w.landmarks)} landmarks, "
          f"{len({lm.category for lm in w.landmarks})} categories -> {p}")  # fmt: skip
    if json:
        x0, y0, x1, y1 = w.bounds
        emit_json({"world": w.info(), "out": str(p), "rooms": counts, "landmarks": len(w.landmarks),
                   "size_m": [round(x1 - x0, 2), round(y1 - y0, 2)]})  # fmt: skip
    return 0


def plan(out: str, family: str = "office", world_seed: int = 0, json: bool = False) -> int:
    """Export a procedural world's floor plan as JSON (the schema hand-made plans use).

    Args:
        out: JSON file to write (must not exist).
        family: office or warehouse.
        world_seed: world seed.
        json: also print a one-line JSON summary.
    """
    from astra_jax.sim.floorplan import save_plan

    w, _ = _world(family, world_seed, None)
    save_plan(w.plan, out)
    print(f"{w.name}: floor plan -> {out}")
    if json:
        emit_json({"world": w.info(), "out": out})
    return 0


def tour(out: str, frames: int = 400, family: str = "office", world_seed: int = 0, world: str | None = None,
         preset: str = "small", max_speed: float = 0.6, changes: str | None = None,
         people: float = 0.0, json: bool = False) -> int:  # fmt: skip
    """Render a mapping tour that visits every room, at the rig's mapping resolution.

    Args:
        out: episode directory to write (must not exist).
        frames: number of frames, spread evenly in time over the tour.
        family: office or warehouse (ignored with --world).
        world_seed: world seed.
        world: a floor-plan JSON file instead of a procedural world.
        preset: config preset (tiny, small, base): rig, mapping_hw, robot and sensor noise.
        max_speed: top speed of the tour in m/s.
        changes: the query day, e.g. ``lighting=0.8,moved=0.3,seed=1`` (lights changed, 30%
            of movable objects moved; also shift=M, turn_deg=D): a tour to localize against a
            map made on the tour day. The manifest records them.
        people: walking people per 100 m^2 of free floor (0: none); the driver slows for them
            and steers around them, and the map build ignores them (not landmarks).
        json: also print a one-line JSON summary.
    """
    from astra_jax.sim.episode import save_episode
    from astra_jax.sim.generate import make_tour
    from astra_jax.sim.render import RigRenderer
    from astra_jax.sim.scene import build_scene

    if Path(out).exists():
        raise FileExistsError(f"{out}: already exists; episodes are never overwritten")
    t0 = time.time()
    w, cfg = _world(family, world_seed, world, preset, changes, people)
    scene = build_scene(w, cfg.rig, cfg.sim)
    with RigRenderer(scene, cfg.rig.mapping_hw) as r:
        ep = make_tour(w, r, cfg, frames, max_speed)
    save_episode(ep, out)
    st = ep.manifest["stats"]
    print(f"tour of {w.name}: {ep.num_frames} frames at {cfg.rig.mapping_hw[1]}x{cfg.rig.mapping_hw[0]}, "
          f"{st['path_length_m']:.1f} m in {st['duration_s']:.0f} s, "
          f"{len(st['rooms_visited'])}/{len(w.plan.rooms)} rooms -> {out}")  # fmt: skip
    if json:
        emit_json({"out": out, "world": w.info(), "frames": ep.num_frames, "image_hw": list(ep.image_hw),
                   "rooms_visited": len(st["rooms_visited"]), "rooms": len(w.plan.rooms),
                   "path_length_m": st["path_length_m"], "seconds": round(time.time() - t0, 2)})  # fmt: skip
    return 0


def episodes(out: str, seeds: str, family: str = "office", world: str | None = None, split: str = "train",
             per_world: int = 4, preset: str = "small", workers: int = 0, people: float = 0.0,
             json: bool = False) -> int:  # fmt: skip
    """Generate goal-reaching expert episodes for training, on all cores.

    Args:
        out: output directory (must not exist); one episode directory per episode + index.json.
        seeds: world seeds as A:B (A inclusive, B exclusive), all inside --split's range.
        family: office or warehouse (ignored with --world).
        world: a floor-plan JSON file instead of procedural worlds (seeds vary its open choices).
        split: train, val or test; the seeds must belong to it.
        per_world: episodes per world seed.
        preset: config preset (tiny, small, base) fixing image size, rig and noise.
        workers: worker processes (0: one per CPU core).
        people: walking people per 100 m^2 of free floor (0: none): the expert slows for them
            and replans around them; each episode records them (people.npy).
        json: also print a one-line JSON summary.
    """
    from astra_jax.config import get_preset
    from astra_jax.sim.batch import generate_episodes
    from astra_jax.sim.seeds import parse_seed_range

    rng = parse_seed_range(seeds)
    index = generate_episodes(out, rng, family=None if world else family, file=world, split=split,
                              config=get_preset(preset).with_people(people), per_world=per_world,
                              workers=workers or None)  # fmt: skip
    n = len(index["episodes"])
    frames = sum(e["frames"] for e in index["episodes"])
    print(
        f"{n} episodes ({frames} frames) from {len(rng)} worlds in {index['seconds']:.0f} s -> {out}"
    )
    if json:
        emit_json({"out": out, "episodes": n, "frames": frames, "worlds": len(rng), "split": split,
                   "seconds": index["seconds"]})  # fmt: skip
    return 0


def view(out: str, family: str = "office", world_seed: int = 0, world: str | None = None, room: str | None = None,
         yaw: float = 0.0, height: int = 240, width: int = 320, json: bool = False) -> int:  # fmt: skip
    """Render the rig once (RGB, depth, segmentation strips) from the most open point of a room.

    Args:
        out: PNG file to write (must not exist).
        family: office or warehouse (ignored with --world).
        world_seed: world seed.
        world: a floor-plan JSON file instead of a procedural world.
        room: room name (e.g. lobby_1) or label (e.g. kitchen); default: the first room.
        yaw: robot heading in radians.
        height: image height in pixels.
        width: image width in pixels.
        json: also print a one-line JSON summary.
    """
    from PIL import Image

    from astra_jax.sim.planning import room_anchor
    from astra_jax.sim.render import RigRenderer
    from astra_jax.sim.scene import build_scene

    p = Path(out)
    if p.exists():
        raise FileExistsError(f"{p}: already exists; choose another --out")
    w, cfg = _world(family, world_seed, world)
    names = [r.name for r in w.plan.rooms]
    labels = [r.label for r in w.plan.rooms]
    if room is None:
        k = 0
    elif room in names:
        k = names.index(room)
    elif room in labels:
        k = labels.index(room)
    else:
        raise ValueError(
            f"room = {room!r}: expected a room name or label of {w.name}: {', '.join(names)}"
        )
    xy = room_anchor(w.occupancy(cfg.sim.occupancy_resolution), k)
    scene = build_scene(w, cfg.rig)
    with RigRenderer(scene, (height, width)) as r:
        rgb, depth, seg = r.render(np.array([xy[0], xy[1], yaw]))
    d = (np.clip(depth / 10.0, 0, 1) * 255).astype(np.uint8)
    palette = np.random.default_rng(0).integers(40, 255, (len(w.landmarks) + 1, 3)).astype(np.uint8)
    palette[0] = 0
    rows = [np.concatenate(list(rgb), 1), np.concatenate([np.stack([x] * 3, -1) for x in d], 1),
            np.concatenate(list(palette[seg]), 1)]  # fmt: skip
    tmp = p.with_name(f".{p.name}.tmp.png")
    Image.fromarray(np.concatenate(rows, 0)).save(tmp)
    tmp.replace(p)
    print(f"{w.name} {names[k]} at ({xy[0]:.2f}, {xy[1]:.2f}, {yaw:.2f}) -> {p}")
    if json:
        emit_json({"out": str(p), "room": names[k], "pose": [float(xy[0]), float(xy[1]), yaw],
                   "landmarks_visible": sorted(int(i) for i in np.unique(seg) if i > 0)})  # fmt: skip
    return 0


def check_scenes(seeds: str, family: str = "office", preset: str = "tiny", workers: int = 0,
                 json: bool = False) -> int:  # fmt: skip
    """Build the MuJoCo scene of every world in a seed range; list those that fail, and why.

    Args:
        seeds: world seeds as A:B (A inclusive, B exclusive).
        family: office or warehouse.
        preset: config preset whose rig the scenes carry.
        workers: worker processes (0: one per CPU core).
        json: also print a one-line JSON summary.

    Exits with status 1 when any world fails.
    """
    from astra_jax.sim.scene_check import check_scenes as check
    from astra_jax.sim.seeds import parse_seed_range

    rng = parse_seed_range(seeds)
    t0 = time.perf_counter()
    results = check(family, rng, preset, workers or None)
    seconds = time.perf_counter() - t0
    failed = [r for r in results if r.error is not None]
    for r in failed:
        print(f"FAILED {r.error}")
    slowest = max(results, key=lambda r: r.seconds)
    print(f"{family} seeds {rng.start}:{rng.stop}: {len(results) - len(failed)}/{len(results)} "
          f"scenes built in {seconds:.0f} s (slowest: seed {slowest.seed}, {slowest.seconds:.1f} s)")  # fmt: skip
    if json:
        emit_json({"family": family, "seeds": [rng.start, rng.stop], "built": len(results) - len(failed),
                   "failed": [{"seed": r.seed, "error": r.error} for r in failed],
                   "seconds": round(seconds, 1)})  # fmt: skip
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    return run(
        "astra sim",
        {
            "world": world,
            "plan": plan,
            "tour": tour,
            "episodes": episodes,
            "view": view,
            "check-scenes": check_scenes,
        },
        argv,
    )
