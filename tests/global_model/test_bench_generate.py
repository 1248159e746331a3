"""bench/generate.py: its jitted recompute baseline makes generate's tokens, and the bench fails
when the two generations differ."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from bench_modules import load_bench
from gm_testing import image_prompt

from astra_jax.global_model.config import tiny_config
from astra_jax.global_model.generate import generate
from astra_jax.global_model.inputs import Prompt, make_batch
from astra_jax.global_model.sampling import SamplingConfig

N_NEW = 10


@pytest.fixture(scope="module")
def bench():
    return load_bench("generate")


# slow (10 s): test_gm_generate.py's cached-equals-uncached tests check the same equality in CI
@pytest.mark.slow
def test_recompute_baseline_equals_generate(bench):
    # A large init keeps the random model's logits far from ties, so greedy is well defined.
    config = tiny_config().replace(initializer_range=0.3)
    model, params = config.create(jax.random.key(7))
    rng = np.random.default_rng(1)
    prompts = [
        image_prompt(config, rng, [(1, 8, 6)], [40, 41, 42]),
        Prompt(np.asarray([1, 30, 31, 32, 33], np.int32)),  # shorter: left-padded
    ]
    batch = make_batch(prompts, config)
    key = jax.random.key(0)
    free = np.asarray(generate(model, params, batch, key, SamplingConfig(N_NEW)).tokens)
    stop = int(free[0, 3])  # row 0 stops after 4 tokens
    for sampling in (
        SamplingConfig(N_NEW),
        SamplingConfig(N_NEW, stop_token_ids=(stop,), pad_token_id=config.pad_token_id),
    ):
        ours = generate(model, params, batch, key, sampling)
        # bucket 4: the sequence crosses several buffer lengths in N_NEW steps
        tokens, lengths, fed, programs = bench.generate_recompute(
            model, params, batch, key, sampling, bucket=4
        )
        assert programs > 1
        np.testing.assert_array_equal(np.asarray(tokens), np.asarray(ours.tokens))
        np.testing.assert_array_equal(np.asarray(lengths), np.asarray(ours.lengths))
        np.testing.assert_array_equal(np.asarray(fed), np.asarray(ours.fed_positions))
    assert np.asarray(lengths)[0] == 4


def test_bench_exits_non_zero_when_generations_differ(bench, monkeypatch, capsys):
    result = {
        "config": "small", "device": "cpu", "prompt_tokens": 71, "new_tokens": 8,
        "cached_s": 1.0, "uncached_s": 10.0, "cached_tokens_per_s": 8.0,
        "uncached_tokens_per_s": 0.8, "speedup": 10.0, "uncached_programs": 1,
        "tokens_agree": 0.875, "repeats": 1,
        "mismatches": ["tokens (first difference at row 0, token 7: 5 (KV cache) vs 6)"],
    }  # fmt: skip
    monkeypatch.setattr(bench, "bench_decoding", lambda *args: result)
    assert bench.main(["--json"]) == 1
    out = capsys.readouterr()
    assert "MISMATCH" in out.out and "token 7" in out.out
    assert "differ (tokens)" in out.err
    monkeypatch.setitem(result, "mismatches", [])
    assert bench.main([]) == 0
