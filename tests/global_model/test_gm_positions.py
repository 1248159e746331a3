"""M-RoPE position ids and the vision tower's window/frame layout."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from astra_jax.global_model.positions import mrope_positions
from astra_jax.global_model.vision_layout import vision_layout

IMG = 7


def test_mrope_rules_by_hand():
    # [pad] a b <image 2x3 merged tokens> c  (grid 1 x 4 x 6 patches, merge 2)
    ids = np.array([[0, 5, 6] + [IMG] * 6 + [8]])
    mask = np.array([[False] + [True] * 9])
    pos, nxt = mrope_positions(ids, mask, [(1, 4, 6)], IMG, 2)
    t, h, w = pos[:, 0]
    np.testing.assert_array_equal(t, [0, 0, 1, 2, 2, 2, 2, 2, 2, 5])
    np.testing.assert_array_equal(h, [0, 0, 1, 2, 2, 2, 3, 3, 3, 5])
    np.testing.assert_array_equal(w, [0, 0, 1, 2, 3, 4, 2, 3, 4, 5])
    assert nxt.tolist() == [6]  # text after the image advances by max(2, 3) = 3


def test_mrope_two_images_per_row_and_text_only_rows():
    ids = np.array([[IMG] * 4 + [1] + [IMG] * 2, [1, 2, 3, 4, 5, 6, 0]])
    mask = np.ones_like(ids, bool)
    pos, nxt = mrope_positions(ids, mask, [(1, 4, 4), (1, 2, 4)], IMG, 2)
    np.testing.assert_array_equal(pos[:, 0, :4], [[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1]])
    assert pos[0, 0, 4] == 2 and (pos[:, 0, 5:] == [[3, 3], [3, 3], [3, 4]]).all()
    assert (pos[:, 1] == np.arange(7)).all() and nxt.tolist() == [5, 7]


def test_mrope_rejects_mismatched_images():
    ids = np.array([[1] + [IMG] * 5])
    with pytest.raises(ValueError, match=r"5 image placeholder tokens.*needs 6"):
        mrope_positions(ids, np.ones_like(ids, bool), [(1, 4, 6)], IMG, 2)
    with pytest.raises(ValueError, match="only 0 image grids"):
        mrope_positions(ids, np.ones_like(ids, bool), [], IMG, 2)
    with pytest.raises(ValueError, match="2 image grids"):
        mrope_positions(np.array([[1, 2]]), np.ones((1, 2), bool), [(1, 2, 2), (1, 2, 2)], IMG, 2)


@pytest.mark.parametrize(
    "grids,window",
    [(((1, 8, 10), (1, 4, 6)), 2), (((1, 16, 12),), 4), (((2, 6, 6), (1, 2, 2)), 1)],
)
def test_layout_groups_partition_the_patches(grids, window):
    layout = vision_layout(grids, 2, window)
    n = sum(t * h * w for t, h, w in grids)
    for groups in (layout.windows, layout.frames):
        members = np.concatenate([g[:n_] for g, n_ in zip(groups.indices, groups.lengths)])
        assert sorted(members.tolist()) == list(range(n))
        flat = np.full(groups.indices.size, -1)
        flat[groups.inverse] = np.arange(n)
        np.testing.assert_array_equal(
            flat.reshape(groups.indices.shape)[:, 0], groups.indices[:, 0]
        )
    assert layout.frames.num_groups == sum(t for t, _, _ in grids)
    # Merged 2x2 blocks never straddle windows.
    for g, n_ in zip(layout.windows.indices, layout.windows.lengths):
        assert n_ % 4 == 0 and (g[:n_].reshape(-1, 4) // 4 == (g[:n_:4] // 4)[:, None]).all()


@pytest.mark.parity
@pytest.mark.parametrize(
    "grids,window_px",
    [
        (((1, 8, 10), (1, 4, 6)), 56),
        (((1, 36, 50),), 112),  # a 504x700 px image with the real Qwen2.5-VL window
        (((2, 16, 12), (1, 4, 4)), 112),
    ],
)
def test_layout_matches_transformers(grids, window_px):
    import torch
    from transformers.vision_utils import get_vision_position_ids, get_vision_window_index

    layout = vision_layout(grids, 2, window_px // 2 // 14)
    grid_t = torch.tensor(grids)
    np.testing.assert_array_equal(layout.hw_positions, get_vision_position_ids(grid_t, 2).numpy())
    window_index, cu = get_vision_window_index(grid_t, 2, window_px, 14)
    patches = (window_index.numpy()[:, None] * 4 + np.arange(4)).reshape(-1)
    cu = cu.numpy()
    ref_windows = [sorted(patches[a:b].tolist()) for a, b in itertools.pairwise(cu)]
    ours = [sorted(g[:n].tolist()) for g, n in zip(layout.windows.indices, layout.windows.lengths)]
    assert ours == ref_windows
