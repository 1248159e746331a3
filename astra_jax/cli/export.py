"""``astra export``: compiled artifacts for robots and services (``jax.export``).

``astra export local --checkpoint RUN --out ARTIFACT_DIR [--step best] [--platforms cpu,cuda,tpu]
[--samples 8] [--batch N] [--guidance-scale S] [--overwrite] [--json]``: Astra-Local's
streaming tick (encoder step + planner, optionally ESDF-guided, + odometry head) of an
``astra train local-<preset>`` run and the frozen encoder it was trained on (:mod:`astra_jax.serve.export`; run it with :mod:`astra_jax.serve.runtime`).
``--from-artifact DIR`` instead of ``--checkpoint`` re-exports an artifact's own weights with
other settings (guidance, platforms, batch, samples), for a robot that has no checkpoint.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from astra_jax.cli._common import emit_json, run


def load_local_tick(checkpoint: str, step: str = "best", samples: int = 8,
                    guidance_scale: float = 0.0,
                    guidance_start: float = 0.5) -> tuple[Any, Any, Any]:  # fmt: skip
    """(TickConfig, params, source) of a ``local-<preset>`` heads run and its frozen encoder;
    ``guidance_scale`` > 0 adds ESDF guidance on the navigator's default run-time grid."""
    from astra_jax.config import ConfigError
    from astra_jax.local_model.depth_occupancy import LocalGridConfig
    from astra_jax.serve.tick import TickConfig
    from astra_jax.tasks.local_eval import load_checkpoint
    from astra_jax.tasks.local_heads import frozen_encoder

    run_ = load_checkpoint(checkpoint, step)
    missing = [h for h in ("planning", "odometry") if h not in run_.params]
    if missing:
        raise ConfigError(f"--checkpoint {checkpoint}: the run trained no {' or '.join(missing)} "
                          "head (train_planning / train_odometry were off); a tick needs both")  # fmt: skip
    cfg = run_.config
    encoder = frozen_encoder(cfg.encoder, cfg.encoder_workdir, cfg.encoder_step)
    grid = LocalGridConfig()
    guidance = _guidance(guidance_scale, guidance_start, cfg.sim.robot.radius, grid)
    tick = TickConfig(encoder=encoder.config, planning=cfg.planning, odometry=cfg.odometry,
                      num_samples=samples, guidance=guidance, esdf_shape=grid.shape)  # fmt: skip
    params = {"lift": encoder.lift_params, "planning": run_.params["planning"],
              "odometry": run_.params["odometry"]}  # fmt: skip
    source = {"checkpoint": str(checkpoint), "step": run_.step, "encoder": encoder.source,
              "experiment": cfg.name, "robot_radius": cfg.sim.robot.radius}  # fmt: skip
    return tick, params, source


def _guidance(scale: float, start: float, radius: float, grid: Any) -> Any:
    """The ESDF guidance of ``--guidance-scale`` on ``grid`` (a ``LocalGridConfig``, the
    navigator's run-time grid); None at scale 0."""
    from astra_jax.config import ConfigError
    from astra_jax.local_model.esdf_guidance import EsdfGuidance
    from astra_jax.tasks.local_eval import GUIDANCE_MARGIN

    if scale < 0:
        raise ConfigError(f"--guidance-scale {scale}: expected >= 0 (0: no guidance)")
    if scale == 0:
        return None
    return EsdfGuidance(scale=scale, start=start, safe_distance=radius + GUIDANCE_MARGIN,
                        resolution=grid.resolution)  # fmt: skip


def load_artifact_tick(artifact: pathlib.Path, samples: int | None = None,
                       guidance_scale: float = 0.0,
                       guidance_start: float = 0.5) -> tuple[Any, Any, Any]:  # fmt: skip
    """(TickConfig, params, source) of an exported tick, with new planner settings:
    ``samples`` (None: the artifact's) and guidance, whose safe distance follows the robot
    radius the artifact was exported for (:func:`artifact_robot_radius`)."""
    from astra_jax.local_model.depth_occupancy import LocalGridConfig
    from astra_jax.serve.runtime import LocalRuntime
    from astra_jax.serve.tick import TickConfig
    from astra_jax.train.train_config import config_from_json

    shipped = LocalRuntime(artifact)
    tick = config_from_json(TickConfig, shipped.manifest["config"])
    radius = artifact_robot_radius(shipped.manifest)
    grid = LocalGridConfig()
    guidance = _guidance(guidance_scale, guidance_start, radius, grid)
    tick = dataclasses.replace(tick, guidance=guidance, esdf_shape=grid.shape,
                               num_samples=tick.num_samples if samples is None else samples)  # fmt: skip
    params = shipped.params
    source = {**shipped.manifest["source"], "artifact": str(artifact),
              "experiment": shipped.manifest["preset"], "robot_radius": radius}  # fmt: skip
    return tick, params, source


def artifact_robot_radius(manifest: dict[str, Any]) -> float:
    """The robot radius (m) an exported tick was made for: recorded in its source (exports
    since the re-export fix, docs/design.md section 15); before that, implied by a guided
    tick's safe distance (radius + the eval's margin); an older unguided artifact recorded
    nothing, and gets the simulator robot's default."""
    from astra_jax.config import ConfigError, RobotConfig
    from astra_jax.tasks.local_eval import GUIDANCE_MARGIN

    recorded = (manifest.get("source") or {}).get("robot_radius")
    origin = "source.robot_radius"
    if recorded is None:
        guidance = (manifest.get("config") or {}).get("guidance")
        if not guidance:
            return RobotConfig().radius
        recorded = float(guidance["safe_distance"]) - GUIDANCE_MARGIN
        origin = f"config.guidance.safe_distance - {GUIDANCE_MARGIN} m"
    if isinstance(recorded, bool) or not (isinstance(recorded, int | float) and 0 < recorded < 10):
        raise ConfigError(
            f"artifact robot radius {recorded!r} ({origin}): expected metres in (0, 10)"
        )
    return float(recorded)


