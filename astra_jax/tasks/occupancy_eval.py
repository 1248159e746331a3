"""``astra eval occupancy``: occupancy runs compared on held-out worlds (the paper's Table 5).

Each run (an ``astra train occupancy-<preset>`` workdir) is restored at its best checkpoint
(chosen on val) and predicts the occupancy of every window of the split's episodes; IoUs are
computed from counts summed over the whole split, per family (office, warehouse):
``total_iou`` (occupied voxels, walls and objects) and ``obstacle_iou`` (objects; wall voxels
left out), as :func:`astra_jax.sim.voxel_occupancy.iou_counts` defines them. A run is
labelled by how its encoder started: 3D pre-trained (``init_workdir``) or from scratch. A
reference row per family predicts every voxel occupied: a model must beat it to mean anything
(coarse voxels are often partly occupied).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import jax
import numpy as np

from astra_jax.sim.voxel_occupancy import iou_counts, ious_from_counts
from astra_jax.tasks.occupancy import OccupancyTaskConfig, build, occupancy_forward
from astra_jax.tasks.reports import write_report_files
from astra_jax.train.evaluate import restore_params
from astra_jax.train.precision import Precision
from astra_jax.train.train_config import config_from_json

PICTURE_WINDOWS = 4  # windows drawn in occupancy.png, spread over the split


def evaluate_run(
    workdir: str, split: str, batch_size: int = 16, drawn: dict | None = None
) -> list[dict[str, Any]]:
    """One row per family of run ``workdir`` on ``split`` (and a reference row); ``drawn``
    collects the predictions of the windows drawn in the pictures."""
    params, step, saved = restore_params(workdir, "best")
    config = config_from_json(OccupancyTaskConfig, saved["model_config"], f"{workdir} config")
    task = build(config, Precision("float32"))
    source = task.source(split)
    families = [
        json.loads((p / "manifest.json").read_text())["world"]["family"] for p in source.paths
    ]
    forward = jax.jit(lambda p, b: occupancy_forward(task.config, p, b) > 0)
    totals: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4, np.int64))
    trivial: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4, np.int64))
    examples: dict[str, int] = defaultdict(int)
    picked = set(np.linspace(0, len(source) - 1, PICTURE_WINDOWS).astype(int).tolist())
    for start in range(0, len(source), batch_size):
        idx = list(range(start, min(start + batch_size, len(source))))
        rows = [source[i] for i in idx]
        while len(rows) < batch_size:  # one compiled shape: pad, then drop the padding
            rows.append(rows[-1])
        batch = {k: np.stack([r[k] for r in rows]) for k in ("images", "poses")}
        pred = np.asarray(forward(params, batch))
        for j, i in enumerate(idx):
            family = families[int(source.table[i, 0])]
            labels, valid = rows[j]["occupancy"], rows[j]["occupancy_valid"]
            if drawn is not None and i in picked:
                drawn.setdefault("truth", {})[i] = (labels, valid)
                drawn.setdefault(workdir, {})[i] = pred[j]
            totals[family] += iou_counts(pred[j], labels, valid)
            trivial[family] += iou_counts(np.ones_like(pred[j]), labels, valid)
            examples[family] += 1
    start_from = f"3D pre-trained ({config.init_workdir})" if config.init_workdir else "scratch"
    out = []
    for family in sorted(totals):
        for init, counts in (
            (start_from, totals[family]),
            ("(every voxel occupied)", trivial[family]),
        ):
            out.append({
                "run": workdir, "step": step, "init": init, "family": family, "split": split,
                "examples": examples[family], **ious_from_counts(counts),
            })  # fmt: skip
    return out


def evaluate_occupancy(
    workdirs: list[str], split: str = "test", out: str | None = None, batch_size: int = 16
) -> dict[str, Any]:
    """Rows of every run, and report.json / report.md in ``out`` when given."""
    rows, seen, drawn = [], set(), {}
    for w in workdirs:
        for r in evaluate_run(w, split, batch_size, drawn):
            key = (r["init"], r["family"])
            if r["init"].startswith("(") and key in seen:
                continue  # the trivial row once per family (the same windows for every run)
            seen.add(key)
            rows.append(r)
    report = {"split": split, "rows": rows}
    if out:
        from astra_jax.tasks.voxel_pictures import save_occupancy_pictures

        dest = Path(out)
        dest.mkdir(parents=True, exist_ok=True)
        windows = sorted(drawn["truth"])
        labels = np.stack([drawn["truth"][i][0] for i in windows])
        valid = np.stack([drawn["truth"][i][1] for i in windows])
        names = {w: next(r["init"] for r in rows if r["run"] == w) for w in workdirs}
        preds = {names[w]: np.stack([drawn[w][i] for i in windows]) for w in workdirs}
        save_occupancy_pictures(dest / "occupancy.png", labels, valid, preds)
        report["pictures"] = str(dest / "occupancy.png")
        write_report_files(dest, report, markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Occupancy on {report['split']} worlds (IoU %, counts over the whole split)",
        "",
        "| encoder start | family | examples | total IoU | obstacle IoU | run |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['init']} | {r['family']} | {r['examples']} | "
                     f"{100 * r['total_iou']:.2f} | {100 * r['obstacle_iou']:.2f} | "
                     f"{r['run']} step {r['step']} |")  # fmt: skip
    return "\n".join(lines) + "\n"
