"""3D pre-training of the encoder on the training engine (``astra train encoder-3d-tiny``):
its input windows, a short run that lowers the rendering loss, and exact resume."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from encoder_data import DATA_FLAGS, small_task

from astra_jax.local_model.frames import history_indices

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def task(encoder_data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    return small_task("encoder-3d-tiny", encoder_data_env, monkeypatch)


def test_windows_are_the_encoders_inputs_with_relative_odometry(task) -> None:
    source = task.source("train")
    spec = task.batch_spec(1)
    example = source[len(source) - 1]
    assert set(example) == set(spec)
    for key, value in example.items():
        assert value.shape == spec[key].shape[1:] and value.dtype == spec[key].dtype, key
    e, t = (int(v) for v in source.table[len(source) - 1])
    episode = source.paths[e]
    times = np.load(episode / "time.npy")
    frames = history_indices(times, task.config.encoder.local, t)
    np.testing.assert_array_equal(example["images"], np.load(episode / "rgb.npy")[frames])
    np.testing.assert_array_equal(example["depth"], np.load(episode / "depth.npy")[t])
    np.testing.assert_allclose(example["poses"][-1], 0.0, atol=1e-6)  # current frame = origin
    odom = np.load(episode / "odom_pose.npy")[frames]
    moved = np.hypot(*(odom[-1, :2] - odom[0, :2]))
    assert np.hypot(*example["poses"][0, :2]) == pytest.approx(moved, abs=1e-4)
    # every current frame has a full history: the first is past_frames intervals in
    local = task.config.encoder.local
    first = min(int(t) for _, t in source.table)
    assert times[first] - times[0] >= (local.past_frames - 0.5) * local.frame_interval


def _train(env: dict[str, str], workdir: pathlib.Path, steps: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "astra_jax.cli.train", "encoder-3d-tiny", "--workdir",
           str(workdir), "--steps", str(steps), "--batch-size", "8", "--eval-batches", "1",
           "--log-every", "1", "--seed", "4", "--checkpoint-every", "15", "--warmup-steps", "2",
           "--decay-steps", "30", "--no-progress", "--json", *DATA_FLAGS]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (
        f"astra train encoder-3d-tiny failed:\n{proc.stdout}\n{proc.stderr}"
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def env(encoder_data_env, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Subprocess environment: the small cache and one XLA cache (later runs reuse the first
    run's compilation)."""
    root = tmp_path_factory.mktemp("encoder_3d_runs")
    return {**os.environ, **encoder_data_env, "JAX_PLATFORMS": "cpu",
            "JAX_COMPILATION_CACHE_DIR": str(root / "xla_cache"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "ROOT": str(root)}  # fmt: skip


@pytest.fixture(scope="module")
def straight(env) -> tuple[pathlib.Path, dict[str, Any]]:
    """A straight 30-step run: its workdir and summary."""
    workdir = pathlib.Path(env["ROOT"]) / "straight"
    return workdir, _train(env, workdir, 30)


def test_training_lowers_the_rendering_losses(straight) -> None:
    lines = (straight[0] / "metrics.jsonl").read_text().splitlines()
    train = [r for r in map(json.loads, lines) if r.get("split") == "train"]
    for key, factor in (("loss", 0.7), ("depth_l1", 0.8), ("colour_l1", 0.7)):
        first = np.mean([r[key] for r in train[:3]])
        last = np.mean([r[key] for r in train[-5:]])
        assert last < factor * first, (key, first, last)
    evals = [r for r in map(json.loads, lines) if r.get("split") == "eval"]
    assert [r["step"] for r in evals] == [15, 30] and {"abs_rel", "opacity"} <= set(evals[-1])


# slow: two more training subprocesses (~30 s); the engine's exact resume is tested in
# tests/train (test_train_resume.py) for every Trainable alike
@pytest.mark.slow
def test_resumed_run_equals_the_straight_one(env, straight) -> None:
    workdir = pathlib.Path(env["ROOT"]) / "resumed"
    _train(env, workdir, 15)
    resumed = _train(env, workdir, 30)
    straight = straight[1]
    assert resumed["resumed_from"] == 15
    assert resumed["params_sha256"] == straight["params_sha256"]
    assert resumed["loss"] == straight["loss"]
