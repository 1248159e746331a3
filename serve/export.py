"""``astra export local``: Astra-Local's streaming tick as a ``jax.export`` artifact.

The artifact (format in :mod:`astra_jax.serve.artifact`) holds the tick
``fn(params, state, inputs) -> (state, outputs)`` of :class:`~astra_jax.serve.tick.LocalTick`,
lowered once for every requested platform, with its parameters beside it, the rig calibration
and image normalization the model was trained for, and SHA-256 digests of every file.
:mod:`astra_jax.serve.runtime` runs it with jax alone.

Batch: symbolic (any number of robots per call) where every platform's lowering allows it. The
BEV splat's Pallas kernels (cuda, tpu) tile over the batch and do not take a symbolic block
(jax: "shape polymorphism for Pallas does not support dynamically-shaped blocks"), so an
artifact lowered for cuda or tpu has a fixed batch (``batch``, default 1, a robot).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax import export

import astra_jax
from astra_jax import geometry
from astra_jax.config import RigConfig
from astra_jax.kernels.bev_splat import EXPORT_DISABLED_CHECKS
from astra_jax.local_model.lift import IMAGE_MEAN, IMAGE_STD
from astra_jax.maps.storage import staged_directory
from astra_jax.serve import artifact as af
from astra_jax.serve.tick import LocalTick, TickConfig
from astra_jax.train.train_config import config_json

PLATFORMS = ("cpu", "cuda", "tpu")
LOCAL_MODEL = "astra-local-tick"


def rig_calibration(rig: RigConfig) -> dict[str, Any]:
    """The rig as the artifact records it: image size, and per camera its mounting (metres,
    radians), pinhole intrinsics at that size and ``T_ego_cam``."""
    intrinsics = geometry.rig_intrinsics(rig.cameras, rig.image_hw)
    extrinsics = geometry.rig_extrinsics(rig.cameras)
    cameras = []
    for cam, k, t in zip(rig.cameras, intrinsics, extrinsics, strict=True):
        cameras.append({
            "name": cam.name, "x": cam.x, "y": cam.y, "z": cam.z, "yaw": cam.yaw,
            "pitch_down": cam.pitch_down, "hfov": cam.hfov,
            "intrinsics": np.asarray(k, float).round(9).tolist(),
            "T_ego_cam": np.asarray(t, float).round(9).tolist(),
        })  # fmt: skip
    return {"image_hw": list(rig.image_hw), "cameras": cameras}


def image_normalization() -> dict[str, Any]:
    return {
        "layout": "uint8 RGB, (B, N cameras, H, W, 3), cameras in the rig's order",
        "scale": 1.0 / 255.0,
        "mean": list(IMAGE_MEAN),
        "std": list(IMAGE_STD),
        "note": "applied inside the function: feed raw uint8 pixels",
    }


def tree_specs(tree: Any) -> Any:
    """The spec ({"shape", "dtype"}) of every leaf of a tree of arrays or ShapeDtypeStructs."""
    return jax.tree.map(lambda s: af.spec_json(s.shape, s.dtype), tree)


def check_platforms(platforms: tuple[str, ...]) -> tuple[str, ...]:
    bad = [p for p in platforms if p not in PLATFORMS]
    if not platforms or bad or len(set(platforms)) != len(platforms):
        raise ValueError(f"platforms {list(platforms)}: expected distinct names among "
                         f"{', '.join(PLATFORMS)}")  # fmt: skip
    return tuple(platforms)


def export_local(
    config: TickConfig,
    params: dict[str, Any],
    out_dir: Path,
    *,
    platforms: tuple[str, ...] = ("cpu",),
    batch: int | None = None,
    preset: str = "",
    source: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export the tick of ``config`` with ``params`` (unboxed, keys ``config.param_groups``)
    into ``out_dir``; returns the manifest.

    Args:
      platforms: lowering platforms (cpu, cuda, tpu); no device of the kind is needed.
      batch: a fixed batch size, or None for a symbolic one (cpu-only artifacts; see the
        module docstring). An artifact for cuda or tpu defaults to 1.
      preset, source: recorded in the manifest (the preset name; checkpoint and step).
      overwrite: replace an existing ``out_dir`` (atomically, once the new one is complete).
    """
    platforms = check_platforms(tuple(platforms))
    if set(params) != set(config.param_groups):
        raise ValueError(f"params: top-level keys {sorted(params)}; the tick of this config "
                         f"needs {list(config.param_groups)}")  # fmt: skip
    if batch is None and platforms != ("cpu",):
        batch = 1
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch = {batch!r}: expected a positive int or None (symbolic)")
    (b,) = export.symbolic_shape(af.BATCH) if batch is None else (batch,)
    params = jax.tree.map(np.asarray, nn.unbox(params))  # logical-axis boxes off
    param_spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
    state_spec, input_spec = config.state_spec(b), config.inputs_spec(b)
    exported = export.export(
        jax.jit(LocalTick(config).step), platforms=platforms, disabled_checks=EXPORT_DISABLED_CHECKS
    )(param_spec, state_spec, input_spec)
    out_state, outputs = jax.tree.unflatten(exported.out_tree, exported.out_avals)
    manifest = {
        "model": LOCAL_MODEL,
        "preset": preset,
        "platforms": list(platforms),
        "batch": af.BATCH if batch is None else batch,
        "inputs": tree_specs(input_spec),
        "state": tree_specs(state_spec),
        "outputs": tree_specs(outputs),
        "rig": rig_calibration(config.encoder.rig),
        "normalization": image_normalization(),
        "config": config_json(config),
        "source": source or {},
    }
    if tree_specs(out_state) != manifest["state"]:
        raise AssertionError("the tick's state out differs from its state in")  # a bug, not input
    return write_artifact(out_dir, manifest, {af.FUNCTION: exported.serialize()}, params,
                          overwrite=overwrite)  # fmt: skip


