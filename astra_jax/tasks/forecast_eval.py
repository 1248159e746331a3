"""``astra eval forecast``: the 4D module's futures against two baselines on held-out worlds
(the paper's Table 8 metrics), in one run on the same windows.

For each window and each future frame (+0.5 .. +2 s), three sets of voxel features in that
future's ego frame:

* ``copy``: the current frame's features as they are (the robot assumed not to move);
* ``warp``: the current frame's features warped by the robot's motion to that future (odometry,
  standing in for the commanded motion);
* ``4D``: the 4D module's prediction (current frame), warped the same way.

Each goes through the frozen 3D model's rendering head: rendered depth (AbsRel) and colour
(PSNR, over [0, 1]) against the future frame's, on the rays whose surface lies in the grid, and
occupancy (SDF < 0) against the simulator's occupancy at the future's true pose (total and
obstacle IoU, :func:`astra_jax.sim.voxel_occupancy.occupancy_iou`'s definitions; counts summed
over the split). The worlds are static until the simulator has people (issue 18), so occupancy
changes only with what the cameras see.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.geometry import se2_inverse
from astra_jax.kernels.ray_render import render_planned
from astra_jax.local_model.forecast import ForecastModule
from astra_jax.local_model.forecast_pretrain import _warp_all, encoder_features
from astra_jax.local_model.render_head import RenderHead
from astra_jax.local_model.render_pretrain import ray_plan, ray_targets
from astra_jax.sim.voxel_occupancy import (
    ego_voxel_labels,
    iou_counts,
    ious_from_counts,
    layered_occupancy,
)
from astra_jax.sim.world import load_world
from astra_jax.tasks.forecast import ForecastTaskConfig, build
from astra_jax.tasks.reports import write_report_files
from astra_jax.train.evaluate import restore_params
from astra_jax.train.precision import Precision
from astra_jax.train.train_config import config_from_json

CANDIDATES = ("copy", "warp", "4D")


def _renders(config: ForecastTaskConfig, frozen: Any, params: Any, batch: dict) -> dict:
    """Per candidate: rendered depth / colour (B, F, R[, 3]) and SDF (B, F, X, Y, Z); plus the
    true depth, colour and valid rays."""
    enc, fc = config.encoder, config.forecast
    grid = enc.local.voxel
    p1, f = fc.past + 1, fc.future
    images, poses = batch["images"], batch["poses"]
    b = images.shape[0]
    feats = encoder_features(enc, frozen["encoder"], images, poses, p1 + f)
    inputs = _warp_all(feats[:, :p1], poses[:, -(p1 + f) : -f], grid)
    times = jnp.broadcast_to(jnp.asarray(fc.future_times(), jnp.float32), (b, f))
    pred = ForecastModule(fc).apply({"params": params}, inputs, times)
    to_future = se2_inverse(poses[:, -f:])
    current = jnp.repeat(inputs[:, -1:], f, axis=1)
    sets = {
        "copy": current,
        "warp": _warp_all(current, to_future, grid),
        "4D": _warp_all(pred, to_future, grid),
    }
    plan = ray_plan(enc, config.render)
    out = {}
    for name, feat in sets.items():
        sdf, colour, beta = RenderHead(config.render).apply(
            {"params": frozen["render"]}, feat.reshape(b * f, *feat.shape[2:])
        )
        render = functools.partial(render_planned, beta=beta, plan=plan)
        depth, rgb, _ = jax.vmap(render)(sdf, colour)
        out[name] = (depth.reshape(b, f, -1), rgb.reshape(b, f, -1, 3),
                     sdf.reshape(b, f, *sdf.shape[1:]))  # fmt: skip
    future_images = images[:, -f:].reshape(b * f, 1, *images.shape[2:])
    d, c, v = ray_targets(
        plan, future_images, batch["depth"].reshape(b * f, *batch["depth"].shape[2:])
    )
    out["truth"] = (d.reshape(b, f, -1), c.reshape(b, f, -1, 3), v.reshape(b, f, -1))
    return out


def evaluate_forecast(workdir: str, split: str = "test", out: str | None = None,
                      batch_size: int = 8, max_windows: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The three rows on ``split`` for forecast run ``workdir`` (best checkpoint)."""
    params, step, saved = restore_params(workdir, "best")
    config = config_from_json(ForecastTaskConfig, saved["model_config"], f"{workdir} config")
    task = build(config, Precision("float32"))
    source = task.source(split)
    grid, f = config.encoder.local.voxel, config.forecast.future
    fn = jax.jit(lambda p, b: _renders(config, task.frozen, p, b))
    n = len(source) if max_windows is None else min(max_windows, len(source))
    sums: dict[str, dict[str, Any]] = {k: defaultdict(float) for k in CANDIDATES}
    layers: dict[int, Any] = {}
    picture: dict[str, Any] = {}  # the first window's renders, for the pictures
    for start in range(0, n, batch_size):
        idx = list(range(start, min(start + batch_size, n)))
        rows = [source[i] for i in idx]
        while len(rows) < batch_size:
            rows.append(rows[-1])
        batch = {k: np.stack([r[k] for r in rows]) for k in ("images", "poses", "depth")}
        res = jax.device_get(fn(params, batch))
        t_depth, t_rgb, valid = res["truth"]
        for j, i in enumerate(idx):
            e, t = (int(v) for v in source.table[i])
            if e not in layers:
                world = json.loads((source.paths[e] / "manifest.json").read_text())["world"]
                w = load_world(world.get("family"), int(world["seed"]), world.get("file"),
                               config.sim)  # fmt: skip
                layers[e] = layered_occupancy(w, grid)
            true_poses = np.load(source.paths[e] / "pose.npy", mmap_mode="r")
            future_frames = source.history[e][t][-f:]
            if not picture:
                picture = {"res": {m: tuple(a[j] for a in res[m]) for m in (*CANDIDATES, "truth")},
                           "labels": [ego_voxel_labels(layers[e], true_poses[fr], grid)[0]
                                      for fr in future_frames]}  # fmt: skip
            for k in range(f):
                labels, col_valid = ego_voxel_labels(layers[e], true_poses[future_frames[k]], grid)
                m = valid[j, k]
                for name in CANDIDATES:
                    depth, rgb, sdf = (a[j, k] for a in res[name])
                    s = sums[name]
                    s["abs_rel"] += float(
                        np.sum(np.abs(depth - t_depth[j, k])[m] / t_depth[j, k][m])
                    )
                    s["sq_err"] += float(np.sum((rgb - t_rgb[j, k])[m] ** 2))
                    s["rays"] += int(m.sum())
                    s["counts"] = s["counts"] + iou_counts(sdf < 0, labels, col_valid)
    rows_out = []
    for name in CANDIDATES:
        s = sums[name]
        mse = s["sq_err"] / max(3 * s["rays"], 1)
        rows_out.append({
            "method": name, **ious_from_counts(s["counts"]),
            "abs_rel": s["abs_rel"] / max(s["rays"], 1),
            "psnr": -10 * math.log10(mse) if mse > 0 else float("inf"),
        })  # fmt: skip
    report = {"run": workdir, "step": step, "split": split, "windows": n,
              "futures": list(config.forecast.future_times()), "rows": rows_out}  # fmt: skip
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        _pictures(Path(out) / "futures.png", config, picture)
        report["pictures"] = str(Path(out) / "futures.png")
        write_report_files(out, report, markdown(report))
    return report


