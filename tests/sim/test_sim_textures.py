"""Tiled finishes do not repeat exactly: weathered variants, chosen per tile by a fixed hash."""

from __future__ import annotations

import numpy as np

from astra_jax.sim.atlas import WALL_VARIANTS, Atlas
from astra_jax.sim.mesh import MeshBuilder, variant_of
from astra_jax.sim.textures import wall_tile, weathered


def test_variant_of_is_a_fixed_spread_hash():
    picks = np.array([variant_of(iu, 0, 7, 6) for iu in range(600)])
    assert set(picks.tolist()) == set(range(6))
    counts = np.bincount(picks, minlength=6)
    assert counts.min() > 60  # ~100 each
    # neighbouring tiles differ about 5/6 of the time (a repeat every tile would be 0)
    assert 0.7 < np.mean(picks[1:] != picks[:-1]) < 0.95
    # a fixed function of its arguments (no per-process hash seed), and the salt matters
    assert [variant_of(3, 1, 2, 6) for _ in range(3)] == [variant_of(3, 1, 2, 6)] * 3
    other = np.array([variant_of(iu, 0, 8, 6) for iu in range(600)])
    assert np.mean(other != picks) > 0.7
    assert variant_of(5, 5, 5, 1) == 0


def test_weathered_keeps_the_finish_but_not_the_details():
    tile, _ = wall_tile("paint", "white", 2.7, np.random.default_rng(0))
    a = weathered(tile, np.random.default_rng(1))
    b = weathered(tile, np.random.default_rng(2))
    assert a.shape == tile.shape and a.dtype == np.uint8
    # same colour overall (within a few percent) ...
    np.testing.assert_allclose(a.reshape(-1, 3).mean(0), tile.reshape(-1, 3).mean(0), rtol=0.05)
    # ... but its own wear: the variants differ from the tile and from each other
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.mean() > 2.0 and np.mean(diff.max(-1) > 8) > 0.05
    np.testing.assert_array_equal(a, weathered(tile, np.random.default_rng(1)))


def test_a_long_wall_shows_a_non_repeating_run_of_variants():
    atlas = Atlas("test-world", 0)
    patches, period = atlas.wall_variants("paint", "white", 2.7, 0)
    assert len(patches) == WALL_VARIANTS == len(set(patches))
    mb = MeshBuilder()
    length = 12 * period[0]
    mb.rect((0.0, 0.0, 0.0), (1, 0, 0), (0, 0, 1), length, 2.7, patches, period, salt=11)
    per_quad = np.array([p[0] for p in mb._patch])  # four vertices per quad, one patch
    assert len(per_quad) == 12
    assert len(set(per_quad.tolist())) >= 3
    # shifting the wall by one period does not map the tiles onto themselves (aliasing)
    assert np.mean(per_quad[1:] != per_quad[:-1]) > 0.5
    # the same wall in another world position of the run keeps its tile's variant: anchored
    mb2 = MeshBuilder()
    mb2.rect(
        (period[0], 0.0, 0.0), (1, 0, 0), (0, 0, 1), length - period[0], 2.7, patches, period,
        offset=(period[0], 0.0), salt=11,
    )  # fmt: skip
    np.testing.assert_array_equal([p[0] for p in mb2._patch], per_quad[1:])
    # the unworn tile is not packed: only the variants take atlas space
    atlas.pack()
    assert len(atlas.rects) == WALL_VARIANTS
