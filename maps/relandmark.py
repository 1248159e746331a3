"""Redo a map's landmark stage on its own nodes: a new extractor or association, no new SfM.

A map's landmarks come from its keyframes' images and poses, which the build already fixed.
Changing the extractor (the simulator's oracle, or Astra-Global) or the association settings
therefore needs the landmark stage only: :func:`relandmark` runs it again on the map's nodes
and returns the map with new landmarks, node links and metadata (the build's
``association_options``, ``landmark_extractor``, ``timings_s.landmarks`` and the evaluation's
``landmark_association``). ``astra map landmarks`` writes the result in place.
"""

from __future__ import annotations

import dataclasses
import time

from astra_jax.maps.association import AssociationOptions, association_purity
from astra_jax.maps.build import extract_landmarks, link_landmarks
from astra_jax.maps.landmarks import LandmarkExtractor
from astra_jax.maps.schema import TopoSemanticMap
from astra_jax.maps.tour import Tour


def relandmark(
    m: TopoSemanticMap,
    tour: Tour,
    extractor: LandmarkExtractor | None = None,
    options: AssociationOptions | None = None,
) -> TopoSemanticMap:
    """``m`` with its landmarks extracted and associated again.

    Args:
        m: a loaded map (its ``root`` holds the node images).
        tour: the tour the map was built from: its rig places the cameras, and the oracle
            reads its segmentation.
        extractor: defaults to the tour's oracle.
        options: association settings (default: :class:`AssociationOptions`()).
    Raises:
        ValueError: the map has no root, the tour is not the map's (frame count or cameras
            differ), or there is no extractor.
    """
    if m.root is None:
        raise ValueError("relandmark: the map has no root directory to read node images from")
    frames = m.metadata.source.get("frames")
    if frames is not None and frames != tour.num_frames:
        raise ValueError(
            f"relandmark: the tour {tour.path} has {tour.num_frames} frames but the map was "
            f"built from one with {frames}"
        )
    if tuple(tour.camera_names) != tuple(m.metadata.camera_names):
        raise ValueError(
            f"relandmark: the tour's cameras {tour.camera_names} are not the map's "
            f"{m.metadata.camera_names}"
        )
    extractor = extractor if extractor is not None else tour.oracle
    if extractor is None:
        raise ValueError(
            f"relandmark: the tour {tour.path} has no landmark oracle; pass an extractor"
        )
    options = AssociationOptions() if options is None else options
    t0 = time.perf_counter()
    landmarks = extract_landmarks(extractor, m.nodes, tour, m.root, options)
    seconds = time.perf_counter() - t0
    nodes = tuple(link_landmarks(m.nodes, landmarks))
    build = dict(m.metadata.build)
    build["association_options"] = dataclasses.asdict(options)
    build["landmark_extractor"] = getattr(extractor, "name", None)
    build["timings_s"] = {**build.get("timings_s", {}), "landmarks": seconds}
    evaluation = {k: v for k, v in m.metadata.evaluation.items() if k != "landmark_association"}
    purity = association_purity(landmarks)
    if purity:
        evaluation["landmark_association"] = purity
    metadata = dataclasses.replace(m.metadata, build=build, evaluation=evaluation)
    return m.replace(nodes=nodes, landmarks=tuple(landmarks), metadata=metadata)