def export_local_command(
    out: pathlib.Path,
    checkpoint: str | None = None,
    from_artifact: pathlib.Path | None = None,
    step: str | None = None,
    platforms: str = "cpu",
    samples: int | None = None,
    batch: int | None = None,
    guidance_scale: float = 0.0,
    guidance_start: float = 0.5,
    overwrite: bool = False,
    json: bool = False,
) -> int:
    """Export Astra-Local's streaming tick of a local-<preset> run.

    Args:
        out: the artifact directory to write (atomically).
        checkpoint: an `astra train local-<preset>` run directory (both heads trained).
        from_artifact: instead of a checkpoint, an `astra export local` artifact whose weights
            are exported again with the settings below (the demo's shipped tick has no
            checkpoint beside it).
        step: best (the default), latest or a step number of the checkpoint; not with
            --from-artifact (an artifact holds the one step it was exported from).
        platforms: comma-separated lowering platforms among cpu, cuda, tpu (no such device is
            needed to lower for it).
        samples: planner samples per tick (the navigator picks the best by clearance);
            default 8, or the artifact's own.
        batch: a fixed batch size; default: symbolic for cpu-only artifacts, 1 otherwise (the
            Pallas splat kernels take no symbolic batch).
        guidance_scale: ESDF guidance of the planner's Euler steps (0: none); the tick then
            takes the navigator's run-time ESDF as its ``esdf`` input.
        guidance_start: the flow time from which guidance steers.
        overwrite: replace an existing artifact directory.
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.config import ConfigError
    from astra_jax.serve.export import export_local

    if (checkpoint is None) == (from_artifact is None):
        raise ConfigError("astra export local: give exactly one of --checkpoint RUN and "
                          "--from-artifact DIR")  # fmt: skip
    if from_artifact is not None and step is not None:
        raise ConfigError(f"astra export local: --step {step} applies to --checkpoint; the "
                          f"artifact {from_artifact} holds the one step it was exported from")  # fmt: skip
    if checkpoint is not None:
        tick, params, source = load_local_tick(checkpoint, step or "best",
                                               8 if samples is None else samples,
                                               guidance_scale, guidance_start)  # fmt: skip
    else:
        tick, params, source = load_artifact_tick(from_artifact, samples, guidance_scale,
                                                  guidance_start)  # fmt: skip
    names = tuple(p.strip() for p in platforms.split(",") if p.strip())
    manifest = export_local(tick, params, out, platforms=names, batch=batch,
                            preset=source["experiment"], source=source, overwrite=overwrite)  # fmt: skip
    sizes = {name: (out / name).stat().st_size for name in manifest["files"]}
    print(f"exported {manifest['model']} of {checkpoint or from_artifact} step {source['step']} "
          f"to {out}: "
          f"platforms {', '.join(manifest['platforms'])}, batch {manifest['batch']}, "
          + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sizes.items()))  # fmt: skip
    if json:
        emit_json({"out": str(out), "files": sizes,
                   **{k: manifest[k] for k in ("model", "platforms", "batch", "source")}})  # fmt: skip
    return 0


def export_global_command(
    checkpoint: str,
    out: pathlib.Path,
    step: str = "best",
    images: str = "0,1,2,4",
    max_len: int = 2048,
    batch: int = 1,
    platforms: str = "cpu",
    overwrite: bool = False,
    json: bool = False,
) -> int:
    """Export Astra-Global's prefill (one per image count) and decode steps of a run.

    Args:
        checkpoint: an `astra train global-sft-<preset>` or `global-grpo-<preset>` run.
        out: the artifact directory to write (atomically).
        step: best, latest or a step number.
        images: comma-separated image counts to export a prefill for (the localization
            prompts use 0 (text goal), 1 (coarse, landmarks), 2 (co-visibility, relative
            pose) and 1 + k (fine, k references)).
        max_len: KV-cache slots: prompt plus generated tokens.
        batch: prompts per call (fixed).
        platforms: comma-separated lowering platforms among cpu, cuda, tpu.
        overwrite: replace an existing artifact directory.
        json: print a one-line JSON summary as the last line.
    """
    from astra_jax.serve.export_global import export_global
    from astra_jax.tasks.global_answers import restore_localization_run

    config, params, chosen = restore_localization_run(checkpoint, step)
    counts = tuple(sorted({int(c) for c in images.split(",") if c.strip()}))
    names = tuple(p.strip() for p in platforms.split(",") if p.strip())
    manifest = export_global(config.model, params, out, image_hw=config.data.image_hw,
                             image_counts=counts, batch=batch, max_len=max_len, platforms=names,
                             source={"checkpoint": str(checkpoint), "step": chosen},
                             overwrite=overwrite)  # fmt: skip
    sizes = {name: (out / name).stat().st_size for name in manifest["files"]}
    print(f"exported {manifest['model']} of {checkpoint} step {chosen} to {out}: prefill for "
          f"{list(counts)} images, decode; {sum(sizes.values()) / 1e6:.1f} MB")  # fmt: skip
    if json:
        emit_json({"out": str(out), "files": sizes, "model": manifest["model"],
                   "images": list(counts), "max_len": max_len, "step": chosen})  # fmt: skip
    return 0


def main(argv: list[str]) -> int:
    return run("astra export", {"local": export_local_command, "global": export_global_command},
               argv)  # fmt: skip


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
