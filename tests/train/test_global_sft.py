"""``astra train global-sft`` and ``global-grpo``: Astra-Global SFT on the engine lowers the
answer loss, GRPO from its checkpoint samples, scores and updates the policy with every reward
term logged, and for both a run stopped and resumed equals the straight run bit for bit. One
small data cache (one world per split, 16 tour frames) is made per module and shared through
``ASTRA_DATA_DIR``."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax import experiments
from astra_jax.tasks import get_task
from astra_jax.train.precision import Precision

REPO = pathlib.Path(__file__).resolve().parents[2]
FLAGS = ["--config.data.tour-frames", "16", "--batch-size", "2", "--eval-batches", "1",
         "--log-every", "1", "--seed", "1", "--no-progress", "--json", "--compute-dtype",
         "float32", "--checkpoint-every", "4", "--warmup-steps", "1", "--decay-steps", "8",
         "--learning-rate", "0.003"]  # fmt: skip


def _train(
    env: dict[str, str], workdir: pathlib.Path, steps: int, name: str = "global-sft-tiny",
    flags: list[str] = FLAGS,
) -> dict[str, Any]:  # fmt: skip
    cmd = [sys.executable, "-m", "astra_jax.cli.train", name, "--workdir", str(workdir),
           "--steps", str(steps), *flags]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"astra train {name} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("global_sft")
    env = {**os.environ, "ASTRA_DATA_DIR": str(root / "data"), "JAX_PLATFORMS": "cpu",
           "JAX_COMPILATION_CACHE_DIR": str(root / "xla_cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # fmt: skip
    straight = _train(env, root / "straight", 8)
    _train(env, root / "resumed", 4)
    resumed = _train(env, root / "resumed", 8)
    return {"root": root, "env": env, "straight": straight, "resumed": resumed}


@pytest.fixture(scope="module")
def grpo_runs(runs) -> dict[str, Any]:
    """GRPO from the straight SFT run: 4 steps straight, and 2 + 2 resumed."""
    root, env = runs["root"], runs["env"]
    flags = ["--config.sft.data.tour-frames", "16", "--config.sft-workdir", str(root / "straight"),
             "--config.grpo.group-size", "2", "--config.grpo.max-new-tokens", "12",
             "--config.grpo.seq-len", "512", "--config.grpo.eval-per-task", "1",
             # (uniform groups stay in, the default: the 8-step SFT model's answers all score 0,
             # and with them dropped resume would be tested on weight decay alone)
             "--batch-size", "2", "--log-every", "1", "--seed", "1", "--no-progress", "--json",
             "--compute-dtype", "float32", "--checkpoint-every", "2", "--warmup-steps", "1",
             "--decay-steps", "8", "--learning-rate", "0.003"]  # fmt: skip
    straight = _train(env, root / "grpo_straight", 4, "global-grpo-tiny", flags)
    _train(env, root / "grpo_resumed", 2, "global-grpo-tiny", flags)
    resumed = _train(env, root / "grpo_resumed", 4, "global-grpo-tiny", flags)
    return {"root": root, "straight": straight, "resumed": resumed}


def _metrics(workdir: pathlib.Path, split: str) -> list[dict[str, Any]]:
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("split") == split]


def test_sft_lowers_the_answer_loss(runs) -> None:
    train = _metrics(runs["root"] / "straight", "train")
    first, last = train[0], train[-1]
    assert last["loss"] < 0.9 * first["loss"], (first["loss"], last["loss"])
    assert first["answer_tokens"] > 0 and first["num_tokens"] > first["answer_tokens"]
    evals = _metrics(runs["root"] / "straight", "eval")
    assert [e["step"] for e in evals] == [4, 8] and evals[-1]["loss"] < evals[0]["loss"]


def test_resumed_sft_equals_the_straight_run(runs) -> None:
    straight, resumed = runs["straight"], runs["resumed"]
    assert resumed["resumed_from"] == 4
    assert resumed["params_sha256"] == straight["params_sha256"]
    assert resumed["loss"] == straight["loss"]


def test_eval_global_answers_scores_every_task(runs, capsys) -> None:
    from astra_jax.cli import eval as eval_cli

    os.environ["ASTRA_DATA_DIR"] = str(runs["root"] / "data")
    try:
        argv = ["global-answers", "--checkpoint", str(runs["root"] / "straight"),
                "--per-task", "1", "--json"]  # fmt: skip
        assert eval_cli.main(argv) == 0
    finally:
        del os.environ["ASTRA_DATA_DIR"]
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["step"] == 8 and report["worlds"] == ["small_office:1000000"]
    tasks = report["tasks"]
    assert set(tasks) == {"coarse", "fine", "covisibility", "relative_pose", "landmarks"}
    assert all(t["n"] == 1 and 0.0 <= t["parsed"] <= 1.0 for t in tasks.values())


def test_grpo_samples_scores_and_updates_the_policy(runs, grpo_runs) -> None:
    from astra_jax.tasks.global_rewards import REWARD_TERMS

    train = _metrics(grpo_runs["root"] / "grpo_straight", "train")
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    for r in train:
        # every reward term is its own curve ("nan": no sampled answer had that term)
        assert all(f"reward_{k}" in r for k in REWARD_TERMS)
        assert 0 < r["answer_tokens"] <= 12 and r["kl"] >= 0.0
        assert 0.0 <= r["informative"] <= 1.0  # logged whether or not uniform groups drop
        if r["reward_total"] == 0.0:  # every answer scored 0 (rewards are >= 0): all uniform
            assert r["informative"] == 0.0
    assert train[0]["kl"] == 0.0  # the policy starts at the SFT reference ...
    assert train[-1]["kl"] > 0.0  # ... and moves away from it
    evals = _metrics(grpo_runs["root"] / "grpo_straight", "eval")
    assert [e["step"] for e in evals] == [2, 4]
    assert {"reward", "format", "reward_fine", "reward_landmarks"} <= set(evals[0])
    assert grpo_runs["straight"]["params_sha256"] != runs["straight"]["params_sha256"]


def test_resumed_grpo_equals_the_straight_run(grpo_runs) -> None:
    straight, resumed = grpo_runs["straight"], grpo_runs["resumed"]
    assert resumed["resumed_from"] == 2
    assert resumed["params_sha256"] == straight["params_sha256"]
    assert resumed["loss"] == straight["loss"]


def test_eval_global_answers_reads_a_grpo_run(grpo_runs, capsys) -> None:
    from astra_jax.cli import eval as eval_cli

    os.environ["ASTRA_DATA_DIR"] = str(grpo_runs["root"] / "data")
    try:
        argv = ["global-answers", "--checkpoint", str(grpo_runs["root"] / "grpo_straight"),
                "--step", "latest", "--per-task", "1", "--json"]  # fmt: skip
        assert eval_cli.main(argv) == 0
    finally:
        del os.environ["ASTRA_DATA_DIR"]
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["step"] == 4 and report["worlds"] == ["small_office:1000000"]


@pytest.mark.parametrize("drop", [True, False])
def test_grpo_drops_groups_that_scored_alike_from_the_step(drop) -> None:
    config = experiments.get("global-grpo-tiny").config
    grpo = dataclasses.replace(config.grpo, seq_len=32, max_images=1, group_size=2,
                               drop_uniform_groups=drop)  # fmt: skip
    task = get_task("global-grpo").create(dataclasses.replace(config, grpo=grpo),
                                          Precision("float32"))  # fmt: skip
    params = nn.unbox(task.init(jax.random.key(0)))
    spec = task.batch_spec(1)
    b, s = spec["input_ids"].shape
    ids = np.asarray(jax.random.randint(jax.random.key(1), (b, s), 0, 200), np.int32)
    batch = {k: jnp.zeros(v.shape, v.dtype) for k, v in spec.items()}
    batch |= {"input_ids": jnp.asarray(ids), "targets": jnp.asarray(np.roll(ids, -1, axis=1)),
              "segment_ids": jnp.ones((b, s), jnp.int32),
              "positions": jnp.broadcast_to(jnp.arange(s, dtype=jnp.int32), (b, 3, s)),
              "weights": jnp.ones((b, s), jnp.float32).at[:, -1].set(0.0)}  # fmt: skip
    # one group that scored alike (zero advantages), its policy away from the reference
    batch["ref_logp"] = task._ref_logp(params, batch) + 0.3
    loss, metrics = task.loss_fn(params, batch, jax.random.key(2))
    grads = jax.grad(lambda p: task.loss_fn(p, batch, jax.random.key(2))[0])(params)
    moved = any(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads))
    assert float(metrics["informative"]) == 0.0
    assert (float(loss) == 0.0 and not moved) if drop else (float(loss) > 0.0 and moved)
