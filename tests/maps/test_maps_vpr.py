"""The VPR baseline: bag-of-words retrieval over a map's node images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour
from astra_jax.maps.vpr import VprIndex, VprOptions


@pytest.fixture(scope="module")
def index(sim_map):
    m = load_map(sim_map)
    return m, VprIndex.build(m, VprOptions(num_words=128, max_features=1024))


def test_a_node_image_retrieves_its_own_node(index):
    m, idx = index
    from PIL import Image

    for n in m.nodes[::9]:
        with Image.open(m.root / n.images["front"]) as im:
            best = idx.query(np.asarray(im.convert("RGB")), top_k=3)
        assert best[0].node_id == n.id and best[0].score == pytest.approx(1.0, abs=1e-6)
        assert best[0].score >= best[1].score >= best[2].score


def test_held_out_frames_retrieve_a_near_node(sim_map, sim_tour_dir):
    """Index every other node; the frames of the others are queries: the retrieved node is a
    neighbour (keyframes are 0.2-0.5 m apart), never the far end of the tour."""
    m = load_map(sim_map)
    nodes = tuple(dataclasses.replace(n, landmark_ids=()) for n in m.nodes[::2])
    kept = m.replace(nodes=nodes, edges=(), landmarks=())
    idx = VprIndex.build(kept, VprOptions(num_words=128, max_features=1024))
    tour = load_tour(sim_tour_dir)
    frames = [n.frame_index for n in m.nodes[1::2]]
    errors = [
        np.linalg.norm(idx.query(rgb[0], top_k=1)[0].pose2d[:2] - tour.ground_truth[f, :2])
        for f, rgb in zip(frames, tour.read_frames(frames), strict=True)
    ]
    assert len(errors) >= 10
    assert np.median(errors) < 1.0 and np.mean(np.array(errors) < 2.0) >= 0.8, errors


def test_bad_inputs_are_named(index):
    m, idx = index
    with pytest.raises(ValueError, match="uint8"):
        idx.query(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="camera 'roof'"):
        VprIndex.build(m, VprOptions(camera="roof"))
    with pytest.raises(ValueError, match="num_words"):
        VprOptions(num_words=1)
