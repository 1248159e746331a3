"""Simulator goal episodes for training, generated on first use into a cache directory.

An :class:`EpisodeSet` names one family's goal episodes over a contiguous range of world seeds
of one split (``astra_jax.sim.seeds``: train, val, test), rendered with one resolved config
(simulator, rig, image size; overrides included).
:func:`ensure_episode_set` returns its episode directories, generating them with the
simulator's batch writer (:func:`astra_jax.sim.batch.generate_episodes`, all cores) the first
time and reusing them afterwards. Episodes are a pure function of (family, seed, index,
config), so every machine that generates a set gets the same bytes.

Layout (``root`` = ``$ASTRA_DATA_DIR``, default ``${XDG_CACHE_HOME:-~/.cache}/astra-jax``)::

    root/episodes/<preset>/sim-<fingerprint>/<split>/<family>_<first>-<stop>_x<per_world>/
        index.json, <family>_<seed:07d>_<k:03d>/ (one episode directory each)

``preset`` is the config's name; ``fingerprint``
(:func:`astra_jax.sim.batch.sim_config_fingerprint`) hashes the simulator and rig configs in use
and the on-disk schema versions, so changing any of them (an override too) makes a new cache
entry instead of reusing stale episodes
(code changes to the simulator that keep its config do not; delete the directory then).
A set is written as a ``.partial-<pid>`` sibling and renamed when complete, so an interrupted
generation leaves nothing that could be mistaken for data; a set that is present is validated
(index, every episode's files, shapes, dtypes, world seeds, image size) before it is used, and
a damaged one is reported with its path and never deleted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from astra_jax.config import AstraConfig
from astra_jax.sim import batch, episode, seeds
from astra_jax.sim.generators import GENERATORS

DATA_DIR_ENV = "ASTRA_DATA_DIR"


class EpisodeCacheError(ValueError):
    """A cached episode set is damaged or does not match what was asked for."""


def data_root() -> Path:
    """``$ASTRA_DATA_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/astra-jax``."""
    if env := os.environ.get(DATA_DIR_ENV):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "astra-jax"


@dataclasses.dataclass(frozen=True)
class EpisodeSet:
    """``episodes_per_world`` goal episodes in each of ``num_worlds`` worlds of ``family``,
    world seeds ``first_seed, first_seed + 1, ...`` (all in ``split``), rendered with
    ``config`` (its simulator, rig and image size)."""

    config: AstraConfig
    family: str
    split: str
    first_seed: int
    num_worlds: int
    episodes_per_world: int

    def __post_init__(self) -> None:
        if not isinstance(self.config, AstraConfig):
            raise ValueError(f"EpisodeSet.config = {self.config!r}: expected an AstraConfig")
        if self.family not in GENERATORS:
            raise ValueError(
                f"EpisodeSet.family = {self.family!r}: expected one of {', '.join(GENERATORS)}"
            )
        for name in ("num_worlds", "episodes_per_world"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"EpisodeSet.{name} = {v!r}: expected a positive int")
        seeds.check_split(self.seeds, self.split)

    @property
    def seeds(self) -> range:
        return range(self.first_seed, self.first_seed + self.num_worlds)

    def directory(self, root: Path) -> Path:
        name = (
            f"{self.family}_{self.seeds.start:07d}-{self.seeds.stop:07d}_x{self.episodes_per_world}"
        )
        fingerprint = batch.sim_config_fingerprint(self.config.sim, self.config.rig)
        return root / "episodes" / self.config.name / f"sim-{fingerprint}" / self.split / name


@dataclasses.dataclass(frozen=True)
class EpisodeRef:
    """One validated episode directory and its frame count."""

    path: Path
    num_frames: int
    world_seed: int


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_episode_set(
    spec: EpisodeSet,
    root: Path | None = None,
    *,
    workers: int | None = None,
    report: Callable[[str], None] = _stderr,
) -> list[EpisodeRef]:
    """The episodes of ``spec`` in the cache under ``root``, generated first if absent.

    Args:
        spec: which episodes.
        root: cache root (default :func:`data_root`).
        workers: simulator processes for a generation (default: one per core, at most one per
            world).
        report: receives one line before and after a generation.

    Returns:
        The episodes in (world seed, episode index) order.
    """
    dest = spec.directory(root or data_root())
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        report(
            f"generating {spec.num_worlds * spec.episodes_per_world} {spec.family} goal episodes "
            f"(world seeds {spec.seeds.start}..{spec.seeds.stop - 1}, {spec.split}, preset "
            f"{spec.config.name}) into {dest} (first use)"
        )
        start = time.perf_counter()
        try:
            batch.generate_episodes(
                dest,
                spec.seeds,
                family=spec.family,
                split=spec.split,
                config=spec.config,
                per_world=spec.episodes_per_world,
                workers=workers,
                progress=True,  # a bar on a terminal only (astra_jax.progress)
            )
        except OSError:
            # Another process (another host of the job) renamed the same set into place first;
            # its content is identical (episodes are a pure function of the seeds).
            if not (dest / "index.json").is_file():
                raise
        refs = validate_episode_set(spec, dest)
        frames = sum(r.num_frames for r in refs)
        report(
            f"generated {len(refs)} episodes, {frames} frames, {directory_bytes(dest) / 1e6:.1f} "
            f"MB in {time.perf_counter() - start:.1f} s: {dest}"
        )
        return refs
    return validate_episode_set(spec, dest)


def validate_episode_set(spec: EpisodeSet, dest: Path) -> list[EpisodeRef]:
    """Check a cached set against ``spec`` (index and every episode); its episodes, in order."""
    fix = f"delete {dest} to generate it again"
    index_path = dest / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except FileNotFoundError:
        raise EpisodeCacheError(
            f"{index_path}: missing (an incomplete episode set?); {fix}"
        ) from None
    except json.JSONDecodeError as e:
        raise EpisodeCacheError(f"{index_path}: not valid JSON ({e}); {fix}") from None
    expected = {
        "schema_version": batch.INDEX_VERSION,
        "family": spec.family,
        "split": spec.split,
        "preset": spec.config.name,
        "world_seeds": [spec.seeds.start, spec.seeds.stop],
        "episodes_per_world": spec.episodes_per_world,
    }
    for key, value in expected.items():
        if index.get(key) != value:
            raise EpisodeCacheError(
                f"{index_path}: {key}: expected {value!r}, got {index.get(key)!r}; {fix}"
            )
    wanted = [(s, k) for s in spec.seeds for k in range(spec.episodes_per_world)]
    entries = index.get("episodes")
    listed = [(e.get("world_seed"), e.get("index")) for e in entries or [] if isinstance(e, dict)]
    if listed != wanted:
        raise EpisodeCacheError(
            f"{index_path}: episodes: expected (world seed, index) {wanted}, got {listed}; {fix}"
        )
    rig = spec.config.rig
    refs = []
    for entry in entries:
        path = dest / entry["dir"]
        try:
            ep = episode.load_episode(path, mmap=True)
        except (episode.EpisodeError, FileNotFoundError) as e:
            raise EpisodeCacheError(f"{e}; {fix}") from None
        checks = {
            "kind": (ep.kind, "goal"),
            "world.family": (ep.world.get("family"), spec.family),
            "world.seed": (ep.world.get("seed"), entry["world_seed"]),
            "image_hw": (ep.image_hw, tuple(rig.image_hw)),
            "camera_names": (ep.camera_names, tuple(c.name for c in rig.cameras)),
            "num_frames": (ep.num_frames, entry.get("frames")),
        }
        for field, (got, want) in checks.items():
            if got != want:
                raise EpisodeCacheError(
                    f"{path}/manifest.json: {field}: expected {want!r}, got {got!r}; {fix}"
                )
        refs.append(EpisodeRef(path, ep.num_frames, int(entry["world_seed"])))
    return refs


def directory_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
