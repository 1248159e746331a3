"""Fixtures for the training-engine tests: running ``astra train`` in a subprocess."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


class TrainCLI:
    """Starts ``python -m astra_jax.cli.train`` with a shared XLA compilation cache.

    The cache only saves compile time between the subprocesses of a test session; a cached
    executable is the one XLA would compile again.
    """

    def __init__(self, cache_dir: pathlib.Path) -> None:
        self.env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        }

    def command(self, model: str, workdir: pathlib.Path, args: Sequence[str]) -> list[str]:
        return [
            sys.executable, "-m", "astra_jax.cli.train", model,
            "--workdir", str(workdir), "--no-progress", "--json", *args,
        ]  # fmt: skip

    def start(self, model: str, workdir: pathlib.Path, args: Sequence[str]) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(model, workdir, args),
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, model: str, workdir: pathlib.Path, args: Sequence[str], timeout: float = 240
    ) -> tuple[dict[str, Any], str]:
        """Run to completion; ``(final JSON summary, stderr)``. Fails the test on an error."""
        proc = subprocess.run(
            self.command(model, workdir, args),
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, f"astra train failed:\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _train_config(workdir: pathlib.Path, steps: int, **changes: Any) -> Any:
    """A small in-process run of the reference model: checkpoints every 10 steps."""
    from astra_jax.train import OptimizerConfig, TrainConfig

    fields: dict[str, Any] = dict(
        model="reference",
        workdir=str(workdir),
        steps=steps,
        batch_size=16,
        optimizer=OptimizerConfig(warmup_steps=2, decay_steps=30),
        checkpoint_every=10,
        keep_checkpoints=5,
        log_every=5,
        eval_batches=1,
        progress=False,
    )
    return TrainConfig(**{**fields, **changes})


@pytest.fixture(scope="session")
def train_config() -> Any:
    """``train_config(workdir, steps, **changes) -> TrainConfig``."""
    return _train_config


@pytest.fixture(scope="session")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, Any]:
    """``(workdir, TrainResult)`` of 30 uninterrupted steps; checkpoints at 10, 20, 30.

    Tests copy the workdir before changing anything in it.
    """
    from reference_runs import run_reference

    workdir = tmp_path_factory.mktemp("straight")
    return workdir, run_reference(_train_config(workdir, 30), report=lambda m: None)


@pytest.fixture(scope="session")
def train_cli(tmp_path_factory: pytest.TempPathFactory) -> TrainCLI:
    return TrainCLI(tmp_path_factory.mktemp("xla_cache"))
