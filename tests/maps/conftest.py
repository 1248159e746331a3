"""Fixtures for the map tests: small synthetic maps with images on disk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from astra_jax.geometry import R_BODY_OPTICAL, intrinsics_from_fov, se3_from_rt, se3_from_se2
from astra_jax.maps.schema import (
    CameraInfo,
    Edge,
    Landmark,
    MapMetadata,
    Node,
    Observation,
    TopoSemanticMap,
)


def corridor_map(root: Path | None, *, split: bool = False, n: int = 12) -> TopoSemanticMap:
    """Nodes every 1 m along y = 0 then up x = n-1 (an L), sequential edges, a printer and a
    sofa. With ``split``, the edge between nodes 5 and 6 is missing (two components)."""
    cam = CameraInfo(
        "front",
        intrinsics_from_fov(32, 24, math.radians(90)),
        se3_from_rt(R_BODY_OPTICAL, np.array([0.2, 0.0, 1.0])),
        (24, 32),
    )
    poses = [(float(i), 0.0, 0.0) for i in range(n // 2)]
    poses += [(float(n // 2 - 1), float(j), math.pi / 2) for j in range(1, n - n // 2 + 1)]
    nodes = []
    for i, p in enumerate(poses):
        images = {}
        if root is not None:
            rel = f"images/front/{i:05d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            rgb = np.full((24, 32, 3), (i * 20) % 255, dtype=np.uint8)
            Image.fromarray(rgb).save(root / rel)
            images = {"front": rel}
        nodes.append(Node(i, 3 * i, 0.3 * i, se3_from_se2(np.array(p)), images))
    edges = []
    for i in range(n - 1):
        if split and i == 5:
            continue
        d = float(np.linalg.norm(np.array(poses[i][:2]) - np.array(poses[i + 1][:2])))
        edges.append(Edge(i, i + 1, "sequential", d, 100))
    obs = lambda nid, dist: Observation(nid, "front", (1.0, 2.0, 10.0, 12.0), 90, dist, (0, 0, 0))  # noqa: E731
    landmarks = [
        Landmark(
            0,
            "printer",
            ("white", "plastic"),
            "printing documents",
            (3.0, 1.0, 0.5),
            (2, 3),
            (obs(2, 2.5), obs(3, 1.2)),
            (17,),
        ),
        Landmark(
            1,
            "sofa",
            ("red", "fabric"),
            "sitting and resting",
            (5.0, 4.0, 0.4),
            (9, 10),
            (obs(9, 2.0), obs(10, 1.5)),
            (18,),
        ),
        Landmark(
            2,
            "printer",
            ("grey",),
            "printing documents",
            (0.0, -1.0, 0.5),
            (0,),
            (obs(0, 1.0),),
            (19,),
        ),
    ]
    lm_of = {}
    for lm in landmarks:
        for nid in lm.node_ids:
            lm_of.setdefault(nid, []).append(lm.id)
    nodes = [
        Node(
            nd.id,
            nd.frame_index,
            nd.timestamp,
            nd.T_world_ego,
            nd.images,
            tuple(lm_of.get(nd.id, ())),
        )
        for nd in nodes
    ]
    md = MapMetadata(
        pose_source="sfm",
        metric_scale=True,
        cameras=(cam,),
        source={"kind": "synthetic"},
        build={"keyframes": n, "timings_s": {"total": 0.1 + 1e-17}},
        evaluation={},
        floor_plan={"walls": [[-1.0, -2.0, 7.0, -2.0]]},
    )
    if root is not None:
        import pycolmap

        (root / "sfm").mkdir(parents=True, exist_ok=True)
        pycolmap.Reconstruction().write_binary(root / "sfm")
    return TopoSemanticMap(tuple(nodes), tuple(edges), tuple(landmarks), md, root=root)


@pytest.fixture
def corridor(tmp_path: Path) -> TopoSemanticMap:
    root = tmp_path / "src"
    root.mkdir()
    return corridor_map(root)


@pytest.fixture
def make_corridor():
    """The :func:`corridor_map` factory, for tests that need variants."""
    return corridor_map
