"""Text generation: a jitted prefill and decode loop over a static-shape KV cache.

``generate`` runs the prompt once (``prefill``: vision tower, all prompt tokens, keys/values
written to the cache) and then one token per ``decode_step`` inside a ``lax.while_loop``, all
in one compiled program. Rows are left-padded to a common length, so every row writes the same
cache slot at each step; a row that has emitted a stop token keeps producing ``pad_token_id``,
and the loop ends early once every row has stopped.

``generate_uncached`` is the reference: it recomputes the whole sequence (images included) for
every new token. It must produce the same tokens; the benchmark compares their speed.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from astra_jax.global_model.inputs import ModelInputs
from astra_jax.global_model.kv_cache import KVCache
from astra_jax.global_model.model import Qwen25VL
from astra_jax.global_model.sampling import SamplingConfig, sample_tokens

Params = dict[str, Any]


@struct.dataclass
class GenerationOutput:
    """tokens: (B, N) generated ids, ``pad_token_id`` after a row's stop token.
    lengths: (B,) tokens generated per row, the stop token included.
    fed_positions: (B, N - 1) M-RoPE id at which generated token i was fed back (step i + 1).
    """

    tokens: jax.Array
    lengths: jax.Array
    fed_positions: jax.Array


@functools.partial(jax.jit, static_argnames=("model", "max_len"))
def prefill(
    model: Qwen25VL, params: Params, inputs: ModelInputs, max_len: int
) -> tuple[jax.Array, KVCache]:
    """Run the prompt into a fresh cache of ``max_len`` slots: last-token logits (B, V), cache."""
    cfg = model.config
    cache = KVCache.zeros(cfg.text, inputs.batch_size, max_len, cfg.jnp_dtype, cfg.scan_layers)
    logits, cache = model.apply(
        {"params": params},
        inputs.input_ids,
        inputs.positions,
        inputs.attention_mask,
        inputs.pixel_values,
        inputs.grid_thw,
        cache=cache,
        last_only=True,
    )
    return logits[:, 0], cache


@functools.partial(jax.jit, static_argnames=("model",), donate_argnames=("cache",))
def decode_step(
    model: Qwen25VL, params: Params, tokens: jax.Array, cache: KVCache
) -> tuple[jax.Array, KVCache]:
    """Feed one token per row (B,) at each row's next M-RoPE position: logits (B, V), cache.

    The input cache is donated (updated in place): use only the returned one afterwards.
    """
    return _decode(model, params, tokens, cache)


def _decode(
    model: Qwen25VL, params: Params, tokens: jax.Array, cache: KVCache
) -> tuple[jax.Array, KVCache]:
    b = tokens.shape[0]
    positions = jnp.broadcast_to(cache.next_position[None, :, None], (3, b, 1))
    logits, cache = model.apply(
        {"params": params},
        tokens[:, None],
        positions,
        jnp.ones((b, 1), jnp.bool_),
        cache=cache,
    )
    return logits[:, 0], cache


def _pick(
    logits: jax.Array,
    step: jax.Array,
    done: jax.Array,
    rng: jax.Array,
    sampling: SamplingConfig,
    stop_ids: jax.Array,
    pad_id: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Token of each row at ``step`` (pad once done) and the updated ``done`` flags."""
    token = sample_tokens(logits, jax.random.fold_in(rng, step), sampling)
    token = jnp.where(done, pad_id, token)
    return token, done | jnp.isin(token, stop_ids)


def generate(
    model: Qwen25VL,
    params: Params,
    inputs: ModelInputs,
    rng: jax.Array,
    sampling: SamplingConfig,
) -> GenerationOutput:
    """Generate up to ``sampling.max_new_tokens`` tokens per row with the KV cache.

    One compiled program per (model, input shapes, max_new_tokens, temperature, top_p); the
    stop and pad ids are runtime values. Token i of every row is drawn with key
    ``fold_in(rng, i)``, so results do not depend on the batch a prompt is in (up to
    floating-point noise).
    """
    stop_ids = jnp.asarray(sampling.stop_token_ids or (-1,), jnp.int32)
    static = dataclasses.replace(sampling, stop_token_ids=(), pad_token_id=0)
    return _generate(model, params, inputs, rng, stop_ids, jnp.int32(sampling.pad_token_id), static)


