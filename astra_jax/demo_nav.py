"""The demo's navigation stage and its HTML report (``make demo``; see :mod:`astra_jax.demo`).

:func:`run_navigation`: on the demo's map, a robot placed mid-tour in the simulator localizes
itself (VPR + refinement: no trained Astra-Global ships with the demo), takes the text goal
"I need to print a document", and navigates there twice from the same start: with the learned
planner of the shipped artifact (``astra_jax/demo_assets/local-tiny``, the exported tiny heads;
A* when the best sample collides) and with A* alone. Everything is scored against the
simulator's truth and written to ``navigation.json``.

:func:`write_report`: ``report.html`` (self-contained: figures embedded) with the floor plan,
the map, the route and both driven paths with their estimates, the localization error along
the way, a histogram of tick latencies, and the figures of every stage.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

import astra_jax

GOAL_TEXT = "I need to print a document"
ARTIFACT = Path(astra_jax.__file__).parent / "demo_assets" / "local-tiny"
START_FRACTION = 0.4  # the start: the tour's pose this far through it (between keyframes)


def run_navigation(out: Path, world_seed: int, plan: Path, max_ticks: int = 240) -> dict:
    """Localize, take the text goal and navigate (learned and A*), scored by the truth."""
    from astra_jax.config import get_preset
    from astra_jax.global_model.vpr_localizer import VprLocalizer
    from astra_jax.maps.storage import load_map
    from astra_jax.maps.tour import load_tour
    from astra_jax.serve.export import rig_calibration
    from astra_jax.serve.nav_eval import run_episode
    from astra_jax.serve.navigator import Navigator, NavigatorConfig
    from astra_jax.serve.runtime import LocalRuntime
    from astra_jax.sim import load_world

    m = load_map(out / "map")
    tour = load_tour(out / "tour")
    cfg = get_preset("small")  # the preset `astra sim tour` rendered the demo's tour with
    runtime = LocalRuntime(ARTIFACT) if (ARTIFACT / "manifest.json").is_file() else None
    if runtime is not None:  # the robot's cameras at the shipped model's resolution
        hw = tuple(runtime.manifest["rig"]["image_hw"])
        cfg = dataclasses.replace(cfg, rig=dataclasses.replace(cfg.rig, image_hw=hw))
    world = load_world(None, world_seed, plan, cfg.sim)
    occupancy = world.occupancy(cfg.sim.occupancy_resolution)
    localizer = VprLocalizer(m)
    start = np.asarray(tour.ground_truth[int(START_FRACTION * (tour.num_frames - 1))], float)
    rows = {"learned": runtime, "A*": None} if runtime is not None else {"A*": None}
    report: dict[str, Any] = {"goal_text": GOAL_TEXT, "start": start.tolist(),
                              "artifact": str(ARTIFACT) if runtime else "", "runs": {},
                              "guided": runtime is not None and "esdf" in runtime.manifest["inputs"]}  # fmt: skip
    robot = cfg.sim.robot
    for name, rt in rows.items():
        # fix_wait: the simulator ticks faster than real time; waiting keeps the demo the same
        config = NavigatorConfig(planner="learned" if rt else "classical", max_ticks=max_ticks,
                                 fix_wait=True)  # fmt: skip
        nav = Navigator(m, localizer, rig_calibration(cfg.rig), rt, config,
                        wheel_radius=robot.wheel_radius, wheel_base=robot.wheel_base)  # fmt: skip
        run = run_episode(nav, world, cfg, m, start, None, occupancy, run=0, goal_text=GOAL_TEXT)
        report["runs"][name] = {**run, "goal_landmark": _goal_landmark(m, run["goal_node"])}
    (out / "navigation.json").write_text(json.dumps(report, indent=1, default=float))
    return report


def _goal_landmark(m: Any, node: int | None) -> str:
    if node is None:
        return ""
    names = [f"{lm.category} #{lm.id}" for lm in m.landmarks if node in lm.node_ids]
    return ", ".join(names[:3])


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figures(out: Path, nav: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from astra_jax.maps.alignment import Sim3
    from astra_jax.maps.plot import draw_floor_plan
    from astra_jax.maps.storage import load_map

    m = load_map(out / "map")
    to_world = Sim3.from_json(m.metadata.evaluation["gt_from_map"])
    nodes = to_world.apply(np.stack([n.T_world_ego[:3, 3] for n in m.nodes]))[:, :2]
    figs = {}
    fig, ax = plt.subplots(figsize=(10, 6.5))
    draw_floor_plan(ax, m)
    ax.scatter(nodes[:, 0], nodes[:, 1], s=8, c="0.6", zorder=2, label=f"map nodes ({len(nodes)})")
    colors = {"learned": "tab:blue", "A*": "tab:orange"}
    for name, run in nav["runs"].items():
        c = colors.get(name, "tab:green")
        if run["route_world"]:
            r = np.array(run["route_world"])
            ax.plot(r[:, 0], r[:, 1], "--", color="tab:green", lw=1.2, zorder=3,
                    label="route (map graph)" if name == next(iter(nav["runs"])) else None)  # fmt: skip
        p = np.array(run["truth_path"])
        ax.plot(p[:, 0], p[:, 1], "-", color=c, lw=2, zorder=4, label=f"{name}: driven (truth)")
        if run["estimates"]:
            e = np.array(run["estimates"])
            ax.plot(e[:, 0], e[:, 1], ":", color=c, lw=1.2, zorder=4, label=f"{name}: estimate")
    ax.plot(*nav["start"][:2], "o", color="k", ms=8, zorder=5, label="start")
    goal = next((r["goal_world"] for r in nav["runs"].values() if r["goal_world"]), None)
    if goal:
        ax.plot(*goal, "*", color="tab:red", ms=18, zorder=5, label="goal node")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"'{nav['goal_text']}': floor plan, map, route and driven paths (world frame)")
    figs["paths"] = _png(fig)

    fig, ax = plt.subplots(figsize=(10, 3.2))
    for name, run in nav["runs"].items():
        ax.plot(run["localization_errors_m"], color=colors.get(name), label=name)
    ax.axhline(1.0, color="tab:red", lw=0.8, ls="--", label="1 m (self-localization criterion)")
    ax.set_xlabel("tick")
    ax.set_ylabel("|estimate - truth| (m)")
    ax.legend(fontsize=8)
    ax.set_title("localization: the navigator's estimate against the truth")
    figs["localization"] = _png(fig)

    fig, ax = plt.subplots(figsize=(10, 3.2))
    for name, run in nav["runs"].items():
        totals = [1e3 * sum(v for k, v in t.items() if k != "localize") for t in run["tick_s"]]
        if totals:
            ax.hist(totals, bins=30, alpha=0.6, color=colors.get(name), label=name)
    ax.set_xlabel("tick time without fixes (ms): observe + tick + ESDF + plan + drive")
    ax.set_ylabel("ticks")
    ax.legend(fontsize=8)
    ax.set_title("tick latency")
    figs["latency"] = _png(fig)
    return figs


def write_report(out: Path, stages: list[dict]) -> Path:
    """``report.html``: figures embedded, every stage's figures (no external files)."""
    nav_file = out / "navigation.json"
    nav = json.loads(nav_file.read_text()) if nav_file.is_file() else None
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>astra-jax demo</title>",
             "<style>body{font-family:sans-serif;max-width:1050px;margin:24px auto;color:#222}"
             "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;"
             "padding:4px 8px;text-align:left;font-size:14px}th{background:#f3f3f3}"
             ".ok{color:#087f23}.fail{color:#b00020}img{max-width:100%}</style></head><body>",
             "<h1>astra-jax demo</h1>",
             f"<p>astra-jax {astra_jax.__version__}: a simulated office, a tour, the map built "
             "from it, a text goal, and the robot navigating there with Astra-Local's exported "
             "tick, on this machine's CPU.</p>"]  # fmt: skip
    if nav:
        parts.append(f"<h2>Navigation: &ldquo;{html.escape(nav['goal_text'])}&rdquo;</h2>")
        parts.append("<table><tr><th>planner</th><th>result</th><th>goal</th><th>path</th>"
                     "<th>ticks</th><th>collisions</th><th>fallbacks to A*</th>"
                     "<th>fixes accepted / rejected</th><th>max localization error</th>"
                     "<th>median tick</th></tr>")  # fmt: skip
        for name, r in nav["runs"].items():
            ticks = [1e3 * sum(v for k, v in t.items() if k != "localize") for t in r["tick_s"]]
            med = f"{np.median(ticks):.0f} ms" if ticks else "-"
            verdict = ("<span class='ok'>reached (within 1 m by the truth)</span>" if r["success"]
                       else f"<span class='fail'>{html.escape(r['state'])}: "
                            f"{html.escape(r['reason'] or 'not within 1 m')}</span>")  # fmt: skip
            err = r["max_error_m"]
            parts.append(
                f"<tr><td>{html.escape(name)}</td><td>{verdict}</td>"
                f"<td>node {r['goal_node']} ({html.escape(r['goal_landmark'])})</td>"
                f"<td>{r['driven_m']:.1f} m</td><td>{r['ticks']}</td><td>{r['collisions']}</td>"
                f"<td>{r['fallback_ticks']}</td><td>{r['fixes'][0]} / {r['fixes'][1]}</td>"
                f"<td>{'-' if err is None else f'{err:.2f} m'}</td><td>{med}</td></tr>"
            )
        parts.append("</table>")
        figs = _figures(out, nav)
        for key, caption in (("paths", "Where the robot went"),
                             ("localization", "How well it knew where it was"),
                             ("latency", "How long each tick took")):  # fmt: skip
            parts.append(f"<h3>{caption}</h3><img src='{figs[key]}' alt='{key}'>")
        note = (
            "the learned planner is the exported tiny heads (shipped in "
            "astra_jax/demo_assets; <code>make demo-assets</code> remakes them)"
            + (", its samples steered by the run-time ESDF; " if nav.get("guided") else "; ")
            if nav["artifact"]
            else "no learned artifact shipped: A* only; "
        )
        parts.append(f"<p>Localization: VPR + geometric refinement against the map's SfM model "
                     f"(no trained Astra-Global ships with the demo); {note}every figure is "
                     "scored against the simulator's ground truth.</p>")  # fmt: skip
    parts.append("<h2>Stages</h2><table><tr><th>stage</th><th></th><th>seconds</th>"
                 "<th>what it did</th></tr>")  # fmt: skip
    for s in stages:
        cls = "ok" if s["ok"] else "fail"
        parts.append(f"<tr><td>{html.escape(s['stage'])}</td><td class='{cls}'>"
                     f"{'ok' if s['ok'] else 'FAILED'}</td><td>{s['seconds']:.1f}</td>"
                     f"<td>{html.escape(str(s['result']))}</td></tr>")  # fmt: skip
    parts.append("</table></body></html>")
    path = out / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
    return path
