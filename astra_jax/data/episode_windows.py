"""A grain random-access source of the encoder's input windows read from episode directories.

Example ``i`` is one current frame ``t`` of one episode with ``before`` frames of history and
``after`` future frames, ``interval`` s apart
(:func:`~astra_jax.local_model.frames.window_indices`; the 3D pre-training reads the encoder's
history, ``before = past_frames``, ``after = 0``; the 4D stage reads more history and the
future)::

    images  (K, N, H, W, 3) uint8    the window's camera images, oldest first, K = before + 1 + after
    poses   (K, 3) float32           their odometry poses (x, y, yaw), relative to the current
                                      frame's (what a robot gives the encoder; only the relative
                                      motion is used)
    depth   (N, H, W) float32        the current frame's z-depth (m) when after = 0, else
            (after, N, H, W)         the future frames' (what the 4D stage renders)

Frames whose window the episode does not span are skipped. With ``occupancy`` (a voxel grid)
the examples also hold the current frame's ground-truth occupancy in that ego grid
(:func:`~astra_jax.sim.voxel_occupancy.ego_voxel_labels` at the true pose)::

    occupancy        (X, Y, Z) uint8   0 free, 1 structure, 2 obstacle
    occupancy_valid  (X, Y) bool       the voxel column lies in the building
 Arrays are memory-mapped and opened lazily in the
reading process, so the source pickles cheaply into grain workers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax import geometry
from astra_jax.config import LocalModelConfig, SimConfig, VoxelGridConfig
from astra_jax.data.array_open import ARRAY_OPEN_LOCK
from astra_jax.local_model.frames import window_indices
from astra_jax.sim.voxel_occupancy import (
    LayeredOccupancy,
    ego_voxel_labels,
    layered_occupancy,
    person_shape,
)


class EpisodeWindows:
    """Current frames ``t0, t0 + s, ...`` of each episode (``s = frame_stride``, ``t0`` the
    first frame with a full history, the last one with ``after`` future frames), as examples.

    Args:
        episodes: episode directories (already validated).
        local: Astra-Local's config (``past_frames``, ``frame_interval``: the defaults).
        frame_stride: keep every ``frame_stride``-th current frame.
        before: history frames (default ``local.past_frames``).
        after: future frames (default 0).
        depth: serve ``depth`` (a task that does not render, such as occupancy, leaves it out
            and never reads it).
        occupancy: add the current frame's occupancy labels in this grid (needs ``sim``, the
            simulator config the episodes' worlds were built with).
        sim: see ``occupancy``.
        interleave: order the examples round-robin over the episodes, so any prefix (the first
            evaluation batches) spans every episode.
    """

    def __init__(
        self,
        episodes: Sequence[Path],
        local: LocalModelConfig,
        frame_stride: int,
        *,
        before: int | None = None,
        after: int = 0,
        depth: bool = True,
        occupancy: VoxelGridConfig | None = None,
        sim: SimConfig | None = None,
        interleave: bool = False,
    ) -> None:
        if not isinstance(frame_stride, int) or isinstance(frame_stride, bool) or frame_stride <= 0:
            raise ValueError(f"frame_stride = {frame_stride!r}: expected a positive int")
        if not episodes:
            raise ValueError("EpisodeWindows: expected at least one episode")
        self.paths = [Path(p) for p in episodes]
        self.local = local
        if occupancy is not None and sim is None:
            raise ValueError("EpisodeWindows: occupancy labels need the simulator config (sim)")
        self.occupancy, self.sim, self.depth = occupancy, sim, depth
        self.before = local.past_frames if before is None else before
        self.after = after
        if self.before < local.past_frames or after < 0:
            raise ValueError(
                f"EpisodeWindows: before = {before}, after = {after}: expected before >= "
                f"past_frames = {local.past_frames} and after >= 0"
            )
        dt = local.frame_interval
        rows, self.history = [], []
        for e, path in enumerate(self.paths):
            times = np.load(path / "time.npy", allow_pickle=False)
            first = int(np.searchsorted(times, times[0] + (self.before - 0.5) * dt))
            stop = int(np.searchsorted(times, times[-1] - (after - 0.5) * dt, side="right"))
            frames = range(first, stop, frame_stride)
            self.history.append(
                {t: window_indices(times, t, self.before, after, dt) for t in frames}
            )
            rows += [(e, rank, t) for rank, t in enumerate(frames)]
        if not rows:
            raise ValueError(
                f"EpisodeWindows: no frame of the {len(episodes)} episodes has "
                f"{self.before} frames of history and {after} future frames"
            )
        table = np.asarray(rows, np.int64)
        if interleave:
            table = table[np.lexsort((table[:, 0], table[:, 1]))]  # by rank, then episode
        self.table = table[:, [0, 2]]  # (num_examples, 2): episode, current frame
        self._arrays: dict[int, dict[str, np.ndarray]] = {}
        self._occupancy_layers: dict[int, LayeredOccupancy] = {}

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"EpisodeWindows({len(self.paths)} episodes, {len(self)} examples)"

    def _episode(self, e: int) -> dict[str, np.ndarray]:
        if e in self._arrays:
            return self._arrays[e]
        with ARRAY_OPEN_LOCK:  # np.load from reader threads (see array_open)
            if e not in self._arrays:
                root = self.paths[e]
                names = ("rgb", "depth", "odom_pose", "pose", "people")
                self._arrays[e] = {
                    name: np.load(root / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                    for name in names
                    if name != "people" or (root / "people.npy").is_file()  # with people only
                }
            return self._arrays[e]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        e, t = (int(v) for v in self.table[index])
        arrays = self._episode(e)
        frames = self.history[e][t]
        poses = geometry.se2_relative(
            arrays["odom_pose"][t], np.asarray(arrays["odom_pose"][frames])
        )
        out = {"images": np.array(arrays["rgb"][frames]), "poses": poses.astype(np.float32)}
        if self.depth:
            depth = arrays["depth"][frames[-self.after :]] if self.after else arrays["depth"][t]
            out["depth"] = np.array(depth, np.float32)
        if self.occupancy is not None:
            people = arrays["people"][t] if "people" in arrays else None
            labels, valid = ego_voxel_labels(self._layers(e), arrays["pose"][t], self.occupancy,
                                             people=people, person=person_shape(self.paths[e]))  # fmt: skip
            out["occupancy"], out["occupancy_valid"] = labels, valid
        return out

    def _layers(self, e: int) -> LayeredOccupancy:
        """The world of episode ``e`` rasterised per layer (once per episode and process)."""
        if e not in self._occupancy_layers:
            from astra_jax.sim.world import load_world

            world = json.loads((self.paths[e] / "manifest.json").read_text())["world"]
            w = load_world(world.get("family"), int(world["seed"]), world.get("file"), self.sim)
            self._occupancy_layers[e] = layered_occupancy(w, self.occupancy)
        return self._occupancy_layers[e]

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps stay in the process that opened them; a worker opens its own.
        return {**self.__dict__, "_arrays": {}, "_occupancy_layers": {}}
