"""Signed ESDF values and signs at known points, and the ego-centric crop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.sim.occupancy import GridSpec, OccupancyMap, local_crop, signed_distance


def _synthetic() -> OccupancyMap:
    """A 10 x 6 m grid at 5 cm with one wall block x in [4, 5), y in [0, 6)."""
    grid = GridSpec((0.0, 0.0), 0.05, (200, 120))
    xs, _ = grid.centres()
    occ = np.zeros(grid.shape, bool)
    occ[(xs >= 4.0) & (xs < 5.0)] = True
    return OccupancyMap(grid, occ, signed_distance(occ, 0.05), np.zeros(grid.shape, np.int32))


def test_esdf_values_and_signs_at_known_points():
    m = _synthetic()
    pts = np.array([[1.0, 3.0], [3.0, 3.0], [3.9, 3.0], [4.5, 3.0], [4.2, 3.0], [7.0, 3.0]])
    want = np.array([3.0, 1.0, 0.1, -0.5, -0.2, 2.0])
    got = m.esdf_at(pts)
    np.testing.assert_allclose(got, want, atol=0.03)
    assert np.all(np.sign(got) == np.sign(want))


def test_esdf_in_the_example_office(small_office):
    occ = small_office.occupancy(0.05)
    # corridor of the example plan: walls (0.12 m thick) at y = 4 and y = 6, nothing between
    e = occ.esdf_at(np.array([[4.5, 5.0], [4.5, 4.5], [4.5, 4.0], [0.0, 5.0]]))
    np.testing.assert_allclose(e[:2], [0.94, 0.44], atol=0.03)
    assert e[2] < 0 and e[3] < 0  # inside a wall, inside the exterior wall


def test_local_crop_is_ego_centric():
    m = _synthetic()
    pose = np.array([3.0, 3.0, 0.0])  # 1 m in front of the wall face, facing it
    crop = m.local_crop(pose, (40, 40), 0.1)
    # cell (i, j) centre at ego (-2 + (i + .5) * .1, -2 + (j + .5) * .1)
    centre = crop[19:21, 19:21].mean()
    assert centre == pytest.approx(1.0, abs=0.05)
    ahead = crop[29, 19]  # ~1.0 m ahead: at the wall face
    assert ahead == pytest.approx(0.0, abs=0.06)
    assert crop[35, 20] < 0  # inside the wall
    # turned around, the wall is behind: the crop mirrors along x
    back = m.local_crop(np.array([3.0, 3.0, math.pi]), (40, 40), 0.1)
    np.testing.assert_allclose(back[::-1, ::-1], crop, atol=1e-4)
    # batched poses give a batch of crops
    both = local_crop(m, np.stack([pose, pose]), (40, 40), 0.1)
    assert both.shape == (2, 40, 40)
