"""Sharded training equals unsharded training: 8 fake CPU devices, (data=2, fsdp=4) and
(data=2, fsdp=2, tensor=2) meshes against one device, float32 compute."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: XLA_FLAGS must be set before jax is imported.
SCRIPT = r"""
import json, pathlib, sys
import jax
from astra_jax import experiments
from astra_jax.train import MeshSpec, TrainConfig, train
from astra_jax.train.metrics_log import read_jsonl

assert jax.device_count() == 8, jax.devices()
out = {}
for name, mesh in [("single", "data=1"), ("fsdp", "data=2,fsdp=4"), ("tensor", "data=2,fsdp=2,tensor=2")]:
    cfg = TrainConfig(
        model="reference", workdir=f"{sys.argv[1]}/{name}", steps=5, batch_size=32,
        compute_dtype="float32", mesh=MeshSpec.parse(mesh), fsdp_min_size=1024,
        checkpoint_every=5, log_every=1, eval_batches=1, progress=False,
    )
    model = experiments.trainable("reference-tiny", cfg.precision)
    result = train(cfg, model, report=lambda m: None)
    records = read_jsonl(pathlib.Path(cfg.workdir))
    out[name] = {
        "losses": [r["loss"] for r in records if r["split"] == "train"],
        "eval_loss": result.eval["loss"],
        "mesh": result.mesh,
        "shardings": result.param_shardings,
        "memory": result.compiled_memory_bytes_per_device,
    }
print(json.dumps(out))
"""


def test_sharded_meshes_match_single_device(tmp_path):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    single = runs["single"]
    assert single["mesh"] == {"data": 1, "fsdp": 1, "tensor": 1}
    assert len(single["losses"]) == 5
    for name, mesh in [("fsdp", {"data": 2, "fsdp": 4, "tensor": 1}),
                       ("tensor", {"data": 2, "fsdp": 2, "tensor": 2})]:  # fmt: skip
        run = runs[name]
        assert run["mesh"] == mesh
        np.testing.assert_allclose(run["losses"], single["losses"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(run["eval_loss"], single["eval_loss"], rtol=2e-5)
        # The run really was sharded: big kernels split over fsdp, small params replicated.
        specs = run["shardings"]
        assert "fsdp" in specs["['Dense_1']['kernel']"]
        assert "fsdp" not in specs["['Dense_1']['bias']"]
        assert run["memory"] < single["memory"]
    assert "tensor" in runs["tensor"]["shardings"]["['Dense_1']['kernel']"]
    assert not any("fsdp" in s or "tensor" in s for s in single["shardings"].values())
