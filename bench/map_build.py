"""Time a map build per stage (features, matching, mapping, landmarks) on a 200-frame tour.

The tour is the small office (``astra_jax/sim/floorplans/small_office.json``) rendered at the
mapping resolution, 200 frames over its ~84 m tour (rendered into a temporary folder unless
``--tour`` names one). The baseline, measured in the same run on the same keyframe images, is
the matching stage with pycolmap's own sequential matcher at the overlap the SfM notes used
(``match_sequential``, overlap 20, quadratic), which the pairs chosen here replace; the ratio
says how much matching time the chosen pairs cost against it. Goal: the whole build <= 60 s
on 2 CPU cores.

    .venv/bin/python bench/map_build.py [--tour DIR] [--frames 200] [--json]
"""

from __future__ import annotations

import argparse
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


def baseline_matching(image_dir: Path, cameras, num_keyframes: int, log: Path) -> float:
    """Seconds for feature extraction + pycolmap's sequential matcher (overlap 20,
    quadratic) on the same images; returns the matching part only."""
    import pycolmap

    from astra_jax.maps.sfm import _pinhole_params, image_name, redirect_stderr_fd

    with tempfile.TemporaryDirectory() as work, redirect_stderr_fd(log):
        db = Path(work) / "db.db"
        for c in cameras:
            reader = pycolmap.ImageReaderOptions()
            reader.camera_model = "PINHOLE"
            reader.camera_params = _pinhole_params(c.intrinsics)
            extraction = pycolmap.FeatureExtractionOptions()
            extraction.sift.peak_threshold = 0.004
            pycolmap.extract_features(
                db, image_dir, [image_name(c.name, i) for i in range(num_keyframes)],
                camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                extraction_options=extraction,
            )  # fmt: skip
        t0 = time.perf_counter()
        pycolmap.match_sequential(
            db,
            pairing_options=pycolmap.SequentialPairingOptions(overlap=20, quadratic_overlap=True),
        )
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tour", type=Path, help="an existing tour directory to map")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args()

    from astra_jax.maps import build_map, load_tour

    with tempfile.TemporaryDirectory(prefix="astra-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        tour_dir = args.tour or render_tour(tmp / "tour", args.frames)
        render_s = time.perf_counter() - t0
        tour = load_tour(tour_dir)
        _, report = build_map(tour, tmp / "map")
        t = report.timings
        stages = {k: round(t.get(k, 0.0), 2) for k in ("features", "matching", "mapping",
                                                        "landmarks", "images")}  # fmt: skip
        base = baseline_matching(
            tmp / "map" / "images", tour.cameras, report.keyframes, tmp / "baseline.log"
        )
    total = t["total"]
    print(f"tour        {tour.num_frames} frames, {report.keyframes} keyframes x "
          f"{len(tour.cameras)} cameras (rendered in {render_s:.1f} s)")  # fmt: skip
    for k, v in stages.items():
        print(f"{k:<11} {v:7.2f} s")
    print(f"total       {total:7.2f} s  (goal 60 s: {'met' if total <= 60 else 'missed'})")
    print(f"registered  {report.registered}/{report.keyframes}, ATE "
          f"{report.evaluation.get('ate_rmse', float('nan')):.3f} m")  # fmt: skip
    print(f"matching vs baseline (sequential overlap 20, quadratic): {t['matching']:.2f} s vs "
          f"{base:.2f} s, ratio {t['matching'] / base:.2f}")  # fmt: skip
    print(f"cpu cores   {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (shared machine "
          "if above the core count)")  # fmt: skip
    if args.json:
        print(json.dumps({
            "frames": tour.num_frames, "keyframes": report.keyframes,
            "registered_fraction": report.registered_fraction, "stages_s": stages,
            "total_s": round(total, 2), "baseline_matching_s": round(base, 2),
            "matching_ratio": round(t["matching"] / base, 3),
            "ate_rmse": report.evaluation.get("ate_rmse"), "load_avg": os.getloadavg()[0],
            "goal_met": total <= 60.0,
        }, sort_keys=True))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
