"""Benchmark of the navigation loop's own work per tick: fixes localized beside the loop by a
localizer in a process of its own (ours) against fixes localized in the tick that asks for them
(the baseline), and against the same localizer on a thread of the loop's process, all measured
in the same run.

Protocol: one validation world (``--world``, default small_office:1000000; its 300-frame map is
the one ``astra eval nav`` caches, built on first use), ``--episodes`` start / goal pairs drawn
as ``astra eval nav`` draws them (``--seed``), the classical planner (A* on the run-time ESDF
every tick; no model needed), VPR + refinement fixes every 10 ticks. Rows, run episode by
episode in round-robin so that a load spike on shared cores hits each:

* ``in the tick`` (the baseline, ``fix_latency_ticks`` 0): the tick that asks waits for the
  localizer;
* ``beside, on a thread`` (the navigator's default: 2 ticks, the localizer on its worker
  thread at nice 10, in the loop's process);
* ``beside, own process`` (ours: 2 ticks, the localizer as ``astra serve --nice 10`` in a child
  process, :class:`~astra_jax.serve.localizer_process.LocalizerProcess`, the same as
  ``astra eval nav --localizer-process``).

The robot is paced in real time (:class:`~astra_jax.serve.nav_eval.RealTimeRobot`; off with
``--no-real-time``): each tick's drive ends ``tick_interval`` (0.5 s) after the tick began, as
on a robot, so that the worker has the time
between ticks that it would have there (the simulator otherwise ticks as fast as it can, and
the loop would wait for every fix; the rows wait for a fix that is due, so that they drive the
same). Printed per row: the loop's own work per tick (``nav_eval.loop_work_ms``: every part
but the simulator's cameras and wheels, the wait for a due fix and the localizer's own time on
its thread) p50 / p99 / max, the ticks over budget (work > tick_interval), the time the loop
waited for due fixes, the localizer's time per fix, and success; the ratio is the baseline's
p99 over ours.

Usage: ``python bench/nav_loop.py [--world NAME:SEED] [--episodes 2] [--no-real-time] [--json]``
(about 2.5 min per episode and row in real time on 2 cores: 15 min with the defaults).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import numpy as np

ROWS = {  # row -> (fix_latency_ticks, fix_nice, the localizer in a process of its own)
    "in the tick": (0, 0, False),
    "beside, on a thread": (2, 10, False),
    "beside, own process": (2, 10, True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", default="small_office:1000000", help="NAME:SEED (a val seed)")
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-ticks", type=int, default=300)
    ap.add_argument("--no-real-time", dest="real_time", action="store_false")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.episodes < 1:
        ap.error(f"--episodes {args.episodes}: expected >= 1")
    os.environ.setdefault("MUJOCO_GL", "egl")

    from astra_jax.config import get_preset
    from astra_jax.data.episode_cache import data_root
    from astra_jax.data.localization_worlds import load_named_world, parse_world
    from astra_jax.global_model.vpr_localizer import VprLocalizer
    from astra_jax.serve import nav_eval
    from astra_jax.serve.export import rig_calibration
    from astra_jax.serve.localizer_process import LocalizerProcess
    from astra_jax.serve.navigator import Navigator, NavigatorConfig
    from astra_jax.sim.seeds import split_of_seed
    from astra_jax.tasks.global_eval import GlobalEvalOptions, prepare_world

    cfg = get_preset("small")
    name, seed = parse_world(args.world)
    m, queries = prepare_world(args.world, cfg, GlobalEvalOptions(frames=300), data_root(),
                               split_of_seed(seed))  # fmt: skip
    world = load_named_world(name, seed, cfg.sim)
    occupancy = world.occupancy(cfg.sim.occupancy_resolution)
    localizer = VprLocalizer(m)
    pairs = nav_eval.draw_episodes(m, queries, args.episodes, args.seed, occupancy,
                                   cfg.sim.robot.radius)  # fmt: skip
    base = NavigatorConfig(planner="classical", max_ticks=args.max_ticks, fix_wait=True)
    episodes: dict[str, list[dict]] = {row: [] for row in ROWS}
    with LocalizerProcess(m.root, nice=ROWS["beside, own process"][1]) as child:
        navs = {row: Navigator(m, child.localizer if own else localizer, rig_calibration(cfg.rig),
                               None, dataclasses.replace(base, fix_latency_ticks=lat,
                                                         fix_nice=nice),
                               wheel_radius=cfg.sim.robot.wheel_radius,
                               wheel_base=cfg.sim.robot.wheel_base, seed=args.seed)
                for row, (lat, nice, own) in ROWS.items()}  # fmt: skip
        for i, (start, goal) in enumerate(pairs):
            for row, nav in navs.items():  # round-robin
                episodes[row].append(nav_eval.run_episode(nav, world, cfg, m, start, goal,
                                                          occupancy, run=i,
                                                          real_time=args.real_time))  # fmt: skip
        failures = child.localizer.failures
    rows = {}
    for row, eps in episodes.items():
        ticks = [t for e in eps for t in e["tick_s"]]
        work = [nav_eval.loop_work_ms(t) for t in ticks]
        fixes = [1e3 * t["fix_worker"] for t in ticks if "fix_worker" in t]
        if not fixes:  # in the tick: the localizer's time is the tick's "localize"
            fixes = [1e3 * t["localize"] for t in ticks if "localize" in t]
        rows[row] = {
            "latency_ticks": ROWS[row][0], "nice": ROWS[row][1], "ticks": len(ticks),
            "loop_ms_p50": float(np.percentile(work, 50)),
            "loop_ms_p99": float(np.percentile(work, 99)), "loop_ms_max": max(work),
            "over_budget": int(sum(w > 1e3 * base.tick_interval for w in work)),
            "fix_wait_s": sum(t.get("fix_wait", 0.0) for t in ticks),
            "fix_ms_p50": float(np.percentile(fixes, 50)) if fixes else None,
            "success": sum(e["success"] for e in eps) / len(eps),
        }  # fmt: skip
    ours, baseline = rows["beside, own process"], rows["in the tick"]
    ratio = baseline["loop_ms_p99"] / ours["loop_ms_p99"]
    thread_ratio = rows["beside, on a thread"]["loop_ms_p99"] / ours["loop_ms_p99"]
    print(f"navigation loop, {args.world}, {len(pairs)} episodes, classical planner, VPR + "
          f"refinement fixes every {base.relocalize_every} ticks, "
          f"{'real time' if args.real_time else 'as fast as the simulator runs'}, "
          f"tick {base.tick_interval:g} s\n")  # fmt: skip
    print(
        "| row | ticks | loop ms p50 / p99 / max | over budget | waited for fixes | "
        "fix ms p50 | success |"
    )
    print("|---|---|---|---|---|---|---|")
    for row, r in rows.items():
        fix = "-" if r["fix_ms_p50"] is None else f"{r['fix_ms_p50']:.0f}"
        print(f"| {row} | {r['ticks']} | {r['loop_ms_p50']:.0f} / {r['loop_ms_p99']:.0f} / "
              f"{r['loop_ms_max']:.0f} | {r['over_budget']} | {r['fix_wait_s']:.1f} s | {fix} | "
              f"{r['success']:.0%} |")  # fmt: skip
    print(f"\nloop p99: in the tick / beside in its own process = {ratio:.2f}x; on a thread / "
          f"in its own process = {thread_ratio:.2f}x; fixes the process could not give: "
          f"{failures}")  # fmt: skip
    if args.json:
        print(json.dumps({"world": args.world, "episodes": len(pairs),
                          "real_time": args.real_time, "rows": rows,
                          "p99_ratio_in_tick_over_own_process": ratio,
                          "p99_ratio_thread_over_own_process": thread_ratio,
                          "process_failures": failures}))  # fmt: skip


if __name__ == "__main__":
    main()
