"""Depth pre-training of the encoder on the training engine (``astra train encoder``).

One small episode cache (one world per family and split, one episode each) is generated per
module and shared by every test and subprocess through ``ASTRA_DATA_DIR``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import pytest
from checkpoint_probes import checkpoint_names, finalized_steps, last_logged_step
from encoder_data import ENCODER_SMALL_DATA

from astra_jax import experiments
from astra_jax.config import ConfigError
from astra_jax.data import (
    EpisodeCacheError,
    EpisodeDataConfig,
    EpisodeSet,
    ensure_episode_set,
    validate_episode_set,
)
from astra_jax.sim import seeds
from astra_jax.sim.episode import load_episode
from astra_jax.tasks import get_task
from astra_jax.train.precision import Precision

REPO = pathlib.Path(__file__).resolve().parents[2]
SMALL_DATA = ENCODER_SMALL_DATA
TMP_MARKER = ".orbax-checkpoint-tmp"


def small_config() -> Any:
    """``encoder-tiny``'s config with the small data of these tests."""
    config = experiments.get("encoder-tiny").config
    return dataclasses.replace(config, data=config.data.with_overrides(SMALL_DATA))


@pytest.fixture(scope="module")
def data_env(encoder_data_env: dict[str, str]) -> dict[str, str]:
    """The session's small encoder cache (tests/conftest.py), shared with the 3D pre-training."""
    return encoder_data_env


