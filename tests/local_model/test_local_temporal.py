"""Temporal warp: known robot motion moves grid features by the right number of cells."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.config import VoxelGridConfig
from astra_jax.local_model.temporal import (
    TemporalFusion,
    cell_centers_xy,
    past_in_current,
    warp_to_current,
)

GRID = VoxelGridConfig(nx=16, ny=16, nz=2, xy_resolution=0.25)


def _features(seed=0, shape=(1, 16, 16, 2, 3)):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _warp(features, past_pose, current_pose):
    poses = jnp.asarray([[past_pose, current_pose]], jnp.float32)  # (B=1, T=2, 3)
    return np.asarray(warp_to_current(features, past_in_current(poses)[:, 0], GRID))


def test_forward_motion_shifts_features_back() -> None:
    """Driving 1 m forward: what was at x + 1 m is now at x, i.e. 4 cells (0.25 m each)
    closer along -x; cells whose source left the grid read zero."""
    past = _features()
    warped = _warp(past, (2.0, -1.0, 0.0), (3.0, -1.0, 0.0))
    np.testing.assert_allclose(warped[0, :-4], np.asarray(past)[0, 4:], atol=1e-5)
    np.testing.assert_array_equal(warped[0, -4:], 0.0)


def test_motion_along_heading_in_a_rotated_world_frame() -> None:
    """The same 1 m forward step, with the robot facing +y in the world frame."""
    past = _features(1)
    warped = _warp(past, (0.0, 0.0, math.pi / 2), (0.0, 1.0, math.pi / 2))
    np.testing.assert_allclose(warped[0, :-4], np.asarray(past)[0, 4:], atol=1e-5)


def test_sideways_motion_and_half_cell_is_bilinear() -> None:
    """0.125 m (half a cell) to the left: each cell averages its two neighbours in y."""
    past = _features(2)
    warped = _warp(past, (0.0, 0.0, 0.0), (0.0, 0.125, 0.0))
    p = np.asarray(past)[0]
    np.testing.assert_allclose(warped[0, :, :-1], 0.5 * (p[:, :-1] + p[:, 1:]), atol=1e-5)


def test_turning_left_rotates_features_clockwise() -> None:
    """After a 90 deg left turn in place, what was ahead (+x) is on the right (-y)."""
    past = _features(3)
    warped = _warp(past, (0.0, 0.0, 0.0), (0.0, 0.0, math.pi / 2))
    p = np.asarray(past)[0]
    n = GRID.nx
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    np.testing.assert_allclose(warped[0], p[n - 1 - j, i], atol=1e-4)
    centers = cell_centers_xy(GRID)
    ahead = np.unravel_index(
        np.argmin(np.abs(centers[..., 0] - 1.125) + np.abs(centers[..., 1] - 0.125)), (n, n)
    )
    right = np.unravel_index(
        np.argmin(np.abs(centers[..., 0] - 0.125) + np.abs(centers[..., 1] + 1.125)), (n, n)
    )
    np.testing.assert_allclose(warped[0][right], p[ahead], atol=1e-4)


def test_no_motion_is_identity() -> None:
    past = _features(4, (2, 16, 16, 2, 3))
    poses = jnp.asarray([[[1.0, 2.0, 0.3]] * 3, [[-1.0, 0.0, -2.0]] * 3])
    rel = past_in_current(poses)
    assert rel.shape == (2, 2, 3)
    np.testing.assert_allclose(
        np.asarray(warp_to_current(past, rel[:, 0], GRID)), np.asarray(past), atol=1e-4
    )  # float32 se2_relative of equal poses leaves ~1e-6 m


@pytest.mark.parametrize("nz", [1, 4])
def test_fusion_block_shapes_and_identity_at_init(nz: int) -> None:
    cur = _features(5, (2, 8, 8, nz, 6))
    past = _features(6, (2, 3, 8, 8, nz, 6))
    block = TemporalFusion()
    params = block.init(jax.random.key(0), cur, past)
    out = block.apply(params, cur, past)
    assert out.shape == cur.shape
    assert params["params"]["conv1"]["kernel"].value.shape == (3, 3, min(3, nz), 6, 6)
    # The residual branch starts at zero: output = the 1x1x1 projection of the stack.
    stacked = jnp.concatenate([cur[:, None], past], 1)
    x = jnp.moveaxis(stacked, 1, -2).reshape(2, 8, 8, nz, 24)
    proj = params["params"]["project"]
    want = x @ proj["kernel"].value + proj["bias"].value
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-5, atol=1e-5)
