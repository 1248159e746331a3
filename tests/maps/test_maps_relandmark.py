"""``astra map landmarks``: the landmark stage again on a built map's own nodes."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from astra_jax.cli import map as map_cli
from astra_jax.maps.association import AssociationOptions
from astra_jax.maps.relandmark import relandmark
from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour


def test_relandmark_reproduces_the_build_and_writes_in_place(
    sim_map, sim_tour_dir, tmp_path, capsys
):
    copy = tmp_path / "map"
    shutil.copytree(sim_map, copy)
    built = load_map(sim_map)
    assert map_cli.main(["landmarks", str(copy), "--tour", str(sim_tour_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    again = load_map(copy)
    # the build's own association settings give the build's landmarks back
    assert [(lm.category, lm.node_ids) for lm in again.landmarks] == [
        (lm.category, lm.node_ids) for lm in built.landmarks
    ]
    assert [n.landmark_ids for n in again.nodes] == [n.landmark_ids for n in built.nodes]
    assert summary["landmarks"] == len(built.landmarks)
    assert (
        summary["fragmentation"]
        == again.metadata.evaluation["landmark_association"]["fragmentation"]
    )
    assert again.metadata.build["timings_s"]["landmarks"] > 0


def test_relandmark_applies_new_options_and_refuses_another_tour(sim_map, sim_tour_dir):
    m, tour = load_map(sim_map), load_tour(sim_tour_dir)
    # one huge cell per object and a tiny share: neighbouring same-category objects merge
    coarse = relandmark(m, tour, options=AssociationOptions(voxel=3.0, min_overlap=0.01))
    assert len(coarse.landmarks) < len(m.landmarks)
    assert coarse.metadata.build["association_options"]["voxel"] == 3.0
    linked = {lid for n in coarse.nodes for lid in n.landmark_ids}
    assert linked == {lm.id for lm in coarse.landmarks}
    short = dataclasses.replace(tour, timestamps=tour.timestamps[:-1])
    with pytest.raises(ValueError, match="frames"):
        relandmark(m, short)
    with pytest.raises(ValueError, match="no landmark oracle"):
        relandmark(m, dataclasses.replace(tour, oracle=None))