def _pictures(path: Path, config: ForecastTaskConfig, picture: dict[str, Any]) -> None:
    from astra_jax.tasks.voxel_pictures import save_forecast_pictures

    enc, stride = config.encoder, config.render.ray_stride
    h, w = enc.rig.image_hw
    shape = (
        enc.num_cameras,
        len(range(stride // 2, h, stride)),
        len(range(stride // 2, w, stride)),
    )
    res = picture["res"]
    t_depth, t_rgb, valid = res["truth"]
    truth = (np.where(valid, t_depth, np.nan), t_rgb)
    renders = {m: (res[m][0], res[m][1]) for m in CANDIDATES}
    occupancy = {m: res[m][2] < 0 for m in CANDIDATES}
    save_forecast_pictures(path, list(config.forecast.future_times()), shape, truth, renders,
                           occupancy, np.stack(picture["labels"]))  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"4D forecasting on {report['split']} worlds: {report['windows']} windows, futures "
        f"{report['futures']} s ({report['run']} step {report['step']})",
        "",
        "| method | total IoU | obstacle IoU | AbsRel (depth) | PSNR (colour) |",
        "|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['method']} | {100 * r['total_iou']:.2f} | {100 * r['obstacle_iou']:.2f}"
                     f" | {r['abs_rel']:.4f} | {r['psnr']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
