"""Time a map build per stage (features, matching, mapping, landmarks) on a 200-frame tour.

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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tour", type=Path, help="an existing tour directory to map")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args()

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
