"""Batch generation of goal-reaching episodes over many worlds, on all cores.

Each worker process (``spawn``: OpenGL contexts must not cross a fork) builds one world at a
time, its scene and a renderer, and writes that world's episodes. Output layout::

    OUT/
      index.json                       schema_version, family/file, split, preset, config_fingerprint, episodes [...]
      <family>_<seed:07d>_<k:03d>/     one episode directory per (world seed, index k)

The batch is written into ``OUT.partial-<pid>`` and renamed to ``OUT`` when complete, so an
existing ``OUT`` is never touched and a crashed batch leaves no half-written ``OUT``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path
from typing import Any

from astra_jax import progress as progress_bars
from astra_jax.config import AstraConfig, RigConfig, SimConfig, get_preset
from astra_jax.sim import seeds

INDEX_VERSION = 1


def sim_config_fingerprint(sim: SimConfig, rig: RigConfig) -> str:
    """12 hex digits identifying everything rendered episodes depend on: the simulator and
    rig configs in use (overrides included) and the on-disk schema versions."""
    from astra_jax.sim.episode import SCHEMA_VERSION

    sim_fields = dataclasses.asdict(sim)
    if not sim.world_changes.active:  # worlds as toured keep the keys they had before the knob
        sim_fields.pop("world_changes")
    if not sim.people.active:  # nor do worlds without people
        sim_fields.pop("people")
    if not sim.depth_noise.active:  # nor exact depth
        sim_fields.pop("depth_noise")
    text = json.dumps(
        {
            "sim": sim_fields,
            "rig": dataclasses.asdict(rig),
            "episode_schema": SCHEMA_VERSION,
            "index_schema": INDEX_VERSION,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def episode_name(family: str, seed: int, k: int) -> str:
    return f"{family}_{seed:07d}_{k:03d}"


def _worker_init() -> None:
    # Two processes already fill two cores: one rasterizer thread each avoids oversubscription.
    os.environ.setdefault("LP_NUM_THREADS", "1")
    os.environ.setdefault("MUJOCO_GL", "egl")


def _world_task(
    args: tuple[str | None, str | None, int, int, AstraConfig, str],
) -> list[dict[str, Any]]:
    """Build one world and write its episodes; returns their index entries."""
    family, file, seed, count, cfg, out = args
    from astra_jax.sim.episode import save_episode
    from astra_jax.sim.generate import make_goal_episode
    from astra_jax.sim.render import RigRenderer
    from astra_jax.sim.scene import build_scene
    from astra_jax.sim.world import load_world

    world = load_world(family, seed, file, cfg.sim)
    scene = build_scene(world, cfg.rig, cfg.sim)
    entries = []
    with RigRenderer(scene, cfg.rig.image_hw) as renderer:
        for k in range(count):
            ep = make_goal_episode(world, renderer, cfg, k)
            name = episode_name(world.family if file is None else Path(file).stem, seed, k)
            save_episode(ep, Path(out) / name)
            entries.append({"dir": name, "world_seed": seed, "index": k, "frames": ep.num_frames,
                            "goal": ep.goal["category"] if ep.goal else None})  # fmt: skip
    return entries


def generate_episodes(out: str | os.PathLike[str], seed_range: range, family: str | None = None,
                      file: str | None = None, split: str = "train",
                      config: AstraConfig | None = None, per_world: int = 4,
                      workers: int | None = None, progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Generate ``per_world`` goal episodes for every world seed in ``seed_range``.

    ``config`` (resolved by the caller; default: the ``small`` preset) fixes the simulator,
    the rig and the image size. Seeds must all lie in ``split`` (see
    :mod:`astra_jax.sim.seeds`). ``progress``: a bar of episodes written, with the time left
    (shown only on a terminal and outside ``--json``: :mod:`astra_jax.progress`). Returns the
    index dict.
    """
    config = config or get_preset("small")
    dest = Path(out)
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists; choose a new output directory")
    if per_world < 1:
        raise ValueError(f"episodes per world = {per_world}: expected at least 1")
    seeds.check_split(seed_range, split)
    workers = workers or min(os.cpu_count() or 1, len(seed_range))
    tmp = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tasks = [(family, file, s, per_world, config, str(tmp)) for s in seed_range]
    entries: list[dict[str, Any]] = []
    t0 = time.time()
    try:
        bar = progress_bars.bar(
            "episodes", len(tasks) * per_world, unit="episode", enabled=progress
        )
        if workers <= 1:
            for task in tasks:
                res = _world_task(task)
                entries += res
                bar.update(len(res))
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for res in pool.imap_unordered(_world_task, tasks):
                    entries += res
                    bar.update(len(res))
        bar.close()
        entries.sort(key=lambda e: (e["world_seed"], e["index"]))
        index = {
            "schema_version": INDEX_VERSION,
            "family": family,
            "file": file,
            "split": split,
            "preset": config.name,
            "config_fingerprint": sim_config_fingerprint(config.sim, config.rig),
            "world_seeds": [seed_range.start, seed_range.stop],
            "episodes_per_world": per_world,
            "episodes": entries,
        }
        (tmp / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index["seconds"] = round(time.time() - t0, 2)
    return index
