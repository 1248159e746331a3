"""One axis vocabulary (``astra_jax.nn.axes``) for every model: every parameter axis of every
model has a sharding rule, and Astra-Global's weights really split over ``tensor``."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import flax.linen as nn
import jax
import pytest

from astra_jax import experiments
from astra_jax.global_model import get_config
from astra_jax.global_model.model import logical_axes
from astra_jax.local_model.config import EncoderConfig
from astra_jax.nn.axes import LOGICAL_AXES, LOGICAL_AXIS_RULES

REPO = pathlib.Path(__file__).resolve().parents[2]


def _names_of_boxes(tree) -> set[str]:
    leaves = jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
    assert leaves and all(isinstance(x, nn.LogicallyPartitioned) for x in leaves), "unnamed params"
    return {n for x in leaves for n in x.names if n is not None}


def _names_of_specs(tree) -> set[str]:
    specs = jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
    return {n for spec in specs for n in spec if n is not None}


def _model_axis_names() -> dict[str, set[str]]:
    rng = jax.random.key(0)
    out = {}
    for name in ("reference-tiny", "encoder-tiny", "local-tiny"):
        model = experiments.trainable(name)
        out[name] = _names_of_boxes(jax.eval_shape(model.init, rng))
    for preset in ("tiny", "small"):
        encoder = EncoderConfig(**{k: getattr(experiments.get(f"encoder-{preset}").config.encoder, k)
                                   for k in ("local", "rig")})  # fmt: skip
        module = encoder.module()
        spec = encoder.inputs_spec(1)
        boxed = jax.eval_shape(lambda r, m=module, s=spec: m.init(r, *[jax.numpy.zeros(v.shape, v.dtype) for v in s.values()])["params"], rng)  # fmt: skip
        out[f"local-encoder-{preset}"] = _names_of_boxes(boxed)
        out[f"global-{preset}"] = _names_of_specs(logical_axes(get_config(preset)))
    return out


def test_every_parameter_axis_of_every_model_has_a_rule():
    ruled = {name for name, _ in LOGICAL_AXIS_RULES}
    assert ruled == set(LOGICAL_AXES)
    names = _model_axis_names()
    for model, axes in names.items():
        assert axes, model
        assert axes <= ruled, f"{model}: axes without a sharding rule: {sorted(axes - ruled)}"
    # Astra-Global's attention and MLP are the ones tensor parallelism must split.
    split = {name for name, mesh_axes in LOGICAL_AXIS_RULES if mesh_axes == "tensor"}
    assert {"q_heads", "kv_heads", "mlp", "vit_qkv", "vit_mlp"} <= names["global-tiny"] & split


# Runs in a fresh interpreter: XLA_FLAGS must be set before jax is imported.
GLOBAL_TENSOR_SCRIPT = r"""
import json
import jax, jax.numpy as jnp, numpy as np
from astra_jax.global_model import get_config
from astra_jax.global_model.model import _init_inputs, init_params
from astra_jax.train.sharding import MeshSpec, describe_shardings, make_mesh, tree_shardings

assert jax.device_count() == 8, jax.devices()
config = get_config("tiny")
model = config.model()
inputs = _init_inputs(config)
grid = inputs.pop("grid_thw")
abstract = jax.eval_shape(lambda k: model.init(k, **inputs, grid_thw=grid)["params"], jax.random.key(0))
mesh = make_mesh(MeshSpec.parse("data=4,tensor=2"))
shardings = tree_shardings(abstract, mesh, fsdp_min_size=1 << 40)  # tensor parallelism only
params = init_params(model, jax.random.key(1))
sharded = jax.device_put(params, shardings)
apply = jax.jit(lambda p: model.apply({"params": p}, **inputs, grid_thw=grid)[0])
ref, got = np.asarray(apply(params)), np.asarray(apply(sharded))
specs = describe_shardings(shardings)
split = {k: v for k, v in specs.items() if "tensor" in v}
shard_fraction = {}
for path, leaf in jax.tree_util.tree_flatten_with_path(sharded)[0]:
    key = jax.tree_util.keystr(path)
    if key in split:
        shard_fraction[key] = leaf.addressable_shards[0].data.size / leaf.size
print(json.dumps({"specs": specs, "split": sorted(split), "fractions": shard_fraction,
                  "max_abs_diff": float(np.abs(ref - got).max()), "scale": float(np.abs(ref).max())}))
"""


def test_global_model_weights_split_over_tensor_on_8_devices(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", GLOBAL_TENSOR_SCRIPT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    split = out["split"]
    # every attention projection and MLP of both towers is split, each device holding half
    for part in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        assert any(part in key for key in split), (part, split)
    assert any("qkv" in key for key in split) and any("visual" in key for key in split)
    assert out["fractions"] and all(f == pytest.approx(0.5) for f in out["fractions"].values())
    # the sharded forward pass computes the same logits
    assert out["max_abs_diff"] <= 1e-5 * max(1.0, out["scale"])
