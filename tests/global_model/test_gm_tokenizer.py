"""Tokenizer: the committed BPE is what the command makes, Qwen chat template, image pads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astra_jax.global_model.config import SPECIAL_TOKENS, small_config, tiny_config
from astra_jax.global_model.prompt_corpus import prompt_corpus
from astra_jax.global_model.tokenizer import (
    DEFAULT_TOKENIZER,
    ChatTokenizer,
    train_bpe,
    write_tokenizer,
)


@pytest.fixture(scope="module")
def tok():
    return ChatTokenizer.from_file()


def test_committed_tokenizer_is_reproduced_by_the_command(tmp_path):
    """``astra model tokenizer`` with defaults rebuilds the committed file exactly."""
    from astra_jax.cli import model as cli

    out = tmp_path / "tokenizer.json"
    assert cli.main(["tokenizer", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(DEFAULT_TOKENIZER.read_text())
    with pytest.raises(FileExistsError):
        write_tokenizer(train_bpe(["a b"], 300), out)


def test_special_tokens_and_configs_agree(tok):
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.token_id(t) == i
    tok.check_config(tiny_config())
    tok.check_config(small_config())
    assert tok.stop_ids == (2, 0)


def test_chat_template_renders_qwen_format(tok):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": "Which node?"},
            ],
        },
        {"role": "assistant", "content": "Node N3."},
        {"role": "user", "content": "Thanks."},
    ]
    assert tok.render_chat(messages) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        "<|vision_start|><|image_pad|><|vision_end|>Which node?<|im_end|>\n"
        "<|im_start|>assistant\nNode N3.<|im_end|>\n"
        "<|im_start|>user\nThanks.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    system_first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert tok.render_chat(system_first, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    )


def test_encode_chat_expands_each_image(tok):
    config = tiny_config()
    grids = [(1, 8, 10), (1, 4, 4)]
    content = [{"type": "image"}, {"type": "text", "text": "vs"}, {"type": "image"}]
    ids = tok.encode_chat([{"role": "user", "content": content}], grids, config)
    pads = np.flatnonzero(ids == config.image_token_id)
    assert len(pads) == 20 + 4
    runs = np.split(pads, np.flatnonzero(np.diff(pads) > 1) + 1)
    assert [len(r) for r in runs] == [20, 4]
    assert (ids[runs[0][0] - 1], ids[runs[0][-1] + 1]) == (9, 10)  # vision start / end
    with pytest.raises(ValueError, match="2 images but 1 grids"):
        tok.encode_chat([{"role": "user", "content": content}], grids[:1], config)


def test_round_trip_of_corpus_text(tok):
    for text in prompt_corpus(20, seed=9):
        assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("Zürich 東京 ✓")) == "Zürich 東京 ✓"  # byte-level: no unknowns
    assert len(tok.encode("Visible landmarks: L12, L7.")) < len("Visible landmarks: L12, L7.") / 2
