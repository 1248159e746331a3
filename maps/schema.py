"""The map data model G = (V, E, L) and its JSON form (``map.json``, schema version 1).

* :class:`Node` (V): a keyframe with a 6-DoF pose ``T_world_ego`` (4x4, REP-103 ego frame on
  the floor) and its planar pose ``(x, y, yaw)``, the tour frame it came from, a timestamp,
  one image per rig camera and the ids of the landmarks it sees.
* :class:`Edge` (E): an undirected, metric-weighted link between two nodes: ``sequential``
  (consecutive keyframes, driven by the tour), ``proximity`` (the robot passed both within
  half a metre) or ``covisibility`` (near each other, sharing enough SfM points, with no
  SfM points blocking the straight line between them); see :mod:`astra_jax.maps.edges`.
* :class:`Landmark` (L): category, visual attributes, function, 3D position and the nodes that
  see it, with one :class:`Observation` (bbox, pixel area, distance) per sighting.

Everything is immutable. :func:`map_to_json` / :func:`map_from_json` convert to and from the
JSON document; :func:`map_from_json` validates every field and raises :class:`MapFormatError`
naming the field and what was expected. Floats are written with Python's shortest round-trip
``repr``, so load -> save reproduces the file byte for byte.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from astra_jax.geometry import se2_from_se3
from astra_jax.validation import JsonChecker

SCHEMA_VERSION = 1
EDGE_KINDS = ("sequential", "proximity", "covisibility")
POSE_SOURCES = ("sfm", "odometry", "ground_truth")

PoseSource = Literal["sfm", "odometry", "ground_truth"]
EdgeKind = Literal["sequential", "proximity", "covisibility"]


class MapFormatError(ValueError):
    """``map.json`` (or a map object) breaks the schema. The message names the field."""


# ----------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class CameraInfo:
    """One camera of the rig the map was built with.

    ``intrinsics`` (3, 3) in pixels for images of ``image_hw`` = (H, W); ``T_ego_cam`` (4, 4)
    maps OpenCV camera-frame points into the ego frame.
    """

    name: str
    intrinsics: np.ndarray
    T_ego_cam: np.ndarray
    image_hw: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Node:
    """A keyframe. ``T_world_ego`` (4, 4) in the map frame; ``images`` maps camera name to a
    path relative to the map directory."""

    id: int
    frame_index: int
    timestamp: float
    T_world_ego: np.ndarray
    images: Mapping[str, str]
    landmark_ids: tuple[int, ...] = ()

    @property
    def pose2d(self) -> np.ndarray:
        """Planar pose (3,) = (x, y, yaw) in m and rad."""
        return se2_from_se3(self.T_world_ego)

    @property
    def xy(self) -> np.ndarray:
        return np.asarray(self.T_world_ego[:2, 3], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class Edge:
    """Undirected edge ``source < target`` weighted by the metric distance (m) between the
    nodes' planar positions. ``shared_points``: SfM points seen by both nodes (0 without SfM)."""

    source: int
    target: int
    kind: EdgeKind
    distance: float
    shared_points: int


@dataclasses.dataclass(frozen=True)
class Observation:
    """One sighting of a landmark from one node's camera.

    ``bbox`` = (u_min, v_min, u_max, v_max) in pixels of that camera's image; ``pixel_area`` is
    the number of pixels the landmark covers; ``distance`` (m) is the mean depth of those
    pixels; ``position`` (3,) is the sighting's own 3D centroid in the map frame.
    """

    node_id: int
    camera: str
    bbox: tuple[float, float, float, float]
    pixel_area: int
    distance: float
    position: tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Landmark:
    """A semantic landmark: ``category`` ("printer"), visual ``attributes`` ("white",
    "plastic"), ``function`` ("printing documents"), ``position`` (3,) in the map frame (m)
    and the nodes that see it. ``source_ids`` are the extractor's own ids of the merged
    detections (the simulator's landmark ids for the oracle): for evaluation only."""

    id: int
    category: str
    attributes: tuple[str, ...]
    function: str
    position: tuple[float, float, float]
    node_ids: tuple[int, ...]
    observations: tuple[Observation, ...]
    source_ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class MapMetadata:
    """How the map was made.

    ``pose_source``: ``"sfm"`` (pycolmap), ``"ground_truth"`` (a simulator tour's true poses:
    a surveyed map, for training data) or ``"odometry"`` (``--allow-odometry-only``
    fallback). ``metric_scale``: False when no odometry fixed the scale (a user's tour without
    an odometry file); distances are then in SfM units. ``source`` describes the tour,
    ``build`` the options and statistics of the build, ``evaluation`` the ATE/RPE against
    ground truth (empty when the tour has none), ``floor_plan`` the simulator's walls
    (``{"walls": [[x0, y0, x1, y1], ...]}``) when known.
    """

    pose_source: PoseSource
    metric_scale: bool
    cameras: tuple[CameraInfo, ...]
    source: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    build: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    evaluation: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    floor_plan: Mapping[str, Any] | None = None

    def camera(self, name: str) -> CameraInfo:
        for c in self.cameras:
            if c.name == name:
                return c
        raise KeyError(f"camera {name!r} is not in the map (cameras: {self.camera_names})")

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)