def write_artifact(out_dir: Path, manifest: dict[str, Any], blobs: dict[str, bytes],
                   params: Any, *, overwrite: bool = False) -> dict[str, Any]:  # fmt: skip
    """Write an artifact: ``blobs`` (file name -> serialized function), ``params.npz`` and the
    manifest, completed with the fields every artifact has (format, versions, parameter specs,
    digests, creation time), into a staging directory renamed into place; returns it."""
    flat = af.flatten_tree(params)
    manifest = {
        "format": af.FORMAT,
        "format_version": af.FORMAT_VERSION,
        "jax_version": jax.__version__,
        "astra_jax_version": astra_jax.__version__,
        "params": {k: af.spec_json(v.shape, v.dtype) for k, v in flat.items()},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **manifest,
    }
    with staged_directory(Path(out_dir), overwrite=overwrite) as stage:
        stage.chmod(0o755)  # a temp directory is private; an artifact is meant to be shipped
        for name, blob in blobs.items():
            (stage / name).write_bytes(blob)
        af.save_params(stage / af.PARAMS, flat)
        manifest["files"] = {n: af.sha256_file(stage / n) for n in (*blobs, af.PARAMS)}
        (stage / af.MANIFEST).write_text(af.manifest_text(manifest))
    return manifest


def write_params(artifact_dir: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Ship new weights in an existing artifact: ``params`` must match the exported function's
    parameter specs exactly. Rewrites ``params.npz`` and the manifest's digest (each through a
    temp file and a rename); returns the new manifest."""
    artifact_dir = Path(artifact_dir)
    manifest = af.read_manifest(artifact_dir)
    flat = af.flatten_tree(jax.tree.map(np.asarray, params))
    want = manifest["params"]
    got = {k: af.spec_json(v.shape, v.dtype) for k, v in flat.items()}
    if got != want:
        diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        raise af.ArtifactError(f"{artifact_dir}: new parameters differ from the exported "
                               f"function's at {diff[:5]}: export again")  # fmt: skip
    af.save_params(artifact_dir / af.PARAMS, flat)
    manifest["files"][af.PARAMS] = af.sha256_file(artifact_dir / af.PARAMS)
    af.write_atomic(artifact_dir / af.MANIFEST, af.manifest_text(manifest).encode())
    return manifest
