"""Build the MuJoCo scene of every world in a seed range: which worlds fail, and why.

Data generation over a seed range stops at the first world that cannot be built, so this
checks a whole range up front (``astra sim check-scenes``, and a slow test over seeds 0-199
of both families). Worlds are built in spawned worker processes; results come back in seed order.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("MUJOCO_GL", "egl")


@dataclasses.dataclass(frozen=True)
class SceneCheck:
    """One world's result: ``error`` is None when its world and scene built."""

    family: str
    seed: int
    seconds: float
    geoms: int
    error: str | None


def check_scene(family: str, seed: int, preset: str = "tiny") -> SceneCheck:
    """Build world ``(family, seed)`` and its scene with ``preset``'s rig; never raises on a
    world that cannot be built (the one-line error is returned instead)."""
    from astra_jax.config import get_preset
    from astra_jax.sim.floorplan import FloorPlanError
    from astra_jax.sim.generators import GeneratorError
    from astra_jax.sim.scene import SceneError, build_scene
    from astra_jax.sim.world import build_world

    cfg = get_preset(preset)
    t0 = time.perf_counter()
    try:
        scene = build_scene(build_world(family, seed, cfg.sim), cfg.rig)
    except (SceneError, FloorPlanError, GeneratorError) as e:  # these name the world already
        return SceneCheck(family, seed, time.perf_counter() - t0, 0, str(e))
    except Exception as e:  # a generator bug: report it for this world and go on
        cause = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
        error = f"<generated {family} world, seed {seed}>: {type(e).__name__}: {cause}"
        return SceneCheck(family, seed, time.perf_counter() - t0, 0, error)
    return SceneCheck(family, seed, time.perf_counter() - t0, int(scene.model.ngeom), None)


def check_scenes(family: str, seeds: range | list[int], preset: str = "tiny",
                 workers: int | None = None) -> list[SceneCheck]:  # fmt: skip
    """:func:`check_scene` for every seed, on ``workers`` processes (None: one per core)."""
    if family not in ("office", "warehouse"):
        raise ValueError(f"family = {family!r}: expected office or warehouse")
    seeds = list(seeds)
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        return [check_scene(family, s, preset) for s in seeds]
    # spawn, as episode generation does: no fork of a process that may hold JAX or GL threads
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(check_scene, [family] * len(seeds), seeds, [preset] * len(seeds)))
