"""The heads' training cache: frozen-encoder features and labels of every tick of an episode.

Training the heads through the encoder would cost ~360 ms per small-preset forward on two CPU
cores, so the heads train on cached features of the depth-pre-trained, frozen encoder. For each
goal episode the cache holds one directory::

    ROOT/head_ticks/<feature key>-<spec key>/<episode name>-<path hash>/
      features.npy   (K, X, Y, C) float16: the encoder's features of each tick's frame
      labels.npz     the arrays of :func:`astra_jax.data.head_labels.tick_labels`

``feature key`` names the encoder (its config and a digest of its parameters, given by the
caller), ``spec key`` the :class:`~astra_jax.data.head_labels.TickSpec`, and the path hash the
episode directory (itself keyed by the simulator config), so a change to any of them makes a
new entry and nothing stale is reused. An entry is written into a temporary sibling and renamed
into place: a reader never sees half of one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from astra_jax import progress
from astra_jax.config import SimConfig
from astra_jax.data.episode_cache import data_root
from astra_jax.data.head_labels import TickSpec, tick_labels
from astra_jax.formats.episode import Episode, load_episode

FeatureFn = Callable[[np.ndarray], np.ndarray]  # rgb (F, N, H, W, 3) uint8 -> (F, X, Y, C)
ExtraFn = Callable[[Episode, np.ndarray], np.ndarray]  # (episode, tick frames (K,)) -> (K, X, Y, E)
FEATURE_BATCH = 8  # frames per encoder call


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


LABELS_VERSION = 5  # bump when tick_labels changes what it writes (2: people, 3: gyro_scale,
# 4: gyro_scale_scan, 5: gyro_scale_scan without unsettled scan matches)


def spec_key(spec: TickSpec) -> str:
    fields = dataclasses.asdict(spec)
    if LABELS_VERSION > 1:  # version 1's keys had no version field
        fields["labels_version"] = LABELS_VERSION
    text = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def entry_dir(episode: Path, feature_key: str, spec: TickSpec, root: Path | None = None) -> Path:
    """Where the cache keeps ``episode``'s ticks for this encoder and spec."""
    path_hash = hashlib.sha256(str(Path(episode).resolve()).encode()).hexdigest()[:10]
    base = (root or data_root()) / "head_ticks" / f"{feature_key}-{spec_key(spec)}"
    return base / f"{Path(episode).name}-{path_hash}"


def _world_crops(sim: SimConfig, world: dict, spec: TickSpec) -> Callable[[np.ndarray], np.ndarray]:
    from astra_jax.sim.occupancy import local_crop
    from astra_jax.sim.world import load_world

    w = load_world(world.get("family"), int(world["seed"]), world.get("file"), sim)
    occ = w.occupancy(sim.occupancy_resolution)
    return lambda poses: local_crop(occ, poses, spec.esdf_shape, spec.esdf_resolution)


def ensure_head_cache(episodes: Sequence[Path], spec: TickSpec, features: FeatureFn,
                      feature_key: str, sim: SimConfig, root: Path | None = None,
                      show_progress: bool = True,
                      report: Callable[[str], None] = _stderr,
                      extra: ExtraFn | None = None, extra_key: str = "") -> list[Path]:  # fmt: skip
    """The cache entries of ``episodes`` (built first where missing), in the same order.

    ``sim`` must be the config the episodes were rendered with: the ESDF labels come from the
    same worlds (clutter included). ``extra`` (named by ``extra_key``) adds ``extra.npy`` per
    entry: the 4D planner's condition (:mod:`astra_jax.tasks.future_features`). ``report`` gets
    one line with the size of what was built.
    """
    if extra is not None and not extra_key:
        raise ValueError("ensure_head_cache: extra features need an extra_key naming them")
    key = f"{feature_key}+{extra_key}" if extra is not None else feature_key
    out = [entry_dir(e, key, spec, root) for e in episodes]
    todo = [(e, d) for e, d in zip(episodes, out, strict=True) if not d.is_dir()]
    if not todo:
        return out
    crops: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    start = time.perf_counter()
    with progress.bar("features", len(todo), unit="episode", enabled=show_progress) as bar:
        for episode, dest in todo:
            ep = load_episode(episode, mmap=True)
            key = json.dumps(ep.world, sort_keys=True)
            if key not in crops:
                crops = {key: _world_crops(sim, ep.world, spec)}  # one world in memory at a time
            labels = tick_labels(ep, spec, crops[key])
            rgb = ep.rgb[labels["frame"]]
            feats = np.concatenate([np.asarray(features(np.asarray(rgb[i : i + FEATURE_BATCH])),
                                               np.float16)
                                    for i in range(0, len(rgb), FEATURE_BATCH)])  # fmt: skip
            tmp = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            np.save(tmp / "features.npy", feats)
            if extra is not None:
                more = np.asarray(extra(ep, labels["frame"]), np.float16)
                if more.ndim != 4 or more.shape[:3] != feats.shape[:3]:
                    raise ValueError(
                        f"{episode}: extra features of shape {more.shape}; expected "
                        f"({feats.shape[0]}, {feats.shape[1]}, {feats.shape[2]}, E)"
                    )
                np.save(tmp / "extra.npy", more)
            np.savez(tmp / "labels.npz", **labels)
            try:
                os.replace(tmp, dest)
            except OSError:  # another process wrote the same entry first (identical content)
                shutil.rmtree(tmp, ignore_errors=True)
            bar.update(1)
    made = [d for _, d in todo]
    ticks = sum(len(np.load(d / "labels.npz")["frame"]) for d in made)
    size = sum(f.stat().st_size for d in made for f in d.iterdir())
    report(
        f"cached the frozen encoder's features of {len(made)} episodes ({ticks} ticks, "
        f"{size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s: {made[0].parent}"
    )
    return out
