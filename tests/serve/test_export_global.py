"""Astra-Global's exported prefill and decode: the Flax-free runtime's greedy generation equals
the in-process KV-cache generation, for prompts with and without images, of any length."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import pytest

from astra_jax.global_model.config import tiny_config, with_own_tokenizer
from astra_jax.global_model.generate import generate
from astra_jax.global_model.image_processing import preprocess_image_at
from astra_jax.global_model.inputs import Prompt, make_batch
from astra_jax.global_model.sampling import SamplingConfig
from astra_jax.global_model.tokenizer import ChatTokenizer
from astra_jax.serve.artifact import ArtifactError
from astra_jax.serve.export_global import export_global
from astra_jax.serve.runtime import GlobalRuntime, LocalRuntime

IMAGE_HW = (56, 56)
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    config = with_own_tokenizer(tiny_config())
    _, params = config.create(jax.random.key(7))
    # noise on every weight (N(0, 0.12)): the fresh init greedily repeats one token, which
    # would make the comparison weak; this model writes varied sequences
    leaves, tree = jax.tree.flatten(nn.unbox(params))
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(
        tree,
        [
            x + 0.12 * jax.random.normal(k, x.shape, x.dtype)
            for x, k in zip(leaves, keys, strict=True)
        ],
    )
    out = tmp_path_factory.mktemp("global") / "artifact"
    manifest = export_global(config, params, out, image_hw=IMAGE_HW, image_counts=(0, 1),
                             max_len=256)  # fmt: skip
    return config, params, out, manifest


def _prompt(config, text: str, images: list[np.ndarray]) -> Prompt:
    tok = ChatTokenizer.from_file()
    processed = [preprocess_image_at(im, config.vision, IMAGE_HW) for im in images]
    content = [{"type": "image"} for _ in processed] + [{"type": "text", "text": text}]
    ids = tok.encode_chat([{"role": "user", "content": content}], [g for _, g in processed],
                          config)  # fmt: skip
    return Prompt(ids, tuple(processed))


def test_exported_generation_equals_the_in_process_one(model) -> None:
    config, params, artifact, manifest = model
    assert set(manifest["functions"]) == {"prefill_0img", "prefill_1img", "decode"}
    runtime = GlobalRuntime(artifact)
    image = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    cases = [
        ("where am I?", [image], 16),
        ("a text goal: print a document, please", [], 16),
        ("where am I?", [image], 64),
    ]  # two lengths: the prompt length is symbolic
    for text, images, pad in cases:
        batch = make_batch([_prompt(config, text, images)], config, pad)
        want = generate(config.model(), params, batch, jax.random.key(0),
                        SamplingConfig(NEW_TOKENS, 0.0, 1.0, (), config.pad_token_id))  # fmt: skip
        tokens, lengths = runtime.generate(
            batch.input_ids,
            batch.positions,
            batch.attention_mask,
            batch.pixel_values,
            len(images),
            NEW_TOKENS,
        )
        np.testing.assert_array_equal(tokens, np.asarray(want.tokens))
        assert len(set(tokens[0].tolist())) > 1  # a real sequence, not one repeated id
        np.testing.assert_array_equal(lengths, np.asarray(want.lengths))
    with pytest.raises(ValueError, match="prefills prompts with"):
        runtime.generate(batch.input_ids, batch.positions, batch.attention_mask,
                         batch.pixel_values, 3, NEW_TOKENS)  # fmt: skip
    with pytest.raises(ValueError, match="cache's 256 slots"):
        runtime.generate(batch.input_ids, batch.positions, batch.attention_mask,
                         batch.pixel_values, 1, 250)  # fmt: skip
    with pytest.raises(ArtifactError, match="model 'astra-global-decoder'"):
        LocalRuntime(artifact)  # the other model's runtime refuses it


def test_artifact_answerer_answers_like_the_in_process_model(model) -> None:
    from astra_jax.global_model.localize import model_answerer
    from astra_jax.serve.global_answerer import artifact_answerer

    config, params, artifact, _ = model
    tok = ChatTokenizer.from_file()
    image = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    requests = [("where am I?", [image]), ("print a document", []), ("and now?", [image[::-1]])]
    ours = artifact_answerer(GlobalRuntime(artifact), tok, max_new_tokens=NEW_TOKENS)(requests)
    theirs = model_answerer(config, params, tok, IMAGE_HW, max_new_tokens=NEW_TOKENS)
    # one request at a time in process too: its batch of three would pad to another length
    assert ours == [theirs([r])[0] for r in requests]
    assert len(set(ours)) == 3  # three different answers: the comparison has teeth
