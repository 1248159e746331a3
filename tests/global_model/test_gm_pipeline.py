"""Astra-Global's load-to-text pipeline: the one path from a Hugging Face directory to text,
used by ``astra model generate`` and (later) the localization service."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from astra_jax.cli import model as model_cli
from astra_jax.global_model.config import get_config
from astra_jax.global_model.hf_checkpoint import export_hf
from astra_jax.global_model.pipeline import ChatPipeline
from astra_jax.global_model.tokenizer import DEFAULT_TOKENIZER


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    config = get_config("tiny")
    _, params = config.create(jax.random.key(3))
    out = tmp_path_factory.mktemp("gm") / "tiny_hf"
    return export_hf(params, config, out, extra_files={"tokenizer.json": DEFAULT_TOKENIZER})


def test_answer_is_deterministic_and_matches_the_cli(hf_dir, tmp_path, capsys):
    from PIL import Image

    pipeline = ChatPipeline.from_hf_dir(hf_dir)
    image = np.random.default_rng(0).integers(0, 255, (56, 84, 3), dtype=np.uint8)
    a = pipeline.answer("Where is the printer?", [image], max_new_tokens=6)
    b = pipeline.answer("Where is the printer?", [image], max_new_tokens=6)
    assert a == b and 0 < a.num_tokens <= 6
    # sampling follows its key (a random tiny model decodes greedily to one repeated token)
    sampled = [
        pipeline.answer("Where?", [image], max_new_tokens=6, temperature=1.0, rng=jax.random.key(k))
        for k in (1, 1, 2)
    ]
    assert sampled[0] == sampled[1] and sampled[0] != sampled[2]

    path = tmp_path / "query.png"
    Image.fromarray(image).save(path)
    code = model_cli.main(["generate", "--hf-dir", str(hf_dir), "--prompt", "Where is the printer?",
                           "--image", str(path), "--max-new-tokens", "6", "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"text": a.text, "tokens": a.num_tokens}


def test_a_bad_image_is_named(hf_dir):
    pipeline = ChatPipeline.from_hf_dir(hf_dir)
    with pytest.raises(ValueError, match=r"images\[1\]: expected \(H, W, 3\) uint8"):
        pipeline.answer("hi", [np.zeros((28, 28, 3), np.uint8), np.zeros((28, 28), np.uint8)])
