"""``astra eval nav``: the navigation loop on test worlds, closed loop in the simulator.

For each world (``--worlds small_office:1100000,small_warehouse:1100000``; test seeds to
report, validation seeds to choose settings) the map of its ``--frames``-frame mapping tour is
built once and cached (the same maps as ``astra eval global --frames``; 120 frames are too
sparse for a whole small warehouse, so the default is 300). Each episode starts at a pose of the query
tour (between keyframes, not at a node) and drives to a map node 5-25 m away along the map's
graph, drawn with ``--seed``. Every row runs the same episodes:

* ``classical``: A* on the run-time ESDF every tick, wheel + gyro odometry;
* ``learned``: the exported Astra-Local tick (``--artifact``): best of S samples on the
  run-time ESDF, A* fallback when the best collides, the odometry head.

Localization (start and fixes) is Astra-Global (``--checkpoint``) or the VPR + refinement
baseline. Figures per row (the paper's Table 1 and section 4):

* ``success``: the robot's true final position within 1 m of the goal node (its true place);
* ``spl``: success weighted by (shortest path / driven path), the shortest path by A* on the
  world's occupancy at the robot's clearance;
* ``collisions``: per episode (a drive stopped by an obstacle; ``people_collisions``: by a
  walking person, with ``--people``);
* ``fallback_rate``: the fraction of episodes in which the fallback planner drove (the paper's
  FR), and ``fallback_ticks``, the fraction of ticks;
* ``self_localization``: the fraction of episodes whose estimate stayed within 1 m of the
  truth at every tick (the paper's definition);
* ``tick_ms``: median milliseconds per tick part, and ``loop_ms``: the loop's own work per tick
  (:func:`loop_work_ms`: every part but ``observe``, ``images`` and ``drive``, the simulator
  standing in for the cameras and the wheels, and, with fixes beside the loop, ``fix_worker``,
  the localizer's time on its thread, and ``fix_wait``, the loop waiting for a due fix, which
  the simulator's runs do because it ticks faster than real time): median, 99th percentile and
  largest, over every tick of the row.

``--fix-latency-ticks D`` (D >= 1; the navigator's default 2) localizes on a worker thread
beside the loop and fuses each fix D ticks after its images
(:class:`~astra_jax.serve.fix_worker.FixWorker`, the loop waiting there if needed, so runs are
the same on any machine; a robot does not wait); 0 waits for each fix in its tick (every figure
before session 28). ``--localizer-process`` runs the localizer in a child process of its own
(``astra serve`` at the navigator's ``fix_nice``, one per world,
:class:`~astra_jax.serve.localizer_process.LocalizerProcess`) instead of in the evaluation's
process; its answers are the same (the images travel as PNG), and fixes the service could not
give are counted per world (``localizer_failures``).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.geometry import se2_from_se3, se3_from_se2

# timings that are not the loop's own work: the simulator's cameras and wheels; the wait for a
# fix that was localized beside the loop (the simulator ticks faster than real time, a robot
# every tick_interval s); the localizer's own time on its worker thread
NOT_LOOP_WORK = ("observe", "images", "drive", "fix_wait", "fix_worker")


def loop_work_ms(timings: dict[str, float]) -> float:
    """The loop's own work in one tick (ms): its timed parts (s) but :data:`NOT_LOOP_WORK`."""
    return 1e3 * sum(v for part, v in timings.items() if part not in NOT_LOOP_WORK)


SUCCESS_RADIUS = 1.0  # m
SELF_LOCALIZATION_RADIUS = 1.0  # m (paper section 4)
GOAL_RANGE = (5.0, 25.0)  # m along the map's graph
PAPER_TABLE_1 = {  # Astra on real robots: warehouse, office building
    "warehouse": {"success": 0.842, "self_localization": 0.859, "fallback_rate": 0.083},
    "office": {"success": 0.991, "self_localization": 1.0, "fallback_rate": 0.156},
}


