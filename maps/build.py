"""Tour -> map: keyframes, SfM, metric alignment, nodes, landmarks, edges, evaluation.

:func:`build_map` writes the whole map directory into a staging folder and renames it into
place only when every step has succeeded, so a failed build never leaves a half-written map
where a good one was. On a terminal each stage shows a progress bar (:mod:`astra_jax.progress`):
keyframes, features, matching, mapping, pose graph, landmarks, edges.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from astra_jax import progress
from astra_jax.geometry import se2_from_se3, se2_relative, se3_from_se2, wrap_angle
from astra_jax.maps.alignment import Sim3, align_to_odometry, rotation_between
from astra_jax.maps.association import AssociationOptions, associate, association_purity
from astra_jax.maps.edges import EdgeOptions, build_edges
from astra_jax.maps.evaluation import evaluate_trajectory
from astra_jax.maps.keyframes import KeyframeOptions, select_keyframes
from astra_jax.maps.landmarks import KeyframeView, LandmarkExtractor
from astra_jax.maps.pose_graph import PoseGraphOptions, loop_edges
from astra_jax.maps.pose_graph import fuse as fuse_pose_graph
from astra_jax.maps.schema import Landmark, MapMetadata, Node, TopoSemanticMap
from astra_jax.maps.sfm import SfmError, SfmOptions, SfmResult, image_name, run_sfm
from astra_jax.maps.storage import staged_directory, write_map_json
from astra_jax.maps.tour import Tour


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """Everything a build can be told. ``allow_odometry_only``: when SfM registers too few
    keyframes, build the map from odometry poses instead of failing (metadata says so)."""

    keyframes: KeyframeOptions = dataclasses.field(default_factory=KeyframeOptions)
    sfm: SfmOptions = dataclasses.field(default_factory=SfmOptions)
    edges: EdgeOptions = dataclasses.field(default_factory=EdgeOptions)
    association: AssociationOptions = dataclasses.field(default_factory=AssociationOptions)
    alignment: str = "anchored"  # or "umeyama": see astra_jax.maps.alignment
    allow_odometry_only: bool = False
    overwrite: bool = False
    # "ground_truth": place the keyframes at a simulator tour's true poses and skip SfM (a
    # surveyed map: seconds instead of minutes, for training data from many worlds).
    poses: Literal["sfm", "ground_truth"] = "sfm"
    # Fuse SfM with odometry in a robust pose graph (maps/pose_graph.py); off: only bridge
    # the steps where they disagree.
    fuse_odometry: bool = True


@dataclasses.dataclass
class BuildReport:
    """Summary of a build (what ``astra map build --json`` prints)."""

    map_dir: str
    frames: int
    keyframes: int
    registered: int
    registered_fraction: float
    pose_source: str
    metric_scale: bool
    mean_reprojection_error: float | None
    num_points3d: int
    nodes: int
    edges: int
    landmarks: int
    evaluation: dict[str, Any]
    timings: dict[str, float]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build_map(
    tour: Tour,
    out_dir: str | Path,
    options: BuildOptions = BuildOptions(),
    extractor: LandmarkExtractor | None = None,
    *,
    sfm_database: Path | None = None,
    keep_sfm_database: Path | None = None,
) -> tuple[TopoSemanticMap, BuildReport]:
    """Build and save the map of ``tour`` in ``out_dir``.

    Args:
        tour: the input (simulator or user tour).
        out_dir: the map directory to create (or replace, with ``options.overwrite``).
        options: keyframe, SfM, edge and association settings.
        extractor: the landmark extractor; defaults to the tour's oracle (None for user tours:
            the map then has no landmarks).
        sfm_database: map this COLMAP database (features and matches of the same keyframes,
            from ``keep_sfm_database`` of an earlier build of this tour with the same keyframe
            and SfM matching options) instead of extracting and matching again; the build's
            timings then have no ``features`` or ``matching``. For comparing mappers.
        keep_sfm_database: copy the build's COLMAP database here after matching.
    Raises:
        SfmError: SfM registered fewer than ``options.sfm.min_registered_fraction`` of the
            keyframes and odometry-only mode is off or impossible.
        FileExistsError: ``out_dir`` exists and ``options.overwrite`` is off.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    if options.poses not in ("sfm", "ground_truth"):
        raise ValueError(f"BuildOptions.poses = {options.poses!r}: expected sfm or ground_truth")
    if options.poses == "ground_truth" and tour.ground_truth is None:
        raise ValueError(
            f"{tour.path}: BuildOptions.poses = 'ground_truth' needs a tour with true poses "
            "(a simulator tour)"
        )
    extractor = extractor if extractor is not None else tour.oracle
    notes: list[str] = []
    kf = select_keyframes(tour.odometry, tour.num_frames, options.keyframes)
    kf_odom = None if tour.odometry is None else tour.odometry[kf]
    timings: dict[str, float] = {}

    with staged_directory(out_dir, overwrite=options.overwrite) as stage:
        t0 = time.perf_counter()
        _write_keyframe_images(tour, kf, stage / "images")
        timings["images"] = time.perf_counter() - t0

        sfm: SfmResult | None = None
        failure: str | None = None
        if options.poses == "sfm":
            try:
                sfm = run_sfm(
                    stage / "images",
                    tour.cameras,
                    len(kf),
                    kf_odom,
                    options.sfm,
                    stage / "logs" / "colmap.log",
                    database=sfm_database,
                    keep_database=keep_sfm_database,
                )
                timings.update(sfm.timings)
                if sfm.registered_fraction < options.sfm.min_registered_fraction:
                    failure = (
                        f"SfM registered {int(sfm.registered.sum())} of {len(kf)} keyframes "
                        f"(registered fraction {sfm.registered_fraction:.2f} < "
                        f"{options.sfm.min_registered_fraction:.2f} required) in the largest of "
                        f"{sfm.num_models} models"
                    )
            except SfmError as e:
                failure = str(e)
        if failure is not None:
            if tour.odometry is None:
                raise SfmError(f"{tour.path}: {failure} (a tour without odometry needs SfM)")
            if not options.allow_odometry_only:
                raise SfmError(
                    f"{tour.path}: {failure}; pass --allow-odometry-only to build the map from "
                    "odometry poses instead"
                )
            notes.append(f"{failure}: built from odometry poses instead")

        if options.poses == "ground_truth":
            node_kf = np.arange(len(kf))
            t_world_ego = se3_from_se2(tour.ground_truth[kf])
            pose_source, metric = "ground_truth", True
            node_points, points_xyz = None, None
            sfm_stats = {"registered": len(kf), "registered_fraction": 1.0, "skipped": True}
        elif failure is None:
            assert sfm is not None
            reg = np.nonzero(sfm.registered)[0]
            sim, align_info = _align(sfm, tour, kf_odom, reg, options.alignment)
            notes.extend(align_info.pop("notes", []))
            t_world_ego = sim.apply_pose(sfm.T_sfm_ego[reg])
            rec = sfm.reconstruction
            rec.transform(_pycolmap_sim3d(sim))
            (stage / "sfm").mkdir()
            rec.write_binary(stage / "sfm")
            node_kf = reg
            pose_source, metric = "sfm", tour.odometry is not None
            node_points = [sfm.node_points[k] for k in reg]
            # Heights are only metric with odometry: without, no obstacle check is possible.
            points_xyz = (
                np.array([p.xyz for p in rec.points3D.values()]).reshape(-1, 3) if metric else None
            )
            bad_steps = [] if kf_odom is None else odometry_disagreements(t_world_ego, kf_odom[reg])
            fusion: dict[str, Any] = {}
            if kf_odom is not None and options.fuse_odometry:
                with progress.bar("pose graph", len(reg), unit="node") as bar:
                    t_world_ego, fusion = _fuse(t_world_ego, kf_odom[reg], bad_steps, node_points)
                    bar.update(len(reg))
            elif bad_steps:
                t_world_ego = bridge_with_odometry(t_world_ego, kf_odom[reg], bad_steps)
            if bad_steps or fusion.get("max_shift_m", 0.0) > FUSION_KEEPS_POINTS_M:
                points_xyz = None  # the point cloud keeps the fold: no obstacle check with it
                notes.append(
                    f"SfM and odometry disagreed on {len(bad_steps)} of {len(reg) - 1} steps "
                    f"(first after node {int(reg[bad_steps[0]]) if bad_steps else '-'}); the "
                    "poses were corrected with odometry (moved by up to "
                    f"{fusion.get('max_shift_m', float('nan')):.2f} m), and co-visibility "
                    "edges skipped"
                )
            sfm_stats: dict[str, Any] = {
                "registered": len(reg),
                "odometry_bridged_steps": bad_steps,
                "pose_graph": fusion,
                "registered_fraction": sfm.registered_fraction,
                "num_models": sfm.num_models,
                "num_pairs": sfm.num_pairs,
                "num_retrieval_pairs": sfm.num_retrieval_pairs,
                "num_points3d": sfm.num_points3d,
                "mean_reprojection_error": sfm.mean_reprojection_error,
                "alignment": align_info,
                "mapper": options.sfm.mapper,
                "mapping_steps_s": sfm.mapping_steps,
                "rig_scale_corrections": sfm.rig_scale_corrections,
            }
        else:
            node_kf = np.arange(len(kf))
            t_world_ego = se3_from_se2(kf_odom)
            pose_source, metric = "odometry", True
            node_points, points_xyz = None, None
            sfm_stats = {
                "registered": 0 if sfm is None else int(sfm.registered.sum()),
                "registered_fraction": 0.0 if sfm is None else sfm.registered_fraction,
                "failure": failure,
            }
        _drop_unused_images(stage, tour, kf, node_kf)

        nodes = [
            Node(
                id=int(k),
                frame_index=int(kf[k]),
                timestamp=float(tour.timestamps[kf[k]]),
                T_world_ego=t_world_ego[i],
                images={c.name: f"images/{image_name(c.name, int(k))}" for c in tour.cameras},
            )
            for i, k in enumerate(node_kf)
        ]

        t0 = time.perf_counter()
        landmarks = extract_landmarks(extractor, nodes, tour, stage, options.association)
        timings["landmarks"] = time.perf_counter() - t0
        nodes = link_landmarks(nodes, landmarks)
        with progress.bar("edges", len(nodes), unit="node") as bar:
            edges = build_edges(
                [n.id for n in nodes], t_world_ego[:, :2, 3], node_points, points_xyz, options.edges
            )
            bar.update(len(nodes))

        evaluation: dict[str, Any] = {}
        if tour.ground_truth is not None and len(nodes) >= 3:
            gt = tour.ground_truth[kf[node_kf]]
            evaluation = evaluate_trajectory(t_world_ego, gt, tour.timestamps[kf[node_kf]])
            evaluation["gt_pose2d"] = gt.tolist()
            if not metric:
                notes.append("the map is up to scale: ATE in the map frame is not metric")
        purity = association_purity(landmarks)
        if purity:
            evaluation["landmark_association"] = purity

        timings["total"] = time.perf_counter() - t_start
        metadata = MapMetadata(
            pose_source=pose_source,  # type: ignore[arg-type]
            metric_scale=metric,
            cameras=tour.cameras,
            source={
                "kind": tour.kind,
                "path": str(tour.path),
                "frames": tour.num_frames,
                "has_odometry": tour.odometry is not None,
                **dict(tour.info),
            },
            build={
                "keyframes": len(kf),
                "keyframe_frames": kf.tolist(),
                "keyframe_options": _options_json(options.keyframes),
                "sfm_options": _options_json(options.sfm),
                "edge_options": _options_json(options.edges),
                "association_options": _options_json(options.association),
                "alignment": options.alignment,
                "landmark_extractor": getattr(extractor, "name", None),
                "sfm": sfm_stats,
                "timings_s": timings,
                "notes": notes,
            },
            evaluation=evaluation,
            floor_plan=tour.floor_plan,
        )
        m = TopoSemanticMap(tuple(nodes), tuple(edges), tuple(landmarks), metadata, root=stage)
        write_map_json(m, stage)
    m = m.replace(root=out_dir.resolve())
    report = BuildReport(
        map_dir=str(out_dir),
        frames=tour.num_frames,
        keyframes=len(kf),
        registered=int(sfm_stats["registered"]),
        registered_fraction=float(sfm_stats["registered_fraction"]),
        pose_source=pose_source,
        metric_scale=metric,
        mean_reprojection_error=None if failure or sfm is None else sfm.mean_reprojection_error,  # type: ignore[union-attr]
        num_points3d=0 if failure or sfm is None else sfm.num_points3d,  # type: ignore[union-attr]
        nodes=len(nodes),
        edges=len(edges),
        landmarks=len(landmarks),
        evaluation={k: v for k, v in evaluation.items() if k != "gt_pose2d"},
        timings=timings,
        notes=notes,
    )
    return m, report


