"""Astra-Global training samples from a simulator tour and its map (paper Sec. 2.4).

Everything is derived from image-pose pairs and the map, as in the paper: the tour's frames
are the queries, the map's nodes the references, and the simulator's segmentation (the
landmark oracle) says which map landmarks a query shows. Per query frame (one camera, the
rig's first, by default), one sample of each task in ``SampleOptions.tasks``:

* ``coarse``: the query and every map landmark -> the landmarks it shows (category,
  attributes; larger first) and their map ids;
* ``fine``: the query and ``num_references`` map nodes near its true pose (the query's own
  node excluded, the order shuffled) -> its pose in the map frame;
* ``covisibility``: the query and a map node -> the share of landmarks the two images have in
  common (Jaccard of the visible objects), a near node or a random one with equal odds;
* ``relative_pose``: the query and a frame ``relative_gap`` frames later -> where the robot
  went, in the query's ego frame (the paper's movement trend, with numbers);
* ``landmarks``: the query -> its landmarks with their functions (the map's extractor task).

Samples refer to images by index into one array of the world's images (query frames and
reference nodes), so a node image used by many samples is stored once. Which frames, nodes
and gaps are drawn is a function of ``seed`` alone.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np

from astra_jax.geometry import se2_relative, se3_from_se2
from astra_jax.global_model import formats as F
from astra_jax.maps.landmarks import KeyframeView, LandmarkDetection
from astra_jax.maps.schema import TopoSemanticMap
from astra_jax.maps.tour import Tour

TASKS = ("coarse", "fine", "covisibility", "relative_pose", "landmarks")


@dataclasses.dataclass(frozen=True)
class SampleOptions:
    """Which samples a world gives.

    Attributes:
        tasks: the tasks to make (see the module docstring).
        query_stride: every ``query_stride``-th tour frame is a query.
        num_references: reference nodes per fine sample.
        reference_yaw_weight: m per rad of heading difference when ranking references.
        relative_gap: (min, max) frames between the two views of a relative-pose sample.
        camera: the camera whose images are queries and references (default: the rig's first).
    """

    tasks: tuple[str, ...] = TASKS
    query_stride: int = 1
    num_references: int = 3
    reference_yaw_weight: float = 1.0
    relative_gap: tuple[int, int] = (2, 8)
    camera: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown or not self.tasks:
            raise ValueError(f"SampleOptions.tasks {self.tasks}: expected some of {TASKS}")
        if self.query_stride < 1 or self.num_references < 1:
            raise ValueError("SampleOptions: query_stride and num_references must be >= 1")
        lo, hi = self.relative_gap
        if not 1 <= lo <= hi:
            raise ValueError(f"SampleOptions.relative_gap = {self.relative_gap}: need 1 <= a <= b")


@dataclasses.dataclass(frozen=True)
class LocalizationSample:
    """One prompt and its answer. ``image_ids`` index the world's image array, in the order
    the prompt shows them; ``frame`` is the query's tour frame."""

    task: str
    prompt: str
    answer: str
    image_ids: tuple[int, ...]
    frame: int


@dataclasses.dataclass(frozen=True)
class WorldSamples:
    """A world's samples and the images they show: ``images`` (N, H, W, 3) uint8.

    What the rewards need beyond the answers: ``landmark_xy``, each map landmark's id ->
    (x, y) map position (m), and ``frame_poses``, each query frame -> its true (x, y, yaw)
    map pose (m, rad)."""

    samples: tuple[LocalizationSample, ...]
    images: np.ndarray
    landmark_xy: dict[int, tuple[float, float]] = dataclasses.field(default_factory=dict)
    frame_poses: dict[int, tuple[float, float, float]] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def bounds(self) -> F.MapBounds:
        """The planar extent of the landmarks and query poses (poses must lie within it)."""
        xy = np.array([*self.landmark_xy.values(), *(p[:2] for p in self.frame_poses.values())])
        if not len(xy):
            raise ValueError("WorldSamples.bounds: no landmark or query pose recorded")
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        return F.MapBounds(float(x0), float(y0), float(x1), float(y1))


def _pose(p: np.ndarray) -> F.PlanarPose:
    return F.PlanarPose(float(p[0]), float(p[1]), float(p[2]))


def world_samples(
    m: TopoSemanticMap, tour: Tour, options: SampleOptions = SampleOptions(), seed: int = 0
) -> WorldSamples:
    """The samples of one world. ``m`` must be the map of ``tour`` (a simulator tour: its
    oracle and true poses make the answers).

    Raises:
        ValueError: the tour has no oracle or no ground truth, the map has no landmarks or
            nodes, or the camera is not the rig's.
    """
    if tour.oracle is None or tour.ground_truth is None:
        raise ValueError(f"{tour.path}: samples need a simulator tour (oracle and true poses)")
    if not m.landmarks or len(m.nodes) < 2:
        raise ValueError("world_samples: the map needs landmarks and at least two nodes")
    camera = options.camera or tour.cameras[0].name
    cams = {c.name: c for c in tour.cameras}
    if camera not in cams:
        raise ValueError(f"camera {camera!r} is not in the tour's rig {tuple(cams)}")
    ci = tour.camera_names.index(camera)
    rng = np.random.default_rng([seed, 0x10CA7E])
    gt = tour.ground_truth

    landmarks = tuple(
        F.MapLandmark(lm.id, lm.category, tuple(lm.attributes), lm.function) for lm in m.landmarks
    )
    ids_by_source: dict[int, set[int]] = {}
    for lm in m.landmarks:
        for s in lm.source_ids:
            ids_by_source.setdefault(s, set()).add(lm.id)
    coarse_prompt = F.coarse_prompt(landmarks)
    node_frames = np.array([n.frame_index for n in m.nodes])
    node_pose = m.poses2d()

    @functools.cache
    def detections(frame: int) -> list[LandmarkDetection]:
        view = KeyframeView(
            node_id=-1,
            frame_index=frame,
            images={},
            T_world_cam={camera: se3_from_se2(gt[frame]) @ cams[camera].T_ego_cam},
            intrinsics={camera: cams[camera].intrinsics},
        )
        return sorted(tour.oracle.extract(view), key=lambda d: -d.pixel_area)

    image_of: dict[int, int] = {}  # tour frame -> index into the image array

    def image(frame: int) -> int:
        return image_of.setdefault(int(frame), len(image_of))

    @functools.cache
    def sources(frame: int) -> frozenset[int]:
        return frozenset(d.source_id for d in detections(frame) if d.source_id is not None)

    samples: list[LocalizationSample] = []
    for q in range(0, tour.num_frames, options.query_stride):
        dets = detections(q)
        for task in options.tasks:
            if task == "coarse":
                seen = tuple(F.SeenLandmark(d.category, tuple(d.attributes)) for d in dets)
                matched = sorted({i for d in dets for i in ids_by_source.get(d.source_id, ())})
                answer = F.coarse_answer(F.CoarseAnswer(seen, tuple(matched)))
                samples.append(LocalizationSample(task, coarse_prompt, answer, (image(q),), q))
            elif task == "fine":
                refs = _references(node_pose, node_frames, gt[q], q, options)
                rng.shuffle(refs)
                views = [F.ReferenceView(m.nodes[i].id, _pose(node_pose[i])) for i in refs]
                ids = (image(q), *(image(node_frames[i]) for i in refs))
                answer = F.pose_answer(_pose(gt[q]))
                samples.append(LocalizationSample(task, F.fine_prompt(views), answer, ids, q))
            elif task == "covisibility":
                if rng.random() < 0.5:
                    i = int(_references(node_pose, node_frames, gt[q], q, options)[0])
                else:
                    i = int(rng.integers(len(m.nodes)))
                f = int(node_frames[i])
                a, b = sources(q), sources(f)
                score = len(a & b) / len(a | b) if a | b else 0.0
                answer = F.covisibility_answer(F.CovisibilityAnswer(score >= 0.5, score))
                samples.append(
                    LocalizationSample(
                        task, F.covisibility_prompt(), answer, (image(q), image(f)), q
                    )
                )
            elif task == "relative_pose":
                lo, hi = options.relative_gap
                t = q + int(rng.integers(lo, hi + 1))
                if t >= tour.num_frames:
                    continue
                rel = se2_relative(gt[q], gt[t])
                answer = F.pose_answer(_pose(rel))
                samples.append(
                    LocalizationSample(
                        task, F.relative_pose_prompt(), answer, (image(q), image(t)), q
                    )
                )
            elif task == "landmarks":
                found = tuple(
                    F.ExtractedLandmark(d.category, tuple(d.attributes), d.function) for d in dets
                )
                samples.append(
                    LocalizationSample(
                        task, F.landmarks_prompt(), F.landmarks_answer(found), (image(q),), q
                    )
                )
    frames = sorted(image_of, key=image_of.get)
    images = np.stack([rgb[ci] for rgb in tour.read_frames(frames)])
    landmark_xy = {lm.id: (float(lm.position[0]), float(lm.position[1])) for lm in m.landmarks}
    poses = {int(s.frame): tuple(float(v) for v in gt[s.frame]) for s in samples}
    return WorldSamples(tuple(samples), images, landmark_xy, poses)


def _references(
    node_pose: np.ndarray,
    node_frames: np.ndarray,
    query: np.ndarray,
    frame: int,
    options: SampleOptions,
) -> list[int]:
    """Indices of the ``num_references`` nodes nearest to ``query`` in position plus weighted
    heading difference, the node of the query's own frame excluded."""
    d = np.linalg.norm(node_pose[:, :2] - query[:2], axis=1)
    dyaw = np.abs(np.remainder(node_pose[:, 2] - query[2] + math.pi, 2 * math.pi) - math.pi)
    cost = d + options.reference_yaw_weight * dyaw
    cost[node_frames == frame] = np.inf
    order = np.argsort(cost, kind="stable")
    return [int(i) for i in order[: options.num_references] if np.isfinite(cost[i])]


def task_counts(samples: Sequence[LocalizationSample]) -> dict[str, int]:
    """Samples per task."""
    out: dict[str, int] = {}
    for s in samples:
        out[s.task] = out.get(s.task, 0) + 1
    return out