class TruthRecorder:
    """A simulated robot that logs its true pose at each observation (the evaluation's view)."""

    def __init__(self, robot: Any) -> None:
        self.robot = robot
        self.camera_names = robot.camera_names
        self.truth: list[np.ndarray] = []

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        self.truth.append(self.robot.pose.copy())
        return self.robot.observe()

    def query_images(self) -> dict[str, np.ndarray]:
        return self.robot.query_images()

    def drive(self, v: float, omega: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
        return self.robot.drive(v, omega, duration)


class RealTimeRobot:
    """A simulated robot paced as a real one: each drive ends ``interval`` s after its tick
    began (the tick's ``observe``), so that work beside the loop gets the time between ticks
    that it would get on a robot (the simulator otherwise ticks as fast as it can)."""

    def __init__(self, robot: Any, interval: float) -> None:
        self.robot, self.interval = robot, interval
        self.camera_names = robot.camera_names
        self._tick_start: float | None = None

    @property
    def pose(self) -> np.ndarray:  # the truth, for the evaluation's recorder
        return self.robot.pose

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        self._tick_start = time.perf_counter()
        return self.robot.observe()

    def query_images(self) -> dict[str, np.ndarray]:
        return self.robot.query_images()

    def drive(self, v: float, omega: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
        out = self.robot.drive(v, omega, duration)
        if self._tick_start is not None:
            time.sleep(max(0.0, self.interval - (time.perf_counter() - self._tick_start)))
        return out


def draw_episodes(m: Any, queries: Any, count: int, seed: int, occupancy: Any = None,
                  clearance: float = 0.0) -> list[tuple[np.ndarray, int]]:  # fmt: skip
    """``count`` (start pose in the world frame, goal node) pairs: starts at query-tour frames,
    goals 5-25 m from the start's nearest node along the map's graph. With ``occupancy`` (the
    world's), a frame where the robot's disc (``clearance``, m) is not clear is no start: the
    tour's robot grazes furniture, and the simulator refuses to place a robot there."""
    import networkx as nx

    from astra_jax.maps.routing import nearest_node

    to_map = _to_world(m).inverse()
    g = m.to_networkx()
    rng = np.random.default_rng([seed, 0x7A1])
    frames = rng.permutation(np.arange(1, queries.num_frames - 1))
    out = []
    for f in frames:
        start = np.asarray(queries.ground_truth[int(f)], np.float64)
        if occupancy is not None and float(occupancy.esdf_at(start[None, :2])[0]) < clearance:
            continue
        start_map = se2_from_se3(to_map.apply_pose(se3_from_se2(start)))
        near = nearest_node(m, start_map[:2])
        dist = nx.single_source_dijkstra_path_length(g, near, weight="weight")
        goals = sorted(n for n, d in dist.items() if GOAL_RANGE[0] <= d <= GOAL_RANGE[1])
        if goals:
            out.append((start, int(goals[int(rng.integers(len(goals)))])))
        if len(out) == count:
            break
    return out


def _to_world(m: Any) -> Any:
    from astra_jax.maps.alignment import Sim3

    evaluation = m.metadata.evaluation or {}
    if "gt_from_map" not in evaluation:
        raise ValueError(f"{m.root}: the map records no ground-truth alignment")
    return Sim3.from_json(evaluation["gt_from_map"])


def run_episode(nav: Any, world: Any, config: Any, m: Any, start: np.ndarray, goal: int | None,
                occupancy: Any, run: int, goal_text: str | None = None,
                real_time: bool = False) -> dict[str, Any]:  # fmt: skip
    """One episode of one row, to map node ``goal`` or to what ``goal_text`` names: the
    navigator's result scored against the truth (``real_time``: the robot paced as a real one,
    :class:`RealTimeRobot`)."""
    from astra_jax.sim.closed_loop import SimRobot
    from astra_jax.sim.planning import plan_path

    to_world = _to_world(m)

    def world_xy(pose: np.ndarray) -> np.ndarray:
        return se2_from_se3(to_world.apply_pose(se3_from_se2(np.asarray(pose))))[:2]

    with SimRobot(world, config, start, run=run) as sim_robot:
        paced = RealTimeRobot(sim_robot, nav.config.tick_interval) if real_time else sim_robot
        robot = TruthRecorder(paced)
        result = nav.navigate(robot, goal_node=goal, goal_text=goal_text)
        final, path, collisions = sim_robot.pose, np.array(sim_robot.path), sim_robot.collisions
        people_collisions = sim_robot.people_collisions
    goal = result.goal_node
    goal_world = None if goal is None else world_xy(m.node(goal).pose2d)
    driven = float(np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1).sum())
    shortest_len, final_error = None, None
    if goal_world is not None:
        shortest = plan_path(occupancy, start[:2], goal_world, config.sim.robot.radius)
        shortest_len = float(np.linalg.norm(np.diff(shortest, axis=0), axis=1).sum())
        final_error = float(np.hypot(*(final[:2] - goal_world)))
    success = final_error is not None and final_error <= SUCCESS_RADIUS
    estimates = [world_xy(t.pose) for t in result.ticks]
    errors = [float(np.hypot(*(e - truth[:2])))
              for e, truth in zip(estimates, robot.truth, strict=False)]  # fmt: skip
    timings: dict[str, list[float]] = {}
    for tick in result.ticks:
        for k, v in tick.timings.items():
            timings.setdefault(k, []).append(v)
    route = result.route
    return {
        "start": start.tolist(), "goal_node": goal,
        "goal_world": None if goal_world is None else goal_world.tolist(),
        "state": result.state.value, "reason": result.reason, "success": success,
        "final_error_m": final_error,
        "spl": success * shortest_len / max(driven, shortest_len, 1e-9) if success else 0.0,
        "shortest_m": shortest_len, "driven_m": driven, "ticks": len(result.ticks),
        "collisions": collisions, "people_collisions": people_collisions,
        "fallback_ticks": result.fallbacks, "squeeze_ticks": result.squeezes,
        "recoveries": result.recoveries,
        "self_localized": bool(errors) and max(errors) <= SELF_LOCALIZATION_RADIUS,
        "max_error_m": max(errors) if errors else None, "localization_errors_m": errors,
        "fixes": [result.fixes_accepted, result.fixes_rejected],
        "relocalizations": result.relocalizations,
        "tick_ms": {k: 1e3 * statistics.median(v) for k, v in timings.items()},
        "tick_s": [t.timings for t in result.ticks],
        "planners": [t.planner for t in result.ticks],
        "truth_path": path[:, :2].tolist(), "estimates": [e.tolist() for e in estimates],
        "route_world": None if route is None else [world_xy([*w, 0.0]).tolist()
                                                   for w in route.waypoints],
    }  # fmt: skip


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(len(episodes), 1)
    parts = sorted({k for e in episodes for k in e["tick_ms"]})
    loop = [loop_work_ms(t) for e in episodes for t in e["tick_s"]]
    worker = [1e3 * t["fix_worker"] for e in episodes for t in e["tick_s"] if "fix_worker" in t]
    return {
        "episodes": len(episodes),
        "success": sum(e["success"] for e in episodes) / n,
        "spl": sum(e["spl"] for e in episodes) / n,
        "collisions": sum(e["collisions"] for e in episodes) / n,
        "people_collisions": sum(e.get("people_collisions", 0) for e in episodes) / n,
        "fallback_rate": sum(e["fallback_ticks"] > 0 for e in episodes) / n,
        "fallback_ticks": sum(e["fallback_ticks"] for e in episodes)
        / max(sum(e["ticks"] for e in episodes), 1),
        "squeeze_ticks": sum(e.get("squeeze_ticks", 0) for e in episodes)
        / max(sum(e["ticks"] for e in episodes), 1),
        "self_localization": sum(e["self_localized"] for e in episodes) / n,
        "tick_ms": {p: statistics.median([e["tick_ms"][p] for e in episodes if p in e["tick_ms"]])
                    for p in parts},
        "loop_ms": {"p50": float(np.percentile(loop, 50)), "p99": float(np.percentile(loop, 99)),
                    "max": max(loop)} if loop else {},
        # fixes localized beside the loop: the localizer's own time on its thread
        "fix_worker_ms": {"p50": float(np.percentile(worker, 50)), "max": max(worker)}
        if worker else {},
    }  # fmt: skip


def evaluate_nav(worlds: list[str], *, episodes: int = 5, artifact: str | None = None,
                 checkpoint: str | None = None, step: str = "best", clutter: float = 0.0,
                 seed: int = 0, out: Path | None = None, split: str = "test",
                 max_ticks: int = 300, frames: int = 300, people: float = 0.0,
                 occupancy_memory: int | None = None,
                 astar_relaxed_margin: float | None = None,
                 depth_noise: float = 0.0,
                 fix_latency_ticks: int | None = None,
                 localizer_process: bool = False,
                 astar_lookahead: float | None = None,
                 squeeze_after: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Every row on every world's episodes (module docstring); returns the report.
    ``occupancy_memory``: the navigator's run-time map memory in ticks (None: its default);
    ``astar_relaxed_margin``: A*'s narrow-passage margin (None: the navigator's A*, off);
    ``depth_noise``: the robot's depth cameras in the runs have a RealSense D435's errors with
    its range noise times this (0: exact; the map's tour stays exact); ``fix_latency_ticks``:
    the navigator's when None; ``localizer_process``: the localizer in a child process (module
    docstring); ``astar_lookahead``: A*'s goal on the route this far ahead (None: the
    navigator's; 0: the subgoal itself); ``squeeze_after``: stalled ticks before A* squeezes
    through at the smaller margin (None: the navigator's; 0: never)."""
    import contextlib

    from astra_jax.config import ConfigError, get_preset
    from astra_jax.data.episode_cache import data_root
    from astra_jax.data.localization_worlds import load_named_world, parse_world
    from astra_jax.global_model.vpr_localizer import VprLocalizer
    from astra_jax.serve.export import rig_calibration
    from astra_jax.serve.navigator import NavigatorConfig
    from astra_jax.serve.runtime import LocalRuntime, check_rig
    from astra_jax.tasks.global_eval import GlobalEvalOptions, prepare_world

    # the navigator's settings that differ from its defaults, checked before any world is
    # prepared (a mapping tour takes minutes)
    defaults = NavigatorConfig()
    if fix_latency_ticks is None:
        fix_latency_ticks = defaults.fix_latency_ticks
    if astar_lookahead is None:
        astar_lookahead = defaults.astar_lookahead
    elif astar_lookahead == 0:
        astar_lookahead = None  # A* plans to the subgoal itself
    if squeeze_after is None:
        squeeze_after = defaults.squeeze_after
    elif squeeze_after == 0:
        squeeze_after = None  # never squeeze
    memory = defaults.occupancy_memory if occupancy_memory is None else occupancy_memory
    overrides: dict[str, Any] = {}
    for flag, field, value in (("--fix-latency-ticks", "fix_latency_ticks", fix_latency_ticks),
                               ("--astar-lookahead", "astar_lookahead", astar_lookahead),
                               ("--squeeze-after", "squeeze_after", squeeze_after),
                               ("--occupancy-memory", "occupancy_memory", memory)):  # fmt: skip
        try:
            NavigatorConfig(**{field: value})
        except ValueError as e:
            raise ConfigError(f"{flag}: {e}") from None
        overrides[field] = value
    if astar_relaxed_margin is not None:
        try:
            overrides["astar"] = dataclasses.replace(
                defaults.astar, relaxed_margin=astar_relaxed_margin
            )
        except ConfigError as e:
            raise ConfigError(f"--astar-relaxed-margin {astar_relaxed_margin}: {e}") from None
    try:
        render = get_preset("small").with_depth_noise(depth_noise)
    except ConfigError as e:
        raise ConfigError(f"--depth-noise: {e}") from None
    runtime = None
    if artifact:
        runtime = LocalRuntime(artifact)
        hw = tuple(runtime.manifest["rig"]["image_hw"])
        render = dataclasses.replace(render, rig=dataclasses.replace(render.rig, image_hw=hw))
        check_rig(runtime.manifest["rig"], rig_calibration(render.rig))
    sim = dataclasses.replace(render.sim, clutter_density=clutter) if clutter else render.sim
    render = dataclasses.replace(render, sim=sim).with_people(people)  # the map's tour has none
    rows = {"classical": "classical"} | ({"learned": "learned"} if runtime else {})
    report: dict[str, Any] = {"worlds": {}, "rows": list(rows), "episodes_per_world": episodes,
                              "localizer": checkpoint or "vpr + refinement",
                              "artifact": artifact or "", "clutter": clutter, "people": people,
                              "split": split,
                              "frames": frames, "max_ticks": max_ticks, "seed": seed,
                              "occupancy_memory": occupancy_memory,
                              "astar_relaxed_margin": astar_relaxed_margin,
                              "astar_lookahead": astar_lookahead,
                              "squeeze_after": squeeze_after,
                              "fix_latency_ticks": fix_latency_ticks,
                              "localizer_process": localizer_process, "localizer_failures": {},
                              "depth_noise": dataclasses.asdict(render.sim.depth_noise)}  # fmt: skip
    for w in worlds:
        options = GlobalEvalOptions(frames=frames)
        m, queries = prepare_world(w, get_preset("small"), options, data_root(), split)
        name, world_seed = parse_world(w)
        world = load_named_world(name, world_seed, render.sim)
        with contextlib.ExitStack() as stack:
            if localizer_process:
                localizer = stack.enter_context(_localizer_process(m, checkpoint, step)).localizer
            else:
                localizer = _localizer(m, checkpoint, step) if checkpoint else VprLocalizer(m)
            report["worlds"][w] = _world_rows(m, queries, world, render, localizer, runtime, rows,
                                              episodes, seed, max_ticks, overrides)  # fmt: skip
            if localizer_process:
                report["localizer_failures"][w] = localizer.failures
    report["summary"] = {
        row: summarize([e for v in report["worlds"].values() for e in v[row]["episodes"]])
        for row in rows
    }
    if out is not None:
        write_report(Path(out), report, worlds)
    return report


def _world_rows(m: Any, queries: Any, world: Any, render: Any, localizer: Any, runtime: Any,
                rows: dict[str, str], episodes: int, seed: int, max_ticks: int,
                overrides: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Every row's episodes on one world: row -> {summary, episodes}; ``overrides``: the
    navigator's settings that differ from its defaults."""
    from astra_jax.serve.export import rig_calibration
    from astra_jax.serve.navigator import Navigator, NavigatorConfig

    occupancy = world.occupancy(render.sim.occupancy_resolution)
    pairs = draw_episodes(m, queries, episodes, seed, occupancy, render.sim.robot.radius)
    per_row = {}
    for row, planner in rows.items():
        cfg = NavigatorConfig(planner=planner, max_ticks=max_ticks, fix_wait=True, **overrides)
        nav = Navigator(m, localizer, rig_calibration(render.rig),
                        runtime if planner == "learned" else None, cfg,
                        wheel_radius=render.sim.robot.wheel_radius,
                        wheel_base=render.sim.robot.wheel_base, seed=seed)  # fmt: skip
        eps = [run_episode(nav, world, render, m, start, goal, occupancy, run=i)
               for i, (start, goal) in enumerate(pairs)]  # fmt: skip
        per_row[row] = {"summary": summarize(eps), "episodes": eps}
    return per_row


def _localizer_process(m: Any, checkpoint: str | None, step: str) -> Any:
    """``astra serve`` for ``m`` in a child process at the navigator's ``fix_nice``."""
    from astra_jax.serve.localizer_process import LocalizerProcess
    from astra_jax.serve.navigator import NavigatorConfig

    args = ["--checkpoint", checkpoint, "--step", step] if checkpoint else []
    return LocalizerProcess(m.root, nice=NavigatorConfig().fix_nice, serve_args=args)


def _localizer(m: Any, checkpoint: str, step: str) -> Any:
    from astra_jax.global_model.localize import GlobalLocalizer
    from astra_jax.tasks.global_eval import load_answerer

    answer, _, _ = load_answerer(checkpoint, step)
    return GlobalLocalizer(m, answer)


def markdown(report: dict[str, Any]) -> str:
    from astra_jax.config import DepthNoiseConfig
    from astra_jax.serve.navigator import NavigatorConfig

    depth = DepthNoiseConfig(**report.get("depth_noise", {}))  # as recorded (absent: exact)
    lines = [f"localizer: {report['localizer']}; artifact: {report['artifact'] or 'none'}; "
             f"clutter {report['clutter']} per m^2; people {report.get('people', 0.0):g} per "
             f"100 m^2; {report['episodes_per_world']} episodes per world"
             + "".join(f"; {label} {report[k]}" for k, label in (
                 ("occupancy_memory", "run-time map memory"),
                 ("astar_relaxed_margin", "A* relaxed margin"),
                 ("astar_lookahead", "A* goal on the route (m ahead)"),
                 ("squeeze_after", "A* squeezes after (stalled ticks)"))
                 if report.get(k) is not None)
             + (f"; fixes fused {report['fix_latency_ticks']} ticks after their images "
                "(localized beside the loop)" if report.get("fix_latency_ticks") else "")
             + ("; the localizer in its own process (astra serve)"
                if report.get("localizer_process") else "")
             + (f"; depth {depth.describe()}" if depth.active else ""),
             "",
             "| world | row | success | SPL | collisions / ep (people) | FR (episodes) | fallback ticks "
             "| squeeze ticks | self-loc SR | tick ms (median parts) | loop ms p50 / p99 / max |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for w, rows in report["worlds"].items():
        for row, v in rows.items():
            s = v["summary"]
            parts = ", ".join(f"{k} {t:.0f}" for k, t in s["tick_ms"].items())
            loop = s.get("loop_ms") or {}  # absent in reports written before it
            loop_ms = " / ".join(f"{loop[q]:.0f}" for q in ("p50", "p99", "max")) if loop else "-"
            lines.append(f"| {w} | {row} | {s['success']:.0%} | {s['spl']:.2f} | "
                         f"{s['collisions']:.2f} ({s.get('people_collisions', 0.0):.2f}) | "
                         f"{s['fallback_rate']:.0%} | "
                         f"{s['fallback_ticks']:.1%} | {s.get('squeeze_ticks', 0.0):.1%} | "
                         f"{s['self_localization']:.0%} | {parts} | "
                         f"{loop_ms} |")  # fmt: skip
    beside = [(w, row, v["summary"]["fix_worker_ms"]) for w, rows in report["worlds"].items()
              for row, v in rows.items() if v["summary"].get("fix_worker_ms")]  # fmt: skip
    if beside:
        lines += ["", "Fixes localized beside the loop, the localizer's ms on its thread "
                  f"(p50 / max; a robot ticks every {NavigatorConfig().tick_interval:g} s): "
                  + ", ".join(f"{w} {row} {f['p50']:.0f} / {f['max']:.0f}" for w, row, f in beside)]  # fmt: skip
    failed = {w: n for w, n in report.get("localizer_failures", {}).items() if n}
    if failed:
        lines += ["", "Fixes the localization service could not give (no fix; the robot went "
                  "on with odometry): " + ", ".join(f"{w} {n}" for w, n in failed.items())]  # fmt: skip
    lines += ["", "Paper, Table 1 (real robots): end-to-end SR / self-localization SR / FR: "
              "warehouse 84.2% / 85.9% / 8.3%, office building 99.1% / 100% / 15.6%."]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict[str, Any], worlds: list[str]) -> None:
    """report.json, report.md and a plot per world (true paths and estimates per row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "report.md").write_text(markdown(report))
    for w in worlds:
        rows = report["worlds"][w]
        fig, axes = plt.subplots(1, len(rows), figsize=(6 * len(rows), 6), squeeze=False)
        for ax, (row, v) in zip(axes[0], rows.items(), strict=True):
            for e in v["episodes"]:
                p, est = np.array(e["truth_path"]), np.array(e["estimates"])
                line = ax.plot(p[:, 0], p[:, 1], "-", lw=1.5)[0]
                if len(est):
                    ax.plot(est[:, 0], est[:, 1], ":", color=line.get_color(), lw=1)
                ax.plot(*e["start"][:2], "o", color=line.get_color())
                ax.plot(*e["goal_world"], "*", ms=12, color=line.get_color())
            ax.set_title(f"{w} {row}: success {v['summary']['success']:.0%} "
                         "(solid: truth, dotted: estimate)")  # fmt: skip
            ax.set_aspect("equal")
        fig.tight_layout()
        fig.savefig(out / f"{w.replace(':', '_')}.png", dpi=90)
        plt.close(fig)
