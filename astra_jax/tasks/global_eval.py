"""``astra eval global``: Astra-Global's localization on test worlds, against the VPR baseline.

Per world (``"NAME:SEED"``, test seeds only; NAME a family or a shipped floor plan):

1. **Tour day.** A mapping tour of ``frames`` frames and its map, built with the default
   pipeline (SfM: the map the robot would have), cached under
   ``$ASTRA_DATA_DIR/global_eval/<preset>/<world>_f<frames>/``.
2. **Query day.** A second tour with ``QUERY_GAP`` frames fewer, so that the queries stand
   between the map's keyframes, rendered with ``changes`` applied when asked (lights changed,
   movable objects moved: :mod:`astra_jax.sim.changes`). ``queries`` frames spread over it are
   the queries; each gives the rig's images.
3. Every query is localized four ways in the same run (the rows):

   * ``mllm``: Astra-Global's coarse -> co-visibility -> fine stages (its fine pose, else its
     best candidate node's);
   * ``mllm+refine``: then the rig refinement against the SfM model (accepted poses only);
   * ``vpr``: the bag-of-words VPR baseline's best node;
   * ``vpr+refine``: the same refinement over VPR's top 3 nodes (hloc's recipe).

   Estimates are mapped to the world frame by the map's Sim(3) (the evaluation alignment
   the build recorded) and compared with the true pose: ``coarse`` accuracy within 10 m /
   180 deg (the paper's Table 2; for the MLLM its coarse stage's best candidate), ``fine``
   accuracy within 1 m / 5 deg, and median errors. A query a method cannot answer is a miss.
4. Goals: ``goals`` text goals per world ("I need to <function>" of a map landmark; success when
   the landmark named serves that function) and image goals (a query's front image; success
   when the goal node lies within 2 m of where the photo was taken).
5. Calibration of Astra-Global's confidence: at each level, how many poses were within 1 m / 5
   deg. ``--split val --calibration-out FILE`` fits the levels on validation worlds
   (:mod:`astra_jax.global_model.calibration`); ``--calibration FILE`` uses them on test
   worlds, and the table then shows whether they hold.

The report is a markdown table and a JSON record; ``out`` also gets a plot per world (the
floor plan, the true query positions and each method's estimates).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.config import AstraConfig, WorldChanges

QUERY_GAP = 7  # frames fewer in the query tour than in the mapping tour
ROWS = ("mllm", "mllm+refine", "vpr", "vpr+refine")
COARSE_M, COARSE_DEG = 10.0, 180.0
FINE_M, FINE_DEG = 1.0, 5.0
IMAGE_GOAL_M = 2.0


@dataclasses.dataclass(frozen=True)
class GlobalEvalOptions:
    """``frames`` of each mapping tour, ``queries`` per world, ``goals`` text and image goals
    per world, and the query day's ``changes``."""

    frames: int = 120
    queries: int = 20
    goals: int = 5
    changes: WorldChanges = dataclasses.field(default_factory=WorldChanges)

    def __post_init__(self) -> None:
        if self.frames < 2 * QUERY_GAP or self.queries < 1 or self.goals < 0:
            raise ValueError(
                f"GlobalEvalOptions: frames {self.frames} must be >= {2 * QUERY_GAP}, queries "
                f"{self.queries} >= 1 and goals {self.goals} >= 0"
            )


def _load_world(world: str, render: AstraConfig, changes: WorldChanges) -> Any:
    from astra_jax.data.localization_worlds import load_named_world, parse_world

    name, seed = parse_world(world)
    return load_named_world(name, seed, dataclasses.replace(render.sim, world_changes=changes))


def _changes_key(changes: WorldChanges) -> str:
    if not changes.active:
        return "as_toured"
    c = changes
    return (f"light{c.lighting:g}_moved{c.moved_fraction:g}_shift{c.max_shift:g}_"
            f"turn{math.degrees(c.max_turn):g}_seed{c.seed}")  # fmt: skip