# ----------------------------------------------------------------------------- the map


@dataclasses.dataclass(frozen=True)
class TopoSemanticMap:
    """The hybrid topological-semantic map G = (V, E, L).

    ``root`` is the directory the node images and the SfM reconstruction are read from (the
    map directory once saved or loaded; None for a map that exists only in memory).
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    landmarks: tuple[Landmark, ...]
    metadata: MapMetadata
    root: Path | None = None

    def __post_init__(self) -> None:
        validate_map(self)

    # -- lookups
    def node(self, node_id: int) -> Node:
        i = self._node_index.get(int(node_id))
        if i is None:
            raise KeyError(
                f"node {node_id} is not in the map (ids {self.nodes[0].id}..{self.nodes[-1].id})"
            )
        return self.nodes[i]

    def landmark(self, landmark_id: int) -> Landmark:
        for lm in self.landmarks:
            if lm.id == landmark_id:
                return lm
        raise KeyError(f"landmark {landmark_id} is not in the map")

    @functools.cached_property
    def _node_index(self) -> dict[int, int]:
        return {n.id: i for i, n in enumerate(self.nodes)}

    @property
    def node_ids(self) -> np.ndarray:
        return np.array([n.id for n in self.nodes], dtype=np.int64)

    def poses2d(self) -> np.ndarray:
        """(N, 3) planar poses of the nodes, in node order."""
        return np.stack([n.pose2d for n in self.nodes])

    def image_path(self, node_id: int, camera: str) -> Path:
        """Absolute path of a node's image; needs ``root``."""
        if self.root is None:
            raise ValueError("this map has no directory yet: save it before reading its images")
        rel = self.node(node_id).images.get(camera)
        if rel is None:
            raise KeyError(f"node {node_id} has no image from camera {camera!r}")
        return self.root / rel

    def load_image(self, node_id: int, camera: str) -> np.ndarray:
        """A node's image as uint8 (H, W, 3)."""
        from PIL import Image

        with Image.open(self.image_path(node_id, camera)) as im:
            return np.asarray(im.convert("RGB"))

    def load_reconstruction(self) -> Any:
        """The pycolmap reconstruction saved with the map (``sfm/``), or None if it has none."""
        if self.root is None or not (self.root / "sfm").is_dir():
            return None
        import pycolmap

        return pycolmap.Reconstruction(self.root / "sfm")

    def to_networkx(self, *, with_landmarks: bool = False) -> Any:
        """The graph view: an undirected ``networkx.Graph``.

        Node keys are node ids with attributes ``pos`` (x, y), ``pose`` (x, y, yaw),
        ``T_world_ego``, ``timestamp``, ``images`` and ``landmarks``. Edges carry ``weight``
        (= ``distance``, m), ``kind`` and ``shared_points``. With ``with_landmarks``, each
        landmark is added as node ``("landmark", id)`` with ``kind="landmark"`` and linked to
        the nodes that see it by edges of kind ``"sees"`` (weight 0): keep those out of routing.
        """
        import networkx as nx

        g = nx.Graph()
        for n in self.nodes:
            p = n.pose2d
            g.add_node(
                n.id,
                kind="keyframe",
                pos=(float(p[0]), float(p[1])),
                pose=tuple(float(v) for v in p),
                T_world_ego=n.T_world_ego,
                timestamp=n.timestamp,
                images=dict(n.images),
                landmarks=n.landmark_ids,
            )
        for e in self.edges:
            g.add_edge(
                e.source,
                e.target,
                weight=e.distance,
                distance=e.distance,
                kind=e.kind,
                shared_points=e.shared_points,
            )
        if with_landmarks:
            for lm in self.landmarks:
                key = ("landmark", lm.id)
                g.add_node(
                    key,
                    kind="landmark",
                    category=lm.category,
                    attributes=lm.attributes,
                    function=lm.function,
                    position=lm.position,
                )
                for nid in lm.node_ids:
                    g.add_edge(key, nid, kind="sees", weight=0.0)
        return g

    def replace(self, **changes: Any) -> TopoSemanticMap:
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------- validation


