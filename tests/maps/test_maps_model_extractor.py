"""Astra-Global as the map's landmark extractor (global_model/landmark_extractor.py): on the
tests' SfM map, an answerer that names exactly what the simulator's oracle sees gives a map
whose landmarks match the oracle's; a model whose answers never parse gives none."""

from __future__ import annotations

import numpy as np
import pytest

from astra_jax.global_model import formats as F
from astra_jax.global_model.landmark_extractor import ModelLandmarkExtractor, compare_landmarks
from astra_jax.maps.association import AssociationOptions
from astra_jax.maps.landmarks import KeyframeView
from astra_jax.maps.relandmark import relandmark
from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour


@pytest.fixture(scope="module")
def world(sim_map, sim_tour_dir):
    return load_map(sim_map), load_tour(sim_tour_dir)


def _oracle_answerer(m, tour):
    """Answers the landmark prompt as a perfect model would: it recognises the node image and
    names the oracle's sightings in it."""
    cams = {c.name: c for c in tour.cameras}
    index = [(n, c, m.load_image(n.id, c)) for n in m.nodes for c in tour.camera_names]

    def answer(requests):
        out = []
        for prompt, (image,) in requests:
            assert prompt == F.landmarks_prompt()
            n, cam, _ = next(x for x in index if np.array_equal(x[2], image))
            view = KeyframeView(n.id, n.frame_index, {cam: image},
                                {cam: n.T_world_ego @ cams[cam].T_ego_cam},
                                {cam: cams[cam].intrinsics})  # fmt: skip
            found = [F.ExtractedLandmark(d.category, tuple(d.attributes), d.function)
                     for d in tour.oracle.extract(view)]  # fmt: skip
            out.append(F.landmarks_answer(found))
        return out

    return answer


def test_a_perfect_namer_rebuilds_the_oracle_landmarks(world):
    m, tour = world
    oracle = relandmark(m, tour).landmarks
    extractor = ModelLandmarkExtractor(_oracle_answerer(m, tour))
    wide = AssociationOptions(radius=ModelLandmarkExtractor.ASSOCIATION_RADIUS)
    named = relandmark(m, tour, extractor, wide)
    assert named.metadata.build["landmark_extractor"] == "astra-global"
    assert extractor.malformed == 0 and extractor.asked == 3 * len(m.nodes)
    vs = compare_landmarks(named.landmarks, oracle)
    # placed 2 m ahead of the camera, not on the object: most land within 2 m of it
    assert vs["recall"] >= 0.6 and vs["precision"] >= 0.45, vs
    # every node that sees a landmark is linked to it
    assert all(set(lm.node_ids) <= {n.id for n in m.nodes} for lm in named.landmarks)


def test_malformed_answers_give_no_landmarks(world):
    m, tour = world
    extractor = ModelLandmarkExtractor(lambda requests: ["a desk, a chair"] * len(requests))
    named = relandmark(m, tour, extractor)
    assert named.landmarks == () and extractor.malformed == extractor.asked == 3 * len(m.nodes)
    assert compare_landmarks(named.landmarks, m.landmarks)["recall"] == 0.0


def test_compare_matches_one_to_one_by_category_and_distance():
    from types import SimpleNamespace as L

    ref = [L(category="sofa", position=(0.0, 0.0, 0.0)), L(category="desk", position=(5.0, 0, 0))]
    ours = [L(category="couch", position=(1.0, 0.0, 0.0)),  # a synonym, 1 m away
            L(category="sofa", position=(0.5, 0.0, 0.0)),  # nearer: it takes the match
            L(category="desk", position=(9.0, 0.0, 0.0))]  # too far  # fmt: skip
    vs = compare_landmarks(ours, ref)
    assert vs["true_positives"] == 1 and vs["precision"] == pytest.approx(1 / 3)
    assert vs["recall"] == 0.5