def _render_tour(world: Any, render: AstraConfig, frames: int, dest: Path) -> None:
    """Render a tour into ``dest`` atomically (a partial directory renamed when complete)."""
    from astra_jax.sim.episode import save_episode
    from astra_jax.sim.generate import make_tour
    from astra_jax.sim.render import RigRenderer
    from astra_jax.sim.scene import build_scene

    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with RigRenderer(build_scene(world, render.rig), render.rig.mapping_hw) as r:
            save_episode(make_tour(world, r, render, frames), partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    os.replace(partial, dest)


def prepare_world(
    world: str, render: AstraConfig, options: GlobalEvalOptions, root: Path, split: str = "test"
) -> tuple[Any, Any]:
    """``(map, query tour)`` of ``world`` (a world of ``split``: test, or val for calibrating
    and choosing settings): made on first use, then read from the cache."""
    from astra_jax.data.localization_worlds import check_worlds, parse_world
    from astra_jax.maps.build import BuildOptions, build_map
    from astra_jax.maps.storage import load_map
    from astra_jax.maps.tour import load_tour

    if split not in ("test", "val"):
        raise ValueError(f"--split {split!r}: expected test or val")
    check_worlds((world,), split, "--worlds")
    name, seed = parse_world(world)
    base = root / "global_eval" / render.name / f"{name}_{seed:07d}_f{options.frames}"
    base.mkdir(parents=True, exist_ok=True)
    tour_dir, map_dir = base / "tour", base / "map"
    if not tour_dir.is_dir():
        print(f"astra-jax: rendering the mapping tour of {world}", file=sys.stderr)
        _render_tour(_load_world(world, render, WorldChanges()), render, options.frames, tour_dir)
    if (map_dir / "map.json").is_file():
        m = load_map(map_dir)
    else:
        print(f"astra-jax: building the map of {world} (SfM)", file=sys.stderr)
        partial = base / f"map.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            build_map(load_tour(tour_dir), partial, BuildOptions())
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        os.replace(partial, map_dir)
        m = load_map(map_dir)
    query_dir = base / f"queries_{_changes_key(options.changes)}"
    if not query_dir.is_dir():
        print(f"astra-jax: rendering the query tour of {world}", file=sys.stderr)
        query_world = _load_world(world, render, options.changes)
        _render_tour(query_world, render, options.frames - QUERY_GAP, query_dir)
    return m, load_tour(query_dir)


def _errors(pose_world: np.ndarray | None, truth: np.ndarray) -> tuple[float, float]:
    if pose_world is None:
        return math.inf, math.inf
    d = float(np.hypot(*(pose_world[:2] - truth[:2])))
    return d, math.degrees(abs(math.remainder(float(pose_world[2] - truth[2]), math.tau)))


def evaluate_world(
    m: Any,
    queries: Any,
    answer: Callable[[Sequence[tuple[str, Sequence[np.ndarray]]]], list[str]] | None,
    options: GlobalEvalOptions,
    seed: int = 0,
    frames: Sequence[int] | None = None,
    calibration: Any = None,
) -> dict[str, Any]:
    """Every query of one world localized by each row, and the goals (see the module
    docstring). ``answer`` None leaves out Astra-Global's rows (VPR only); ``frames``: the
    query frames (default: ``options.queries`` spread over the tour)."""
    from astra_jax.geometry import se2_from_se3, se3_from_se2
    from astra_jax.global_model.localize import GlobalLocalizer
    from astra_jax.maps.alignment import Sim3
    from astra_jax.maps.refine import MapLocalizer
    from astra_jax.maps.vpr import VprIndex

    evaluation = m.metadata.evaluation or {}
    if "gt_from_map" not in evaluation:
        raise ValueError(
            f"{m.root}: the map records no ground-truth alignment (a simulator tour's map)"
        )
    to_world = Sim3.from_json(evaluation["gt_from_map"])

    def world_pose(p: np.ndarray | None) -> np.ndarray | None:
        return None if p is None else se2_from_se3(to_world.apply_pose(se3_from_se2(p)))

    refiner = MapLocalizer(m)
    vpr = VprIndex.build(m)
    localizer = None
    if answer is not None:
        localizer = GlobalLocalizer(m, answer, refiner=refiner, calibration=calibration)
    cams = queries.cameras
    n = queries.num_frames
    if frames is None:
        spread = np.linspace(1, n - 2, min(options.queries, n - 2)).astype(int)
        frames = np.unique(spread).tolist()
    frames = [int(f) for f in frames]
    records = []
    for q, rgb in zip(frames, queries.read_frames(frames), strict=True):
        images = {c.name: rgb[i] for i, c in enumerate(cams)}
        truth = queries.ground_truth[q]
        rec: dict[str, Any] = {"frame": int(q), "truth": [float(v) for v in truth]}
        top = vpr.query(images[cams[0].name], top_k=3)
        refined = refiner.refine(images, [p.node_id for p in top])
        est = {
            "vpr": (world_pose(top[0].pose2d), world_pose(top[0].pose2d)),
            "vpr+refine": (
                world_pose(top[0].pose2d),
                world_pose(refined.pose2d if refined.accepted else top[0].pose2d),
            ),
        }
        if localizer is not None:
            loc = localizer.localize(images)
            stages = loc.stage_poses
            coarse = world_pose(stages.get("coarse"))
            own = stages.get("fine", stages.get("coarse"))
            est["mllm"] = (coarse, world_pose(own))
            est["mllm+refine"] = (coarse, world_pose(loc.pose2d))
            rec["confidence"] = loc.confidence
            rec["source"] = loc.source
        for row, (coarse_pose, pose) in est.items():
            d, a = _errors(pose, truth)
            cd, ca = _errors(coarse_pose, truth)
            rec[row] = {
                "pose": None if pose is None else [float(v) for v in pose],
                "error_m": d,
                "error_deg": a,
                "coarse_hit": cd <= COARSE_M and ca <= COARSE_DEG,
                "fine_hit": d <= FINE_M and a <= FINE_DEG,
            }
        records.append(rec)
    goals = _goals(m, queries, localizer, frames, options.goals, to_world, seed)
    return {"queries": records, **goals}


def _goals(
    m: Any,
    queries: Any,
    localizer: Any,
    frames: list[int],
    count: int,
    to_world: Any,
    seed: int,
) -> dict[str, Any]:
    """Text- and image-goal trials (empty without a model)."""
    from astra_jax.geometry import se3_from_se2

    if localizer is None or count == 0:
        return {"text_goals": [], "image_goals": []}
    rng = np.random.default_rng([seed, 0x60A1])
    functions = sorted({lm.function for lm in m.landmarks if lm.function})
    to_map = to_world.inverse()
    text = []
    for k in rng.choice(len(functions), min(count, len(functions)), replace=False):
        function = functions[int(k)]
        start = queries.ground_truth[frames[int(rng.integers(len(frames)))]]
        robot = to_map.apply_pose(se3_from_se2(start))[:2, 3]
        goal = localizer.text_goal(f"I need to {function}.", robot_xy=robot)
        named = None if goal is None else m.landmark(goal.landmark_id)
        text.append({"function": function, "found": goal is not None,
                     "success": named is not None and named.function == function})  # fmt: skip
    image = []
    cam = queries.cameras[0].name
    picks = [frames[int(i)] for i in rng.choice(len(frames), min(count, len(frames)), False)]
    for q, rgb in zip(picks, queries.read_frames(picks), strict=True):
        loc = localizer.image_goal(rgb[0])
        node = None if loc.node_id is None else m.node(loc.node_id)
        truth = queries.ground_truth[q]
        if node is None:
            d = math.inf
        else:
            xy = to_world.apply_pose(se3_from_se2(np.array([*node.xy, 0.0])))[:2, 3]
            d = float(np.hypot(*(xy - truth[:2])))
        image.append(
            {"frame": int(q), "camera": cam, "distance_m": d, "success": d <= IMAGE_GOAL_M}
        )
    return {"text_goals": text, "image_goals": image}


def summarize(per_world: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per world and over all: each row's coarse and fine accuracy and median errors, the goal
    success rates, and the confidence calibration table."""

    def rows(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        out = {}
        for row in ROWS:
            rs = [r[row] for r in records if row in r]
            if not rs:
                continue
            out[row] = {
                "coarse_acc": float(np.mean([r["coarse_hit"] for r in rs])),
                "fine_acc": float(np.mean([r["fine_hit"] for r in rs])),
                "median_error_m": float(np.median([r["error_m"] for r in rs])),
                "median_error_deg": float(np.median([r["error_deg"] for r in rs])),
                "n": len(rs),
            }
        return out

    def rate(trials: list[dict[str, Any]]) -> float | None:
        return float(np.mean([t["success"] for t in trials])) if trials else None

    everything = [r for w in per_world.values() for r in w["queries"]]
    calibration: dict[str, dict[str, float]] = {}
    for r in everything:
        if "confidence" in r:
            c = calibration.setdefault(f"{r['confidence']:.1f}", {"n": 0, "within_1m_5deg": 0})
            c["n"] += 1
            c["within_1m_5deg"] += r["mllm+refine"]["fine_hit"]
    for c in calibration.values():
        c["within_1m_5deg"] = c["within_1m_5deg"] / c["n"]
    return {
        "worlds": {
            w: {
                "rows": rows(v["queries"]),
                "text_goal_sr": rate(v["text_goals"]),
                "image_goal_sr": rate(v["image_goals"]),
            }
            for w, v in per_world.items()
        },
        "all": rows(everything),
        "text_goal_sr": rate([t for v in per_world.values() for t in v["text_goals"]]),
        "image_goal_sr": rate([t for v in per_world.values() for t in v["image_goals"]]),
        "calibration": dict(sorted(calibration.items())),
    }


def markdown(summary: dict[str, Any], changes: WorldChanges) -> str:
    """The summary as markdown tables (accuracies in %)."""
    day = "as toured" if not changes.active else f"query day: {_changes_key(changes)}"
    lines = [f"Localization on test worlds ({day})", "",
             "| world | method | coarse 10 m / 180 deg | fine 1 m / 5 deg | median m | median deg |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    blocks = [*summary["worlds"].items(), ("all", {"rows": summary["all"]})]
    for world, v in blocks:
        for row, r in v["rows"].items():
            lines.append(f"| {world} | {row} | {100 * r['coarse_acc']:.1f} | {100 * r['fine_acc']:.1f}"
                         f" | {r['median_error_m']:.2f} | {r['median_error_deg']:.1f} |")  # fmt: skip
    for key, label in (("text_goal_sr", "text-goal"), ("image_goal_sr", "image-goal")):
        if summary[key] is not None:
            lines.append(f"\n{label} success: {100 * summary[key]:.1f}%")
    if summary["calibration"]:
        lines += ["", "| confidence | queries | within 1 m / 5 deg |", "|---|---|---|"]
        for level, c in summary["calibration"].items():
            lines.append(f"| {level} | {c['n']} | {100 * c['within_1m_5deg']:.1f}% |")
    return "\n".join(lines)


def plot_world(
    m: Any, result: dict[str, Any], path: Path, title: str, rooms: Sequence[Any] = ()
) -> None:
    """The floor plan's rooms (outlines), the map's nodes (grey), the true query positions
    (black) and each row's estimates, with a line from each estimate to its truth, in the
    world frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from astra_jax.geometry import se3_from_se2
    from astra_jax.maps.alignment import Sim3

    to_world = Sim3.from_json(m.metadata.evaluation["gt_from_map"])
    nodes = np.array([to_world.apply_pose(se3_from_se2(np.array([*n.xy, 0.0])))[:2, 3]
                      for n in m.nodes])  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 7))
    for polygon in rooms:
        xy = np.array([*polygon, polygon[0]], np.float64)
        ax.plot(xy[:, 0], xy[:, 1], c="0.55", lw=0.8)
    ax.scatter(nodes[:, 0], nodes[:, 1], s=4, c="0.75", label="map nodes")
    truth = np.array([r["truth"][:2] for r in result["queries"]])
    ax.scatter(truth[:, 0], truth[:, 1], s=18, c="k", label="queries (truth)")
    colours = {"mllm": "tab:blue", "mllm+refine": "tab:green", "vpr": "tab:orange",
               "vpr+refine": "tab:red"}  # fmt: skip
    for row, colour in colours.items():
        pts = [(r["truth"][:2], r[row]["pose"][:2]) for r in result["queries"]
               if row in r and r[row]["pose"] is not None]  # fmt: skip
        if not pts:
            continue
        est = np.array([p for _, p in pts])
        ax.scatter(est[:, 0], est[:, 1], s=10, c=colour, marker="x", label=row)
        for t, p in pts:
            ax.plot([t[0], p[0]], [t[1], p[1]], c=colour, lw=0.5, alpha=0.6)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=7)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def write_report(out: Path, report: dict[str, Any], text: str) -> None:
    """``report.json`` and ``report.md`` in ``out``, each written to a temp file and renamed."""
    out.mkdir(parents=True, exist_ok=True)
    for name, body in (("report.json", json.dumps(report, indent=1, default=float)),
                       ("report.md", text + "\n")):  # fmt: skip
        tmp = out / f".{name}.tmp"
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, out / name)


