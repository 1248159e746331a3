"""M-RoPE position ids of Qwen2.5-VL (temporal, height, width) for a batch of prompts.

Rules (Hugging Face ``Qwen2_5_VLModel.get_rope_index``, images only):

* Text tokens get equal t/h/w ids that count up by one.
* A run of image placeholder tokens is one image of grid (t, h, w) patches, i.e.
  ``t x h/m x w/m`` merged tokens (m = spatial merge size). With ``p`` the next free id, token
  (i, r, c) of the image gets t = p + i, h = p + r, w = p + c.
* The next text token after the image gets id ``p + max(h, w) / m``: an image advances the
  position by its longer side in merged tokens, not by its token count.
* Left padding is skipped: ids start at 0 on each row's first real token; padding gets 0.

After the prompt, every generated token takes the row's largest id so far plus one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mrope_positions(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    image_grids: Sequence[tuple[int, int, int]],
    image_token_id: int,
    spatial_merge_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Position ids (3, B, S) int32 and each row's next id (B,) int32.

    ``image_grids`` are the (t, h, w) patch grids of the images in the order their placeholder
    runs appear, row by row. Raises ``ValueError`` when a run's length does not match its
    image's token count or the numbers of runs and grids differ.
    """
    input_ids = np.asarray(input_ids)
    attention_mask = np.asarray(attention_mask, dtype=bool)
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"input_ids {input_ids.shape} and attention_mask {attention_mask.shape}: "
            "expected the same (batch, sequence) shape"
        )
    m = spatial_merge_size
    b, s = input_ids.shape
    positions = np.zeros((3, b, s), dtype=np.int64)
    next_position = np.zeros((b,), dtype=np.int64)
    grids = iter(image_grids)
    used = 0
    for row in range(b):
        real = np.flatnonzero(attention_mask[row])
        is_image = input_ids[row, real] == image_token_id
        pos = np.zeros((3, len(real)), dtype=np.int64)
        p, i = 0, 0
        while i < len(real):
            j = i
            while j < len(real) and is_image[j] == is_image[i]:
                j += 1
            if not is_image[i]:
                pos[:, i:j] = p + np.arange(j - i)
                p += j - i
            else:
                grid = next(grids, None)
                if grid is None:
                    raise ValueError(
                        f"row {row}: image placeholder run at token {real[i]} but only "
                        f"{used} image grids were given"
                    )
                used += 1
                gt, gh, gw = (int(v) for v in grid)
                tt, hh, ww = np.meshgrid(
                    np.arange(gt), np.arange(gh // m), np.arange(gw // m), indexing="ij"
                )
                if j - i != tt.size:
                    raise ValueError(
                        f"row {row}: {j - i} image placeholder tokens at token {real[i]}, but "
                        f"image {used - 1} of grid {tuple(grid)} needs {tt.size}"
                    )
                pos[:, i:j] = p + np.stack([tt.ravel(), hh.ravel(), ww.ravel()])
                p += max(gh, gw) // m
            i = j
        positions[:, row, real] = pos
        next_position[row] = pos.max() + 1 if pos.size else 0
    if next(grids, None) is not None:
        raise ValueError(f"{used} image placeholder runs but {len(image_grids)} image grids")
    return positions.astype(np.int32), next_position.astype(np.int32)
