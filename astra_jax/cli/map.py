"""``astra map``: build a map from a tour, picture it, and plan routes on it."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal

import tyro

from astra_jax.cli._common import emit_json, run
from astra_jax.maps.association import AssociationOptions
from astra_jax.maps.keyframes import KeyframeOptions
from astra_jax.maps.sfm import SfmOptions

# The flags' defaults are the library's (one source of truth: the option dataclasses).
_KF, _SFM = KeyframeOptions(), SfmOptions()


def build(
    tour_dir: tyro.conf.Positional[Path],
    out: Path,
    json: bool = False,
    allow_odometry_only: bool = False,
    overwrite: bool = False,
    min_distance: float = _KF.min_distance,
    min_angle_deg: float = round(math.degrees(_KF.min_angle), 6),
    stride: int = _KF.stride,
    sequential_overlap: int = _SFM.sequential_overlap,
    retrieval_top_k: int = _SFM.retrieval_top_k,
    pair_radius: float = _SFM.pair_radius,
    min_registered_fraction: float = _SFM.min_registered_fraction,
    no_rig: bool = False,
    upright: bool = _SFM.sift_upright,
    threads: int = _SFM.num_threads,
    seed: int = _SFM.seed,
    mapper: Literal["incremental", "colmap"] = "incremental",
    poses: Literal["sfm", "ground_truth"] = "sfm",
) -> int:
    """Build a map (nodes, edges, landmarks) from a tour with pycolmap SfM.

    Args:
        tour_dir: a simulator tour (`astra sim tour`) or a user tour folder (images/ or a
            video, camera.json, optional odometry.csv; see docs/design.md).
        out: the map directory to create.
        json: also print a one-line JSON summary as the last line.
        allow_odometry_only: if SfM registers too few keyframes, build from odometry instead.
        overwrite: replace an existing map directory (only once the new map is complete).
        min_distance: keyframe every this many metres of path...
        min_angle_deg: ...or this many degrees of turn.
        stride: keyframe every this many frames when the tour has no odometry.
        sequential_overlap: keyframes each image is matched with in sequence.
        retrieval_top_k: loop-closure candidates per image from image retrieval (0: none).
        pair_radius: match images whose odometry-placed cameras are this close (m; 0: off).
        min_registered_fraction: fail below this share of registered keyframes.
        no_rig: register each camera on its own instead of as a rigid rig.
        upright: upright SIFT, for cameras that never roll (a ground robot's rig); pass
            --no-upright for a hand-held recording.
        threads: CPU threads for pycolmap (-1: all).
        seed: pycolmap's random seed.
        mapper: incremental (COLMAP's steps driven one by one with a direct solver for every
            global bundle adjustment: near-linear in tour length) or colmap (COLMAP's own
            incremental pipeline with the settings before issue 20, for comparison).
        poses: sfm, or ground_truth: a simulator tour's true poses and no SfM (a surveyed
            map in seconds, for training data; not for evaluating maps).
    """
    from astra_jax.maps.build import BuildOptions, build_map
    from astra_jax.maps.tour import load_tour

    options = BuildOptions(
        keyframes=KeyframeOptions(min_distance, math.radians(min_angle_deg), stride),
        sfm=(SfmOptions.colmap_pipeline if mapper == "colmap" else SfmOptions)(
            sequential_overlap=sequential_overlap,
            retrieval_top_k=retrieval_top_k,
            pair_radius=pair_radius,
            min_registered_fraction=min_registered_fraction,
            use_rig=not no_rig,
            sift_upright=upright,
            num_threads=threads,
            seed=seed,
        ),
        allow_odometry_only=allow_odometry_only,
        overwrite=overwrite,
        poses=poses,
    )
    tour = load_tour(tour_dir)
    _, report = build_map(tour, out, options)
    r = report
    print(f"map        {r.map_dir}  (poses from {r.pose_source}, metric scale: {r.metric_scale})")
    print(f"frames     {r.frames}, keyframes {r.keyframes}, registered {r.registered} "
          f"({100 * r.registered_fraction:.1f}%)")  # fmt: skip
    if r.mean_reprojection_error is not None:
        print(f"sfm        {r.num_points3d} points, mean reprojection error "
              f"{r.mean_reprojection_error:.3f} px")  # fmt: skip
    print(f"graph      {r.nodes} nodes, {r.edges} edges, {r.landmarks} landmarks")
    ev = r.evaluation
    if "ate_rmse" in ev:
        print(f"vs truth   ATE {ev['ate_rmse']:.3f} m (Sim3-aligned), "
              f"{ev['ate_rmse_map_frame']:.3f} m (map frame); RPE {ev['rpe_trans_rmse']:.3f} m, "
              f"{ev['rpe_rot_rmse_deg']:.2f} deg")  # fmt: skip
    t = r.timings
    stages = ", ".join(f"{k} {t[k]:.1f}" for k in ("features", "matching", "mapping", "landmarks")
                       if k in t)  # fmt: skip
    print(f"time       {t['total']:.1f} s ({stages})")
    for note in r.notes:
        print(f"note       {note}")
    if json:
        emit_json(r.to_json())
    return 0


def show(map_dir: tyro.conf.Positional[Path], out: Path, json: bool = False) -> int:
    """Draw a map: floor plan, nodes, edges, labelled landmarks, trajectory vs ground truth.

    Args:
        map_dir: the map directory.
        out: the PNG to write.
        json: also print a one-line JSON summary as the last line.
    """
    from astra_jax.maps.plot import plot_map
    from astra_jax.maps.storage import load_map

    m = load_map(map_dir)
    if out.exists() and out.is_dir():
        raise IsADirectoryError(f"{out}: is a directory; expected a .png file path")
    plot_map(m, out)
    print(f"wrote {out}")
    if json:
        emit_json({"png": str(out), "nodes": len(m.nodes), "edges": len(m.edges),
                   "landmarks": len(m.landmarks)})  # fmt: skip
    return 0


def route(
    map_dir: tyro.conf.Positional[Path],
    from_node: int,
    goal: str,
    spacing: float = 2.0,
    json: bool = False,
) -> int:
    """Plan a route to a text goal: node path, subgoals every few metres, and length.

    Args:
        map_dir: the map directory.
        goal: what to go to, e.g. "printer" or "somewhere to rest" (matched on landmark
            category, function and attributes).
        from_node: the node the robot is at.
        spacing: metres between subgoals.
        json: also print a one-line JSON summary as the last line.
    """
    from astra_jax.maps.navigation import route_to_goal
    from astra_jax.maps.storage import load_map

    nav = route_to_goal(load_map(map_dir), from_node, goal, spacing=spacing)
    best, lm, r = nav.match, nav.landmark, nav.route
    print(f"goal       {goal!r} -> landmark #{lm.id} {lm.category} ({', '.join(lm.attributes)}; "
          f"{lm.function}) seen best from node {best.node_id}")  # fmt: skip
    print(f"route      {len(r.node_ids)} nodes, {r.length:.2f} m: {' '.join(map(str, r.node_ids))}")
    for i, s in enumerate(r.subgoals):
        print(f"subgoal {i:<3d} x={s[0]:7.2f} y={s[1]:7.2f} yaw={math.degrees(s[2]):7.1f} deg")
    if json:
        emit_json(
            {
                "goal": goal,
                "landmark_id": lm.id,
                "category": lm.category,
                "goal_node": best.node_id,
                "from_node": from_node,
                "node_ids": list(r.node_ids),
                "length_m": r.length,
                "subgoals": r.subgoals.tolist(),
                "alternatives": [
                    {"landmark_id": a.landmark_id, "category": a.category, "score": a.score}
                    for a in nav.alternatives
                ],
            }
        )
    return 0


_ASSOC = AssociationOptions()


def landmarks(
    map_dir: tyro.conf.Positional[Path],
    tour: Path,
    voxel: float = _ASSOC.voxel,
    min_overlap: float = _ASSOC.min_overlap,
    radius: float = _ASSOC.radius,
    checkpoint: str | None = None,
    step: str = "best",
    json: bool = False,
) -> int:
    """Extract and associate a map's landmarks again on its own nodes (no new SfM); map.json
    is replaced in place (temp file + rename).

    Args:
        map_dir: the map directory.
        tour: the tour the map was built from (its oracle names the landmarks).
        voxel: cell size (m) of the surface-overlap test that joins sightings of one object.
        min_overlap: share of a sighting's cells that must touch a landmark's surface.
        radius: centroid radius (m) for sightings without a surface.
        checkpoint: a global-sft or global-grpo run: Astra-Global names the landmarks instead
            of the oracle, and its landmarks are scored against the oracle's (precision,
            recall: same category within 2 m); --radius then defaults to 3 m.
        step: the checkpoint's step (best, latest or a number).
        json: also print a one-line JSON summary as the last line.
    """
    from astra_jax.maps.relandmark import relandmark
    from astra_jax.maps.storage import load_map, write_map_json
    from astra_jax.maps.tour import load_tour

    m = load_map(map_dir)
    t = load_tour(tour)
    before = len(m.landmarks)
    options = AssociationOptions(radius=radius, voxel=voxel, min_overlap=min_overlap)
    summary: dict = {}
    if checkpoint:
        from astra_jax.global_model.landmark_extractor import (
            ModelLandmarkExtractor,
            compare_landmarks,
        )
        from astra_jax.tasks.global_eval import load_answerer

        answer, _, source = load_answerer(checkpoint, step)
        extractor = ModelLandmarkExtractor(answer)
        if radius == _ASSOC.radius:  # the model does not place landmarks: merge more widely
            options = dataclasses.replace(options, radius=extractor.ASSOCIATION_RADIUS)
        oracle = relandmark(m, t, options=options).landmarks
        m = relandmark(m, t, extractor, options)
        vs = compare_landmarks(m.landmarks, oracle)
        summary = {"extractor": source, "malformed_answers": extractor.malformed,
                   "answers": extractor.asked, "vs_oracle": vs}  # fmt: skip
        print(f"extractor  {source}: {extractor.malformed} of {extractor.asked} answers malformed")
        print(f"vs oracle  precision {vs['precision']:.3f}, recall {vs['recall']:.3f} "
              f"({int(vs['true_positives'])} of {int(vs['reference'])} oracle landmarks)")  # fmt: skip
    else:
        m = relandmark(m, t, options=options)
    write_map_json(m, map_dir)
    quality = m.metadata.evaluation.get("landmark_association", {})
    print(f"map        {map_dir}: {before} -> {len(m.landmarks)} landmarks")
    if quality:
        print(f"vs truth   purity {quality['purity']:.3f}, fragmentation "
              f"{quality['fragmentation']:.3f} landmarks per object")  # fmt: skip
    if json:
        emit_json({"map_dir": str(map_dir), "landmarks": len(m.landmarks), **quality, **summary})
    return 0


def main(argv: list[str]) -> int:
    commands = {"build": build, "show": show, "route": route, "landmarks": landmarks}
    return run("astra map", commands, argv)