def load_answerer(workdir: str | Path, step: str = "best") -> tuple[Any, AstraConfig, str]:
    """``(answer callable, the run's render config, "workdir step N")`` of a global-sft or
    global-grpo checkpoint: greedy decoding with the KV cache, images resized as in training."""
    from astra_jax.global_model.localize import model_answerer
    from astra_jax.global_model.tokenizer import ChatTokenizer
    from astra_jax.tasks.global_answers import restore_localization_run

    config, params, chosen = restore_localization_run(workdir, step)
    answer = model_answerer(config.model, params, ChatTokenizer.from_file(), config.data.image_hw)
    return answer, config.render, f"{workdir} step {chosen}"


def evaluate_global(
    checkpoint: str | None,
    worlds: Sequence[str],
    options: GlobalEvalOptions = GlobalEvalOptions(),
    *,
    step: str = "best",
    out: Path | None = None,
    root: Path | None = None,
    split: str = "test",
    calibration: Path | None = None,
    calibration_out: Path | None = None,
) -> tuple[dict[str, Any], str]:
    """Evaluate ``checkpoint`` (None: the VPR rows only) on ``worlds`` of ``split``; returns
    the report (JSON-ready) and its markdown; with ``out``, also writes them and a plot per
    world. ``calibration``: the confidence calibration file the localizer uses;
    ``calibration_out``: fit one from these worlds' localizations and write it (validation
    worlds only: calibrating on test worlds would tune on them)."""
    from astra_jax.config import get_preset
    from astra_jax.data.episode_cache import data_root
    from astra_jax.global_model.calibration import ConfidenceCalibration

    root = data_root() if root is None else Path(root)
    if checkpoint:
        answer, render, source = load_answerer(checkpoint, step)
    else:
        answer, render, source = None, get_preset("small"), "none (VPR rows only)"
    if calibration_out is not None and (split != "val" or answer is None):
        raise ValueError("--calibration-out: fit on validation worlds (--split val) with a model")
    table = ConfidenceCalibration.load(calibration) if calibration else None
    per_world, maps = {}, {}
    for w in worlds:
        m, queries = prepare_world(w, render, options, root, split)
        per_world[w] = evaluate_world(m, queries, answer, options, calibration=table)
        maps[w] = m
    if calibration_out is not None:
        outcomes = [(r["source"], r["mllm+refine"]["fine_hit"])
                    for v in per_world.values() for r in v["queries"]]  # fmt: skip
        ConfidenceCalibration.fit(outcomes).save(calibration_out)
    summary = summarize(per_world)
    report = {"checkpoint": source, "split": split, "calibration": str(calibration or ""),
              "options": dataclasses.asdict(options), "summary": summary,
              "per_world": per_world}  # fmt: skip
    text = f"checkpoint: {source}\n\n" + markdown(summary, options.changes)
    if out is not None:
        write_report(Path(out), report, text)
        for w, m in maps.items():
            name = w.replace(":", "_")
            rooms = [r.polygon for r in _load_world(w, render, WorldChanges()).plan.rooms]
            title = f"{w} ({_changes_key(options.changes)})"
            plot_world(m, per_world[w], Path(out) / f"{name}.png", title, rooms)
    return report, text
