"""Astra-Global SFT rows: samples tokenized with the chat template and packed to a fixed length.

Each sample becomes one user turn (its images, then its prompt) and one assistant turn (its
answer and ``<|im_end|>``); only the assistant tokens are trained on (answer-only loss).
Samples are packed greedily, in a seeded order, into rows of ``seq_len`` tokens holding at
most ``max_images`` images. Every token carries its sample's segment id (1, 2, ...; 0 is
padding), so attention stays inside a sample, and its M-RoPE position ids restart per
sample. Images are resized to one ``image_hw`` (bicubic), so that every row has the same
static shapes; unused image slots are zeros that no placeholder reads
(``Qwen25VL.embed(row_image_slots=...)``).

A row (numpy, what :class:`PackedRows` yields)::

    input_ids (S,) int32       segment_ids (S,) int32      positions (3, S) int32
    targets (S,) int32         weights (S,) float32        pixel_values (max_images * P, patch_dim) f32

``targets[t]`` is the token after t and ``weights[t]`` is 1 where that token is an answer
token of the same sample.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from astra_jax.data.localization_samples import LocalizationSample, WorldSamples
from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.image_processing import preprocess_image_at
from astra_jax.global_model.positions import mrope_positions
from astra_jax.global_model.tokenizer import ChatTokenizer


@dataclasses.dataclass(frozen=True)
class EncodedSample:
    """One tokenized sample: ``ids`` (L,) int32, ``answer`` (L,) bool (True at the answer's
    tokens), ``positions`` (3, L) int32, and its (world, image id) pairs in prompt order."""

    ids: np.ndarray
    answer: np.ndarray
    positions: np.ndarray
    images: tuple[tuple[int, int], ...]


def image_grid(config: GlobalModelConfig, image_hw: tuple[int, int]) -> tuple[int, int, int]:
    """The (t, h, w) patch grid of an ``image_hw`` image; errors if not a multiple of 28."""
    f = config.vision.image_factor
    h, w = image_hw
    if h % f or w % f or h <= 0 or w <= 0:
        raise ValueError(f"image_hw = {image_hw}: expected positive multiples of {f}")
    return config.image_grid(h, w)


def prompt_ids(
    sample: LocalizationSample,
    tokenizer: ChatTokenizer,
    config: GlobalModelConfig,
    grid: tuple[int, int, int],
) -> np.ndarray:
    """The chat-template ids (L,) int32 of the sample's user turn: its images (each of
    ``grid``), then its prompt, then the assistant's opening."""
    n = len(sample.image_ids)
    content = [{"type": "image"} for _ in range(n)] + [{"type": "text", "text": sample.prompt}]
    ids = tokenizer.encode_chat([{"role": "user", "content": content}], [grid] * n, config)
    return np.asarray(ids, np.int32)


def encode_sample(
    sample: LocalizationSample,
    world: int,
    tokenizer: ChatTokenizer,
    config: GlobalModelConfig,
    grid: tuple[int, int, int],
) -> EncodedSample:
    """Tokenize one sample (chat template, answer-only mask, per-sample M-RoPE ids)."""
    n = len(sample.image_ids)
    prompt = prompt_ids(sample, tokenizer, config, grid)
    answer = np.asarray(tokenizer.encode(sample.answer + "<|im_end|>"), np.int32)
    ids = np.concatenate([prompt, answer]).astype(np.int32)
    mask = np.concatenate([np.zeros(len(prompt), bool), np.ones(len(answer), bool)])
    pos, _ = mrope_positions(
        ids[None], np.ones((1, len(ids)), bool), [grid] * n, config.image_token_id,
        config.vision.spatial_merge_size,
    )  # fmt: skip
    images = tuple((world, int(i)) for i in sample.image_ids)
    return EncodedSample(ids, mask, pos[:, 0].astype(np.int32), images)