def validate_map(m: TopoSemanticMap) -> None:
    """Check the cross-references of a map: unique ids, edges between existing nodes,
    many-to-many node <-> landmark links that agree both ways, known cameras."""
    if not m.nodes:
        raise MapFormatError("nodes: expected at least one node")
    ids = [n.id for n in m.nodes]
    if len(set(ids)) != len(ids):
        raise MapFormatError("nodes: node ids must be unique")
    known = set(ids)
    cams = set(m.metadata.camera_names)
    for n in m.nodes:
        if set(n.images) - cams:
            raise MapFormatError(
                f"nodes[{n.id}].images: cameras {sorted(set(n.images) - cams)} are not in "
                f"metadata.cameras {sorted(cams)}"
            )
    seen_pairs = set()
    for e in m.edges:
        if e.source not in known or e.target not in known:
            raise MapFormatError(f"edge {e.source}-{e.target}: both ends must be node ids")
        if e.source >= e.target:
            raise MapFormatError(f"edge {e.source}-{e.target}: expected source < target")
        if (e.source, e.target) in seen_pairs:
            raise MapFormatError(f"edge {e.source}-{e.target}: duplicated")
        seen_pairs.add((e.source, e.target))
    lm_ids = [lm.id for lm in m.landmarks]
    if len(set(lm_ids)) != len(lm_ids):
        raise MapFormatError("landmarks: landmark ids must be unique")
    links_from_landmarks = {(lm.id, nid) for lm in m.landmarks for nid in lm.node_ids}
    links_from_nodes = {(lid, n.id) for n in m.nodes for lid in n.landmark_ids}
    if links_from_landmarks != links_from_nodes:
        bad = sorted(links_from_landmarks ^ links_from_nodes)[:3]
        raise MapFormatError(
            f"landmark <-> node links disagree, e.g. (landmark, node) {bad}: every landmark's "
            "node_ids must list exactly the nodes whose landmark_ids list it"
        )
    for lm in m.landmarks:
        if set(lm.node_ids) - known:
            raise MapFormatError(f"landmarks[{lm.id}].node_ids: unknown nodes")
        for ob in lm.observations:
            if ob.node_id not in lm.node_ids or ob.camera not in cams:
                raise MapFormatError(
                    f"landmarks[{lm.id}].observations: node {ob.node_id} / camera "
                    f"{ob.camera!r} must be one of the landmark's nodes and the map's cameras"
                )


# ----------------------------------------------------------------------------- JSON


def _f(x: Any) -> float:
    return float(x)


def _mat(a: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(a)]


