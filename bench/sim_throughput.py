"""Simulator rendering throughput: rig frames/s against a bare MuJoCo render of the same scene.

A rig frame is what an episode stores per time step: 3 cameras x (RGB + z-depth +
segmentation) at the preset's image size (small: 96x96). The baseline, measured in the same
run on the same compiled scene, is ``mujoco.Renderer`` drawing one RGB image from one camera
at the same size (no depth, no segmentation). Poses are free poses drawn across the world.

    .venv/bin/python bench/sim_throughput.py [--family office] [--world-seed 0] [--frames 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="office", choices=["office", "warehouse"])
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args(argv)

    import mujoco

    from astra_jax.config import get_preset
    from astra_jax.geometry import rig_intrinsics, vertical_fov
    from astra_jax.sim import RigRenderer, build_scene, build_world

    cfg = get_preset(args.preset)
    h, w = cfg.rig.image_hw
    t0 = time.perf_counter()
    world = build_world(args.family, args.world_seed, cfg.sim)
    t1 = time.perf_counter()
    scene = build_scene(world, cfg.rig)
    t2 = time.perf_counter()

    occ = world.occupancy(cfg.sim.occupancy_resolution)
    free = np.argwhere(occ.esdf > cfg.sim.robot.radius + 0.1)
    rng = np.random.default_rng(0)
    cells = free[rng.integers(len(free), size=args.frames)]
    xy = occ.grid.to_world(cells.astype(np.float64))
    poses = np.concatenate([xy, rng.uniform(-np.pi, np.pi, (args.frames, 1))], 1)

    # baseline: one camera, RGB only, MuJoCo's own renderer on the same model
    model = scene.model
    model.vis.global_.offwidth, model.vis.global_.offheight = max(w, 64), max(h, 64)
    data = mujoco.MjData(model)
    base = mujoco.Renderer(model, h, w)
    k = rig_intrinsics(cfg.rig.cameras, (h, w))[0]
    model.cam_fovy[scene.camera_ids[0]] = np.degrees(vertical_fov(k, h))

    def bare(pose: np.ndarray) -> np.ndarray:
        data.mocap_pos[scene.mocap_id] = (pose[0], pose[1], 0.0)
        data.mocap_quat[scene.mocap_id] = (np.cos(pose[2] / 2), 0, 0, np.sin(pose[2] / 2))
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)
        base.update_scene(data, camera=scene.camera_ids[0])
        return base.render()

    with RigRenderer(scene, (h, w)) as rig:
        for p in poses[:10]:  # warm up both
            bare(p)
            rig.render(p)
        tb = time.perf_counter()
        for p in poses:
            bare(p)
        bare_s = time.perf_counter() - tb
        tr = time.perf_counter()
        c0 = time.process_time()
        for p in poses:
            rig.render(p)
        rig_s = time.perf_counter() - tr
        rig_cpu = time.process_time() - c0
    base.close()

    rig_fps = args.frames / rig_s
    bare_fps = args.frames / bare_s
    summary = {
        "family": args.family,
        "world_seed": args.world_seed,
        "preset": args.preset,
        "image_hw": [h, w],
        "cameras": len(cfg.rig.cameras),
        "frames": args.frames,
        "rig_frames_per_s": round(rig_fps, 1),
        "rig_images_per_s": round(rig_fps * len(cfg.rig.cameras), 1),
        "rig_cpu_ms_per_frame": round(1e3 * rig_cpu / args.frames, 2),
        "bare_single_camera_rgb_per_s": round(bare_fps, 1),
        "ratio_rig_to_bare": round(rig_fps / bare_fps, 3),
        "goal_rig_frames_per_s": 100,
        "world_build_s": round(t1 - t0, 2),
        "scene_build_s": round(t2 - t1, 2),
        "texture_megapixels": round(scene.texture_pixels / 1e6, 2),
        "geoms": int(model.ngeom),
        "triangles": int(model.nmeshface),
        "load_average": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    print(f"{args.family} seed {args.world_seed}: {model.ngeom} geoms, {model.nmeshface} triangles, "
          f"{summary['texture_megapixels']} Mpx textures; world {summary['world_build_s']} s, scene {summary['scene_build_s']} s")  # fmt: skip
    print(f"rig ({len(cfg.rig.cameras)} cams x RGB+depth+seg, {w}x{h}): {rig_fps:.1f} frames/s "
          f"({summary['rig_cpu_ms_per_frame']} ms CPU per frame)")  # fmt: skip
    print(f"bare MuJoCo (1 cam, RGB only):          {bare_fps:.1f} frames/s")
    print(
        f"ratio rig / bare: {rig_fps / bare_fps:.3f}  (goal: >= 100 rig frames/s; load average {summary['load_average']:.2f})"
    )
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
