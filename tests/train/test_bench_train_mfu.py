"""bench/train_mfu.py: its random batches hold values a real batch could hold, the 3B entry has
the 3B architecture on the small shapes, and a measurement runs both steps end to end."""

from __future__ import annotations

import numpy as np
import pytest
from bench_modules import load_bench

from astra_jax import experiments


@pytest.fixture(scope="module")
def bench():
    return load_bench("train_mfu")


def test_synthetic_sft_batch_is_a_plausible_batch(bench):
    model = experiments.trainable("global-sft-tiny")
    spec = model.batch_spec(3)
    vocab = model.config.model.text.vocab_size
    batch = bench.synthetic_batch(spec, vocab)
    assert {k: (v.shape, v.dtype) for k, v in batch.items()} == {
        k: (s.shape, np.dtype(s.dtype)) for k, s in spec.items()
    }
    ids = batch["input_ids"]
    assert ids.min() >= 0 and ids.max() < vocab and len(np.unique(ids)) > vocab // 2
    assert (batch["segment_ids"] == 1).all()
    np.testing.assert_array_equal(batch["positions"][0, 0], np.arange(spec["positions"].shape[-1]))
    assert 0 < batch["weights"].mean() < 1 and batch["pixel_values"].std() > 0.1
    assert np.count_nonzero(batch["pixel_values"]) == batch["pixel_values"].size


def test_synthetic_local_batch_depths_are_metres_and_masks_mixed(bench):
    model = experiments.trainable("local-tiny")
    batch = bench.synthetic_batch(model.batch_spec(4), 1000)
    assert batch["esdf"].min() >= 0.3 and batch["esdf"].max() <= 5.0
    assert 0 < batch["odom_valid"].mean() < 1
    assert np.isfinite(batch["bev"]).all() and batch["bev"].std() > 0.1


def test_3b_entry_is_the_3b_model_on_small_shapes(bench):
    exp, config = bench.resolve("global-sft-3b")
    base, small = experiments.get("global-sft-base"), experiments.get("global-sft-small")
    assert config.model == base.config.model and config.data == small.config.data
    assert exp.batch_size == small.batch_size and exp.task == "global-sft"


def test_measure_times_baseline_and_engine(bench):
    row = bench.measure("reference-tiny", batch_size=4, repeats=2, baseline=True)
    assert row["engine_flops"] > 0 and row["baseline_flops"] > 0
    assert row["engine_s"] > 0 and row["baseline_s"] > 0
    assert row["engine_memory_gib"] > 0 and row["params"] > 0
    assert 0 < row["engine_mfu"] < 1 and np.isfinite(row["loss"])


def test_attention_switch_reaches_astra_global_only(bench):
    _, config = bench.resolve("global-sft-tiny")
    assert bench.with_attention(config, "cudnn").model.attention_impl == "cudnn"
    assert bench.with_attention(config, None) is config
    _, local = bench.resolve("local-tiny")
    with pytest.raises(SystemExit, match="does not train Astra-Global"):
        bench.with_attention(local, "cudnn")