def _plain(obj: Any) -> Any:
    """Free-form metadata → JSON-native types (numpy scalars/arrays become floats/lists)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def map_to_json(m: TopoSemanticMap) -> dict[str, Any]:
    """The JSON document of a map (plain Python types only)."""
    md = m.metadata
    return {
        "schema_version": SCHEMA_VERSION,
        "metadata": {
            "pose_source": md.pose_source,
            "metric_scale": bool(md.metric_scale),
            "cameras": [
                {
                    "name": c.name,
                    "intrinsics": _mat(c.intrinsics),
                    "T_ego_cam": _mat(c.T_ego_cam),
                    "image_hw": [int(c.image_hw[0]), int(c.image_hw[1])],
                }
                for c in md.cameras
            ],
            "source": _plain(md.source),
            "build": _plain(md.build),
            "evaluation": _plain(md.evaluation),
            "floor_plan": _plain(md.floor_plan),
        },
        "nodes": [
            {
                "id": int(n.id),
                "frame_index": int(n.frame_index),
                "timestamp": _f(n.timestamp),
                "T_world_ego": _mat(n.T_world_ego),
                "pose2d": [float(v) for v in n.pose2d],
                "images": {str(k): str(v) for k, v in sorted(n.images.items())},
                "landmark_ids": [int(i) for i in n.landmark_ids],
            }
            for n in m.nodes
        ],
        "edges": [
            {
                "source": int(e.source),
                "target": int(e.target),
                "kind": e.kind,
                "distance": _f(e.distance),
                "shared_points": int(e.shared_points),
            }
            for e in m.edges
        ],
        "landmarks": [
            {
                "id": int(lm.id),
                "category": lm.category,
                "attributes": list(lm.attributes),
                "function": lm.function,
                "position": [float(v) for v in lm.position],
                "node_ids": [int(i) for i in lm.node_ids],
                "observations": [
                    {
                        "node_id": int(o.node_id),
                        "camera": o.camera,
                        "bbox": [float(v) for v in o.bbox],
                        "pixel_area": int(o.pixel_area),
                        "distance": _f(o.distance),
                        "position": [float(v) for v in o.position],
                    }
                    for o in lm.observations
                ],
                "source_ids": [int(i) for i in lm.source_ids],
            }
            for lm in m.landmarks
        ],
    }


def _rigid(c: JsonChecker, t: np.ndarray, field: str) -> np.ndarray:
    r = t[:3, :3]
    if not np.allclose(r.T @ r, np.eye(3), atol=1e-6) or not np.allclose(t[3], [0, 0, 0, 1]):
        c.fail(field, "a rigid 4x4 transform (rotation + translation)")
    return t


def map_from_json(doc: Any, root: Path | None = None, source: str | None = None) -> TopoSemanticMap:
    """Parse and validate a ``map.json`` document. Raises :class:`MapFormatError`
    ``"SOURCE: nodes[2].pose2d: expected ..., got ..."``; without ``source`` the message starts
    at the field (:func:`astra_jax.maps.storage.load_map` puts the file's path in front)."""
    c = JsonChecker(source, MapFormatError)
    top = c.at(doc)
    version = top.integer("schema_version")
    if version > SCHEMA_VERSION:
        top.fail(
            "schema_version",
            f"a schema version up to {SCHEMA_VERSION}, which this astra-jax reads (the map was "
            "written by a newer version)",
            version,
        )
    if version < 1:
        top.fail("schema_version", f"1..{SCHEMA_VERSION}", version)

    md = top.at("metadata")
    cameras = []
    for where, raw_camera in md.items("cameras"):
        cr = c.at(raw_camera, where)
        hw = cr.integers("image_hw")
        if len(hw) != 2 or min(hw) <= 0:
            cr.fail("image_hw", "[height, width] as positive integers", list(hw))
        cameras.append(
            CameraInfo(
                name=cr.string("name", non_empty=False),
                intrinsics=cr.matrix("intrinsics", 3, 3),
                T_ego_cam=_rigid(c, cr.matrix("T_ego_cam", 4, 4), cr.field("T_ego_cam")),
                image_hw=(hw[0], hw[1]),
            )
        )
    if not cameras:
        md.fail("cameras", "at least one camera", [])
    metadata = MapMetadata(
        pose_source=md.string("pose_source", POSE_SOURCES),  # type: ignore[arg-type]
        metric_scale=md.boolean("metric_scale"),
        cameras=tuple(cameras),
        source=md.object("source", default={}),
        build=md.object("build", default={}),
        evaluation=md.object("evaluation", default={}),
        floor_plan=md.object("floor_plan", default=None),
    )

    nodes = []
    for where, raw_node in top.items("nodes"):
        nr = c.at(raw_node, where)
        t = _rigid(c, nr.matrix("T_world_ego", 4, 4), nr.field("T_world_ego"))
        pose2d = np.array(nr.numbers("pose2d", 3))
        derived = se2_from_se3(t)
        if not np.allclose(pose2d, derived, atol=1e-6):
            nr.fail(
                "pose2d",
                f"the planar part of T_world_ego, {derived.round(6).tolist()}",
                list(pose2d),
            )
        images = nr.object("images")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in images.items()):
            nr.fail("images", "an object mapping camera names to relative paths", images)
        for rel in images.values():
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                nr.fail("images", "paths relative to the map directory, inside it", rel)
        nodes.append(
            Node(
                id=nr.integer("id"),
                frame_index=nr.integer("frame_index"),
                timestamp=nr.number("timestamp"),
                T_world_ego=t,
                images=dict(images),
                landmark_ids=nr.integers("landmark_ids"),
            )
        )
    edges = []
    for where, raw_edge in top.items("edges"):
        er = c.at(raw_edge, where)
        distance = er.number("distance")
        if distance < 0:
            er.fail("distance", "a non-negative number (m)", distance)
        edges.append(
            Edge(
                source=er.integer("source"),
                target=er.integer("target"),
                kind=er.string("kind", EDGE_KINDS),  # type: ignore[arg-type]
                distance=distance,
                shared_points=er.integer("shared_points"),
            )
        )
    landmarks = []
    for where, raw_landmark in top.items("landmarks"):
        lr = c.at(raw_landmark, where)
        obs = []
        for owhere, raw_observation in lr.items("observations"):
            orr = c.at(raw_observation, owhere)
            obs.append(
                Observation(
                    node_id=orr.integer("node_id"),
                    camera=orr.string("camera", non_empty=False),
                    bbox=orr.numbers("bbox", 4),
                    pixel_area=orr.integer("pixel_area"),
                    distance=orr.number("distance"),
                    position=orr.numbers("position", 3),
                )
            )
        landmarks.append(
            Landmark(
                id=lr.integer("id"),
                category=lr.string("category", non_empty=False),
                attributes=lr.strings("attributes"),
                function=lr.string("function", non_empty=False),
                position=lr.numbers("position", 3),
                node_ids=lr.integers("node_ids"),
                observations=tuple(obs),
                source_ids=lr.integers("source_ids"),
            )
        )
    return TopoSemanticMap(
        nodes=tuple(nodes),
        edges=tuple(edges),
        landmarks=tuple(landmarks),
        metadata=metadata,
        root=root,
    )
