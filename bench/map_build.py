"""Time a map build per stage (features, matching, mapping, landmarks) on a 200-frame tour,
or (``--whole-building``) on whole procedural buildings against the previous mapper.

The tour is the small office (``astra_jax/sim/floorplans/small_office.json``) rendered at the
mapping resolution, 200 frames over its ~84 m tour (rendered into a temporary folder unless
``--tour`` names one). The baseline, measured in the same run on the same keyframe images, is
the matching stage with pycolmap's own sequential matcher at the overlap the SfM notes used
(``match_sequential``, overlap 20, quadratic), which the pairs chosen here replace. It runs
inside :func:`astra_jax.maps.sfm.run_sfm` with the build's own ``SfmOptions``, so feature
extraction (SIFT options, feature count, camera mask, rig), matching and two-view verification
(inliers, RANSAC trials) use the very option objects of our build; only the pairs differ. Rig
expansion is off, so its pairs are the sequential ones by image name (on, every pair of
keyframes would become up to 9 image pairs). The ratio says how much matching time the chosen
pairs cost against it. Goal: the whole build <= 60 s on 2 CPU cores.

    .venv/bin/python bench/map_build.py [--tour DIR] [--frames 200] [--json]

Whole buildings (``--whole-building``): a procedural office and a procedural warehouse at
validation seeds (office 1,000,004: 381 m; warehouse 1,000,000: 294 m), a frame every 0.58 s
of the tour, rendered into ``--tours DIR`` (kept there and reused) or a temporary folder. Each
is built twice on the same keyframes and the same matches: with the default mapper (COLMAP's
incremental steps driven by ``astra_jax.maps.incremental`` with a direct sparse solver), and
with the mapping before issue 20 (``SfmOptions.colmap_pipeline()``: COLMAP's own
IncrementalPipeline), which maps the first build's database, so features and matching are
measured once and count in both totals. ``--lengths 0.25,0.5,0.75,1`` builds both on the
first fraction of each tour's frames too (the cost's growth with tour length). The ratio is
the previous total over ours; the goal is >= 4x with ATE within 1.5x of the previous one.

``--sparse-keyframes 0.5`` adds a third build per tour with the default mapper and a keyframe
every 0.5 m (its own extraction and matching; ``astra map build --min-distance 0.5``), and its
ratio against the previous total.

    .venv/bin/python bench/map_build.py --whole-building [--tours DIR] [--lengths 1]
        [--only office|warehouse] [--sparse-keyframes M] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")


def render_tour(out: Path, frames: int) -> Path:
    import astra_jax.sim
    from astra_jax.config import get_preset
    from astra_jax.sim import RigRenderer, build_scene, load_world, make_tour, save_episode

    cfg = get_preset("small")
    plan = Path(astra_jax.sim.__file__).parent / "floorplans" / "small_office.json"
    world = load_world(None, 0, plan, cfg.sim)
    with RigRenderer(build_scene(world, cfg.rig), cfg.rig.mapping_hw) as r:
        ep = make_tour(world, r, cfg, frames)
    return save_episode(ep, out)


class _BaselineMatched(Exception):
    """Raised once the baseline has matched: run_sfm stops before mapping."""


def baseline_matching(
    image_dir: Path, cameras, num_keyframes: int, options, log: Path
) -> tuple[float, int]:
    """Seconds and image pairs of pycolmap's sequential matcher (overlap 20, quadratic, no rig
    expansion) on the same images with the same settings as ours.

    ``run_sfm`` runs as in a build (same database, extraction and the matching and
    verification option objects it builds from ``options``); its call to
    ``pycolmap.match_image_pairs`` is replaced by ``pycolmap.match_sequential`` with those
    objects, timed alone, and the run stops there.
    """
    from unittest import mock

    import pycolmap

    from astra_jax.maps.sfm import image_name, run_sfm

    measured: list[tuple[float, int]] = []

    def sequential_instead(database_path, matching_options, pairing_options, verification_options):
        del pairing_options  # our imported pairs: the one thing the baseline replaces
        sequential = pycolmap.SequentialPairingOptions(overlap=20, quadratic_overlap=True)
        sequential.expand_rig_images = False
        t0 = time.perf_counter()
        pycolmap.match_sequential(
            database_path,
            matching_options=matching_options,
            pairing_options=sequential,
            verification_options=verification_options,
        )
        seconds = time.perf_counter() - t0
        with pycolmap.Database.open(database_path) as db:
            measured.append((seconds, db.num_matched_image_pairs()))
        raise _BaselineMatched

    missing = [
        image_name(c.name, i) for c in cameras for i in range(num_keyframes)
        if not (image_dir / image_name(c.name, i)).is_file()
    ]  # fmt: skip
    if missing:
        raise SystemExit(
            f"baseline: {len(missing)} keyframe images are missing from {image_dir} (e.g. "
            f"{missing[0]}; the build dropped unregistered keyframes), so the baseline cannot "
            "match the same images"
        )
    # odometry=None: it only chooses our pairs and the mapping path, both skipped here
    with (
        mock.patch.object(pycolmap, "match_image_pairs", sequential_instead),
        contextlib.suppress(_BaselineMatched),
    ):
        run_sfm(image_dir, cameras, num_keyframes, None, options, log)
    if not measured:
        raise SystemExit(
            "baseline: run_sfm no longer calls pycolmap.match_image_pairs, so the baseline did "
            "not run; update bench/map_build.py"
        )
    return measured[0]


# (family, validation world seed): whole buildings of ~300-400 m of tour
WHOLE_BUILDINGS = (("office", 1_000_004), ("warehouse", 1_000_000))
FRAME_PERIOD_S = 0.58  # at most 0.35 m between frames at the tour's 0.6 m/s (docs/design.md)
STAGES = ("images", "features", "matching", "mapping", "landmarks")


def render_building(family: str, seed: int, tours: Path) -> Path:
    """The tour of a procedural world with a frame every FRAME_PERIOD_S (reused if there)."""
    import math

    from astra_jax.config import get_preset
    from astra_jax.sim import RigRenderer, build_scene, load_world, make_tour, save_episode
    from astra_jax.sim.generate import tour_trajectory

    out = tours / f"{family}{seed}"
    if out.is_dir():
        return out
    cfg = get_preset("small")
    world = load_world(family, seed, None, cfg.sim)
    frames = math.floor(tour_trajectory(world, cfg)[0].duration / FRAME_PERIOD_S)
    with RigRenderer(build_scene(world, cfg.rig), cfg.rig.mapping_hw) as r:
        ep = make_tour(world, r, cfg, frames)
    tmp = tours / f".{family}{seed}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    save_episode(ep, tmp)
    tmp.rename(out)  # a half-rendered tour is never reused
    return out


def tour_prefix(tour, fraction: float):
    """The tour cut to its first ``fraction`` of frames."""
    n = max(2, round(tour.num_frames * fraction))
    cut = lambda a: None if a is None else a[:n]  # noqa: E731
    return dataclasses.replace(
        tour, timestamps=tour.timestamps[:n], odometry=cut(tour.odometry),
        ground_truth=cut(tour.ground_truth),
    )  # fmt: skip


def compare_mappers(tour, work: Path, sparse_keyframes_m: float = 0.0) -> dict:
    """Build ``tour`` with the default mapper, then with the previous one on its database;
    with ``sparse_keyframes_m`` > 0, once more with the default mapper and a keyframe every
    that many metres (its own features and matches: the fast setting ``astra map build
    --min-distance``)."""
    from astra_jax.maps import build_map
    from astra_jax.maps.build import BuildOptions
    from astra_jax.maps.keyframes import KeyframeOptions
    from astra_jax.maps.sfm import SfmError, SfmOptions

    work.mkdir(parents=True)
    db = work / "database.db"
    out: dict = {"frames": tour.num_frames, "length_m": round(_path_length(tour), 1)}
    runs = [("ours", BuildOptions(), {"keep_sfm_database": db}),
            ("previous", BuildOptions(sfm=SfmOptions.colmap_pipeline()), {"sfm_database": db})]  # fmt: skip
    if sparse_keyframes_m > 0:
        kf = KeyframeOptions(min_distance=sparse_keyframes_m)
        runs.append(("sparse", BuildOptions(keyframes=kf), {}))
    shared: dict[str, float] = {}  # features and matching: measured once, in both totals
    for name, options, kwargs in runs:
        try:
            built, report = build_map(tour, work / name, options, **kwargs)
        except SfmError as e:
            if name != "sparse":
                raise
            out[name] = {"error": str(e)}  # sparse keyframes can split the model
            continue
        stages = {k: report.timings.get(k) for k in STAGES}
        total = report.timings["total"]
        if name == "ours":
            shared = {k: stages[k] for k in ("features", "matching")}
        elif name == "previous":  # mapped the first build's database: no extraction, matching
            stages.update(shared)
            total += sum(shared.values())
        out[name] = {
            "stages_s": {k: round(v, 1) for k, v in stages.items()},
            "total_s": round(total, 1),
            "keyframes": report.keyframes,
            "registered_fraction": round(report.registered_fraction, 4),
            "ate_rmse_m": report.evaluation.get("ate_rmse"),
            "mapping_steps_s": built.metadata.build["sfm"].get("mapping_steps_s"),
            # consecutive-node steps where SfM disagreed with odometry (pose graph fixed them)
            "odometry_corrected_steps": len(
                built.metadata.build["sfm"].get("odometry_bridged_steps", [])
            ),
        }
        shutil.rmtree(work / name)  # images and model: ~100 MB per building
    out["speedup"] = round(out["previous"]["total_s"] / out["ours"]["total_s"], 2)
    if "sparse" in out and "error" not in out["sparse"]:
        out["sparse"]["min_distance_m"] = sparse_keyframes_m
        out["sparse_speedup"] = round(out["previous"]["total_s"] / out["sparse"]["total_s"], 2)
    return out


def _path_length(tour) -> float:
    import numpy as np

    xy = tour.ground_truth[:, :2] if tour.ground_truth is not None else tour.odometry[:, :2]
    return float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())


def whole_building(args: argparse.Namespace) -> int:
    from astra_jax.maps import load_tour

    fractions = [float(f) for f in args.lengths.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="astra-bench-") as tmp:
        tours = args.tours or Path(tmp) / "tours"
        tours.mkdir(parents=True, exist_ok=True)
        for family, seed in WHOLE_BUILDINGS:
            if args.only and family != args.only:
                continue
            full = load_tour(render_building(family, seed, tours))
            for f in fractions:
                r = compare_mappers(
                    tour_prefix(full, f), Path(tmp) / f"{family}-{f}", args.sparse_keyframes
                )
                r.update(family=family, world_seed=seed, fraction=f)
                rows.append(r)
                o, p = r["ours"], r["previous"]
                print(f"{family} {seed} x{f:g}: {r['length_m']} m, {r['frames']} frames, "
                      f"{o['keyframes']} keyframes", flush=True)  # fmt: skip
                for k in STAGES:
                    print(f"  {k:<10} {o['stages_s'][k] or 0:8.1f} s  previous "
                          f"{p['stages_s'][k] or 0:8.1f} s")  # fmt: skip
                print(f"  total      {o['total_s']:8.1f} s  previous {p['total_s']:8.1f} s  "
                      f"ratio {r['speedup']:.2f}x (goal >= 4)")  # fmt: skip
                print(f"  ATE        {o['ate_rmse_m']:.4f} m previous {p['ate_rmse_m']:.4f} m; "
                      f"registered {o['registered_fraction']:.3f} / "
                      f"{p['registered_fraction']:.3f}", flush=True)  # fmt: skip
                if "sparse" in r and "error" in r["sparse"]:
                    print(f"  sparse keyframes: {r['sparse']['error']}", flush=True)
                elif "sparse" in r:
                    sp = r["sparse"]
                    print(f"  sparse keyframes ({args.sparse_keyframes:g} m): "
                          f"{sp['keyframes']} keyframes, "
                          + ", ".join(f"{k} {sp['stages_s'][k] or 0:.1f} s" for k in STAGES)
                          + f"; total {sp['total_s']:.1f} s, ratio {r['sparse_speedup']:.2f}x; "
                          f"ATE {sp['ate_rmse_m']:.4f} m; registered "
                          f"{sp['registered_fraction']:.3f}", flush=True)  # fmt: skip
    print(f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    if args.json:
        print(json.dumps({"whole_building": rows, "load_avg": os.getloadavg()[0]},
                         sort_keys=True))  # fmt: skip
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tour", type=Path, help="an existing tour directory to map")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    ap.add_argument("--whole-building", action="store_true",
                    help="whole procedural buildings, ours against the previous mapper")  # fmt: skip
    ap.add_argument("--tours", type=Path, help="--whole-building: where tours are kept")
    ap.add_argument("--lengths", default="1", help="--whole-building: tour fractions")
    ap.add_argument("--only", choices=[f for f, _ in WHOLE_BUILDINGS])
    ap.add_argument("--sparse-keyframes", type=float, default=0.0, metavar="M",
                    help="--whole-building: also build with a keyframe every M metres")  # fmt: skip
    args = ap.parse_args()
    if args.whole_building:
        return whole_building(args)

    from astra_jax.maps import build_map, load_tour
    from astra_jax.maps.build import BuildOptions

    options = BuildOptions()  # the build's defaults; the baseline takes its SfM settings too

    with tempfile.TemporaryDirectory(prefix="astra-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        tour_dir = args.tour or render_tour(tmp / "tour", args.frames)
        render_s = time.perf_counter() - t0
        tour = load_tour(tour_dir)
        built, report = build_map(tour, tmp / "map", options)
        pairs = built.metadata.build["sfm"].get("num_pairs")
        t = report.timings
        stages = {k: round(t.get(k, 0.0), 2) for k in ("features", "matching", "mapping",
                                                        "landmarks", "images")}  # fmt: skip
        base, base_pairs = baseline_matching(
            tmp / "map" / "images", tour.cameras, report.keyframes, options.sfm,
            tmp / "baseline.log",
        )  # fmt: skip
    total = t["total"]
    print(f"tour        {tour.num_frames} frames, {report.keyframes} keyframes x "
          f"{len(tour.cameras)} cameras (rendered in {render_s:.1f} s)")  # fmt: skip
    for k, v in stages.items():
        print(f"{k:<11} {v:7.2f} s")
    print(f"total       {total:7.2f} s  (goal 60 s: {'met' if total <= 60 else 'missed'})")
    print(f"registered  {report.registered}/{report.keyframes}, ATE "
          f"{report.evaluation.get('ate_rmse', float('nan')):.3f} m")  # fmt: skip
    print(f"matching vs baseline (sequential overlap 20, quadratic, same SfmOptions): "
          f"{t['matching']:.2f} s vs {base:.2f} s, ratio {t['matching'] / base:.2f} "
          f"({pairs} vs {base_pairs} image pairs)")  # fmt: skip
    print(f"cpu cores   {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (shared machine "
          "if above the core count)")  # fmt: skip
    if args.json:
        print(json.dumps({
            "frames": tour.num_frames, "keyframes": report.keyframes,
            "registered_fraction": report.registered_fraction, "stages_s": stages,
            "total_s": round(total, 2), "baseline_matching_s": round(base, 2),
            "matching_ratio": round(t["matching"] / base, 3), "pairs": pairs,
            "baseline_pairs": base_pairs,
            "ate_rmse": report.evaluation.get("ate_rmse"), "load_avg": os.getloadavg()[0],
            "goal_met": total <= 60.0,
        }, sort_keys=True))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
