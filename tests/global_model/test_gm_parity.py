"""Parity with Hugging Face transformers' Qwen2.5-VL (random tiny models, fp32, eager attention).

The transformers models use initializer_range 0.3 in both sub-configs. With the default 0.02
the activations are so small that 1-D positions instead of M-RoPE move the logits by only
~0.007; with 0.3 a wrong position scheme, norm or activation moves them by ~10.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from gm_testing import build_hf_model, image_prompt

from astra_jax.global_model.generate import generate
from astra_jax.global_model.hf_checkpoint import export_hf, import_hf_params
from astra_jax.global_model.inputs import make_batch
from astra_jax.global_model.model import Qwen25VL
from astra_jax.global_model.sampling import SamplingConfig

pytestmark = pytest.mark.parity
TOL = 1e-4
# Two images in one prompt; the first (8x10 patches = 4x5 merged tokens) spans 2x3 windows of
# the tiny config's 2x2 merged tokens, the last column of windows one token wide.
GRIDS = [(1, 8, 10), (1, 4, 6)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{tied: (torch model, config, params, dir)} for tied and untied embeddings."""
    out = {}
    for tie in (True, False):
        path = tmp_path_factory.mktemp(f"qwen25vl_tie_{tie}")
        hf = build_hf_model(path, tie=tie, seed=int(tie))
        config, params = import_hf_params(path)
        assert config.text.tie_word_embeddings == tie
        out[tie] = (hf, config, params, path)
    return out


def _hf_inputs(batch, config):
    import torch

    ids = torch.tensor(np.asarray(batch.input_ids), dtype=torch.long)
    return dict(
        input_ids=ids,
        attention_mask=torch.tensor(np.asarray(batch.attention_mask), dtype=torch.long),
        pixel_values=torch.tensor(np.asarray(batch.pixel_values)),
        image_grid_thw=torch.tensor(batch.grid_thw, dtype=torch.long),
        # Without mm_token_type_ids transformers 5 silently falls back to 1-D positions.
        mm_token_type_ids=(ids == config.image_token_id).long(),
    )


def _hf_logits(hf, batch, config) -> np.ndarray:
    import torch

    hf.model.rope_deltas = None  # transformers caches it across calls
    with torch.no_grad():
        return hf(**_hf_inputs(batch, config)).logits.numpy()


def _ours(config, params, batch, positions=None):
    logits, _ = config.model().apply(
        {"params": params},
        batch.input_ids,
        batch.positions if positions is None else positions,
        batch.attention_mask,
        batch.pixel_values,
        batch.grid_thw,
    )
    return np.asarray(logits)


def _batch(config, seed=0, texts=((40, 41, 42),), grids=(GRIDS,)):
    rng = np.random.default_rng(seed)
    prompts = [image_prompt(config, rng, list(g), list(t)) for g, t in zip(grids, texts)]
    return make_batch(prompts, config)


def test_vision_features_match(models):
    import torch

    hf, config, params, _ = models[False]
    batch = _batch(config)
    ours = config.model().apply(
        {"params": params}, batch.pixel_values, batch.grid_thw, method=Qwen25VL.encode_images
    )
    with torch.no_grad():
        ref = hf.model.visual(
            torch.tensor(batch.pixel_values), grid_thw=torch.tensor(batch.grid_thw)
        ).pooler_output.numpy()
    assert ours.shape == ref.shape == (20 + 6, config.text.hidden_size)
    assert np.abs(np.asarray(ours) - ref).max() <= TOL


def test_vision_blocks_match_on_multi_window_image(models):
    """Every block, window and full attention, on an image spanning 2x3 ragged windows."""
    import torch
    from transformers.vision_utils import get_vision_window_index

    hf, config, params, _ = models[False]
    batch = _batch(config)
    v = config.vision
    grid_t = torch.tensor(batch.grid_thw)
    window_index, cu_windows = get_vision_window_index(
        grid_t, v.spatial_merge_size, v.window_size, v.patch_size
    )
    assert len(cu_windows) - 1 == 6 + 2  # 2x3 windows in the first image, 1x2 in the second
    captured = []
    hooks = [
        blk.register_forward_hook(lambda m, a, out: captured.append(out.detach().numpy()))
        for blk in hf.model.visual.blocks
    ]
    try:
        with torch.no_grad():
            hf.model.visual(torch.tensor(batch.pixel_values), grid_thw=grid_t)
    finally:
        for h in hooks:
            h.remove()
    # transformers runs the blocks in window order; put its outputs back in patch order.
    unit = v.merge_unit
    perm = (window_index.numpy()[:, None] * unit + np.arange(unit)).reshape(-1)

    def ours_blocks(cfg):
        _, state = cfg.model().apply(
            {"params": params},
            batch.pixel_values,
            batch.grid_thw,
            method=Qwen25VL.encode_images,
            mutable=["intermediates"],
        )
        return [np.asarray(b) for b in state["intermediates"]["visual"]["blocks"]]

    blocks = ours_blocks(config)
    assert len(blocks) == len(captured) == v.depth
    for i, (mine, theirs) in enumerate(zip(blocks, captured)):
        ref = np.empty_like(theirs)
        ref[perm] = theirs
        assert np.abs(mine - ref).max() <= TOL, f"vision block {i}"

    # The image really spans several windows: attending over the whole frame in block 0
    # (windows computed but not applied) breaks parity by far.
    unwindowed = config.replace(vision=_all_full_attention(v))
    diff = np.abs(ours_blocks(unwindowed)[0] - _unpermute(captured[0], perm)).max()
    assert diff > 100 * TOL


