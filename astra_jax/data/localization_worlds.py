"""Astra-Global's training worlds: tour -> surveyed map -> samples, cached on first use.

A world is named ``"NAME:SEED"``: NAME a procedural family (``office``, ``warehouse``) or a
shipped floor plan (``small_office``, ``small_warehouse``), SEED a world seed of the split it
serves (train seeds for training, validation seeds for checkpoint selection; test seeds are
never trained on). For each world, :func:`ensure_world` renders a mapping tour of
``tour_frames`` frames, builds its map from the tour's true poses (a surveyed map: no SfM,
seconds instead of minutes; the SfM maps of test worlds are for evaluation) and makes the
samples of :mod:`astra_jax.data.localization_samples`, then stores them::

    $ASTRA_DATA_DIR/localization/<preset>/loc-<fingerprint>/<name>_<seed:07d>/
        samples.json   the samples (task, prompt, answer, image ids, frame) + what made them
        images.npy     (N, H, W, 3) uint8, the images the samples show

``fingerprint`` hashes the simulator and rig configs, the tour length, the sample options
and the task formats' versions, so a change to any of them makes a new entry. A world is
written as a ``.partial-<pid>`` sibling and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.config import AstraConfig, ConfigError
from astra_jax.data.episode_cache import data_root
from astra_jax.data.localization_samples import (
    LocalizationSample,
    SampleOptions,
    WorldSamples,
    task_counts,
    world_samples,
)
from astra_jax.global_model.formats import FORMAT_VERSIONS

FLOOR_PLANS = ("small_office", "small_warehouse")
FAMILIES = ("office", "warehouse")
CACHE_VERSION = 2  # 2: landmark positions and query poses (GRPO rewards)


def parse_world(text: str) -> tuple[str, int]:
    """``"NAME:SEED"`` -> (name, seed); errors say what a world name looks like."""
    name, sep, seed = text.partition(":")
    if not sep or name not in FAMILIES + FLOOR_PLANS or not seed.isdigit():
        raise ConfigError(
            f"world {text!r}: expected NAME:SEED with NAME one of "
            f"{', '.join(FAMILIES + FLOOR_PLANS)} and SEED a world seed"
        )
    return name, int(seed)


def check_worlds(worlds: tuple[str, ...], split: str, field: str) -> None:
    """Every world parses and its seed belongs to ``split``."""
    from astra_jax.sim.seeds import split_of_seed

    for w in worlds:
        _, seed = parse_world(w)
        if split_of_seed(seed) != split:
            raise ConfigError(
                f"{field}: world {w!r} has a {split_of_seed(seed)} seed; expected {split} seeds"
            )


def fingerprint(config: AstraConfig, tour_frames: int, options: SampleOptions) -> str:
    """12 hex digits naming everything a world's samples depend on."""
    from astra_jax.sim.batch import sim_config_fingerprint

    text = json.dumps(
        {
            "sim": sim_config_fingerprint(config.sim, config.rig),
            "tour_frames": tour_frames,
            "samples": dataclasses.asdict(options),
            "formats": FORMAT_VERSIONS,
            "cache": CACHE_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def world_directory(
    world: str, config: AstraConfig, tour_frames: int, options: SampleOptions, root: Path
) -> Path:
    name, seed = parse_world(world)
    key = f"loc-{fingerprint(config, tour_frames, options)}"
    return root / "localization" / config.name / key / f"{name}_{seed:07d}"


def ensure_world(
    world: str,
    config: AstraConfig,
    tour_frames: int,
    options: SampleOptions,
    root: Path | None = None,
    seed: int = 0,
) -> Path:
    """The cache directory of ``world``'s samples, generated if missing."""
    root = data_root() if root is None else Path(root)
    dest = world_directory(world, config, tour_frames, options, root)
    if (dest / "samples.json").is_file() and (dest / "images.npy").is_file():
        return dest
    name, world_seed = parse_world(world)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    print(f"astra-jax: making localization samples of {world} in {dest}", file=sys.stderr)
    try:
        ws = _generate(name, world_seed, config, tour_frames, options, partial, seed)
        doc = {
            "world": world,
            "tour_frames": tour_frames,
            "sample_options": dataclasses.asdict(options),
            "format_versions": FORMAT_VERSIONS,
            "counts": task_counts(ws.samples),
            "samples": [dataclasses.asdict(s) for s in ws.samples],
            "landmark_xy": {str(k): list(v) for k, v in ws.landmark_xy.items()},
            "frame_poses": {str(k): list(v) for k, v in ws.frame_poses.items()},
        }
        (partial / "samples.json").write_text(json.dumps(doc), encoding="utf-8")
        np.save(partial / "images.npy", ws.images)
        for tmp in ("tour", "map"):
            shutil.rmtree(partial / tmp, ignore_errors=True)
        os.replace(partial, dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest


def load_named_world(name: str, seed: int, sim: Any) -> Any:
    """The world ``name`` (a family or a shipped floor plan, :data:`FLOOR_PLANS`) at ``seed``,
    built with ``sim`` (a SimConfig)."""
    from astra_jax.sim.world import load_world

    if name in FLOOR_PLANS:
        import astra_jax.sim

        plan = Path(astra_jax.sim.__file__).parent / "floorplans" / f"{name}.json"
        return load_world(None, seed, plan, sim)
    return load_world(name, seed, None, sim)


def _generate(
    name: str,
    world_seed: int,
    config: AstraConfig,
    tour_frames: int,
    options: SampleOptions,
    work: Path,
    seed: int,
) -> WorldSamples:
    from astra_jax.maps.build import BuildOptions, build_map
    from astra_jax.maps.tour import load_tour
    from astra_jax.sim.episode import save_episode
    from astra_jax.sim.generate import make_tour
    from astra_jax.sim.render import RigRenderer
    from astra_jax.sim.scene import build_scene

    w = load_named_world(name, world_seed, config.sim)
    with RigRenderer(build_scene(w, config.rig), config.rig.mapping_hw) as r:
        ep = make_tour(w, r, config, tour_frames)
    save_episode(ep, work / "tour")
    tour = load_tour(work / "tour")
    m, _ = build_map(tour, work / "map", BuildOptions(poses="ground_truth"))
    return world_samples(m, tour, options, seed=world_seed * 7919 + seed)


def load_world_samples(path: Path) -> WorldSamples:
    """A cached world's samples; errors name the file and what is wrong."""
    path = Path(path)
    try:
        doc = json.loads((path / "samples.json").read_text(encoding="utf-8"))
        images = np.load(path / "images.npy", mmap_mode="r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: damaged localization cache ({e}); delete it to remake") from None
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{path / 'images.npy'}: expected (N, H, W, 3) uint8, got "
                         f"{images.shape} {images.dtype}")  # fmt: skip
    samples = tuple(
        LocalizationSample(s["task"], s["prompt"], s["answer"], tuple(s["image_ids"]), s["frame"])
        for s in doc["samples"]
    )
    top = max((max(s.image_ids) for s in samples), default=-1)
    if top >= len(images):
        raise ValueError(f"{path}: a sample shows image {top} of {len(images)}")
    try:
        landmark_xy = {int(k): (float(x), float(y)) for k, (x, y) in doc["landmark_xy"].items()}
        poses = {
            int(k): (float(x), float(y), float(t)) for k, (x, y, t) in doc["frame_poses"].items()
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path / 'samples.json'}: bad landmark_xy or frame_poses ({e!r}); "
                         "delete the directory to remake it") from None  # fmt: skip
    return WorldSamples(samples, images, landmark_xy, poses)