# ----------------------------------------------------------------------------- steps


def _options_json(o: Any) -> dict[str, Any]:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
            for k, v in dataclasses.asdict(o).items()}  # fmt: skip


def _write_keyframe_images(tour: Tour, kf: np.ndarray, image_dir: Path) -> None:
    """``images/<camera>/<keyframe:05d>.png`` for every keyframe and camera."""
    from PIL import Image

    for c in tour.cameras:
        (image_dir / c.name).mkdir(parents=True, exist_ok=True)
    with progress.bar("keyframes", len(kf), unit="keyframe") as bar:
        for k, frame in enumerate(tour.read_frames(kf.tolist())):
            for ci, c in enumerate(tour.cameras):
                Image.fromarray(np.ascontiguousarray(frame[ci])).save(
                    image_dir / image_name(c.name, k), compress_level=1
                )
            bar.update(1)


def _drop_unused_images(stage: Path, tour: Tour, kf: np.ndarray, node_kf: np.ndarray) -> None:
    keep = set(node_kf.tolist())
    for k in range(len(kf)):
        if k not in keep:
            for c in tour.cameras:
                (stage / "images" / image_name(c.name, k)).unlink(missing_ok=True)


def _align(
    sfm: SfmResult, tour: Tour, kf_odom: np.ndarray | None, reg: np.ndarray, method: str
) -> tuple[Sim3, dict[str, Any]]:
    """The Sim(3) from the SfM frame to the map frame.

    With odometry: :func:`~astra_jax.maps.alignment.align_to_odometry`. Without: rotate the
    mean ego "up" axis onto +z and put the first registered node at the origin facing +x
    (scale stays SfM's).
    """
    if kf_odom is not None:
        centres = None
        if method == "umeyama":
            t_world_ego = se3_from_se2(kf_odom)
            t_ego_cam = {c.name: c.T_ego_cam for c in tour.cameras}
            keys = sorted(sfm.cam_centres)
            centres = (
                np.array([sfm.cam_centres[k] for k in keys]),
                np.array([(t_world_ego[k] @ t_ego_cam[cam])[:3, 3] for k, cam in keys]),
            )
        return align_to_odometry(
            sfm.T_sfm_ego[reg], kf_odom[reg, :2], method=method, cam_centres=centres
        )
    ups = sfm.T_sfm_ego[reg, :3, 2]
    up = ups.mean(axis=0)
    up /= np.linalg.norm(up)
    r1 = rotation_between(up, np.array([0.0, 0.0, 1.0]))
    first = sfm.T_sfm_ego[reg[0]]
    fwd = r1 @ first[:3, 0]
    yaw = math.atan2(fwd[1], fwd[0])
    c, s = math.cos(-yaw), math.sin(-yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    rot = rz @ r1
    sim = Sim3(rot, -(rot @ first[:3, 3]), 1.0)
    tilt = float(np.degrees(np.arccos(np.clip(ups @ up, -1, 1))).max())
    return sim, {
        "method": "gravity_from_camera_mounting",
        "scale": 1.0,
        "max_tilt_deg": tilt,
        "notes": ["no odometry: the map is up to scale (SfM units)"],
    }


# A pose-graph correction larger than this (m) means SfM's point cloud no longer matches the
# nodes well enough to check co-visibility edges for obstacles with it.
FUSION_KEEPS_POINTS_M = 0.1


def _fuse(
    t_world_ego: np.ndarray, odom: np.ndarray, bad_steps: list[int], node_points: list[set[int]]
) -> tuple[np.ndarray, dict[str, Any]]:
    """SfM node poses (N, 4, 4) fused with odometry (N, 3) in a pose graph, starting from the
    bridged chain. The result is planar (ego origin on the floor, z = 0, no roll or pitch):
    the tour comes from a wheeled robot whose odometry is planar too, and SfM's heights and
    tilts drift with nothing to hold them (up to 2.7 m of height over a 530 m office tour,
    which alone made a 0.054 m planar ATE read 0.48 m in 3D)."""
    opts = PoseGraphOptions()
    start = bridge_with_odometry(t_world_ego, odom, bad_steps) if bad_steps else t_world_ego
    sfm2d, init2d = se2_from_se3(t_world_ego), se2_from_se3(start)
    fused, info = fuse_pose_graph(sfm2d, odom, loop_edges(node_points, opts), init2d, opts)
    return se3_from_se2(fused), info


def odometry_disagreements(
    t_world_ego: np.ndarray,
    odom: np.ndarray,
    *,
    abs_tol: float = 0.3,
    rel_tol: float = 0.2,
    yaw_tol: float = math.radians(10.0),
) -> list[int]:
    """Positions (indices into the node list) of consecutive-node steps where SfM and odometry
    disagree: on the step's displacement, seen from its first node (x forward, y left), by more
    than ``abs_tol`` m + ``rel_tol`` of the distance driven, or on the turn by more than
    ``yaw_tol`` rad.

    Odometry is accurate over one step, so such a step is an SfM failure: a registration one
    period off along a repetitive texture (seen at a grazing angle by a side camera), a block
    of keyframes registered against the wrong pass of a twice-driven aisle, or a keyframe
    registered facing the wrong way down a symmetric corridor. The displacement, not only its
    length, is compared: a block registered 0.9 m back along the direction of travel gives a
    step of about the right length that points backwards.
    """
    p = t_world_ego[:, :2, 3]
    yaw = np.arctan2(t_world_ego[:, 1, 0], t_world_ego[:, 0, 0])
    d = np.diff(p, axis=0)
    c, s = np.cos(yaw[:-1]), np.sin(yaw[:-1])
    rel_sfm = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1)
    rel_odom = np.array([se2_relative(a, b)[:2] for a, b in itertools.pairwise(odom)])
    rel_odom = rel_odom.reshape(-1, 2)
    d_odom = np.linalg.norm(rel_odom, axis=1)
    turn_err = np.abs(wrap_angle(np.diff(yaw) - np.diff(odom[:, 2])))
    bad = (np.linalg.norm(rel_sfm - rel_odom, axis=1) > abs_tol + rel_tol * d_odom) | (
        turn_err > yaw_tol
    )
    return [int(i) for i in np.nonzero(bad)[0]]


