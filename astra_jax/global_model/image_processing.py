"""Images -> normalised patch sequences, as Qwen2-VL's image processor builds them.

1. Resize (bicubic, PIL) so both sides are multiples of ``patch * merge`` (28 px) and the area
   lies in [min_pixels, max_pixels], keeping the aspect ratio (``smart_resize``).
2. Scale to [0, 1] and normalise with the OpenAI CLIP mean and std (per RGB channel).
3. Cut into ``patch`` px squares, repeat the frame ``temporal_patch_size`` times, and flatten
   each patch as (channel, time, row, column), listing patches in merge-block order
   (see ``vision_layout``).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from astra_jax.global_model.config import VisionConfig

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 28 * 28 * 1280


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """Target (height, width): multiples of ``factor`` near the input size, area in range."""
    if min(height, width) <= 0:
        raise ValueError(f"image of {height}x{width} px: expected a non-empty image")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"image of {height}x{width} px: expected an aspect ratio below 200")
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def patchify(image: np.ndarray, config: VisionConfig) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Normalised (H, W, 3) float image -> patches (h * w, patch_dim) and grid (1, h, w).

    H and W must be multiples of ``config.image_factor``.
    """
    p, m, tp = config.patch_size, config.spatial_merge_size, config.temporal_patch_size
    hgt, wid, ch = image.shape
    if hgt % (p * m) or wid % (p * m) or ch != config.in_channels:
        raise ValueError(
            f"image of shape {image.shape}: expected (H, W, {config.in_channels}) with H and W "
            f"multiples of {p * m}"
        )
    gh, gw = hgt // p, wid // p
    x = image.astype(np.float32).transpose(2, 0, 1)  # (C, H, W)
    x = x.reshape(ch, gh // m, m, p, gw // m, m, p)
    x = x.transpose(1, 4, 2, 5, 0, 3, 6)  # (bh, bw, mh, mw, C, ph, pw)
    x = np.broadcast_to(x[:, :, :, :, :, None], (*x.shape[:5], tp, p, p))
    return np.ascontiguousarray(x.reshape(gh * gw, config.patch_dim)), (1, gh, gw)


def preprocess_image(
    image: np.ndarray | Image.Image,
    config: VisionConfig,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    resize: bool = True,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A uint8 RGB image (H, W, 3) -> (patches (N, patch_dim) float32, grid (1, h, w)).

    With ``resize=False`` the image must already have sides that are multiples of 28 px.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    pil = pil.convert("RGB")
    if resize:
        h, w = smart_resize(pil.height, pil.width, config.image_factor, min_pixels, max_pixels)
        if (h, w) != (pil.height, pil.width):
            pil = pil.resize((w, h), resample=Image.Resampling.BICUBIC)
    x = np.asarray(pil, dtype=np.float32) / 255.0
    x = (x - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
    return patchify(x, config)


def preprocess_image_at(
    image: np.ndarray | Image.Image, config: VisionConfig, image_hw: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Like :func:`preprocess_image`, but resized (bicubic) to exactly ``image_hw`` (H, W) px,
    multiples of 28: the fixed size Astra-Global's localization tasks train and answer at."""
    h, w = image_hw
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    pil = pil.convert("RGB").resize((w, h), resample=Image.Resampling.BICUBIC)
    return preprocess_image(pil, config, resize=False)
