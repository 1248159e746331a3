"""A grain random-access source of the encoder's input windows read from episode directories.

Example ``i`` is one current frame ``t`` of one episode with the encoder's history
(:func:`~astra_jax.local_model.frames.history_indices`: ``past_frames`` + 1 frames
``frame_interval`` s apart, the current one last)::

    images  (T, N, H, W, 3) uint8    the history's camera images, oldest first
    poses   (T, 3) float32           their odometry poses (x, y, yaw), relative to the current
                                      frame's (what a robot gives the encoder; only the relative
                                      motion is used)
    depth   (N, H, W) float32        the current frame's z-depth (m)

Frames with too short a history are skipped. Arrays are memory-mapped and opened lazily in the
reading process, so the source pickles cheaply into grain workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax import geometry
from astra_jax.config import LocalModelConfig
from astra_jax.local_model.frames import history_indices


class EpisodeWindows:
    """Current frames ``t0, t0 + s, ...`` of each episode (``s = frame_stride``, ``t0`` the
    first frame with a full history), with their history, as examples.

    Args:
        episodes: episode directories (already validated).
        local: Astra-Local's config (``past_frames``, ``frame_interval``).
        frame_stride: keep every ``frame_stride``-th current frame.
        interleave: order the examples round-robin over the episodes, so any prefix (the first
            evaluation batches) spans every episode.
    """

    def __init__(
        self,
        episodes: Sequence[Path],
        local: LocalModelConfig,
        frame_stride: int,
        *,
        interleave: bool = False,
    ) -> None:
        if not isinstance(frame_stride, int) or isinstance(frame_stride, bool) or frame_stride <= 0:
            raise ValueError(f"frame_stride = {frame_stride!r}: expected a positive int")
        if not episodes:
            raise ValueError("EpisodeWindows: expected at least one episode")
        self.paths = [Path(p) for p in episodes]
        self.local = local
        rows, self.history = [], []
        for e, path in enumerate(self.paths):
            times = np.load(path / "time.npy", allow_pickle=False)
            span = local.past_frames * local.frame_interval
            first = int(np.searchsorted(times, times[0] + span - 0.5 * local.frame_interval))
            frames = range(first, len(times), frame_stride)
            self.history.append({t: history_indices(times, local, t) for t in frames})
            rows += [(e, rank, t) for rank, t in enumerate(frames)]
        if not rows:
            raise ValueError(
                f"EpisodeWindows: no frame of the {len(episodes)} episodes has "
                f"{local.past_frames} frames of history"
            )
        table = np.asarray(rows, np.int64)
        if interleave:
            table = table[np.lexsort((table[:, 0], table[:, 1]))]  # by rank, then episode
        self.table = table[:, [0, 2]]  # (num_examples, 2): episode, current frame
        self._arrays: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"EpisodeWindows({len(self.paths)} episodes, {len(self)} examples)"

    def _episode(self, e: int) -> dict[str, np.ndarray]:
        if e not in self._arrays:
            root = self.paths[e]
            self._arrays[e] = {
                name: np.load(root / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in ("rgb", "depth", "odom_pose")
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
        return {
            "images": np.array(arrays["rgb"][frames]),
            "poses": poses.astype(np.float32),
            "depth": np.array(arrays["depth"][t], np.float32),
        }

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps stay in the process that opened them; a worker opens its own.
        return {**self.__dict__, "_arrays": {}}