def bridge_with_odometry(
    t_world_ego: np.ndarray, odom: np.ndarray, bad_steps: list[int]
) -> np.ndarray:
    """Re-chain node poses (N, 4, 4), taking each step in ``bad_steps`` from odometry.

    At a bad step i the pose of node i+1 becomes node i's (bridged) pose composed with the
    odometry's relative motion (x, y, yaw) from i to i+1, and every later node moves with it
    by the same planar rigid motion (rotation about z and translation) until the next bad
    step. Good steps therefore keep SfM's relative motion exactly, and a block of nodes that
    SfM registered shifted, or rotated (keyframes registered against the wrong pass of an
    aisle, or turned by the rig's 120 deg symmetry), is put back where odometry says it
    continues. A single outlier node (bad steps on both sides) takes its pose from odometry,
    and the nodes after it follow their own SfM poses again up to the two steps' odometry
    error.
    """
    out = np.array(t_world_ego, copy=True)
    bad = set(bad_steps)
    correction = np.eye(4)  # planar rigid motion applied to the nodes after the last bad step
    for i in range(len(out) - 1):
        if i in bad:
            target = out[i] @ se3_from_se2(se2_relative(odom[i], odom[i + 1]))
            planar = se3_from_se2(se2_from_se3(t_world_ego[i + 1]))
            # both planar (z = 0, no tilt): heights and tilts stay SfM's
            correction = se3_from_se2(se2_from_se3(target)) @ np.linalg.inv(planar)
        out[i + 1] = correction @ t_world_ego[i + 1]
    return out


