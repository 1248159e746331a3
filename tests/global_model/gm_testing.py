"""Helpers shared by the Astra-Global tests: random prompts and tiny transformers models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astra_jax.global_model.config import GlobalModelConfig, tiny_config
from astra_jax.global_model.hf_config import config_to_hf_dict
from astra_jax.global_model.inputs import Prompt

# Large enough that a wrong position scheme moves the logits by ~10 (see the parity note).
HF_INIT_RANGE = 0.3


def image_prompt(
    config: GlobalModelConfig,
    rng: np.random.Generator,
    grids: list[tuple[int, int, int]],
    text: list[int],
) -> Prompt:
    """``<im_start> 30 [<vision_start> image <vision_end>]* text`` with random patches."""
    ids = [1, 30]
    images = []
    for grid in grids:
        t, h, w = grid
        pix = rng.standard_normal((t * h * w, config.vision.patch_dim)).astype(np.float32)
        ids += [config.vision_start_token_id]
        ids += [config.image_token_id] * config.num_image_tokens(grid)
        ids += [config.vision_end_token_id]
        images.append((pix, grid))
    return Prompt(np.asarray(ids + text, np.int32), tuple(images))


def build_hf_model(
    out_dir: Path, tie: bool, seed: int = 0, config: GlobalModelConfig | None = None
):
    """A random transformers Qwen2.5-VL with ``config``'s architecture, saved to ``out_dir``.

    Returns the torch model in eval mode with eager attention.
    """
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    cfg = config or tiny_config()
    cfg = cfg.replace(text=_with_tie(cfg, tie))
    d = config_to_hf_dict(cfg)
    d["text_config"]["initializer_range"] = HF_INIT_RANGE
    d["vision_config"]["initializer_range"] = HF_INIT_RANGE
    for key in ("architectures", "model_type", "dtype"):
        d.pop(key)
    hf_config = Qwen2_5_VLConfig(**d)
    hf_config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(hf_config).eval()
    model.save_pretrained(out_dir)
    return model


def _with_tie(cfg: GlobalModelConfig, tie: bool):
    import dataclasses

    return dataclasses.replace(cfg.text, tie_word_embeddings=tie)