def _all_full_attention(v):
    import dataclasses

    return dataclasses.replace(v, fullatt_block_indexes=tuple(range(v.depth)))


def _unpermute(x, perm):
    out = np.empty_like(x)
    out[perm] = x
    return out


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_logits_match(models, tie):
    hf, config, params, _ = models[tie]
    batch = _batch(config)
    diff = np.abs(_ours(config, params, batch) - _hf_logits(hf, batch, config)).max()
    assert diff <= TOL


def test_left_padded_batch_matches(models):
    """Two prompts of different lengths and image sizes, left-padded, against transformers."""
    hf, config, params, _ = models[True]
    batch = _batch(
        config,
        texts=((40, 41, 42), tuple(range(50, 63))),
        grids=(GRIDS, [(1, 4, 4)]),
    )
    assert not batch.attention_mask.all()
    ours, ref = _ours(config, params, batch), _hf_logits(hf, batch, config)
    valid = np.asarray(batch.attention_mask)
    assert np.abs(ours[valid] - ref[valid]).max() <= TOL


def test_prefill_positions_match(models):
    hf, config, _, _ = models[True]
    batch = _batch(config, texts=((40, 41), tuple(range(50, 60))), grids=(GRIDS, [(1, 4, 4)]))
    inputs = _hf_inputs(batch, config)
    ref, _ = hf.model.get_rope_index(
        inputs["input_ids"],
        inputs["mm_token_type_ids"],
        image_grid_thw=inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )
    valid = np.asarray(batch.attention_mask)
    np.testing.assert_array_equal(np.asarray(batch.positions)[:, valid], ref.numpy()[:, valid])
    # The images make M-RoPE differ from 1-D positions (h and w ids repeat inside an image).
    assert (np.asarray(batch.positions)[1] != np.asarray(batch.positions)[2]).any()


def test_1d_positions_fail_parity(models):
    """Plain 1-D positions instead of M-RoPE miss the 1e-4 bar by orders of magnitude."""
    hf, config, params, _ = models[False]
    batch = _batch(config)
    seq = batch.seq_len
    one_d = np.broadcast_to(np.arange(seq, dtype=np.int32), (3, 1, seq))
    diff = np.abs(_ours(config, params, batch, one_d) - _hf_logits(hf, batch, config)).max()
    assert diff > 1.0


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_greedy_generation_and_decode_positions_match(models, tie):
    """20 greedy tokens equal transformers' generate, and so do the M-RoPE ids of every step."""
    import torch

    hf, config, params, _ = models[tie]
    batch = _batch(config, seed=3)
    seen = []
    hook = hf.model.language_model.rotary_emb.register_forward_hook(
        lambda m, args, out: seen.append(args[1].detach().numpy().copy())
    )
    hf.model.rope_deltas = None
    try:
        with torch.no_grad():
            ref = hf.generate(
                **_hf_inputs(batch, config),
                max_new_tokens=20,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=config.pad_token_id,
            )
    finally:
        hook.remove()
    ref_tokens = ref[0, batch.seq_len :].numpy()
    out = generate(
        config.model(), params, batch, jax.random.key(0), SamplingConfig(max_new_tokens=20)
    )
    np.testing.assert_array_equal(np.asarray(out.tokens[0]), ref_tokens)

    # Prefill ids, then one (3, 1, 1) id per decode step: t = h = w = previous max + 1.
    np.testing.assert_array_equal(seen[0], np.asarray(batch.positions))
    decode = np.stack([s.reshape(3) for s in seen[1:]])
    assert decode.shape == (19, 3)
    np.testing.assert_array_equal(
        decode, np.repeat(np.asarray(out.fed_positions[0])[:, None], 3, 1)
    )


def test_export_round_trip_loads_in_transformers(models, tmp_path):
    """import -> export -> transformers from_pretrained gives the original logits exactly."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    hf, config, params, _ = models[False]
    out = export_hf(params, config, tmp_path / "exported", max_shard_bytes=200_000)
    assert (out / "model.safetensors.index.json").is_file()  # small shards: really sharded
    config2, params2 = import_hf_params(out)
    assert config2.text == config.text and config2.vision == config.vision
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(params2), strict=True):
        np.testing.assert_array_equal(a, b)
    reloaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        out, attn_implementation="eager"
    ).eval()
    batch = _batch(config)
    with torch.no_grad():
        np.testing.assert_array_equal(
            _hf_logits(reloaded, batch, config), _hf_logits(hf, batch, config)
        )


def test_image_processing_matches_transformers():
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from astra_jax.global_model.config import tiny_config
    from astra_jax.global_model.image_processing import preprocess_image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(100, 130, 3), dtype=np.uint8)
    pix, grid = preprocess_image(image, tiny_config().vision)
    ref = Qwen2VLImageProcessorPil()(images=[Image.fromarray(image)], return_tensors="np")
    assert grid == tuple(ref["image_grid_thw"][0])
    assert np.abs(pix - ref["pixel_values"]).max() <= 1e-5
