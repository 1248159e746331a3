"""Tours: the input of a map build, from the simulator or from a user's own recording.

A :class:`Tour` gives frames (one image per rig camera), their timestamps, the rig, and
optionally wheel odometry (metric scale, gravity, keyframe spacing), ground truth (evaluation
only), a landmark oracle and a floor plan. :func:`load_tour` recognises both kinds:

* a simulator episode directory (``astra sim tour``), read with
  :func:`astra_jax.formats.episode.load_episode` (the format the simulator writes; reading it
  never imports the simulator);
* a user's tour directory (see :mod:`astra_jax.maps.user_tour`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from astra_jax.formats.episode import is_episode_dir
from astra_jax.maps.landmarks import LandmarkExtractor
from astra_jax.maps.schema import CameraInfo


@dataclasses.dataclass(frozen=True)
class Tour:
    """A recorded tour.

    Attributes:
        path: where it was read from.
        kind: ``"sim"`` or ``"user"``.
        cameras: the rig, in the order of the frames' camera axis.
        timestamps: (T,) seconds.
        odometry: (T, 3) dead-reckoned planar poses (x, y, yaw), or None.
        ground_truth: (T, 3) true planar poses, or None. Evaluation only.
        read_frames: ``read_frames(indices)`` yields (C, H, W, 3) uint8 frames in order.
        oracle: a landmark extractor that knows the truth (simulator tours), or None.
        floor_plan: ``{"walls": [[x0, y0, x1, y1], ...], "doors": [...], "rooms": [...]}`` in
            the world frame, or None.
        info: free-form description (family, world seed, ...), copied into map metadata.
    """

    path: Path
    kind: Literal["sim", "user"]
    cameras: tuple[CameraInfo, ...]
    timestamps: np.ndarray
    odometry: np.ndarray | None
    ground_truth: np.ndarray | None
    read_frames: Callable[[Sequence[int]], Iterator[np.ndarray]]
    oracle: LandmarkExtractor | None = None
    floor_plan: Mapping[str, Any] | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.timestamps)

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)


def is_sim_episode(path: Path) -> bool:
    """Whether ``path`` looks like a simulator episode directory."""
    return is_episode_dir(path)


def load_tour(path: str | Path) -> Tour:
    """Read a tour directory (simulator episode or user tour) or a user's video file's folder.

    Raises:
        FileNotFoundError: no such directory, or no images in it.
        ValueError: a malformed file; the message names it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such tour directory")
    if not path.is_dir():
        raise NotADirectoryError(
            f"{path}: expected a tour directory (a simulator episode, or a folder with images/ "
            "or a video, plus camera.json)"
        )
    if is_sim_episode(path):
        from astra_jax.maps.sim_tour import load_sim_tour

        return load_sim_tour(path)
    from astra_jax.maps.user_tour import load_user_tour

    return load_user_tour(path)
