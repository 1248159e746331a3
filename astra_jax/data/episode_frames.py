"""A grain random-access source of per-frame depth examples read from episode directories.

Example ``i`` is one rig frame ``{"rgb": (N, H, W, 3) uint8, "depth": (N, H, W) float32
metres}`` (the examples of :func:`~astra_jax.local_model.depth_pretrain.examples_from_episode`).
The arrays are memory-mapped (``rgb.npy``, ``depth.npy``) and opened lazily in the process that
reads them, so the source pickles cheaply into grain worker processes and a process touches
only the frames it reads (its shard), not whole episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.data.array_open import ARRAY_OPEN_LOCK


class EpisodeFrames:
    """Frames ``0, s, 2s, ...`` of each episode (``s = frame_stride``), as examples.

    Args:
        episodes: ``(episode directory, num_frames)`` pairs, already validated.
        frame_stride: keep every ``frame_stride``-th frame (frames are 0.1 s apart).
        interleave: order the examples round-robin over the episodes (frame 0 of every
            episode, then frame s of every episode, ...) instead of episode by episode, so any
            prefix of the dataset, such as the first evaluation batches, spans all episodes.
    """

    def __init__(
        self,
        episodes: Sequence[tuple[Path, int]],
        frame_stride: int,
        *,
        interleave: bool = False,
    ) -> None:
        if not isinstance(frame_stride, int) or isinstance(frame_stride, bool) or frame_stride <= 0:
            raise ValueError(f"frame_stride = {frame_stride!r}: expected a positive int")
        if not episodes:
            raise ValueError("EpisodeFrames: expected at least one episode")
        self.paths = [Path(p) for p, _ in episodes]
        rows = [(e, rank, t) for e, (_, n) in enumerate(episodes)
                for rank, t in enumerate(range(0, n, frame_stride))]  # fmt: skip
        table = np.asarray(rows, np.int64)
        if interleave:
            table = table[np.lexsort((table[:, 0], table[:, 1]))]  # by rank, then episode
        self.table = table[:, [0, 2]]  # (num_examples, 2): episode, frame
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"EpisodeFrames({len(self.paths)} episodes, {len(self)} examples)"

    def _episode(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        if e in self._arrays:
            return self._arrays[e]
        with ARRAY_OPEN_LOCK:  # np.load from reader threads (see array_open)
            if e not in self._arrays:
                root = self.paths[e]
                self._arrays[e] = (
                    np.load(root / "rgb.npy", mmap_mode="r", allow_pickle=False),
                    np.load(root / "depth.npy", mmap_mode="r", allow_pickle=False),
                )
            return self._arrays[e]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        e, t = (int(v) for v in self.table[index])
        rgb, depth = self._episode(e)
        return {"rgb": np.array(rgb[t]), "depth": np.array(depth[t], np.float32)}

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps stay in the process that opened them; a worker opens its own.
        return {**self.__dict__, "_arrays": {}}
