"""Simulator tours (``astra sim tour``) as :class:`~astra_jax.maps.tour.Tour` s.

The episode directory is read with :mod:`astra_jax.formats.episode`, the format the simulator
writes: nothing here imports the simulator (MuJoCo, the renderer) or rebuilds its world.

The tour's odometry is the episode's wheel odometry (``odom_pose``) with its heading replaced
by the integrated gyro (:func:`~astra_jax.maps.odometry.wheel_gyro_odometry`); its
ground-truth ``pose`` is kept for evaluation only. The landmark table, segmentation and depth
feed the oracle landmark extractor; the manifest's walls, doors and rooms become the map's
floor plan (for plots).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.formats.episode import load_episode
from astra_jax.maps.landmarks import LandmarkInfo, OracleLandmarkExtractor
from astra_jax.maps.odometry import wheel_gyro_odometry
from astra_jax.maps.schema import CameraInfo
from astra_jax.maps.tour import Tour


def landmark_table(landmarks: Sequence[dict[str, Any]]) -> dict[int, LandmarkInfo]:
    """The episode's landmark table as id -> (category, attribute values, function)."""
    out = {}
    for lm in landmarks:
        attrs = lm.get("attributes") or {}
        out[int(lm["id"])] = LandmarkInfo(
            category=str(lm["category"]).replace("_", " "),
            attributes=tuple(str(v) for v in attrs.values()),
            function=str(lm.get("function", "")),
        )
    return out


def floor_plan(manifest: dict[str, Any]) -> dict[str, Any]:
    """Walls and door openings ``[x0, y0, x1, y1]`` and rooms ``{name, label, center}`` from an
    episode manifest. Doors are the manifest's optional ``doors`` field (the simulator writes
    each door's opening there); an episode written before that field gets none."""
    walls = [[float(v) for v in w[:4]] for w in manifest.get("walls", [])]
    rooms = []
    for r in manifest.get("rooms", []):
        poly = np.asarray(r["polygon"], dtype=np.float64)
        rooms.append({"name": r["name"], "label": r["label"], "center": poly.mean(0).tolist()})
    doors = [[float(v) for v in d] for d in manifest.get("doors") or []]
    return {"walls": walls, "doors": doors, "rooms": rooms}


def load_sim_tour(path: Path) -> Tour:
    """Read a simulator episode directory (memory-mapped) as a tour."""
    ep = load_episode(path, mmap=True)
    h, w = ep.image_hw
    cameras = tuple(
        CameraInfo(name, np.array(ep.intrinsics[i]), np.array(ep.extrinsics[i]), (h, w))
        for i, name in enumerate(ep.camera_names)
    )

    def read(indices: Sequence[int]) -> Iterator[np.ndarray]:
        for i in indices:
            yield np.asarray(ep.rgb[i])

    oracle = OracleLandmarkExtractor(
        landmark_table(ep.landmarks),
        seg=lambda t: np.asarray(ep.seg[t]),
        depth=lambda t: np.asarray(ep.depth[t]),
        camera_names=ep.camera_names,
    )
    world = ep.world
    return Tour(
        path=path,
        kind="sim",
        cameras=cameras,
        timestamps=np.asarray(ep.time, dtype=np.float64),
        odometry=wheel_gyro_odometry(ep.odom_pose, ep.time, ep.imu),
        ground_truth=np.asarray(ep.pose, dtype=np.float64),
        read_frames=read,
        oracle=oracle,
        floor_plan=floor_plan(ep.manifest),
        info={
            "family": world.get("family"),
            "world_seed": world.get("seed"),
            "world_name": world.get("name"),
            "episode_kind": ep.kind,
        },
    )
