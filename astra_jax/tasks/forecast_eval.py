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
obstacle IoU, :func:`astra_jax.sim.voxel_occupancy.iou_counts`'s definitions; counts summed
over the split). The labels hold the episode's walking people (``--people``: episodes with
that density) where they are at the future frame's time; without people the worlds are static
and occupancy changes only with what the cameras see.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.kernels.ray_render import ray_pixels
from astra_jax.local_model.forecast_pretrain import (
    current_frame_features,
    future_targets,
    predict_futures,
    render_voxels,
    to_futures,
)
from astra_jax.sim.voxel_occupancy import (
    ego_voxel_labels,
    iou_counts,
    ious_from_counts,
    layered_occupancy,
    person_shape,
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
    enc, render, f = config.encoder, config.render, config.forecast.future
    images, poses = batch["images"], batch["poses"]
    p1 = config.forecast.past + 1  # the inputs only: no target features are needed here
    inputs, _ = current_frame_features(enc, frozen["encoder"], images[:, :-f], poses[:, :-f], p1)
    current = jnp.repeat(inputs[:, -1:], f, axis=1)
    future_poses = poses[:, -f:]
    sets = {
        "copy": current,
        "warp": to_futures(current, future_poses, enc.local.voxel),
        "4D": to_futures(predict_futures(config.forecast, params, inputs), future_poses,
                         enc.local.voxel),
    }  # fmt: skip
    out = {name: render_voxels(enc, render, frozen["render"], feat) for name, feat in sets.items()}
    out["truth"] = future_targets(enc, render, images, batch["depth"])
    return out


def evaluate_forecast(workdir: str, split: str = "test", out: str | None = None,
                      batch_size: int = 8, max_windows: int | None = None,
                      people: float | None = None) -> dict[str, Any]:  # fmt: skip
    """The three rows on ``split`` for forecast run ``workdir`` (best checkpoint), in the run's
    episodes or, with ``people``, in episodes with that density of walking people (per 100 m^2;
    0: none)."""
    params, step, saved = restore_params(workdir, "best")
    config = config_from_json(ForecastTaskConfig, saved["model_config"], f"{workdir} config")
    if people is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, people=people))
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
            if e not in layers:  # once per episode: its world's layers and true poses
                world = json.loads((source.paths[e] / "manifest.json").read_text())["world"]
                w = load_world(world.get("family"), int(world["seed"]), world.get("file"),
                               config.sim)  # fmt: skip
                crowd = source.paths[e] / "people.npy"
                people = np.load(crowd) if crowd.is_file() else None
                layers[e] = (layered_occupancy(w, grid), np.load(source.paths[e] / "pose.npy"),
                             people)  # fmt: skip
            occ, true_poses, people = layers[e]
            futures = [ego_voxel_labels(occ, true_poses[fr], grid,
                                        people=None if people is None else people[fr],
                                        person=person_shape(source.paths[e]))
                       for fr in source.history[e][t][-f:]]  # fmt: skip
            if not picture:
                picture = {"res": {m: tuple(a[j] for a in res[m]) for m in (*CANDIDATES, "truth")},
                           "labels": [labels for labels, _ in futures]}  # fmt: skip
            for k, (labels, col_valid) in enumerate(futures):
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
              "people": config.data.people,
              "futures": list(config.forecast.future_times()), "rows": rows_out}  # fmt: skip
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        _pictures(Path(out) / "futures.png", config, picture)
        report["pictures"] = str(Path(out) / "futures.png")
        write_report_files(out, report, markdown(report))
    return report


def _pictures(path: Path, config: ForecastTaskConfig, picture: dict[str, Any]) -> None:
    from astra_jax.tasks.voxel_pictures import save_forecast_pictures

    enc = config.encoder
    rows, cols = ray_pixels(enc.rig.image_hw, config.render.ray_stride)
    shape = (enc.num_cameras, len(rows), len(cols))
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
        f"{report['futures']} s, {report.get('people', 0.0):g} people per 100 m^2 "
        f"({report['run']} step {report['step']})",
        "",
        "| method | total IoU | obstacle IoU | AbsRel (depth) | PSNR (colour) |",
        "|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['method']} | {100 * r['total_iou']:.2f} | {100 * r['obstacle_iou']:.2f}"
                     f" | {r['abs_rel']:.4f} | {r['psnr']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
