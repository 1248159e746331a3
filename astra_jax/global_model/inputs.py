"""Batches of multimodal prompts: left padding, image patches and M-RoPE position ids."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np
from flax import struct

from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.positions import mrope_positions


@struct.dataclass
class ModelInputs:
    """One batch for ``Qwen25VL``: B left-padded rows of S tokens and their images.

    input_ids: (B, S) int32; attention_mask: (B, S) bool (False at padding);
    positions: (3, B, S) int32 M-RoPE ids; pixel_values: (N, patch_dim) float32 patches of all
    images in prompt order, or None; grid_thw: static (t, h, w) of each image.
    """

    input_ids: jax.Array
    attention_mask: jax.Array
    positions: jax.Array
    pixel_values: jax.Array | None = None
    grid_thw: tuple[tuple[int, int, int], ...] = struct.field(pytree_node=False, default=())

    @property
    def batch_size(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.input_ids.shape[1])


@dataclasses.dataclass(frozen=True, eq=False)
class Prompt:
    """One prompt: token ids with each image's placeholders already expanded, and its images.

    ``images`` holds ``(patches (n, patch_dim), grid (t, h, w))`` per image, in the order of the
    placeholder runs (see ``image_processing.preprocess_image`` and ``tokenizer``).
    """

    token_ids: np.ndarray
    images: tuple[tuple[np.ndarray, tuple[int, int, int]], ...] = ()


def make_batch(
    prompts: Sequence[Prompt], config: GlobalModelConfig, pad_to_multiple: int = 1
) -> ModelInputs:
    """Left-pad ``prompts`` to a common length (rounded up to ``pad_to_multiple``) and stack.

    Checks that every image has as many placeholders as merged tokens and that patch widths
    match the vision config; raises ``ValueError`` naming the prompt and image otherwise.
    """
    if not prompts:
        raise ValueError("make_batch: expected at least one prompt")
    if pad_to_multiple <= 0:
        raise ValueError(f"pad_to_multiple = {pad_to_multiple}: expected a positive integer")
    lengths = [len(p.token_ids) for p in prompts]
    if min(lengths) == 0:
        raise ValueError(f"prompt {lengths.index(0)}: expected at least one token")
    seq = -(-max(lengths) // pad_to_multiple) * pad_to_multiple
    ids = np.full((len(prompts), seq), config.pad_token_id, dtype=np.int32)
    mask = np.zeros((len(prompts), seq), dtype=bool)
    patches, grids = [], []
    for row, prompt in enumerate(prompts):
        tokens = np.asarray(prompt.token_ids, dtype=np.int64)
        if tokens.min() < 0 or tokens.max() >= config.text.vocab_size:
            raise ValueError(
                f"prompt {row}: token ids must lie in [0, {config.text.vocab_size}), got "
                f"[{tokens.min()}, {tokens.max()}]"
            )
        n_placeholders = int((tokens == config.image_token_id).sum())
        n_needed = sum(config.num_image_tokens(g) for _, g in prompt.images)
        if n_placeholders != n_needed:
            raise ValueError(
                f"prompt {row}: {n_placeholders} image placeholder tokens but its "
                f"{len(prompt.images)} image(s) need {n_needed}"
            )
        for k, (pix, grid) in enumerate(prompt.images):
            t, h, w = grid
            if np.shape(pix) != (t * h * w, config.vision.patch_dim):
                raise ValueError(
                    f"prompt {row} image {k}: patches of shape {np.shape(pix)}, expected "
                    f"({t * h * w}, {config.vision.patch_dim}) for grid {tuple(grid)}"
                )
            patches.append(np.asarray(pix, np.float32))
            grids.append(tuple(int(v) for v in grid))
        ids[row, seq - len(tokens) :] = tokens
        mask[row, seq - len(tokens) :] = True
    positions, _ = mrope_positions(
        ids, mask, grids, config.image_token_id, config.vision.spatial_merge_size
    )
    return ModelInputs(
        input_ids=ids,
        attention_mask=mask,
        positions=positions,
        pixel_values=np.concatenate(patches) if patches else None,
        grid_thw=tuple(grids),
    )
