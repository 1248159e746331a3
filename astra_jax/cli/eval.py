"""``astra eval NAME``: evaluate a trained checkpoint of a named experiment on a split.

``astra eval encoder-tiny --workdir runs/enc --split test [--step best|latest|N] [--batches N]
[--ema] [--config.* ...] [--json]``. The experiment (with the same ``--config.*`` overrides as
its training run) rebuilds the task; the checkpoint must have been trained with that config.
Held-out splits: ``val`` to choose checkpoints and settings, ``test`` to report.

``astra eval local --checkpoint RUN [--checkpoint RUN2] --worlds office:1100000,... [--clutter D]
[--out DIR] [--json]``: Astra-Local's heads against the classical baselines on held-out worlds
(:mod:`astra_jax.tasks.local_eval`); the runs' configs come from their checkpoints.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any, Literal

import tyro

from astra_jax.cli._common import bound_command, emit_json, run


def evaluate_experiment(
    experiment: str,
    workdir: str,
    split: str = "val",
    step: str = "best",
    batches: int = 0,
    batch_size: int | None = None,
    ema: bool = False,
    compute_dtype: Literal["bfloat16", "float32"] = "bfloat16",
    config: Any = None,
    json: bool = False,
) -> int:
    """Evaluate EXPERIMENT's checkpoint in --workdir on a split.

    Args:
        experiment: named experiment (astra_jax.experiments).
        workdir: the training run's directory (its checkpoints/).
        split: the split to evaluate (the task's, e.g. val or test; reference: eval).
        step: best (lowest evaluation loss during training), latest, or a step number.
        batches: batches of the split, in its fixed order (0: all of them).
        batch_size: examples per batch (default: the experiment's).
        ema: evaluate the moving average of the parameters (the run must have kept one).
        compute_dtype: activations/matmuls dtype (use the one the run trained with).
        config: the task's config tree (default: the experiment's; pass the run's overrides).
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax import experiments
    from astra_jax.cli.train import _with_env_overrides
    from astra_jax.tasks import get_task
    from astra_jax.train.evaluate import evaluate
    from astra_jax.train.precision import Precision

    exp = experiments.get(experiment)
    config = _with_env_overrides(exp) if config is None else config
    model = get_task(exp.task).create(config, Precision(compute_dtype))
    result = evaluate(workdir, model, split, batch_size=batch_size or exp.batch_size,
                      num_batches=batches, step=step, use_ema=ema, progress=not json)  # fmt: skip
    metrics = "  ".join(f"{k} {v:.6g}" for k, v in sorted(result.metrics.items()))
    print(f"{exp.name} step {result.step} on {split} ({result.num_examples} examples"
          f"{', EMA' if ema else ''}): {metrics}")  # fmt: skip
    if json:
        emit_json({"experiment": exp.name, "workdir": workdir, **result.summary()})
    return 0


def evaluate_local_heads(
    checkpoint: tyro.conf.UseAppendAction[list[str]],
    worlds: str,
    clutter: float = 0.0,
    episodes_per_world: int = 2,
    step: str = "best",
    samples: int = 10,
    out: str | None = None,
    seed: int = 0,
    people: float = 0.0,
    guidance_scale: tuple[float, ...] = (),
    guidance_start: float = 0.5,
    occupancy_memory: int = 0,
    depth_noise: float | None = None,
    json: bool = False,
) -> int:
    """Evaluate Astra-Local heads runs against classical planners and odometry, in one run.

    Args:
        checkpoint: local-<preset> run directories (repeat the flag for several runs of one
            preset, e.g. an FM-only run and an FM + ESDF run).
        worlds: held-out worlds, FAMILY:SEED,... (val seeds to choose, test seeds to report).
        clutter: extra obstacles per m^2 of free floor (out-of-distribution scenes).
        episodes_per_world: goal episodes per world.
        step: best, latest or a step number (the same for every run).
        samples: flow-matching samples per tick for the best-of-N rows (FM*).
        out: directory for report.json, report.md and the plots.
        seed: seeds the flow-matching noise.
        people: walking people per 100 m^2 (scenes with people: they are obstacles in the
            scoring ESDF at each tick's time).
        guidance_scale: ESDF guidance scales (repeatable values, e.g. 0.1 0.3): per planning run
            and scale, rows sampled with the run-time ESDF steering the Euler steps.
        guidance_start: the flow time from which guidance steers (0 noise, 1 data).
        occupancy_memory: earlier ticks whose depth grids fill what this tick's cameras cannot
            see (the ring below them, the seams), moved by the wheel + gyro odometry; 0: this
            tick's depth only.
        depth_noise: the depth cameras' errors: a RealSense D435's (range noise k z^2 with
            k = 0.0036 /m, no return outside 0.28-10 m or in the stereo occlusion shadows left
            of near objects) with the range noise times this; 0: exact depth (default: as the
            runs were trained).
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.tasks.local_eval import evaluate_local, markdown

    report = evaluate_local(checkpoint, worlds, clutter, episodes_per_world, step, samples, out,
                            seed, show_progress=not json, people=people,
                            guidance_scales=tuple(guidance_scale),
                            guidance_start=guidance_start,
                            occupancy_memory=occupancy_memory,
                            depth_noise=depth_noise)  # fmt: skip
    print(markdown(report), end="")
    if json:
        emit_json(report)
    return 0


def evaluate_occupancy_runs(
    checkpoint: tyro.conf.UseAppendAction[list[str]],
    split: str = "test",
    out: str | None = None,
    batch_size: int = 16,
    json: bool = False,
) -> int:
    """Compare occupancy runs on held-out worlds (the paper's Table 5): total and obstacle IoU.

    Args:
        checkpoint: occupancy-<preset> run directories (repeat the flag: one started from a 3D
            pre-trained encoder, one from scratch); each is read at its best checkpoint.
        split: val to choose, test to report.
        out: directory for report.json and report.md.
        batch_size: windows per forward pass.
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.tasks.occupancy_eval import evaluate_occupancy, markdown

    report = evaluate_occupancy(checkpoint, split, out, batch_size)
    print(markdown(report), end="")
    if json:
        emit_json(report)
    return 0


def evaluate_forecast_run(
    checkpoint: str,
    split: str = "test",
    out: str | None = None,
    batch_size: int = 8,
    max_windows: int | None = None,
    people: float | None = None,
    json: bool = False,
) -> int:
    """The 4D module's futures against copy-forward and warp-by-motion baselines on held-out
    worlds (the paper's Table 8 metrics: occupancy IoU, depth AbsRel, colour PSNR).

    Args:
        checkpoint: a forecast-<preset> run directory (read at its best checkpoint).
        split: val to choose, test to report.
        out: directory for report.json and report.md.
        batch_size: windows per forward pass.
        max_windows: evaluate at most this many windows (default: all).
        people: walking people per 100 m^2 in the evaluation's episodes (default: as the run
            was trained; 0: none). Scenes with people are where forecasting must pay.
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.tasks.forecast_eval import evaluate_forecast, markdown

    report = evaluate_forecast(checkpoint, split, out, batch_size, max_windows, people)
    print(markdown(report), end="")
    if json:
        emit_json(report)
    return 0


def evaluate_global_answers(
    checkpoint: str, step: str = "best", per_task: int = 16, seed: int = 0, json: bool = False
) -> int:
    """Score an Astra-Global SFT run's answers, task by task, on its validation worlds.

    Args:
        checkpoint: a global-sft-<preset> run directory.
        step: best, latest or a step number.
        per_task: samples per task (drawn with --seed).
        seed: which samples.
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.tasks.global_answers import evaluate_answers

    report = evaluate_answers(checkpoint, step, per_task, seed)
    print(f"{checkpoint} step {report['step']} on {', '.join(report['worlds'])}")
    for task, scores in report["tasks"].items():
        print(f"  {task:14s} " + "  ".join(f"{k} {v:.3g}" for k, v in scores.items()))
    if json:
        emit_json(report)
    return 0


def evaluate_global_localization(
    worlds: str,
    checkpoint: str | None = None,
    step: str = "best",
    frames: int = 120,
    queries: int = 20,
    goals: int = 5,
    changes: str | None = None,
    out: str | None = None,
    split: Literal["test", "val"] = "test",
    calibration: str | None = None,
    calibration_out: str | None = None,
    json: bool = False,
) -> int:
    """Localize on test worlds: Astra-Global (coarse, fine, + refinement) against VPR (+ refinement).

    Args:
        worlds: comma-separated NAME:SEED test worlds (office, warehouse, small_office,
            small_warehouse), e.g. small_office:1100000,small_warehouse:1100000.
        checkpoint: a global-sft or global-grpo run directory; without it, only the VPR rows.
        step: best, latest or a step number.
        frames: frames of each world's mapping tour (its SfM map is built once and cached).
        queries: query frames per world, from a second tour of the same world.
        goals: text goals and image goals per world.
        changes: the query day, e.g. lighting=0.8,moved=0.3,seed=1 (see astra sim tour).
        out: write report.md, report.json and a plot per world here.
        split: test (the evaluation) or val (to calibrate and choose settings).
        calibration: a confidence calibration file for the localizer (from --calibration-out).
        calibration_out: fit the confidence levels on these (validation) worlds; write here.
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.config import WorldChanges
    from astra_jax.sim.changes import parse_changes
    from astra_jax.tasks.global_eval import GlobalEvalOptions, evaluate_global

    names = [w.strip() for w in worlds.split(",") if w.strip()]
    if not names:
        raise ValueError("--worlds: expected at least one NAME:SEED")
    day = parse_changes(changes) if changes else WorldChanges()
    options = GlobalEvalOptions(frames=frames, queries=queries, goals=goals, changes=day)
    path = lambda p: pathlib.Path(p) if p else None  # noqa: E731
    report, text = evaluate_global(checkpoint, names, options, step=step, out=path(out),
                                   split=split, calibration=path(calibration),
                                   calibration_out=path(calibration_out))  # fmt: skip
    print(text)
    if json:
        emit_json({"checkpoint": report["checkpoint"], **report["summary"]})
    return 0


def evaluate_navigation(
    worlds: str,
    episodes: int = 5,
    artifact: str | None = None,
    checkpoint: str | None = None,
    step: str = "best",
    clutter: float = 0.0,
    seed: int = 0,
    max_ticks: int = 300,
    frames: int = 300,
    split: Literal["test", "val"] = "test",
    out: str | None = None,
    people: float = 0.0,
    occupancy_memory: int | None = None,
    astar_relaxed_margin: float | None = None,
    depth_noise: float = 0.0,
    fix_latency_ticks: int | None = None,
    localizer_process: bool = False,
    astar_lookahead: float | None = None,
    squeeze_after: int | None = None,
    json: bool = False,
) -> int:
    """Navigate closed loop in the simulator on held-out worlds: classical and learned planners.

    Args:
        worlds: NAME:SEED,... (e.g. small_office:1100000,small_warehouse:1100000); their maps
            are built on first use and cached.
        episodes: start / goal pairs per world (starts at query-tour poses, goals 5-25 m away).
        artifact: an `astra export local` artifact: adds the learned planner's row.
        checkpoint: an Astra-Global run for the start and the fixes (default: VPR + refinement).
        step: the checkpoint's step.
        clutter: extra obstacles per m^2 of free floor (out-of-distribution scenes).
        seed: draws the episodes and the planner's noise.
        max_ticks: ticks before an episode counts as failed.
        frames: frames of each world's mapping tour (its map is cached per frame count).
        split: test to report, val to choose settings.
        out: directory for report.json, report.md and a plot per world.
        people: walking people per 100 m^2 of free floor in the runs (not in the mapping tour);
            collisions with them are counted apart too.
        occupancy_memory: ticks of the run-time map's memory (default: the navigator's, 0: off).
        astar_relaxed_margin: A*'s margin (m) for a second search through narrow passages when
            the first cannot reach the subgoal (default: the navigator's, off).
        depth_noise: the robot's depth cameras in the runs: a RealSense D435's errors with its
            range noise times this (0: exact depth; the mapping tour stays exact).
        fix_latency_ticks: localize beside the loop on a worker thread and fuse each fix this
            many ticks after its images, at their time (default: the navigator's, 2; 0: each
            tick waits for its fix, as every figure before session 28).
        localizer_process: run the localizer in a process of its own (`astra serve` at the
            navigator's fix_nice, one per world) instead of in this one.
        astar_lookahead: A* plans to the route's point this many metres (of arc) ahead of the
            robot, never past the subgoal (default: the navigator's, 1.5; 0: to the subgoal
            itself, as before session 29).
        squeeze_after: ticks the robot may stand with no plan that moves it before A* searches
            at the smaller squeeze margin, through a narrow door (default: the navigator's, 3;
            0: never, as before session 30).
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.serve.nav_eval import evaluate_nav, markdown

    report = evaluate_nav([w.strip() for w in worlds.split(",") if w.strip()], episodes=episodes,
                          artifact=artifact, checkpoint=checkpoint, step=step, clutter=clutter,
                          seed=seed, out=pathlib.Path(out) if out else None, split=split,
                          max_ticks=max_ticks, frames=frames, people=people,
                          occupancy_memory=occupancy_memory,
                          astar_relaxed_margin=astar_relaxed_margin,
                          depth_noise=depth_noise,
                          fix_latency_ticks=fix_latency_ticks,
                          localizer_process=localizer_process,
                          astar_lookahead=astar_lookahead,
                          squeeze_after=squeeze_after)  # fmt: skip
    print(markdown(report), end="")
    if json:
        emit_json({"summary": report["summary"], "worlds": list(report["worlds"]),
                   "localizer": report["localizer"], "artifact": report["artifact"]})  # fmt: skip
    return 0


def _named_command(name: str) -> Callable[..., int]:
    from astra_jax import experiments
    from astra_jax.cli.train import _with_env_overrides

    doc = (evaluate_experiment.__doc__ or "").replace("EXPERIMENT's", f"{name}'s", 1)
    defaults = {"config": _with_env_overrides(experiments.get(name))}
    return bound_command(evaluate_experiment, name, doc, {"experiment": name}, defaults)


def main(argv: list[str]) -> int:
    from astra_jax import experiments

    commands = {name: _named_command(name) for name in experiments.names()}
    commands["local"] = evaluate_local_heads
    commands["global-answers"] = evaluate_global_answers
    commands["global"] = evaluate_global_localization
    commands["nav"] = evaluate_navigation
    commands["occupancy"] = evaluate_occupancy_runs
    commands["forecast"] = evaluate_forecast_run
    return run("astra eval", commands, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
