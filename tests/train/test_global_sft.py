"""``astra train global-sft``: Astra-Global SFT on the engine lowers the answer loss, and a run
stopped and resumed equals the straight run bit for bit. One small data cache (one world per
split, 16 tour frames) is made per module and shared through ``ASTRA_DATA_DIR``."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FLAGS = ["--config.data.tour-frames", "16", "--batch-size", "2", "--eval-batches", "1",
         "--log-every", "1", "--seed", "1", "--no-progress", "--json", "--compute-dtype",
         "float32", "--checkpoint-every", "4", "--warmup-steps", "1", "--decay-steps", "8",
         "--learning-rate", "0.003"]  # fmt: skip


def _train(env: dict[str, str], workdir: pathlib.Path, steps: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "astra_jax.cli.train", "global-sft-tiny", "--workdir",
           str(workdir), "--steps", str(steps), *FLAGS]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"astra train global-sft-tiny failed:\n{proc.stdout}\n{proc.stderr}"
    )
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
