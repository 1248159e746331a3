"""Walking people: deterministic per seed, clear of walls and furniture, at walking speeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.config import PeopleConfig
from astra_jax.sim.people import PERSON_ID_BASE, Walker, plan_walkers
from astra_jax.sim.world import load_world

CONFIG = PeopleConfig(density=1.0)


@pytest.fixture(scope="module")
def office():
    world = load_world("office", 0)
    return world, world.occupancy(0.05)


def test_walkers_are_deterministic_per_seed(office):
    world, occ = office
    a = plan_walkers(world, occ, CONFIG, 40.0, seed=3)
    b = plan_walkers(world, occ, CONFIG, 40.0, seed=3)
    c = plan_walkers(world, occ, CONFIG, 40.0, seed=4)
    assert len(a) >= 2 and [w.id for w in a] == list(range(PERSON_ID_BASE, PERSON_ID_BASE + len(a)))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.times, y.times)
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not np.array_equal(a[0].positions[:5], c[0].positions[:5])
    assert plan_walkers(world, occ, PeopleConfig(density=0.0), 40.0) == ()


def test_walkers_keep_clear_of_walls_and_furniture_at_walking_speed(office):
    world, occ = office
    walkers = plan_walkers(world, occ, CONFIG, 60.0, seed=1)
    t = np.arange(0.0, 60.0, 0.1)
    for w in walkers:
        pose = w.pose_at(t)
        # the body (radius 0.25 m) never overlaps an obstacle (ESDF accurate to half a cell)
        assert occ.esdf_at(pose[:, :2]).min() > CONFIG.radius - 0.03, w.id
        speed = np.linalg.norm(np.diff(pose[:, :2], axis=0), axis=1) / 0.1
        assert speed.max() <= CONFIG.speed_range[1] + 1e-6
        assert w.times[-1] >= 60.0 and np.all(np.diff(w.times) >= 0)
        # they walk, stop and turn: some standing, some moving, several headings
        assert (speed < 1e-6).any() and (speed > CONFIG.speed_range[0] - 1e-6).any()
        assert np.ptp(np.unwrap(pose[:, 2])) > math.pi / 4


def test_heading_follows_the_motion_and_holds_in_pauses():
    w = Walker(PERSON_ID_BASE, np.array([0.0, 1.0, 2.0, 3.0]),
               np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))  # fmt: skip
    pose = w.pose_at(np.array([0.5, 1.5, 2.5, 9.0]))
    np.testing.assert_allclose(pose[:, :2], [[0.5, 0], [1, 0], [1, 0.5], [1, 1]])
    np.testing.assert_allclose(pose[:, 2], [0, 0, math.pi / 2, math.pi / 2])
    with pytest.raises(ValueError, match="speed_range"):
        PeopleConfig(speed_range=(0.0, 1.0))