@functools.partial(jax.jit, static_argnames=("model", "sampling"))
def _generate(
    model: Qwen25VL,
    params: Params,
    inputs: ModelInputs,
    rng: jax.Array,
    stop_ids: jax.Array,
    pad_id: jax.Array,
    sampling: SamplingConfig,
) -> GenerationOutput:
    b, n = inputs.batch_size, sampling.max_new_tokens
    logits, cache = prefill(model, params, inputs, inputs.seq_len + n)
    pick = functools.partial(_pick, rng=rng, sampling=sampling, stop_ids=stop_ids, pad_id=pad_id)
    token, done = pick(logits, jnp.int32(0), jnp.zeros((b,), jnp.bool_))
    tokens = jnp.full((b, n), pad_id, jnp.int32).at[:, 0].set(token)
    fed = jnp.zeros((b, max(n - 1, 0)), jnp.int32)

    def cond(state: tuple) -> jax.Array:
        step, _, done, *_ = state
        return (step < n) & ~jnp.all(done)

    def body(state: tuple) -> tuple:
        step, token, done, tokens, fed, lengths, cache = state
        fed = fed.at[:, step - 1].set(cache.next_position)
        logits, cache = _decode(model, params, token, cache)
        lengths = lengths + (~done).astype(jnp.int32)
        token, done = pick(logits, step, done)
        tokens = tokens.at[:, step].set(token)
        return step + 1, token, done, tokens, fed, lengths, cache

    state = (jnp.int32(1), token, done, tokens, fed, jnp.ones((b,), jnp.int32), cache)
    _, _, _, tokens, fed, lengths, _ = jax.lax.while_loop(cond, body, state)
    return GenerationOutput(tokens=tokens, lengths=lengths, fed_positions=fed)


@functools.partial(jax.jit, static_argnames=("model", "grid_thw"))
def last_logits(
    model: Qwen25VL,
    params: Params,
    input_ids: jax.Array,
    positions: jax.Array,
    attention_mask: jax.Array,
    pixel_values: jax.Array | None,
    grid_thw: tuple,
) -> jax.Array:
    """Logits (B, V) of the last token of a full forward pass without a cache."""
    logits, _ = model.apply(
        {"params": params},
        input_ids,
        positions,
        attention_mask,
        pixel_values,
        grid_thw,
        last_only=True,
    )
    return logits[:, 0]


def generate_uncached(
    model: Qwen25VL,
    params: Params,
    inputs: ModelInputs,
    rng: jax.Array,
    sampling: SamplingConfig,
    bucket: int | None = None,
) -> GenerationOutput:
    """Reference generation without a cache: each token recomputes the whole sequence.

    The sequence so far is left-padded to a static length (the final length, or the next
    multiple of ``bucket`` to skip most padding) so that few programs are compiled.
    """
    b, s, n = inputs.batch_size, inputs.seq_len, sampling.max_new_tokens
    stop_ids = jnp.asarray(sampling.stop_token_ids or (-1,), jnp.int32)
    pad_id = jnp.int32(sampling.pad_token_id)
    ids = np.asarray(inputs.input_ids)
    mask = np.asarray(inputs.attention_mask)
    pos = np.asarray(inputs.positions)
    next_pos = np.where(mask, pos.max(axis=0), -1).max(axis=1) + 1
    tokens = np.full((b, n), sampling.pad_token_id, np.int32)
    fed = np.zeros((b, max(n - 1, 0)), np.int32)
    done = np.zeros((b,), bool)
    lengths = np.zeros((b,), np.int32)
    for step in range(n):
        cur = s + step
        total = cur if bucket is None else -(-cur // bucket) * bucket
        if bucket is None:
            total = s + n - 1
        pad = total - cur
        gen = tokens[:, :step]
        gen_pos = next_pos[:, None] + np.arange(step)[None, :]
        full_ids = np.concatenate([np.zeros((b, pad), np.int32), ids, gen], axis=1)
        full_mask = np.concatenate(
            [np.zeros((b, pad), bool), mask, np.ones((b, step), bool)], axis=1
        )
        full_pos = np.concatenate(
            [
                np.zeros((3, b, pad), np.int32),
                pos,
                np.broadcast_to(gen_pos[None], (3, b, step)).astype(np.int32),
            ],
            axis=2,
        )
        if step:
            fed[:, step - 1] = gen_pos[:, -1]
        logits = last_logits(
            model,
            params,
            full_ids,
            full_pos,
            full_mask,
            inputs.pixel_values,
            inputs.grid_thw,
        )
        token, new_done = _pick(
            logits, jnp.int32(step), jnp.asarray(done), rng, sampling, stop_ids, pad_id
        )
        lengths += ~done
        tokens[:, step] = np.asarray(token)
        done = np.asarray(new_done)
        if done.all():
            break
    return GenerationOutput(tokens=tokens, lengths=lengths, fed_positions=fed)
