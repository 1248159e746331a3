"""Unit tests of the engine's parts: mesh specs and sharding rules, tasks and experiments, configs,
optimizer, precision, parameter hashing, FLOP/s table and the CLI's error path."""

from __future__ import annotations

import dataclasses
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AbstractMesh, PartitionSpec

from astra_jax import experiments
from astra_jax.cli import train as train_cli
from astra_jax.config import ConfigError
from astra_jax.tasks import get_task
from astra_jax.train import OptimizerConfig, Precision, TrainConfig, perf
from astra_jax.train.fingerprint import params_sha256
from astra_jax.train.optim import learning_rate_schedule, make_optimizer
from astra_jax.train.sharding import LOGICAL_AXES, MESH_AXES, MeshSpec, partition_spec

MESH_2x4x1 = AbstractMesh((2, 4, 1), MESH_AXES)
MESH_2x2x2 = AbstractMesh((2, 2, 2), MESH_AXES)


# ----------------------------------------------------------------------------- mesh, rules


def test_mesh_spec_parse_and_resolve():
    assert MeshSpec.parse("data=2,fsdp=4") == MeshSpec(2, 4, 1)
    assert MeshSpec.parse("") == MeshSpec(-1, 1, 1)
    assert MeshSpec.parse("fsdp=4").resolve(8) == {"data": 2, "fsdp": 4, "tensor": 1}
    assert MeshSpec.parse("data=2,fsdp=-1").resolve(8) == {"data": 2, "fsdp": 4, "tensor": 1}
    for bad in ("model=2", "data=two", "data=2,data=2", "data=-1,fsdp=-1", "data=0", "data"):
        with pytest.raises(ConfigError, match=r"mesh|MeshSpec"):
            MeshSpec.parse(bad)
    with pytest.raises(ConfigError, match="not divisible"):
        MeshSpec.parse("fsdp=3").resolve(8)


def test_fsdp_shards_only_large_params_on_their_largest_free_dim():
    big = partition_spec(("embed", "mlp"), (64, 256), MESH_2x4x1, fsdp_min_size=1024)
    assert big == PartitionSpec(None, "fsdp")  # mlp -> tensor has size 1 here: dropped
    small = partition_spec(("embed", "mlp"), (8, 16), MESH_2x4x1, fsdp_min_size=1024)
    assert small == PartitionSpec(None, None)
    bias = partition_spec(("mlp",), (4096,), MESH_2x4x1, fsdp_min_size=1 << 20)
    assert bias == PartitionSpec(None)
    # Largest dim 30 is not divisible by 4: fsdp goes to the next one that is.
    odd = partition_spec(("embed", "output"), (64, 30), MESH_2x4x1, fsdp_min_size=16)
    assert odd == PartitionSpec("fsdp", None)


def test_tensor_rules_then_fsdp():
    spec = partition_spec(("embed", "mlp"), (64, 256), MESH_2x2x2, fsdp_min_size=16)
    assert spec == PartitionSpec("fsdp", "tensor")
    spec = partition_spec(("mlp", "embed"), (256, 64), MESH_2x2x2, fsdp_min_size=16)
    assert spec == PartitionSpec("tensor", "fsdp")
    unknown = partition_spec(("not_a_rule", None), (64, 64), MESH_2x2x2, fsdp_min_size=1 << 30)
    assert unknown == PartitionSpec(None, None)
    with pytest.raises(ConfigError, match="does not divide"):
        partition_spec(("embed", "mlp"), (64, 255), MESH_2x2x2, fsdp_min_size=16)


def test_repeated_logical_names_only_where_replicated():
    conv = ("spatial", "spatial", "input", "embed")
    spec = partition_spec(conv, (8, 8, 3, 64), MESH_2x2x2, fsdp_min_size=16)
    assert spec == PartitionSpec(None, None, None, "fsdp")  # the largest dim takes fsdp
    with pytest.raises(ConfigError, match="'mlp' names two dimensions"):
        partition_spec(("mlp", "mlp"), (64, 64), MESH_2x2x2, fsdp_min_size=1 << 30)


def test_reference_model_params_carry_known_logical_axes():
    model = experiments.trainable("reference-tiny", Precision())
    boxed = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    leaves = jax.tree.leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert leaves and all(isinstance(x, nn.LogicallyPartitioned) for x in leaves)
    assert all(n in LOGICAL_AXES for x in leaves for n in x.names)
    assert all(x.value.dtype == jnp.float32 for x in leaves)


# ----------------------------------------------------------------------------- registry, configs


def test_task_and_experiment_lookup_errors():
    with pytest.raises(ConfigError, match=r"unknown task 'nope'.*reference"):
        get_task("nope")
    with pytest.raises(ConfigError, match=r"unknown experiment 'reference-huge'.*reference-tiny"):
        experiments.get("reference-huge")
    with pytest.raises(ConfigError, match="preset 'huge'"):
        experiments.for_task("reference", "huge")
    spec = get_task("reference")
    with pytest.raises(ConfigError, match="expected a ReferenceConfig"):
        spec.create(experiments.get("encoder-tiny").config, Precision())
    exp = experiments.get("reference-small")
    assert exp.task == "reference" and exp.preset == "small" and exp.batch_size == 128
    assert set(experiments.names()) >= {"reference-tiny", "encoder-tiny", "encoder-base"}


