"""KV-cache decoding vs recomputing the whole sequence, Astra-Global ``small`` config.

Both generate the same 256 greedy tokens after one 112x112 image + chat prompt, in the same
run, with the same sampling and the same care: each is one compiled program (or a few), run
once untimed to compile, then timed best of ``--repeats`` (3), the two taking turns. Ours is
``generate`` (prefill, then a ``lax.while_loop`` of cached decode steps). The baseline has no
cache: for every token it runs the whole sequence through the model with ``last_logits`` and
picks the token with the same ``_pick`` as ours, inside a ``lax.while_loop``; the sequence sits
right-aligned in a buffer padded to the next multiple of 32 tokens (``--bucket``), one
compiled program per buffer length, so it does not pay for the final length at every step.
XLA hoists the vision tower out of that loop (the image does not change between steps), so the
baseline recomputes every text token each step and the image once per buffer length. The two
must give the same tokens, lengths and fed positions: the bench exits with status 1 and says
where they first differ if not. Prints the speed-up (goal >= 10x) and, with ``--json``, a
one-line summary.

``--train-step`` also times a jitted forward+backward pass of the language-model loss and
reports achieved FLOP/s (XLA's cost analysis) and, on GPUs whose peak is known, the MFU; add
``--train-config qwen2.5-vl-3b`` on an accelerator for the 3B shape (random weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.global_model.config import get_config
from astra_jax.global_model.generate import _pick, generate, last_logits
from astra_jax.global_model.image_processing import preprocess_image
from astra_jax.global_model.inputs import Prompt, make_batch
from astra_jax.global_model.sampling import SamplingConfig
from astra_jax.global_model.tokenizer import ChatTokenizer

# Dense bf16 peak FLOP/s per device kind (vendor data sheets, without sparsity).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}


def _prompt(config):
    tok = ChatTokenizer.from_file()
    image = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    pix, grid = preprocess_image(image, config.vision)
    text = "Here is the landmark map: L1 red sofa, L2 wooden door. Which landmarks are visible?"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    return make_batch([Prompt(tok.encode_chat(messages, [grid], config), ((pix, grid),))], config)


@functools.partial(jax.jit, static_argnames=("model", "grid_thw", "sampling", "length"))
def _recompute_steps(
    model, params, ids, pos, mask, pixel_values, grid_thw, state, start, end, next_pos, rng,
    stop_ids, pad_id, sampling, length,
):  # fmt: skip
    """Recompute-decoding steps ``start`` .. ``end - 1`` in a buffer of ``length`` tokens.

    ``ids`` (B, L0), ``mask``, ``pos`` (3, B, L0) hold the prompt and the tokens fed so far,
    right-aligned; they are left-padded to ``length`` (>= the sequence at step ``end - 1``).
    Step k first appends token k - 1 (rolling the buffer left by one), then runs the whole
    sequence through the model and picks token k from its last logits.
    """
    pad = length - ids.shape[1]
    ids = jnp.pad(ids, ((0, 0), (pad, 0)))
    mask = jnp.pad(mask, ((0, 0), (pad, 0)))
    pos = jnp.pad(pos, ((0, 0), (0, 0), (pad, 0)))

    def append(a, v):
        return jnp.roll(a, -1, axis=-1).at[..., -1].set(v)

    def cond(c):
        k, *_, done, _ = c
        return (k < end) & ~jnp.all(done)

    def body(c):
        k, ids, pos, mask, tokens, fed, done, lengths = c
        feed = k > 0
        prev = tokens[:, jnp.maximum(k - 1, 0)]
        p = (next_pos + k - 1).astype(jnp.int32)  # M-RoPE id at which token k - 1 is fed
        ids = jnp.where(feed, append(ids, prev), ids)
        mask = jnp.where(feed, append(mask, True), mask)
        pos = jnp.where(feed, append(pos, p[None, :]), pos)
        fed = fed.at[:, jnp.where(feed, k - 1, fed.shape[1])].set(p, mode="drop")
        logits = last_logits(model, params, ids, pos, mask, pixel_values, grid_thw)
        token, new_done = _pick(logits, k, done, rng, sampling, stop_ids, pad_id)
        lengths = lengths + (~done).astype(jnp.int32)
        tokens = tokens.at[:, k].set(token)
        return k + 1, ids, pos, mask, tokens, fed, new_done, lengths

    _, ids, pos, mask, *state = jax.lax.while_loop(cond, body, (start, ids, pos, mask, *state))
    return ids, pos, mask, tuple(state)


def generate_recompute(model, params, inputs, rng, sampling: SamplingConfig, bucket: int):
    """Greedy/sampled tokens without a cache, as ``generate`` makes them: (tokens, lengths,
    fed positions, number of compiled buffer lengths). Python only walks the buffer lengths;
    each runs its steps in one jitted ``lax.while_loop``."""
    b, s, n = inputs.batch_size, inputs.seq_len, sampling.max_new_tokens
    stop_ids = jnp.asarray(sampling.stop_token_ids or (-1,), jnp.int32)
    pad_id = jnp.int32(sampling.pad_token_id)
    static = dataclasses.replace(sampling, stop_token_ids=(), pad_token_id=0)  # as generate
    next_pos = jnp.max(jnp.where(inputs.attention_mask, inputs.positions.max(0), -1), 1) + 1
    state = (
        jnp.full((b, n), pad_id, jnp.int32),  # tokens
        jnp.zeros((b, max(n - 1, 0)), jnp.int32),  # fed positions
        jnp.zeros((b,), jnp.bool_),  # done
        jnp.zeros((b,), jnp.int32),  # lengths
    )
    ids, pos, mask = inputs.input_ids, inputs.positions, inputs.attention_mask
    k, programs = 0, 0
    while k < n:
        length = -(-(s + k) // bucket) * bucket  # the sequence at step k holds s + k tokens
        end = min(n, length - s + 1)
        ids, pos, mask, state = _recompute_steps(
            model, params, ids, pos, mask, inputs.pixel_values, inputs.grid_thw, state,
            jnp.int32(k), jnp.int32(end), next_pos, rng, stop_ids, pad_id, static, length,
        )  # fmt: skip
        k, programs = end, programs + 1
    tokens, fed, _, lengths = state
    return tokens, lengths, fed, programs


def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    row, col = (int(v[0]) for v in np.nonzero(a != b))
    return f"row {row}, token {col}: {int(a[row, col])} (KV cache) vs {int(b[row, col])}"


def bench_decoding(name: str, n_new: int, bucket: int, repeats: int = 3) -> dict:
    config = get_config(name)
    model, params = config.create(jax.random.key(0))
    batch = _prompt(config)
    sampling = SamplingConfig(max_new_tokens=n_new)
    key = jax.random.key(0)

    def run_cached():
        out = generate(model, params, batch, key, sampling)
        jax.block_until_ready(out.tokens)
        return out

    def run_recompute():
        *out, programs = generate_recompute(model, params, batch, key, sampling, bucket)
        return (*jax.block_until_ready(out), programs)

    # Each is run once untimed (compilation), then timed best of ``repeats``, taking turns so
    # that both see the same load on a shared machine.
    outputs = {"cached": run_cached(), "uncached": run_recompute()}
    times: dict[str, list[float]] = {"cached": [], "uncached": []}
    for _ in range(repeats):
        for label, run in (("cached", run_cached), ("uncached", run_recompute)):
            t0 = time.perf_counter()
            outputs[label] = run()
            times[label].append(time.perf_counter() - t0)
    t_cached, t_uncached = min(times["cached"]), min(times["uncached"])
    cached = outputs["cached"]  # the last timed runs' outputs are the ones compared
    tokens, lengths, fed, programs = outputs["uncached"]

    ours = {k: np.asarray(getattr(cached, k)) for k in ("tokens", "lengths", "fed_positions")}
    base = {"tokens": np.asarray(tokens), "lengths": np.asarray(lengths),
            "fed_positions": np.asarray(fed)}  # fmt: skip
    mismatches = [k for k in ours if not np.array_equal(ours[k], base[k])]
    if "tokens" in mismatches:
        mismatches[mismatches.index("tokens")] = "tokens (first difference at " + (
            _first_difference(ours["tokens"], base["tokens"]) + ")"
        )
    return {
        "config": name,
        "device": jax.devices()[0].device_kind,
        "prompt_tokens": batch.seq_len,
        "new_tokens": n_new,
        "cached_s": t_cached,
        "uncached_s": t_uncached,
        "cached_tokens_per_s": n_new / t_cached,
        "uncached_tokens_per_s": n_new / t_uncached,
        "speedup": t_uncached / t_cached,
        "uncached_programs": programs,
        "repeats": repeats,
        "cached_runs_s": [round(t, 3) for t in times["cached"]],
        "uncached_runs_s": [round(t, 3) for t in times["uncached"]],
        "tokens_agree": float((ours["tokens"] == base["tokens"]).mean()),
        "mismatches": mismatches,
    }


def bench_train_step(name: str, batch_size: int, seq_len: int, steps: int = 5) -> dict:
    """Forward + backward of next-token cross-entropy on text tokens, bf16 compute."""
    config = get_config(name).replace(dtype="bfloat16")
    model = config.model()
    params = jax.jit(lambda k: config.create(k)[1])(jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (batch_size, seq_len), 20, config.text.vocab_size)
    pos = jnp.broadcast_to(jnp.arange(seq_len, dtype=jnp.int32), (3, batch_size, seq_len))
    mask = jnp.ones((batch_size, seq_len), jnp.bool_)

    def loss(p):
        logits, _ = model.apply({"params": p}, ids, pos, mask)
        logp = jax.nn.log_softmax(logits[:, :-1])
        return -jnp.take_along_axis(logp, ids[:, 1:, None], -1).mean()

    step = jax.jit(jax.value_and_grad(loss))
    compiled = step.lower(params).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", 0.0))
    jax.block_until_ready(compiled(params))
    t0 = time.perf_counter()
    for _ in range(steps):
        out = compiled(params)
    jax.block_until_ready(out)
    dt = (time.perf_counter() - t0) / steps
    kind = jax.devices()[0].device_kind
    peak = next((v for k, v in PEAK_FLOPS.items() if k in kind), None)
    return {
        "train_config": name,
        "train_tokens_per_s": batch_size * seq_len / dt,
        "train_step_s": dt,
        "train_flops_per_step": flops,
        "train_tflops_per_s": flops / dt / 1e12,
        "mfu": flops / dt / peak if peak else None,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--bucket", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; best kept")
    parser.add_argument("--train-step", action="store_true")
    parser.add_argument("--train-config", default="small")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-seq", type=int, default=512)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.bucket < 1 or args.repeats < 1:
        parser.error("--bucket and --repeats must be at least 1")
    r = bench_decoding(args.config, args.new_tokens, args.bucket, args.repeats)
    print(
        f"{r['config']} on {r['device']}: {r['new_tokens']} new tokens after a "
        f"{r['prompt_tokens']}-token prompt"
    )
    print(f"  best of {r['repeats']} timed runs each, taking turns")
    print(f"  KV cache    {r['cached_s']:8.3f} s  ({r['cached_tokens_per_s']:8.1f} tok/s)")
    print(f"  recompute   {r['uncached_s']:8.3f} s  ({r['uncached_tokens_per_s']:8.1f} tok/s)")
    print(
        f"  speed-up    {r['speedup']:8.1f}x  (goal >= 10x); tokens agree {r['tokens_agree']:.0%}"
    )
    if r["mismatches"]:
        print("  MISMATCH: KV cache and recompute disagree: " + "; ".join(r["mismatches"]))
    if args.train_step:
        r.update(bench_train_step(args.train_config, args.train_batch, args.train_seq))
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a (peak unknown)"
        print(
            f"  train step ({r['train_config']}, bf16): {r['train_tokens_per_s']:.0f} tok/s, "
            f"{r['train_tflops_per_s']:.2f} TFLOP/s, MFU {mfu}"
        )
    if args.json:
        print(json.dumps(r, sort_keys=True))
    if r["mismatches"]:
        print(
            "error: the KV-cache and recompute generations differ ("
            + ", ".join(m.split(" ")[0] for m in r["mismatches"])
            + "): the speed-up compares different outputs",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
