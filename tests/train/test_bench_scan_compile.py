"""bench/scan_compile.py: both layouts compile the same model, truncation keeps a valid
Qwen2.5-VL config, and an experiment that does not train Astra-Global is refused."""

from __future__ import annotations

import pytest
from bench_modules import load_bench

from astra_jax import experiments


@pytest.fixture(scope="module")
def bench():
    return load_bench("scan_compile")


def test_truncated_model_keeps_a_full_attention_block(bench):
    config = experiments.get("global-sft-base").config
    model = bench._model_config(config, scan=True, layers=3)
    assert model.scan_layers and model.text.num_layers == 3 and model.vision.depth == 3
    assert model.vision.fullatt_block_indexes == (2,)  # the 3B's first full block is 7


def test_both_layouts_compile_the_same_parameters(bench):
    unrolled = bench.compile_seconds("global-sft-tiny", False, 2, None)
    scanned = bench.compile_seconds("global-sft-tiny", True, 2, None)
    assert unrolled["params"] == scanned["params"] > 0
    assert unrolled["compile_s"] > 0 and scanned["compile_s"] > 0


def test_refuses_an_experiment_without_astra_global(bench):
    with pytest.raises(SystemExit, match="does not train Astra-Global"):
        bench.compile_seconds("reference-tiny", True, 2, None)