def test_train_config_validation_and_derived_decay_steps():
    cfg = TrainConfig(model="reference", workdir="w", steps=40)
    assert cfg.optimizer.decay_steps == 40
    with pytest.raises(ConfigError, match=r"TrainConfig\.steps = 0"):
        TrainConfig(model="reference", workdir="w", steps=0)
    with pytest.raises(ConfigError, match="compute_dtype"):
        TrainConfig(model="reference", workdir="w", steps=4, compute_dtype="float8")
    with pytest.raises(ConfigError, match="decay_steps"):
        OptimizerConfig(warmup_steps=10, decay_steps=5)
    other = dataclasses.replace(cfg, optimizer=dataclasses.replace(cfg.optimizer, b2=0.95))
    with pytest.raises(ConfigError, match=r"optimizer\.b2 = 0\.999 \(this run: 0\.95\)"):
        other.check_resumable(cfg.to_json(), "w")
    # Steps, mesh and intervals may change between restarts.
    dataclasses.replace(cfg, steps=80, log_every=1).check_resumable(cfg.to_json(), "w")


# ----------------------------------------------------------------------------- optimizer


def test_warmup_cosine_schedule():
    cfg = OptimizerConfig(learning_rate=1e-2, warmup_steps=10, decay_steps=110, final_lr_ratio=0.1)
    lr = learning_rate_schedule(cfg)
    assert float(lr(0)) == 0.0
    np.testing.assert_allclose(float(lr(5)), 5e-3, rtol=1e-6)
    np.testing.assert_allclose(float(lr(10)), 1e-2, rtol=1e-6)
    np.testing.assert_allclose(float(lr(60)), 0.55e-2, rtol=1e-5)  # half-way down the cosine
    np.testing.assert_allclose(float(lr(110)), 1e-3, rtol=1e-6)


def test_weight_decay_only_on_matrices_and_clipping():
    cfg = OptimizerConfig(learning_rate=0.1, decay_steps=10, weight_decay=0.5, grad_clip_norm=1.0)
    tx = make_optimizer(cfg)
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2,))}
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zero, tx.init(params), params)
    assert float(jnp.abs(updates["bias"]).max()) == 0.0
    assert float(updates["kernel"][0, 0]) == pytest.approx(-0.1 * 0.5)
    clip = optax.clip_by_global_norm(1.0)
    huge = jax.tree.map(lambda p: 100.0 * jnp.ones_like(p), params)
    clipped, _ = clip.update(huge, clip.init(params))
    assert float(optax.tree.norm(clipped)) == pytest.approx(1.0, rel=1e-5)


# ----------------------------------------------------------------------------- precision, hashing


def test_precision_checks_param_dtype():
    Precision().check_params({"w": jnp.zeros((2,), jnp.float32), "i": jnp.zeros((2,), jnp.int32)})
    with pytest.raises(ConfigError, match=r"\['w'\] is bfloat16"):
        Precision().check_params({"w": jnp.zeros((2,), jnp.bfloat16)})


def test_params_sha256_fixed_order_and_sensitive_to_every_bit():
    a = {"b": np.arange(4, dtype=np.float32), "a": {"k": np.ones((2, 2), np.float32)}}
    b = {"a": {"k": np.ones((2, 2), np.float32)}, "b": np.arange(4, dtype=np.float32)}
    assert params_sha256(a) == params_sha256(b)
    flipped = np.arange(4, dtype=np.float32)
    flipped.view(np.uint32)[2] ^= 1
    assert params_sha256({**a, "b": flipped}) != params_sha256(a)
    assert params_sha256({**a, "b": a["b"].astype(np.float64)}) != params_sha256(a)


# ----------------------------------------------------------------------------- MFU


@dataclasses.dataclass
class _FakeDevice:
    device_kind: str


def test_peak_flops_table_env_override_and_cpu_fallback(monkeypatch):
    monkeypatch.delenv("ASTRA_PEAK_FLOPS", raising=False)
    assert perf.peak_flops(_FakeDevice("NVIDIA H100 80GB HBM3")).per_device == 989e12
    assert perf.peak_flops(_FakeDevice("NVIDIA H100 PCIe")).per_device == 756e12
    assert perf.peak_flops(_FakeDevice("TPU v5 lite")).per_device == 197e12
    cpu = perf.peak_flops(jax.devices()[0])
    assert cpu.source == "measured:cpu-matmul" and cpu.shared and cpu.per_device > 1e8
    assert perf.mfu(1e9, 8, 2.0, cpu) == pytest.approx(8 * 2e9 / cpu.per_device)
    monkeypatch.setenv("ASTRA_PEAK_FLOPS", "1e12")
    env = perf.peak_flops(_FakeDevice("anything"))
    assert env.per_device == 1e12 and perf.mfu(1e9, 4, 10.0, env) == pytest.approx(0.01)
    assert perf.mfu(None, 4, 10.0, env) is None


# ----------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "TrainConfig.steps = 0"),
        (["--steps", "5", "--mesh", "data=3"], "needs 3 devices"),
        (["--steps", "5", "--preset", "huge"], "preset 'huge'"),
        (["--steps", "5", "--mesh", "tensor=2,pipeline=2"], "mesh 'tensor=2,pipeline=2'"),
    ],
)
def test_cli_bad_input_is_one_line_error(tmp_path, capsys, args, message):
    code = train_cli.main(["reference", "--workdir", str(tmp_path / "w"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("astra train: error:") and message in err and "\n" not in err


def test_named_config_override_reaches_the_model_and_a_changed_config_is_not_resumed(
    tmp_path, capsys
):
    workdir = str(tmp_path / "w")
    base = ["reference-tiny", "--workdir", workdir, "--steps", "4", "--no-progress", "--json"]
    assert train_cli.main([*base, "--config.depth", "3", "--eval-batches", "0"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = experiments.get("reference-tiny").config
    assert summary["num_params"] == dataclasses.replace(config, depth=3).num_params
    assert summary["num_params"] != config.num_params
    # The same workdir with the default depth: another model config, refused by name.
    assert train_cli.main([*base, "--eval-batches", "0"]) == 2
    err = capsys.readouterr().err
    assert "model_config.depth = 3 (this run: 2)" in err