def pack(
    encoded: Sequence[EncodedSample], seq_len: int, max_images: int, seed: int
) -> tuple[list[tuple[int, ...]], int]:
    """Rows of sample indices, filled greedily in a seeded order, and the number of samples
    dropped for being longer than ``seq_len`` or showing more than ``max_images`` images."""
    order = np.random.default_rng([seed, 0x9ACC]).permutation(len(encoded))
    rows: list[tuple[int, ...]] = []
    row: list[int] = []
    tokens = images = dropped = 0
    for i in order.tolist():
        e = encoded[i]
        n, k = len(e.ids), len(e.images)
        if n > seq_len or k > max_images:
            dropped += 1
            continue
        if row and (tokens + n > seq_len or images + k > max_images):
            rows.append(tuple(row))
            row, tokens, images = [], 0, 0
        row.append(i)
        tokens += n
        images += k
    if row:
        rows.append(tuple(row))
    return rows, dropped


@dataclasses.dataclass(frozen=True, eq=False)
class PackedRows:
    """A grain random-access source of packed rows over some worlds' samples."""

    worlds: tuple[WorldSamples, ...]
    encoded: tuple[EncodedSample, ...]
    rows: tuple[tuple[int, ...], ...]
    config: GlobalModelConfig
    seq_len: int
    max_images: int
    image_hw: tuple[int, int]

    def __len__(self) -> int:
        return len(self.rows)

    @functools.cached_property
    def _patches_per_image(self) -> int:
        t, h, w = image_grid(self.config, self.image_hw)
        return t * h * w

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one source per split, kept for the run)
    def _patches(self, world: int, image: int) -> np.ndarray:
        image_rgb = self.worlds[world].images[image]
        patches, _ = preprocess_image_at(image_rgb, self.config.vision, self.image_hw)
        return patches

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self.rows):
            raise IndexError(f"row {index} out of range for {len(self.rows)} rows")
        s, p = self.seq_len, self._patches_per_image
        ids = np.full(s, self.config.pad_token_id, np.int32)
        seg = np.zeros(s, np.int32)
        pos = np.zeros((3, s), np.int32)
        answer = np.zeros(s, bool)
        pixels = np.zeros((self.max_images * p, self.config.vision.patch_dim), np.float32)
        t = k = 0
        for j, i in enumerate(self.rows[index]):
            e = self.encoded[i]
            n = len(e.ids)
            ids[t : t + n], seg[t : t + n] = e.ids, j + 1
            pos[:, t : t + n], answer[t : t + n] = e.positions, e.answer
            for world, image in e.images:
                pixels[k * p : (k + 1) * p] = self._patches(world, image)
                k += 1
            t += n
        targets = np.roll(ids, -1)
        same = np.roll(seg, -1) == seg
        weights = (np.roll(answer, -1) & same & (seg > 0)).astype(np.float32)
        weights[-1] = 0.0
        return {
            "input_ids": ids,
            "segment_ids": seg,
            "positions": pos,
            "targets": targets,
            "weights": weights,
            "pixel_values": pixels,
        }


def packed_rows(
    worlds: Sequence[WorldSamples],
    tokenizer: ChatTokenizer,
    config: GlobalModelConfig,
    *,
    seq_len: int,
    max_images: int,
    image_hw: tuple[int, int],
    seed: int,
) -> tuple[PackedRows, int]:
    """Tokenize and pack every sample of ``worlds``; returns the source and the number of
    samples dropped as too long. Raises ValueError when nothing fits."""
    grid = image_grid(config, image_hw)
    encoded = tuple(
        encode_sample(s, w, tokenizer, config, grid)
        for w, ws in enumerate(worlds)
        for s in ws.samples
    )
    rows, dropped = pack(encoded, seq_len, max_images, seed)
    if not rows:
        longest = max((len(e.ids) for e in encoded), default=0)
        raise ValueError(
            f"no sample fits a row of seq_len {seq_len} and {max_images} images (the longest "
            f"sample has {longest} tokens); raise seq_len"
        )
    source = PackedRows(tuple(worlds), encoded, tuple(rows), config, seq_len, max_images, image_hw)
    return source, dropped
