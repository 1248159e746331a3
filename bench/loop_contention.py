"""Benchmark of what a localizer beside the navigation loop costs the loop's own work: the
run-time ESDF of one tick with the localizer in a process of its own at nice 10 (ours:
``astra eval nav --localizer-process``) against the same localizer on a thread of the loop's
process at the loop's priority (the baseline) and at nice 10 (the navigator's ``fix_nice``), and
alone, all in the same run.

Protocol: one validation world (``--world``, default small_office:1000000; its 300-frame map is
the one ``astra eval nav`` caches, built on first use), one rig frame of its query tour. The
loop's part is :func:`~astra_jax.local_model.depth_occupancy.depth_occupancy` then
:func:`~astra_jax.local_model.depth_occupancy.occupancy_esdf` of that frame, ``--repeats`` times,
``--pause`` s apart (a loop that waits for its next tick). Rows: alone; beside a VPR +
refinement localizer (the navigator's fixes) looping on a thread at nice 0; the same at nice 10
(Linux; elsewhere the nice rows are equal); the same localizer as ``astra serve --nice 10`` in a
child process (:class:`~astra_jax.serve.localizer_process.LocalizerProcess`), asked in a loop by
a thread at nice 10. Printed: the ESDF's ms p50 / p90 / p99 per row, the localizer's seconds per
fix beside it, and the ratios of the baseline's p50 and p99 (and the thread at nice 10's) to
ours.

Usage: ``python bench/loop_contention.py [--world NAME:SEED] [--repeats 200] [--json]``
(about 2 min on 2 cores, 20 s of it the child's start).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", default="small_office:1000000", help="NAME:SEED (a val seed)")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--pause", type=float, default=0.05, help="s between the loop's ESDFs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.repeats < 10 or args.pause < 0:
        ap.error("--repeats >= 10 and --pause >= 0 expected")
    os.environ.setdefault("MUJOCO_GL", "egl")

    from astra_jax.config import get_preset
    from astra_jax.data.episode_cache import data_root
    from astra_jax.data.localization_worlds import load_named_world, parse_world
    from astra_jax.global_model.vpr_localizer import VprLocalizer
    from astra_jax.local_model.depth_occupancy import (
        LocalGridConfig,
        depth_occupancy,
        occupancy_esdf,
    )
    from astra_jax.serve.export import rig_calibration
    from astra_jax.serve.localizer_process import LocalizerProcess
    from astra_jax.serve.priority import lower_thread_priority
    from astra_jax.sim.closed_loop import SimRobot
    from astra_jax.sim.seeds import split_of_seed
    from astra_jax.tasks.global_eval import GlobalEvalOptions, prepare_world

    cfg = get_preset("small")
    name, seed = parse_world(args.world)
    m, queries = prepare_world(args.world, cfg, GlobalEvalOptions(frames=300), data_root(),
                               split_of_seed(seed))  # fmt: skip
    world = load_named_world(name, seed, cfg.sim)
    rig = rig_calibration(cfg.rig)
    intrinsics = np.array([c["intrinsics"] for c in rig["cameras"]])
    extrinsics = np.array([c["T_ego_cam"] for c in rig["cameras"]])
    start = np.asarray(queries.ground_truth[queries.num_frames // 2], np.float64)
    with SimRobot(world, cfg, start, run=0) as robot:
        _, depth = robot.observe()
        images = robot.query_images()
    grid = LocalGridConfig()
    localizer = VprLocalizer(m)
    localizer.localize(images)  # warm: the vocabulary, the refiner's caches

    def esdf_ms() -> list[float]:
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            occupancy_esdf(depth_occupancy(depth, intrinsics, extrinsics, grid), grid)
            out.append(1e3 * (time.perf_counter() - t0))
            time.sleep(args.pause)
        return out

    def beside(localize, nice: int) -> tuple[list[float], list[float]]:
        stop, fixes = threading.Event(), []

        def work() -> None:
            lower_thread_priority(nice)
            while not stop.is_set():
                t0 = time.perf_counter()
                localize(images)
                fixes.append(time.perf_counter() - t0)

        thread = threading.Thread(target=work)
        thread.start()
        time.sleep(0.3)
        try:
            return esdf_ms(), fixes
        finally:
            stop.set()
            thread.join()

    def in_process(nice: int) -> tuple[list[float], list[float]]:
        # the same localizer as `astra serve` in a child process; a thread here only waits on
        # its HTTP answers (and encodes the PNGs) at the loop's fix_nice
        with LocalizerProcess(m.root, nice=nice) as child:
            return beside(child.localizer.localize, nice)

    rows: dict[str, dict] = {}
    for row, run in (("alone", None), ("beside, nice 0", lambda: beside(localizer.localize, 0)),
                     ("beside, nice 10", lambda: beside(localizer.localize, 10)),
                     ("own process, nice 10", lambda: in_process(10))):  # fmt: skip
        ms, fixes = (esdf_ms(), []) if run is None else run()
        p50, p90, p99 = np.percentile(ms, [50, 90, 99]).tolist()
        rows[row] = {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
                     "fix_s_p50": float(np.median(fixes)) if fixes else None}  # fmt: skip
    ratios = {q: rows["beside, nice 0"][f"{q}_ms"] / rows["own process, nice 10"][f"{q}_ms"]
              for q in ("p50", "p99")}  # fmt: skip
    thread_ratios = {q: rows["beside, nice 10"][f"{q}_ms"] / rows["own process, nice 10"][f"{q}_ms"]
                     for q in ("p50", "p99")}  # fmt: skip
    print(f"run-time ESDF of one tick, {args.world}, {args.repeats} times {args.pause:g} s apart, "
          f"a VPR + refinement localizer looping beside it\n")  # fmt: skip
    print("| row | ESDF ms p50 / p90 / p99 | localizer s per fix (p50) |")
    print("|---|---|---|")
    for row, r in rows.items():
        fix = "-" if r["fix_s_p50"] is None else f"{r['fix_s_p50']:.2f}"
        print(f"| {row} | {r['p50_ms']:.0f} / {r['p90_ms']:.0f} / {r['p99_ms']:.0f} | {fix} |")
    print(f"\nESDF beside at nice 0 / beside in its own process at nice 10: p50 "
          f"{ratios['p50']:.2f}x, p99 {ratios['p99']:.2f}x; on a thread at nice 10 / in its own "
          f"process: p50 {thread_ratios['p50']:.2f}x, p99 {thread_ratios['p99']:.2f}x")  # fmt: skip
    if args.json:
        print(json.dumps({"world": args.world, "repeats": args.repeats, "pause_s": args.pause,
                          "rows": rows, "ratio_nice0_over_process": ratios,
                          "ratio_thread_nice10_over_process": thread_ratios}))  # fmt: skip


if __name__ == "__main__":
    main()
