"""``astra model``: Astra-Global configs, Hugging Face checkpoints, tokenizer and generation."""

from __future__ import annotations

from pathlib import Path

from astra_jax.cli._common import emit_json, run


def _config(name: str, hf_dir: str | None):
    from astra_jax.global_model.config import get_config
    from astra_jax.global_model.hf_config import load_hf_config

    return load_hf_config(hf_dir) if hf_dir else get_config(name)


def info(name: str = "tiny", hf_dir: str | None = None, json: bool = False) -> int:
    """Print an Astra-Global config and its parameter counts (shapes only, no weights).

    Args:
        name: config name: tiny, small, qwen2.5-vl-3b or qwen2.5-vl-7b.
        hf_dir: read the config from this Hugging Face directory's config.json instead.
        json: also print a one-line JSON summary as the last line.
    """
    import jax

    from astra_jax.global_model.hf_checkpoint import expected_param_shapes
    from astra_jax.global_model.model import count_params

    config = _config(name, hf_dir)
    shapes = expected_param_shapes(config)
    counts = {
        "total": count_params(shapes),
        "vision": count_params(shapes["visual"]),
        "language": count_params({k: v for k, v in shapes.items() if k != "visual"}),
    }
    t, v = config.text, config.vision
    print(f"{config.name}: {counts['total'] / 1e6:.2f}M parameters")
    print(
        f"  vision   {counts['vision'] / 1e6:8.2f}M  depth {v.depth}, width {v.hidden_size}, "
        f"{v.num_heads} heads, window {v.window_size} px, full attention at "
        f"{list(v.fullatt_block_indexes)}"
    )
    print(
        f"  language {counts['language'] / 1e6:8.2f}M  {t.num_layers} layers, width "
        f"{t.hidden_size}, {t.num_heads} heads / {t.num_kv_heads} KV heads, vocab "
        f"{t.vocab_size}, tied={t.tie_word_embeddings}, mrope {list(t.mrope_section)}"
    )
    if json:
        emit_json({"name": config.name, "params": counts, "devices": len(jax.devices())})
    return 0


def check(hf_dir: str, json: bool = False) -> int:
    """Check a Hugging Face Qwen2.5-VL directory: config, tensor names and shapes (no weights).

    Args:
        hf_dir: directory with config.json and *.safetensors (optionally sharded with an index).
        json: also print a one-line JSON summary as the last line.
    """
    from astra_jax.global_model.hf_checkpoint import check_hf_dir, name_map

    config = check_hf_dir(hf_dir)
    n = len(name_map(config))
    print(f"{hf_dir}: OK, {n} tensors match config {config.name}")
    if json:
        emit_json({"hf_dir": hf_dir, "ok": True, "tensors": n})
    return 0


def export(out: str, name: str = "tiny", seed: int = 0, json: bool = False) -> int:
    """Write a randomly initialised model as a Hugging Face directory (config + safetensors).

    Args:
        out: output directory (must not exist).
        name: config name: tiny or small (trained here; 3B/7B weights come from their owners).
        seed: PRNG seed of the initialisation.
        json: also print a one-line JSON summary as the last line.
    """
    import jax

    from astra_jax.global_model.config import get_config
    from astra_jax.global_model.hf_checkpoint import export_hf
    from astra_jax.global_model.tokenizer import DEFAULT_TOKENIZER

    if name not in ("tiny", "small"):
        raise ValueError(f"--name {name}: expected tiny or small (random init is for our sizes)")
    config = get_config(name)
    _, params = config.create(jax.random.key(seed))
    path = export_hf(params, config, out, extra_files={"tokenizer.json": DEFAULT_TOKENIZER})
    print(f"wrote {path}")
    if json:
        emit_json({"out": str(path), "name": name, "seed": seed})
    return 0


def tokenizer(
    out: str,
    num_texts: int = 5000,
    seed: int = 0,
    vocab_size: int = 2048,
    overwrite: bool = False,
    json: bool = False,
) -> int:
    """Train the byte-level BPE of our small models on the seeded prompt corpus.

    The committed astra_jax/global_model/tokenizer.json is this command with its defaults.

    Args:
        out: where to write tokenizer.json.
        num_texts: prompts in the generated corpus.
        seed: corpus seed.
        vocab_size: BPE vocabulary size (special tokens included).
        overwrite: replace an existing file.
        json: also print a one-line JSON summary as the last line.
    """
    from astra_jax.global_model.prompt_corpus import prompt_corpus
    from astra_jax.global_model.tokenizer import train_bpe, write_tokenizer

    tok = train_bpe(prompt_corpus(num_texts, seed), vocab_size)
    path = write_tokenizer(tok, out, overwrite=overwrite)
    print(f"wrote {path}: {tok.get_vocab_size()} tokens")
    if json:
        emit_json({"out": str(path), "vocab_size": tok.get_vocab_size()})
    return 0


def generate(
    hf_dir: str,
    prompt: str,
    image: list[str] | None = None,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    json: bool = False,
) -> int:
    """Answer one chat prompt with a Hugging Face Qwen2.5-VL directory (weights + tokenizer).

    Args:
        hf_dir: directory with config.json, *.safetensors and tokenizer.json.
        prompt: the user's text.
        image: image files shown before the text, in order.
        max_new_tokens: generation budget.
        temperature: 0 for greedy decoding.
        top_p: nucleus sampling mass.
        seed: sampling seed.
        json: also print a one-line JSON summary as the last line.
    """
    import jax
    import numpy as np
    from PIL import Image

    from astra_jax.global_model.pipeline import ChatPipeline

    images = []
    for f in image or []:
        if not Path(f).is_file():
            raise FileNotFoundError(f"{f}: no such image file")
        images.append(np.asarray(Image.open(f).convert("RGB")))
    pipeline = ChatPipeline.from_hf_dir(hf_dir)
    answer = pipeline.answer(prompt, images, max_new_tokens=max_new_tokens,
                             temperature=temperature, top_p=top_p, rng=jax.random.key(seed))  # fmt: skip
    print(answer.text)
    if json:
        emit_json({"text": answer.text, "tokens": answer.num_tokens})
    return 0


def main(argv: list[str]) -> int:
    commands = {
        "info": info,
        "check": check,
        "export": export,
        "tokenizer": tokenizer,
        "generate": generate,
    }
    return run("astra model", commands, argv)
