"""The exported tick: equal to the Flax tick, run without Flax, and refused when anything about
the artifact or the inputs is wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from tick_fixtures import episode_inputs, random_params

from astra_jax.serve.artifact import FUNCTION, MANIFEST, PARAMS, ArtifactError
from astra_jax.serve.export import export_local, rig_calibration, write_params
from astra_jax.serve.runtime import LocalRuntime
from astra_jax.serve.tick import LocalTick, TickConfig


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny tick exported for the cpu with a symbolic batch."""
    cfg = TickConfig.for_preset("tiny", num_samples=4)
    params = random_params(cfg)
    out = tmp_path_factory.mktemp("artifact") / "local"
    manifest = export_local(cfg, params, out, preset="tiny", source={"checkpoint": "random"})
    return cfg, params, out, manifest


@pytest.fixture(scope="module")
def flax_step(exported):
    return jax.jit(LocalTick(exported[0]).step)


def _copy(artifact: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(artifact, dst)
    return dst


def test_exported_tick_equals_the_flax_tick_at_any_batch(exported, flax_step) -> None:
    cfg, params, artifact, manifest = exported
    assert manifest["batch"] == "b" and manifest["platforms"] == ["cpu"]
    runtime = LocalRuntime(artifact, rig=rig_calibration(cfg.encoder.rig))
    step = flax_step
    for batch in (1, 3):
        ours, theirs = runtime.init_state(batch), cfg.init_state(batch)
        for x in episode_inputs(cfg, 3, batch=batch, seed=batch):
            ours, out = runtime.tick(ours, x)
            theirs, want = step(params, theirs, x)
            assert out.keys() == want.keys()
            for k in want:
                np.testing.assert_allclose(out[k], want[k], atol=1e-5, err_msg=k)
        assert out["odometry_valid"].all() and out["trajectories"].shape == (batch, 4, 4, 3)


def test_warm_up_compiles_once_for_every_tick(exported) -> None:
    cfg, _, artifact, _ = exported
    runtime = LocalRuntime(artifact)
    runtime.warm_up(2)
    state = runtime.init_state(2)
    for x in episode_inputs(cfg, 3, batch=2):
        state, _ = runtime.tick(state, x)
    # the first state and the returned ones hit one compiled program (no compile mid-episode)
    assert runtime._call._cache_size() == 1


def test_runtime_never_imports_flax(exported) -> None:
    _, _, artifact, _ = exported
    code = f"""
import sys
import numpy as np
from astra_jax.serve.runtime import LocalRuntime
rt = LocalRuntime({str(artifact)!r})
spec = rt.manifest["inputs"]
x = {{k: np.zeros([1 if d == "b" else d for d in s["shape"]], s["dtype"]) for k, s in spec.items()}}
state, out = rt.tick(rt.init_state(1), x)
state, out = rt.tick(state, x)
assert bool(out["odometry_valid"][0])
print(sorted(m for m in sys.modules if m.split(".")[0] == "flax" or m.startswith("astra_jax.")))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = result.stdout.strip().splitlines()[-1]
    assert loaded == "['astra_jax.serve', 'astra_jax.serve.artifact', 'astra_jax.serve.runtime']"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / FUNCTION).write_bytes((d / FUNCTION).read_bytes()[:-7] + b"corrupt"),
         "function.jax: SHA-256"),
        (lambda d: (d / PARAMS).write_bytes(b"not an npz"), "params.npz: SHA-256"),
        (lambda d: (d / PARAMS).unlink(), "params.npz: missing"),
        (lambda d: (d / MANIFEST).unlink(), "manifest.json: missing"),
        (lambda d: (d / MANIFEST).write_text("{"), "not valid JSON"),
    ],
)  # fmt: skip
def test_a_changed_or_missing_file_is_refused(exported, tmp_path, damage, message) -> None:
    artifact = _copy(exported[2], tmp_path)
    damage(artifact)
    with pytest.raises(ArtifactError, match=message):
        LocalRuntime(artifact)


def test_manifest_checks(exported, tmp_path) -> None:
    artifact = _copy(exported[2], tmp_path)
    manifest = json.loads((artifact / MANIFEST).read_text())
    for field, value, message in (
        ("format_version", 99, "format_version 99"),
        ("model", "astra-global", "model 'astra-global'"),
    ):
        (artifact / MANIFEST).write_text(json.dumps({**manifest, field: value}))
        with pytest.raises(ArtifactError, match=message):
            LocalRuntime(artifact)


def test_wrong_platform_and_rig_are_refused(exported, tmp_path) -> None:
    cfg, params, artifact, _ = exported
    tpu = export_local(cfg, params, tmp_path / "tpu", platforms=("tpu",))
    assert tpu["batch"] == 1  # Pallas blocks take no symbolic batch
    with pytest.raises(ArtifactError, match="lowered for tpu; this machine runs cpu"):
        LocalRuntime(tmp_path / "tpu")
    rig = rig_calibration(cfg.encoder.rig)
    rig["cameras"][1]["yaw"] += 0.01
    with pytest.raises(ArtifactError, match=r"rig.cameras\[1\].yaw"):
        LocalRuntime(artifact, rig=rig)
    rig = rig_calibration(cfg.encoder.rig)
    rig["image_hw"] = [48, 64]
    with pytest.raises(ArtifactError, match=r"rig.image_hw\[0\]"):
        LocalRuntime(artifact, rig=rig)


def test_wrong_inputs_and_state_are_refused_before_running(exported) -> None:
    cfg, _, artifact, _ = exported
    runtime = LocalRuntime(artifact)
    state = runtime.init_state(2)
    good = episode_inputs(cfg, 1, batch=2)[0]
    cases = [
        ({**good, "images": good["images"].astype(np.float32)}, r"inputs\['images'\]: dtype"),
        ({**good, "images": good["images"][:, :2]}, r"inputs\['images'\]: shape"),
        ({**good, "pose": good["pose"][:1]}, r"inputs\['pose'\]: shape .* b = 2"),
        ({k: v for k, v in good.items() if k != "wheel"}, "expected exactly"),
        ({**good, "subgoal": np.full((2, 2), np.nan, np.float32)}, "NaN"),
    ]
    for inputs, message in cases:
        with pytest.raises(ValueError, match=message):
            runtime.tick(state, inputs)
    with pytest.raises(ValueError, match=r"state\['prev_frame'\]"):
        runtime.tick(runtime.init_state(1), good)
    with pytest.raises(ValueError, match="expected keys"):
        runtime.tick({"ticks": state["ticks"]}, good)


def test_new_weights_ship_without_a_new_export(exported, flax_step, tmp_path) -> None:
    cfg, params, artifact, _ = exported
    artifact = _copy(artifact, tmp_path)
    function_bytes = (artifact / FUNCTION).read_bytes()
    new = random_params(cfg, seed=5)
    write_params(artifact, new)
    assert (artifact / FUNCTION).read_bytes() == function_bytes
    runtime = LocalRuntime(artifact)
    x = episode_inputs(cfg, 1, batch=1)[0]
    _, out = runtime.tick(runtime.init_state(1), x)
    _, want = flax_step(new, cfg.init_state(1), x)
    np.testing.assert_allclose(out["trajectories"], want["trajectories"], atol=1e-5)
    _, old = flax_step(params, cfg.init_state(1), x)
    assert np.abs(out["trajectories"] - old["trajectories"]).max() > 1e-3
    wrong = {**new, "planning": jax.tree.map(lambda a: a[..., :1], new["planning"])}
    with pytest.raises(ArtifactError, match="differ from the exported function"):
        write_params(artifact, wrong)


def test_lowers_for_cpu_cuda_and_tpu(exported, tmp_path) -> None:
    cfg, params, _, _ = exported
    manifest = export_local(cfg, params, tmp_path / "all", platforms=("cpu", "cuda", "tpu"))
    assert manifest["platforms"] == ["cpu", "cuda", "tpu"] and manifest["batch"] == 1
    runtime = LocalRuntime(tmp_path / "all")  # runs here on the cpu lowering
    _, out = runtime.tick(runtime.init_state(), episode_inputs(cfg, 1, batch=1)[0])
    assert out["trajectories"].shape == (1, 4, 4, 3)
    with pytest.raises(ValueError, match="exported for batch 1"):
        runtime.init_state(2)
    with pytest.raises(ValueError, match="platforms"):
        export_local(cfg, params, tmp_path / "x", platforms=("metal",))
    with pytest.raises(FileExistsError):
        export_local(cfg, params, tmp_path / "all")


def test_an_artifact_re_exports_its_weights_with_other_settings(tmp_path) -> None:
    """`astra export local --from-artifact`: the shipped (guided) tick's weights exported again
    unguided, then guided again, give the shipped tick's config and weights back."""
    from astra_jax.cli.export import export_local_command
    from astra_jax.config import ConfigError
    from astra_jax.demo_nav import ARTIFACT
    from astra_jax.train.train_config import config_from_json

    shipped = LocalRuntime(ARTIFACT)
    assert export_local_command(tmp_path / "plain", from_artifact=ARTIFACT) == 0
    plain = LocalRuntime(tmp_path / "plain")
    plain_cfg = config_from_json(TickConfig, plain.manifest["config"])
    assert plain_cfg.guidance is None and "esdf" not in plain.manifest["inputs"]
    assert plain_cfg.num_samples == shipped.manifest["config"]["num_samples"]
    assert plain.manifest["source"]["artifact"] == str(ARTIFACT)
    export_local_command(tmp_path / "guided", from_artifact=tmp_path / "plain", guidance_scale=1.0)
    guided = LocalRuntime(tmp_path / "guided")
    # the same config, read the way the runtime reads it: a field added after the shipped
    # artifact was made takes its default there, and the re-export writes it out
    assert config_from_json(TickConfig, guided.manifest["config"]) == config_from_json(
        TickConfig, shipped.manifest["config"]
    )
    assert guided.manifest["inputs"] == shipped.manifest["inputs"]
    for a, b in zip(jax.tree.leaves(guided.params), jax.tree.leaves(shipped.params), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="exactly one of"):
        export_local_command(tmp_path / "x")
    with pytest.raises(ConfigError, match="exactly one of"):
        export_local_command(tmp_path / "x", checkpoint="run", from_artifact=ARTIFACT)
    # a step picks among a run's checkpoints; an artifact holds one (it used to be ignored)
    with pytest.raises(ConfigError, match="--step 5 applies to --checkpoint"):
        export_local_command(tmp_path / "x", from_artifact=ARTIFACT, step="5")


def test_a_re_exported_tick_is_guided_for_the_artifacts_robot(tmp_path) -> None:
    """Guidance keeps `radius + margin` clear; the radius comes from the artifact (recorded, or
    implied by a guided tick), not from the simulator's default robot."""
    import json

    from astra_jax.cli.export import artifact_robot_radius, export_local_command
    from astra_jax.config import ConfigError, RobotConfig
    from astra_jax.demo_nav import ARTIFACT
    from astra_jax.tasks.local_eval import GUIDANCE_MARGIN

    shipped = LocalRuntime(ARTIFACT).manifest
    implied = shipped["config"]["guidance"]["safe_distance"] - GUIDANCE_MARGIN
    assert artifact_robot_radius(shipped) == pytest.approx(implied)
    export_local_command(tmp_path / "plain", from_artifact=ARTIFACT)
    manifest_path = tmp_path / "plain" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["source"]["robot_radius"] == pytest.approx(implied)  # carried over
    manifest["source"]["robot_radius"] = 0.45  # a wider robot than the simulator's default
    manifest_path.write_text(json.dumps(manifest))
    export_local_command(tmp_path / "guided", from_artifact=tmp_path / "plain", guidance_scale=1.0)
    guided = LocalRuntime(tmp_path / "guided").manifest
    assert guided["config"]["guidance"]["safe_distance"] == pytest.approx(0.45 + GUIDANCE_MARGIN)
    assert guided["source"]["robot_radius"] == pytest.approx(0.45)
    unrecorded = {"source": {}, "config": {"guidance": None}}
    assert artifact_robot_radius(unrecorded) == RobotConfig().radius
    implied = {"source": {}, "config": {"guidance": {"safe_distance": 0.6}}}  # a wider robot
    assert artifact_robot_radius(implied) == pytest.approx(0.6 - GUIDANCE_MARGIN)
    with pytest.raises(ConfigError, match=r"radius -1 \(source.robot_radius\)"):
        artifact_robot_radius({"source": {"robot_radius": -1}, "config": {}})
