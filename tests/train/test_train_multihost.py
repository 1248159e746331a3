"""Multi-host: two CPU processes joined by ``jax.distributed`` (2 fake devices each) train on
one (data=2, fsdp=2) mesh, each reading its own data shard; stopping and resuming the
two-process job gives the same parameters as running it straight through."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

ARGS = [
    "--mesh", "data=2,fsdp=2", "--fsdp-min-size", "1024", "--checkpoint-every", "10",
    "--log-every", "5", "--eval-batches", "1", "--warmup-steps", "1", "--decay-steps", "20",
    "--no-progress", "--json",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run_job(workdir, steps: int) -> dict:
    """Both processes of the job; returns process 0's JSON summary."""
    port = _free_port()
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_COORDINATOR_ADDRESS": f"localhost:{port}",
        "JAX_NUM_PROCESSES": "2",
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "astra_jax.cli.train",
                "reference",
                "--workdir",
                str(workdir),
                "--steps",
                str(steps),
                *ARGS,
            ],
            cwd=REPO,
            env={**env, "JAX_PROCESS_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, f"{out}\n{err}"
    assert "params_sha256" not in outputs[1][0]  # only process 0 reports
    return json.loads(outputs[0][0].strip().splitlines()[-1])


@pytest.mark.slow
def test_two_process_job_resumes_exactly(tmp_path):
    straight = _run_job(tmp_path / "straight", 20)
    assert straight["step"] == 20 and straight["mesh"] == {"data": 2, "fsdp": 2, "tensor": 1}
    data_states = sorted(p.name for p in (tmp_path / "straight/checkpoints/20/data").glob("*.json"))
    assert data_states == ["process_0-of-2.json", "process_1-of-2.json"]

    first_half = _run_job(tmp_path / "halves", 10)
    assert first_half["step"] == 10
    resumed = _run_job(tmp_path / "halves", 20)
    assert resumed["resumed_from"] == 10
    assert resumed["params_sha256"] == straight["params_sha256"]
