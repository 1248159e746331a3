"""Generation: KV-cache decoding equals recomputation, batching/padding, stop tokens, sampling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gm_testing import image_prompt

from astra_jax.global_model.config import tiny_config
from astra_jax.global_model.generate import (
    decode_step,
    generate,
    generate_uncached,
    prefill,
)
from astra_jax.global_model.inputs import Prompt, make_batch
from astra_jax.global_model.sampling import SamplingConfig, sample_tokens, top_p_filter

N_NEW = 12


@pytest.fixture(scope="module")
def setup():
    # A large init keeps the random model's logits far from ties, so greedy is well defined.
    config = tiny_config().replace(initializer_range=0.3)
    model, params = config.create(jax.random.key(7))
    rng = np.random.default_rng(1)
    prompts = [
        image_prompt(config, rng, [(1, 8, 6)], [40, 41, 42]),
        Prompt(np.asarray([1, 30, 31, 32, 33], np.int32)),  # text only
        image_prompt(config, rng, [(1, 4, 4), (1, 4, 8)], list(range(50, 65))),
    ]
    return config, model, params, prompts


def _tokens(out) -> np.ndarray:
    return np.asarray(out.tokens)


def test_cached_equals_uncached_token_for_token(setup):
    config, model, params, prompts = setup
    batch = make_batch(prompts[::2], config)
    sampling = SamplingConfig(max_new_tokens=N_NEW)
    cached = generate(model, params, batch, jax.random.key(0), sampling)
    uncached = generate_uncached(model, params, batch, jax.random.key(0), sampling)
    np.testing.assert_array_equal(_tokens(cached), uncached.tokens)
    np.testing.assert_array_equal(np.asarray(cached.fed_positions), uncached.fed_positions)
    assert len(set(_tokens(cached)[0].tolist())) > 1  # not a degenerate constant output


def test_cached_logits_equal_full_forward(setup):
    """Prefill + decode steps give the logits of one full forward over the whole sequence."""
    config, model, params, prompts = setup
    batch = make_batch(prompts[::2], config)
    steps = 3
    logits, cache = prefill(model, params, batch, batch.seq_len + steps)
    got, fed = [logits], []
    for _ in range(steps):
        token = jnp.argmax(got[-1], -1).astype(jnp.int32)
        fed.append((token, np.asarray(cache.next_position)))  # decode_step donates the cache
        logits, cache = decode_step(model, params, token, cache)
        got.append(logits)
    ids = np.concatenate([batch.input_ids, np.stack([t for t, _ in fed], 1)], 1)
    mask = np.concatenate([batch.attention_mask, np.ones((2, steps), bool)], 1)
    new_pos = np.stack([p for _, p in fed], 1)[None].repeat(3, 0)
    pos = np.concatenate([batch.positions, new_pos], 2)
    forward = jax.jit(model.apply, static_argnames="grid_thw")
    full, _ = forward(
        {"params": params}, ids, pos, mask, batch.pixel_values, grid_thw=batch.grid_thw
    )
    full = np.asarray(full)[:, batch.seq_len - 1 :]
    np.testing.assert_allclose(np.stack(got, 1), full, atol=1e-4, rtol=0)


def test_batched_left_padded_rows_equal_single_rows(setup):
    config, model, params, prompts = setup
    sampling = SamplingConfig(max_new_tokens=N_NEW)
    key = jax.random.key(0)
    rows = prompts[:2]  # one image prompt and one text-only prompt, very different lengths
    batched = _tokens(generate(model, params, make_batch(rows, config, 8), key, sampling))
    for row, prompt in enumerate(rows):
        alone = _tokens(generate(model, params, make_batch([prompt], config), key, sampling))
        np.testing.assert_array_equal(batched[row], alone[0], err_msg=f"row {row}")


def test_stop_tokens_end_rows_and_pad(setup):
    config, model, params, prompts = setup
    batch = make_batch(prompts[::2], config)
    free = _tokens(generate(model, params, batch, jax.random.key(0), SamplingConfig(N_NEW)))
    stop = int(free[0, 3])
    first = {r: int(np.flatnonzero(free[r] == stop)[0]) for r in range(2) if stop in free[r]}
    sampling = SamplingConfig(N_NEW, stop_token_ids=(stop,), pad_token_id=config.pad_token_id)
    out = generate(model, params, batch, jax.random.key(0), sampling)
    tokens, lengths = _tokens(out), np.asarray(out.lengths)
    for r in range(2):
        end = first.get(r, N_NEW - 1) + 1
        assert lengths[r] == end
        np.testing.assert_array_equal(tokens[r, :end], free[r, :end])
        assert (tokens[r, end:] == config.pad_token_id).all()
    ref = generate_uncached(model, params, batch, jax.random.key(0), sampling)
    np.testing.assert_array_equal(tokens, ref.tokens)
    np.testing.assert_array_equal(lengths, ref.lengths)


def test_sampled_generation_cached_equals_uncached(setup):
    config, model, params, prompts = setup
    batch = make_batch(prompts[::2], config)
    sampling = SamplingConfig(max_new_tokens=N_NEW, temperature=1.0, top_p=0.9)
    a = generate(model, params, batch, jax.random.key(5), sampling)
    b = generate_uncached(model, params, batch, jax.random.key(5), sampling)
    np.testing.assert_array_equal(_tokens(a), b.tokens)
    greedy = generate(model, params, batch, jax.random.key(5), SamplingConfig(N_NEW))
    assert not np.array_equal(_tokens(a), _tokens(greedy))  # sampling really samples


def test_top_p_keeps_the_nucleus_only():
    probs = np.array([[0.5, 0.3, 0.15, 0.05]])
    logits = jnp.log(jnp.asarray(probs))
    assert np.isfinite(np.asarray(top_p_filter(logits, 0.7))).tolist() == [[1, 1, 0, 0]]
    assert np.isfinite(np.asarray(top_p_filter(logits, 0.5))).tolist() == [[1, 0, 0, 0]]
    assert np.isfinite(np.asarray(top_p_filter(logits, 1.0))).all()
    # Draws follow the renormalised nucleus (0.5, 0.3) / 0.8.
    sampling = SamplingConfig(temperature=1.0, top_p=0.7)
    keys = jax.random.split(jax.random.key(0), 4000)
    draws = np.asarray(jax.vmap(lambda k: sample_tokens(logits, k, sampling))(keys)).ravel()
    assert set(draws.tolist()) <= {0, 1}
    assert abs((draws == 0).mean() - 0.625) < 0.03


def test_banned_tokens_are_never_picked():
    logits = jnp.log(jnp.array([[0.6, 0.3, 0.1]]))
    greedy = SamplingConfig(banned_token_ids=(0,))
    assert int(sample_tokens(logits, jax.random.key(0), greedy)[0]) == 1
    sampling = SamplingConfig(temperature=1.0, banned_token_ids=(0, 2))
    keys = jax.random.split(jax.random.key(1), 200)
    draws = np.asarray(jax.vmap(lambda k: sample_tokens(logits, k, sampling))(keys)).ravel()
    assert set(draws.tolist()) == {1}


def test_sampling_config_rejects_bad_values():
    from astra_jax.config import ConfigError

    bad_values = (dict(max_new_tokens=0), dict(temperature=-1.0), dict(top_p=0.0),
                  dict(banned_token_ids=(-1,)))  # fmt: skip
    for bad in bad_values:
        with pytest.raises(ConfigError):
            SamplingConfig(**bad)


def test_make_batch_rejects_placeholder_mismatch(setup):
    config, _, _, prompts = setup
    p = prompts[0]
    make_batch([Prompt(p.token_ids[:-2].copy(), p.images)], config)  # less text: fine
    ids = p.token_ids.copy()
    ids[np.flatnonzero(ids == config.image_token_id)[0]] = 40
    with pytest.raises(ValueError, match="image placeholder tokens"):
        make_batch([Prompt(ids, p.images)], config)
