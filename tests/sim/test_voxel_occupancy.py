"""Ground-truth voxel occupancy: ego labels follow the robot's pose, walls and objects land in
their layers, and the IoU definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.config import VoxelGridConfig
from astra_jax.sim.voxel_occupancy import (
    FREE,
    OBSTACLE,
    STRUCTURE,
    ego_voxel_labels,
    iou_counts,
    ious_from_counts,
    layered_occupancy,
)
from astra_jax.sim.world import load_world

GRID = VoxelGridConfig(24, 24, 2, 0.4, 0.0, 2.0)


@pytest.fixture(scope="module")
def office():
    world = load_world("office", 0)
    return world, layered_occupancy(world, GRID)


def test_labels_turn_with_the_robot(office):
    world, occ = office
    x0, y0, x1, y1 = world.bounds
    pose = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.3])
    labels, valid = ego_voxel_labels(occ, pose, GRID)
    assert labels.shape == (24, 24, 2) and valid.shape == (24, 24)
    assert {FREE, STRUCTURE, OBSTACLE} <= set(np.unique(labels[valid]))
    # a quarter turn in place: the same world cells, seen 90 degrees round in the ego grid
    turned, turned_valid = ego_voxel_labels(occ, pose + np.array([0, 0, math.pi / 2]), GRID)
    np.testing.assert_array_equal(turned, np.rot90(labels, k=-1, axes=(0, 1)))
    np.testing.assert_array_equal(turned_valid, np.rot90(valid, k=-1))


def test_walls_fill_every_layer_and_objects_their_heights(office):
    _, occ = office
    walls = occ.labels == STRUCTURE
    # wall pieces span the 2 m: a wall cell of the lower layer is a wall (or an object in
    # front of it) in the upper layer too, unless it is a door opening's lintel gap
    lower, upper = walls[..., 0], occ.labels[..., 1] != FREE
    assert np.mean(upper[lower]) > 0.9
    # objects below 1 m (desks, sofas) are in the lower layer more often than the upper
    assert np.sum(occ.labels[..., 0] == OBSTACLE) > np.sum(occ.labels[..., 1] == OBSTACLE)


def test_iou_counts():
    labels = np.array([[[FREE, STRUCTURE, OBSTACLE, OBSTACLE]]])  # (1, 1, 4): X, Y, Z
    valid = np.ones((1, 1), bool)
    pred = np.array([[[True, True, True, False]]])
    counts = iou_counts(pred, labels, valid)
    np.testing.assert_array_equal(counts, [2, 4, 1, 3])
    iou = ious_from_counts(counts)
    assert iou["total_iou"] == pytest.approx(2 / 4)  # 2 right of 3 occupied + 1 false alarm
    assert iou["obstacle_iou"] == pytest.approx(1 / 3)  # the wall voxel is left out
    none = ious_from_counts(iou_counts(pred, labels, np.zeros((1, 1), bool)))
    assert math.isnan(none["total_iou"]) and math.isnan(none["obstacle_iou"])
