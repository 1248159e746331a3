"""Static token layout of the vision tower: patch positions, attention windows and frames.

Image sizes are static under ``jit`` (they fix the number of tokens), so the layout is computed
once per set of grids with numpy and baked into the program as constants.

Patch order. ``pixel_values`` holds the patches of every image in turn, each image frame by
frame, and within a frame in *merge-block order*: the ``m x m`` patches that the merger fuses
into one language-model token are consecutive (m = ``spatial_merge_size``), and these blocks
run row-major over the frame. This is the order of Hugging Face's Qwen2-VL image processor.

Attention groups. A block attends either within windows or within whole frames. Either way
the tokens are split into groups that never see each other. A group is stored as a row of
``indices`` (G, L) into the N patches, padded to the longest group L, with ``lengths`` (G,)
valid entries. ``inverse`` (N,) gives each patch's flat slot ``g * L + l``, so gathering the
(G * L) group outputs at ``inverse`` returns them to patch order. Hugging Face instead permutes
the whole sequence into window order before the blocks and back after the merger; attention
within a group does not depend on the order of its members, so both give the same result.

Windows (Hugging Face's ``get_vision_window_index``): a frame of ``gh/m x gw/m`` merged tokens
is tiled from the top-left corner by squares of ``window_merged`` merged tokens per side; edge
windows are cut short by the frame border.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

GridTHW = tuple[tuple[int, int, int], ...]


@dataclasses.dataclass(frozen=True, eq=False)
class AttentionGroups:
    """Disjoint groups of patches that attend among themselves (see the module docstring)."""

    indices: np.ndarray  # (G, L) int32 patch indices, padded with 0 past lengths[g]
    lengths: np.ndarray  # (G,) int32
    inverse: np.ndarray  # (N,) int32 flat slot g * L + l of each patch

    @property
    def num_groups(self) -> int:
        return int(self.indices.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class VisionLayout:
    """Everything about the patch sequence that depends only on the image grids."""

    hw_positions: np.ndarray  # (N, 2) int32 row and column of each patch in its frame
    windows: AttentionGroups
    frames: AttentionGroups
    num_patches: int


def _check_grids(grid_thw: GridTHW, merge: int) -> None:
    if not grid_thw:
        raise ValueError("image grids: expected at least one (t, h, w) grid")
    for g in grid_thw:
        if len(g) != 3 or any(int(v) <= 0 for v in g):
            raise ValueError(f"image grid {g}: expected (t, h, w) positive integers")
        if g[1] % merge or g[2] % merge:
            raise ValueError(f"image grid {g}: expected h and w divisible by {merge}")


def _groups(members: list[np.ndarray], num_patches: int) -> AttentionGroups:
    lengths = np.array([len(m) for m in members], dtype=np.int32)
    width = int(lengths.max())
    indices = np.zeros((len(members), width), dtype=np.int32)
    inverse = np.full(num_patches, -1, dtype=np.int64)
    for g, m in enumerate(members):
        indices[g, : len(m)] = m
        inverse[m] = g * width + np.arange(len(m))
    if (inverse < 0).any():
        raise AssertionError("attention groups do not cover every patch")
    return AttentionGroups(indices, lengths, inverse.astype(np.int32))


@functools.lru_cache(maxsize=64)
def vision_layout(grid_thw: GridTHW, spatial_merge_size: int, window_merged: int) -> VisionLayout:
    """The layout of the images with grids ``grid_thw`` (patches per axis, per image).

    ``window_merged`` is the window side in merged tokens (``VisionConfig.window_merged``).
    """
    m = spatial_merge_size
    _check_grids(grid_thw, m)
    positions, windows, frames = [], [], []
    offset = 0  # first patch of the current frame
    for t, h, w in grid_thw:
        mh, mw = h // m, w // m
        # Row/column of every patch of one frame, in merge-block order.
        rows = np.arange(h).reshape(mh, m, 1, 1).repeat(mw, 2).repeat(m, 3)
        cols = np.arange(w).reshape(1, 1, mw, m).repeat(mh, 0).repeat(m, 1)
        hw = np.stack([rows.transpose(0, 2, 1, 3), cols.transpose(0, 2, 1, 3)], -1).reshape(-1, 2)
        # Merged token (r, c) of a frame owns patches [unit * (r * mw + c), ... + unit).
        unit = np.arange(m * m)
        r, c = np.meshgrid(np.arange(mh), np.arange(mw), indexing="ij")
        window_of = (r // window_merged) * (-(-mw // window_merged)) + c // window_merged
        for _ in range(t):
            positions.append(hw)
            frames.append(offset + np.arange(h * w))
            for win in range(int(window_of.max()) + 1):
                merged = (r * mw + c)[window_of == win]  # row-major within the window
                windows.append(offset + (merged[:, None] * (m * m) + unit).reshape(-1))
            offset += h * w
    return VisionLayout(
        hw_positions=np.concatenate(positions).astype(np.int32),
        windows=_groups(windows, offset),
        frames=_groups(frames, offset),
        num_patches=offset,
    )