def _pycolmap_sim3d(sim: Sim3):  # -> pycolmap.Sim3d
    import pycolmap

    return pycolmap.Sim3d(sim.scale, pycolmap.Rotation3d(sim.rotation), sim.translation)


def link_landmarks(nodes: Sequence[Node], landmarks: Sequence[Landmark]) -> list[Node]:
    """``nodes`` with their ``landmark_ids``: every landmark that lists the node."""
    by_node: dict[int, list[int]] = {}
    for lm in landmarks:
        for nid in lm.node_ids:
            by_node.setdefault(nid, []).append(lm.id)
    return [dataclasses.replace(n, landmark_ids=tuple(by_node.get(n.id, ()))) for n in nodes]


def extract_landmarks(
    extractor: LandmarkExtractor | None,
    nodes: Sequence[Node],
    tour: Tour,
    root: Path,
    options: AssociationOptions,
) -> list[Landmark]:
    """Run ``extractor`` on every node (its images read from ``root``, its cameras placed by
    the node pose and the tour's rig) and associate the detections; [] without an extractor."""
    if extractor is None:
        return []
    from PIL import Image

    per_node = []
    intr = {c.name: c.intrinsics for c in tour.cameras}
    with progress.bar("landmarks", len(nodes), unit="node") as bar:
        for n in nodes:
            images = {}
            for c in tour.cameras:
                with Image.open(root / n.images[c.name]) as im:
                    images[c.name] = np.asarray(im.convert("RGB"))
            view = KeyframeView(
                node_id=n.id,
                frame_index=n.frame_index,
                images=images,
                T_world_cam={c.name: n.T_world_ego @ c.T_ego_cam for c in tour.cameras},
                intrinsics=intr,
            )
            per_node.append((n.id, extractor.extract(view)))
            bar.update(1)
        return associate(per_node, options)
