"""Landmark extraction: the interface, and the simulator oracle that implements it.

An extractor looks at one keyframe (its camera images and their map-frame poses) and returns
:class:`LandmarkDetection` s: category, visual attributes, function, a 3D centroid in the map
frame, and the sighting's bounding box, pixel area and distance. The oracle reads the
simulator's segmentation and depth; Astra-Global implements the same protocol later (it names
landmarks from the image and can place them with the SfM points inside their boxes).
Detections are merged across keyframes by :mod:`astra_jax.maps.association`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from astra_jax.geometry import pixel_centers, se3_apply, unproject


@dataclasses.dataclass(frozen=True)
class KeyframeView:
    """What an extractor sees of one keyframe.

    ``images`` maps camera name to uint8 (H, W, 3); ``T_world_cam`` to the camera's (4, 4) pose
    in the map frame; ``intrinsics`` to its (3, 3) matrix. ``frame_index`` is the tour frame,
    ``node_id`` the map node.
    """

    node_id: int
    frame_index: int
    images: Mapping[str, np.ndarray]
    T_world_cam: Mapping[str, np.ndarray]
    intrinsics: Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class LandmarkDetection:
    """One landmark seen in one camera image of one keyframe.

    ``position`` (3,) is the centroid of the landmark's visible surface in the map frame (m);
    ``bbox`` = (u_min, v_min, u_max, v_max) px; ``pixel_area`` in pixels; ``distance`` (m) the
    median range from the camera to the visible surface; ``source_id`` the extractor's own id
    (the simulator's landmark id for the oracle; None for detectors without one).
    ``surface`` (k, 3) float32, optional: the visible surface in the map frame, one point per
    occupied cube of :data:`SURFACE_VOXEL` m. Association matches sightings of one object by
    overlapping surfaces, which the centroid alone cannot do for a 6 m rack.
    """

    category: str
    attributes: tuple[str, ...]
    function: str
    position: np.ndarray
    camera: str
    bbox: tuple[float, float, float, float]
    pixel_area: int
    distance: float
    source_id: int | None = None
    surface: np.ndarray | None = None


SURFACE_VOXEL = 0.1  # m: resolution of LandmarkDetection.surface


def surface_sample(points: np.ndarray, voxel: float = SURFACE_VOXEL) -> np.ndarray:
    """One point (the mean) per occupied ``voxel``-metre cube of ``points`` (n, 3): (k, 3) f32."""
    keys = np.floor(np.asarray(points, np.float64) / voxel).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse.reshape(-1), points)
    return (sums / counts[:, None]).astype(np.float32)


@runtime_checkable
class LandmarkExtractor(Protocol):
    """Finds landmarks in a keyframe. ``name`` identifies the extractor in map metadata."""

    name: str

    def extract(self, view: KeyframeView) -> list[LandmarkDetection]: ...


@dataclasses.dataclass(frozen=True)
class LandmarkInfo:
    """Semantic description of a simulator landmark (from the episode's landmark table)."""

    category: str
    attributes: tuple[str, ...]
    function: str


class OracleLandmarkExtractor:
    """Ground-truth landmarks from the simulator's segmentation and depth.

    For each camera image of a keyframe, every segment id listed in ``table`` that covers at
    least ``min_pixels`` pixels with valid depth becomes a detection. Its pixels are lifted
    with the depth and the camera's map-frame pose, so the 3D centroid inherits the SfM pose
    (and its errors), exactly as a real detector's would.

    Args:
        table: landmark id -> semantic description; other ids (background) are ignored.
        seg: ``seg(frame_index) -> (C, H, W)`` int landmark ids of the tour's cameras.
        depth: ``depth(frame_index) -> (C, H, W)`` z-depth (m), OpenCV camera frame.
        camera_names: the cameras in the order of the arrays' C axis.
        min_pixels: smallest visible area that counts as a sighting.
        max_distance: farther sightings (median range, m) are dropped as unreliable.
    """

    name = "oracle"

    def __init__(
        self,
        table: Mapping[int, LandmarkInfo],
        seg: Callable[[int], np.ndarray],
        depth: Callable[[int], np.ndarray],
        camera_names: Sequence[str],
        *,
        min_pixels: int = 150,
        max_distance: float = 8.0,
    ) -> None:
        self.table = dict(table)
        self.seg, self.depth = seg, depth
        self.camera_names = tuple(camera_names)
        self.min_pixels, self.max_distance = int(min_pixels), float(max_distance)

    def extract(self, view: KeyframeView) -> list[LandmarkDetection]:
        seg_all, depth_all = self.seg(view.frame_index), self.depth(view.frame_index)
        out: list[LandmarkDetection] = []
        for ci, cam in enumerate(self.camera_names):
            if cam not in view.T_world_cam:
                continue
            seg, depth = np.asarray(seg_all[ci]), np.asarray(depth_all[ci], dtype=np.float64)
            valid = np.isfinite(depth) & (depth > 0)
            ids, counts = np.unique(seg[valid], return_counts=True)
            uv = None
            for lid, count in zip(ids.tolist(), counts.tolist()):
                info = self.table.get(lid)
                if info is None or count < self.min_pixels:
                    continue
                mask = (seg == lid) & valid
                if uv is None:
                    uv = pixel_centers(*seg.shape)
                pts_cam = unproject(view.intrinsics[cam], uv[mask], depth[mask])
                rng = np.linalg.norm(pts_cam, axis=1)
                dist = float(np.median(rng))
                if dist > self.max_distance:
                    continue
                pts_world = se3_apply(view.T_world_cam[cam], pts_cam)
                rows, cols = np.nonzero(mask)
                out.append(
                    LandmarkDetection(
                        category=info.category,
                        attributes=info.attributes,
                        function=info.function,
                        position=pts_world.mean(axis=0),
                        camera=cam,
                        bbox=(
                            float(cols.min()),
                            float(rows.min()),
                            float(cols.max() + 1),
                            float(rows.max() + 1),
                        ),
                        pixel_area=int(count),
                        distance=dist,
                        source_id=int(lid),
                        surface=surface_sample(pts_world),
                    )
                )
        return out
