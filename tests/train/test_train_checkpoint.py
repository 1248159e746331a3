"""Checkpoints: a corrupt checkpoint is reported, set aside (nothing deleted) and the previous
one used; keep-last-N plus best-by-metric; a resume with contradicting settings is refused."""

from __future__ import annotations

import hashlib
import pathlib
import shutil

import grain
import jax.numpy as jnp
import numpy as np
import pytest
from reference_runs import run_reference

from astra_jax import experiments
from astra_jax.config import ConfigError
from astra_jax.tasks.reference import TeacherRegressionSource
from astra_jax.train.checkpoint import UNUSABLE_DIR, Checkpointer
from astra_jax.train.data import train_batches


def _tree_digest(root: pathlib.Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_corrupt_checkpoint_is_reported_set_aside_and_previous_used(
    straight_run, train_config, tmp_path
):
    straight_dir, straight = straight_run
    assert straight.checkpoint_steps == [10, 20, 30]
    workdir = tmp_path / "run"
    shutil.copytree(straight_dir, workdir)
    # As if the run had stopped after step 20 and step 20's checkpoint got damaged on disk.
    shutil.rmtree(workdir / "checkpoints" / "30")
    damaged = workdir / "checkpoints" / "20"
    for f in sorted((damaged / "state").rglob("*")):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(b"\x00garbage" * (1 + f.stat().st_size // 8))
    before = _tree_digest(damaged)

    messages: list[str] = []
    resumed = run_reference(train_config(workdir, 30), report=messages.append)

    corrupt_notes = [m for m in messages if "is corrupt" in m]
    assert len(corrupt_notes) == 1 and str(damaged) in corrupt_notes[0]
    assert "previous checkpoint" in corrupt_notes[0]
    assert any("resumed from checkpoint step 10" in m for m in messages)
    assert resumed.resumed_from == 10
    # Nothing deleted: the damaged checkpoint sits, byte for byte, in unusable_checkpoints/.
    (kept,) = (workdir / UNUSABLE_DIR).glob("20.corrupt.*")
    assert _tree_digest(kept) == before
    # Training from step 10 again gives exactly the uninterrupted result.
    assert resumed.params_sha256 == straight.params_sha256
    assert resumed.checkpoint_steps == [10, 20, 30]


def test_resume_with_contradicting_settings_is_refused(straight_run, train_config, tmp_path):
    straight_dir, _ = straight_run
    workdir = tmp_path / "run"
    shutil.copytree(straight_dir, workdir)
    with pytest.raises(ConfigError, match=r"seed = 0 \(this run: 1\)"):
        run_reference(train_config(workdir, 40, seed=1), report=lambda m: None)
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["10", "20", "30"]


def test_finished_run_restarted_reports_its_result(straight_run, train_config, tmp_path):
    straight_dir, straight = straight_run
    workdir = tmp_path / "run"
    shutil.copytree(straight_dir, workdir)
    again = run_reference(train_config(workdir, 30), report=lambda m: None)
    assert again.step == 30 and again.resumed_from == 30
    assert again.params_sha256 == straight.params_sha256
    assert again.loss == straight.loss
    with pytest.raises(ConfigError, match="already at step 30, beyond --steps 20"):
        run_reference(train_config(workdir, 20), report=lambda m: None)


def test_keeps_last_n_and_the_best(tmp_path):
    examples = TeacherRegressionSource(experiments.get("reference-tiny").config, "train", 0)
    iterator = iter(train_batches(grain.MapDataset.source(examples), seed=0, batch_size=4))
    checkpointer = Checkpointer(tmp_path, keep=2)
    losses = {1: 0.5, 2: 0.1, 3: 0.7, 4: 0.9}
    for step, loss in losses.items():
        next(iterator)
        state = {"w": jnp.full((3,), float(step)), "step": jnp.asarray(step)}
        checkpointer.save(step, state, iterator, {"note": "test"}, {"loss": loss})
    checkpointer.wait()
    assert checkpointer.all_steps() == [2, 3, 4]  # the last two, and the best (lowest loss)
    assert checkpointer.best_step() == 2
    restored = checkpointer.restore_latest(
        {"w": jnp.zeros((3,)), "step": jnp.asarray(0)},
        lambda: iter(train_batches(grain.MapDataset.source(examples), seed=0, batch_size=4)),
        lambda saved: None,
    )
    assert restored is not None and restored.step == 4
    np.testing.assert_array_equal(restored.state["w"], np.full((3,), 4.0))
    assert restored.data_iterator.get_state() == iterator.get_state()
    checkpointer.close()


def test_restore_params_best_is_the_lowest_eval_loss(tmp_path):
    """``restore_params(.., "best")`` (``astra eval --step best``, the heads' frozen encoder) ranks
    checkpoints as the trainer does, not by recency."""
    from astra_jax.train.evaluate import restore_params

    examples = TeacherRegressionSource(experiments.get("reference-tiny").config, "train", 0)
    iterator = iter(train_batches(grain.MapDataset.source(examples), seed=0, batch_size=4))
    checkpointer = Checkpointer(tmp_path, keep=2)
    for step, loss in {1: 0.5, 2: 0.1, 3: 0.7}.items():
        next(iterator)
        state = {"params": {"w": jnp.full((3,), float(step))}, "ema_params": {}}
        checkpointer.save(step, state, iterator, {"model_config": None}, {"loss": loss})
    checkpointer.close()
    params, step, _ = restore_params(tmp_path, "best")
    assert step == 2
    np.testing.assert_array_equal(params["w"], np.full((3,), 2.0))
    assert restore_params(tmp_path, "latest")[1] == 3
