"""Associate landmark detections across keyframes by category and 3D proximity.

Detections arrive keyframe by keyframe. Each joins the nearest existing landmark of the same
category whose running centroid lies within ``radius`` metres, unless that landmark already
holds a detection from the same camera image (one image never shows one object twice);
otherwise it starts a new landmark. The centroid is the pixel-area-weighted mean of the
members' visible-surface centroids, so closer, larger sightings count more. The result links
nodes and landmarks many-to-many.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np

from astra_jax.maps.landmarks import LandmarkDetection
from astra_jax.maps.schema import Landmark, Observation


@dataclasses.dataclass(frozen=True)
class AssociationOptions:
    """``radius`` (m): how far a sighting's surface centroid may lie from the landmark's.

    Visible-surface centroids of one object move with the viewpoint by up to about half its
    size; 1.0 m covers desks and shelves seen from different sides while keeping apart
    same-category objects that stand further apart than that.
    """

    radius: float = 1.0


@dataclasses.dataclass
class _Cluster:
    category: str
    weighted_sum: np.ndarray
    weight: float
    members: list[tuple[int, LandmarkDetection]]
    images: set[tuple[int, str]]

    @property
    def centroid(self) -> np.ndarray:
        return self.weighted_sum / self.weight


def associate(
    detections: Sequence[tuple[int, Sequence[LandmarkDetection]]],
    options: AssociationOptions = AssociationOptions(),
) -> list[Landmark]:
    """Merge per-node detections into landmarks.

    Args:
        detections: (node id, that node's detections) in tour order.
        options: the association radius.
    Returns:
        Landmarks with ids 0..L-1 in order of first sighting; each lists its nodes (sorted)
        and one observation per detection.
    """
    clusters: list[_Cluster] = []
    for node_id, dets in detections:
        for det in dets:
            pos = np.asarray(det.position, dtype=np.float64)
            best, best_d = None, options.radius
            for cl in clusters:
                if cl.category != det.category or (node_id, det.camera) in cl.images:
                    continue
                d = float(np.linalg.norm(cl.centroid - pos))
                if d <= best_d:
                    best, best_d = cl, d
            w = float(max(det.pixel_area, 1))
            if best is None:
                best = _Cluster(det.category, np.zeros(3), 0.0, [], set())
                clusters.append(best)
            best.weighted_sum = best.weighted_sum + w * pos
            best.weight += w
            best.members.append((node_id, det))
            best.images.add((node_id, det.camera))
    return [_to_landmark(i, cl) for i, cl in enumerate(clusters)]


def _to_landmark(landmark_id: int, cl: _Cluster) -> Landmark:
    attrs = Counter(det.attributes for _, det in cl.members).most_common(1)[0][0]
    function = Counter(det.function for _, det in cl.members).most_common(1)[0][0]
    sources = sorted({det.source_id for _, det in cl.members if det.source_id is not None})
    obs = tuple(
        Observation(
            node_id=nid,
            camera=det.camera,
            bbox=tuple(float(v) for v in det.bbox),  # type: ignore[arg-type]
            pixel_area=int(det.pixel_area),
            distance=float(det.distance),
            position=tuple(float(v) for v in det.position),  # type: ignore[arg-type]
        )
        for nid, det in cl.members
    )
    return Landmark(
        id=landmark_id,
        category=cl.category,
        attributes=tuple(attrs),
        function=function,
        position=tuple(float(v) for v in cl.centroid),  # type: ignore[arg-type]
        node_ids=tuple(sorted({nid for nid, _ in cl.members})),
        observations=obs,
        source_ids=tuple(sources),
    )


def association_purity(landmarks: Sequence[Landmark]) -> dict[str, float]:
    """Evaluation against the extractor's source ids (oracle only).

    ``purity``: share of landmarks whose detections all come from one source object;
    ``fragmentation``: landmarks per distinct source object (1.0 is ideal).
    """
    with_ids = [lm for lm in landmarks if lm.source_ids]
    if not with_ids:
        return {}
    pure = sum(len(lm.source_ids) == 1 for lm in with_ids) / len(with_ids)
    objects = {s for lm in with_ids for s in lm.source_ids}
    return {"purity": pure, "fragmentation": len(with_ids) / max(len(objects), 1)}
