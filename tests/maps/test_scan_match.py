"""Depth frames as 2-D scans, and their alignment by point-to-line ICP."""

from __future__ import annotations

import numpy as np
import pytest
from scan_scenes import room_points, seen_from  # tests/ is on sys.path

from astra_jax.geometry import intrinsics_from_fov
from astra_jax.maps.scan_match import ScanMatchConfig, depth_scan, match_scans


@pytest.mark.parametrize("motion", [(0.2, 0.05, 0.3), (0.0, 0.0, -0.5), (0.4, -0.1, 0.02)])
def test_icp_recovers_the_relative_pose(motion) -> None:
    """The later frame's pose in the earlier one, from a guess off by 5 cm and 0.03 rad (the
    wheels' and the gyro's), to 1 mm and 0.2 mrad."""
    room = room_points()
    a = np.array([0.5, 0.3, 0.4])
    c, s = np.cos(a[2]), np.sin(a[2])
    b = np.array([a[0] + c * motion[0] - s * motion[1], a[1] + s * motion[0] + c * motion[1],
                  a[2] + motion[2]])  # fmt: skip
    guess = (motion[0] + 0.04, motion[1] - 0.03, motion[2] + 0.03)
    found = match_scans(seen_from(room, b), seen_from(room, a), guess)
    assert found is not None
    pose, matched = found
    assert matched > 200
    np.testing.assert_allclose(pose[:2], motion[:2], atol=1e-3)
    assert abs(pose[2] - motion[2]) < 2e-4


def test_too_few_points_fail_and_a_lone_wall_still_fixes_the_turn() -> None:
    room = room_points()
    assert match_scans(room[:10], room) is None
    # a straight wall alone leaves the slide along it free but still fixes the turn
    wall = room[(room[:, 1] == -2.0)]
    pose, _ = match_scans(wall, wall, (0.0, 0.0, 0.01))
    assert abs(pose[2]) < 1e-4


def test_a_match_cut_off_before_it_settles_fails() -> None:
    """ICP stopped by its cap while still moving (2 steps from a guess 0.1 m and 0.05 rad off)
    is a failed match, not a pose; given the steps it needs, the same match settles."""
    room = room_points()
    a, b = np.array([0.5, 0.3, 0.4]), np.array([0.6, 0.35, 0.5])
    args = (seen_from(room, b), seen_from(room, a), (0.2, 0.0, 0.15))
    assert match_scans(*args, config=ScanMatchConfig(iterations=2)) is None
    assert match_scans(*args) is not None
    # at the cap but within ``settled`` (here a loose one): the pose stands
    assert match_scans(*args, config=ScanMatchConfig(iterations=2, settled=1.0)) is not None


def test_depth_scan_flattens_a_wall_and_keeps_the_band() -> None:
    """A camera 1 m up looking along ego x at a wall 3 m ahead (z-depth 2.8 m from x = 0.2):
    every kept point lies on x = 3; only rows whose return is within the band are kept."""
    k = intrinsics_from_fov(64, 48, np.deg2rad(90.0))
    cam_to_ego = np.array([[0, 0, 1, 0.2], [-1, 0, 0, 0], [0, -1, 0, 1.0], [0, 0, 0, 1.0]])
    depth = np.full((1, 48, 64), 2.8)
    cfg = ScanMatchConfig(cell=0.05)
    scan = depth_scan(depth, k[None], cam_to_ego[None], cfg)
    assert len(scan) > 10
    np.testing.assert_allclose(scan[:, 0], 3.0, atol=1e-9)
    assert np.ptp(scan[:, 1]) > 4.0  # the 90 deg view spans about 5.6 m of the wall
    # the band: returns higher than z_max (or lower than z_min) are dropped
    none = depth_scan(depth, k[None], cam_to_ego[None], ScanMatchConfig(z_min=5.0, z_max=6.0))
    assert len(none) == 0
    # missing depth (NaN, 0) is never a point
    holes = depth.copy()
    holes[:, :, :32] = np.nan
    holes[:, :, 32:] = 0.0
    assert len(depth_scan(holes, k[None], cam_to_ego[None], cfg)) == 0


def test_bad_input_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="expected \\(N, H, W\\)"):
        depth_scan(np.zeros((4, 4)), np.eye(3)[None], np.eye(4)[None])
    with pytest.raises(ValueError, match="for 1 cameras"):
        depth_scan(np.ones((1, 4, 4)), np.eye(3)[None], np.eye(4)[None].repeat(2, 0))
    with pytest.raises(ValueError, match="expected \\(M, 2\\)"):
        match_scans(np.zeros((40, 3)), np.zeros((40, 2)))
    with pytest.raises(ValueError, match="finite"):
        match_scans(room_points(), room_points(), (0.0, 0.0, float("nan")))
    with pytest.raises(ValueError, match="finite"):
        match_scans(room_points(), room_points(), (0.0, 0.0))
    with pytest.raises(ValueError, match="target scan: expected finite"):
        match_scans(room_points(), np.full((40, 2), np.nan))
    with pytest.raises(ValueError, match="z_min"):
        ScanMatchConfig(z_min=2.0, z_max=1.0)
    with pytest.raises(ValueError, match="line_ratio"):
        ScanMatchConfig(line_ratio=1.0)
    with pytest.raises(ValueError, match="settled"):
        ScanMatchConfig(settled=0.0)
    with pytest.raises(ValueError, match="settled"):
        ScanMatchConfig(settled=1e-7)  # below the tolerance: a converged match would fail