@pytest.fixture
def task(data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The tiny task as ``astra train encoder`` builds it (bfloat16 compute)."""
    for k, v in data_env.items():
        monkeypatch.setenv(k, v)
    return get_task("encoder").create(small_config(), Precision())


def _worlds(source: Any) -> set[tuple[str, int]]:
    out = set()
    for path in source.paths:
        world = load_episode(path, mmap=True).world
        out.add((world["family"], world["seed"]))
    return out


def test_splits_are_disjoint_worlds_of_both_families(task) -> None:
    train_worlds = _worlds(task.source("train"))
    val_worlds = _worlds(task.source("val"))
    assert {f for f, _ in train_worlds} == {f for f, _ in val_worlds} == {"office", "warehouse"}
    assert all(seeds.split_of_seed(s) == "train" for _, s in train_worlds)
    assert all(seeds.split_of_seed(s) == "val" for _, s in val_worlds)
    assert not train_worlds & val_worlds
    # Held-out examples interleave the episodes: the first batch sees every val world.
    val = task.source("val")
    assert sorted(val.table[: len(val.paths), 0]) == list(range(len(val.paths)))


def test_dataset_is_deterministic_and_sharded(task, data_env, tmp_path) -> None:
    a = task.dataset("train", 0, 0, 1)
    b = get_task("encoder").create(small_config(), Precision()).dataset("train", 7, 0, 1)
    assert len(a) == len(b) > 16
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x["rgb"].shape == (3, 32, 32, 3) and x["rgb"].dtype == np.uint8
        assert x["depth"].shape == (3, 32, 32) and x["depth"].dtype == np.float32
        np.testing.assert_array_equal(x["rgb"], y["rgb"])
        np.testing.assert_array_equal(x["depth"], y["depth"])
    # Two processes read disjoint halves that together are the whole split.
    halves = [task.dataset("train", 0, p, 2) for p in (0, 1)]
    assert len(halves[0]) + len(halves[1]) == len(a)
    np.testing.assert_array_equal(halves[1][0]["rgb"], a[1]["rgb"])

    # The simulator regenerates the same bytes in an empty cache.
    office = EpisodeSet(small_config().render_config, "office", "train", 0, 1, 1)
    (first,) = ensure_episode_set(office, pathlib.Path(data_env["ASTRA_DATA_DIR"]))
    (again,) = ensure_episode_set(office, tmp_path / "fresh", report=lambda m: None)
    for name in ("rgb.npy", "depth.npy"):
        assert (first.path / name).read_bytes() == (again.path / name).read_bytes()

    # A damaged cache entry is reported with its path, and left in place.
    broken = tmp_path / "broken"
    shutil.copytree(first.path.parent, broken)
    (broken / first.path.name / "depth.npy").unlink()
    with pytest.raises(EpisodeCacheError, match=r"depth\.npy.*delete .*broken"):
        validate_episode_set(office, broken)
    assert (broken / first.path.name / "rgb.npy").exists()


def test_data_config_overrides() -> None:
    cfg = EpisodeDataConfig().with_overrides("train_worlds=3, families=office")
    assert cfg.train_worlds == 3 and cfg.families == ("office",)
    with pytest.raises(ConfigError, match="ASTRA_ENCODER_DATA"):
        EpisodeDataConfig().with_overrides("worlds=3")
    with pytest.raises(ConfigError, match="families"):
        EpisodeDataConfig().with_overrides("families=castle")
    with pytest.raises(ConfigError, match="frame_stride"):
        EpisodeDataConfig().with_overrides("frame_stride=0")


# ----------------------------------------------------------------------------- exact resume

ARGS = [
    "--preset", "tiny", "--steps", "60", "--checkpoint-every", "20", "--log-every", "1",
    "--batch-size", "32", "--eval-batches", "1", "--ema-decay", "0.9", "--seed", "3",
]  # fmt: skip


class EncoderCLI:
    """``astra train encoder`` in a subprocess, on the module's cache, sharing an XLA cache."""

    def __init__(self, data_env: dict[str, str], cache_dir: pathlib.Path) -> None:
        self.env = {
            **os.environ,
            **data_env,
            "JAX_PLATFORMS": "cpu",
            "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        }

    def command(self, workdir: pathlib.Path, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "astra_jax.cli.train", "encoder", "--workdir", str(workdir),
                "--no-progress", "--json", *args]  # fmt: skip

    def start(self, workdir: pathlib.Path) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(workdir, ARGS), cwd=REPO, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self, workdir: pathlib.Path) -> tuple[dict[str, Any], str]:
        proc = subprocess.run(
            self.command(workdir, ARGS), cwd=REPO, env=self.env,
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert proc.returncode == 0, f"astra train encoder failed:\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _kill_when(proc: subprocess.Popen, condition: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"run ended before the kill point:\n{proc.communicate()}"
        assert time.monotonic() < deadline, "kill point never reached"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def cli(data_env, tmp_path_factory: pytest.TempPathFactory) -> EncoderCLI:
    return EncoderCLI(data_env, tmp_path_factory.mktemp("xla_cache"))


@pytest.fixture(scope="module")
def straight(cli, tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict]:
    """``(workdir, final JSON summary)`` of one uninterrupted 60-step run."""
    workdir = tmp_path_factory.mktemp("straight")
    summary, _ = cli.run(workdir)
    return workdir, summary


def test_short_run_lowers_the_depth_loss(straight, task) -> None:
    workdir, summary = straight
    assert summary["step"] == 60 and summary["num_params"] == 33_048
    lines = [json.loads(s) for s in (workdir / "metrics.jsonl").read_text().splitlines()]
    train_loss = [r["loss"] for r in lines if r["split"] == "train"]
    held_out = [r for r in lines if r["split"] == "eval"]
    assert [r["step"] for r in held_out] == [20, 40, 60]
    # The held-out (val worlds) batch the engine evaluates, at the parameters it starts from
    # (the engine splits PRNGKey(seed) into the parameter key and the training key).
    params = nn.meta.unbox(task.init(jax.random.split(jax.random.PRNGKey(3))[0]))
    first_batch = task.dataset("val", 3, 0, 1).batch(32)[0]
    before = jax.device_get(jax.jit(task.eval_fn)(params, first_batch))
    assert np.mean(train_loss[-5:]) < 0.5 * np.mean(train_loss[:3])
    # One world per family overfits within 60 steps; the best checkpoint (the one the engine
    # keeps as best) must still beat the initial held-out loss and accuracy clearly.
    best = min(held_out, key=lambda r: r["loss"])
    assert best["loss"] < 0.8 * float(before["loss"])
    assert best["accuracy"] > float(before["accuracy"]) + 0.05
    assert summary["best_step"] == best["step"]


# slow: the engine's own test (tests/train/test_train_resume.py) kills between and during saves
# in CI; this one repeats the between-saves case on the encoder task (16 s)
@pytest.mark.slow
def test_sigkill_mid_run_and_restart_resumes_exactly(cli, straight, tmp_path) -> None:
    _, straight = straight
    # Killed between saves: checkpoint 20 is complete, the steps after it are lost. (The
    # engine's own test, tests/train/test_train_resume.py, also kills during a save.)
    killed = tmp_path / "killed"
    proc = cli.start(killed)
    _kill_when(
        proc,
        lambda: (
            last_logged_step(killed) >= 23
            and finalized_steps(killed) == [20]
            and not any(TMP_MARKER in n for n in checkpoint_names(killed))
        ),
    )
    assert finalized_steps(killed) == [20] and last_logged_step(killed) > 20

    resumed, log = cli.run(killed)
    assert "resumed from checkpoint step 20" in log
    assert resumed["resumed_from"] == 20
    assert resumed["step"] == straight["step"]
    assert resumed["loss"] == straight["loss"]
    assert resumed["params_sha256"] == straight["params_sha256"]


# The same steps on a (data=2, fsdp=2, tensor=2) mesh of 8 host devices and on one device.
SHARDED_RUNS = """
import dataclasses, json, os, sys
from astra_jax import experiments
from astra_jax.tasks import get_task
from astra_jax.train import OptimizerConfig, Precision, TrainConfig, train
from astra_jax.train.sharding import MeshSpec
config = experiments.get("encoder-tiny").config
config = dataclasses.replace(config, data=config.data.with_overrides(os.environ["ASTRA_ENCODER_DATA"]))
model = get_task("encoder").create(config, Precision("float32"))
out = {}
for name, mesh in (("one", MeshSpec(data=1)), ("sharded", MeshSpec(data=2, fsdp=2, tensor=2))):
    workdir = f"{sys.argv[1]}/{name}"
    result = train(TrainConfig(
        model="encoder", workdir=workdir, steps=4, batch_size=16, compute_dtype="float32",
        mesh=mesh, fsdp_min_size=1024, checkpoint_every=4, log_every=1, eval_batches=0,
        progress=False, optimizer=OptimizerConfig(warmup_steps=1)), model, report=lambda m: None)
    lines = open(f"{workdir}/metrics.jsonl").read().splitlines()
    out[name] = {"loss": [json.loads(s)["loss"] for s in lines if '"train"' in s],
                 "shardings": result.param_shardings}
print(json.dumps(out))
"""


@pytest.mark.slow  # 45 s; the engine's sharded == unsharded is in tests/train/test_train_sharding
def test_sharded_mesh_gives_the_same_losses(data_env, tmp_path) -> None:
    env = {**os.environ, **data_env, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", SHARDED_RUNS, str(tmp_path)], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    one, sharded = runs["one"], runs["sharded"]
    assert len(one["loss"]) == len(sharded["loss"]) == 4
    np.testing.assert_allclose(sharded["loss"], one["loss"], rtol=1e-5)
    # The ViT kernels really are split: FSDP on the patch embedding, heads over 'tensor'.
    shardings = sharded["shardings"]
    assert "fsdp" in shardings["['lift']['vit']['patch_embed']['kernel']"]
    assert "tensor" in shardings["['lift']['vit']['block0']['attn']['qkv']['kernel']"]
