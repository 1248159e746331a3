"""KV-cache decoding vs recomputing the whole sequence, Astra-Global ``small`` config.

Both generate the same 256 greedy tokens after one 112x112 image + chat prompt, in the same
run. The baseline recomputes the full sequence (image included) for every token, padded to
the next multiple of 32 tokens so only a few programs are compiled; all programs are compiled
before timing. Prints the speed-up (goal >= 10x) and, with ``--json``, a one-line summary.

``--train-step`` also times a jitted forward+backward pass of the language-model loss and
reports achieved FLOP/s (XLA's cost analysis) and, on GPUs whose peak is known, the MFU; add
``--train-config qwen2.5-vl-3b`` on an accelerator for the 3B shape (random weights).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.global_model.config import get_config
from astra_jax.global_model.generate import generate, generate_uncached, last_logits
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


def _warm_uncached(model, params, batch, n_new, bucket):
    """Compile the recompute baseline for every padded length it will meet."""
    lengths = {-(-(batch.seq_len + k) // bucket) * bucket for k in range(n_new)}
    for total in sorted(lengths):
        pad = total - batch.seq_len
        ids = np.pad(batch.input_ids, ((0, 0), (pad, 0)))
        mask = np.pad(batch.attention_mask, ((0, 0), (pad, 0)))
        pos = np.pad(batch.positions, ((0, 0), (0, 0), (pad, 0)))
        last_logits(model, params, ids, pos, mask, batch.pixel_values, batch.grid_thw)
    return len(lengths)


def bench_decoding(name: str, n_new: int, bucket: int) -> dict:
    config = get_config(name)
    model, params = config.create(jax.random.key(0))
    batch = _prompt(config)
    sampling = SamplingConfig(max_new_tokens=n_new)
    key = jax.random.key(0)

    jax.block_until_ready(generate(model, params, batch, key, sampling).tokens)  # compile
    t0 = time.perf_counter()
    cached = generate(model, params, batch, key, sampling)
    jax.block_until_ready(cached.tokens)
    t_cached = time.perf_counter() - t0

    programs = _warm_uncached(model, params, batch, n_new, bucket)
    t0 = time.perf_counter()
    uncached = generate_uncached(model, params, batch, key, sampling, bucket=bucket)
    t_uncached = time.perf_counter() - t0

    same = np.asarray(cached.tokens) == uncached.tokens
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
        "tokens_agree": float(same.mean()),
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
    parser.add_argument("--train-step", action="store_true")
    parser.add_argument("--train-config", default="small")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-seq", type=int, default=512)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    r = bench_decoding(args.config, args.new_tokens, args.bucket)
    print(
        f"{r['config']} on {r['device']}: {r['new_tokens']} new tokens after a "
        f"{r['prompt_tokens']}-token prompt"
    )
    print(f"  KV cache    {r['cached_s']:8.3f} s  ({r['cached_tokens_per_s']:8.1f} tok/s)")
    print(f"  recompute   {r['uncached_s']:8.3f} s  ({r['uncached_tokens_per_s']:8.1f} tok/s)")
    print(
        f"  speed-up    {r['speedup']:8.1f}x  (goal >= 10x); tokens agree {r['tokens_agree']:.0%}"
    )
    if args.train_step:
        r.update(bench_train_step(args.train_config, args.train_batch, args.train_seq))
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a (peak unknown)"
        print(
            f"  train step ({r['train_config']}, bf16): {r['train_tokens_per_s']:.0f} tok/s, "
            f"{r['train_tflops_per_s']:.2f} TFLOP/s, MFU {mfu}"
        )
    if args.json:
        print(json.dumps(r, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
