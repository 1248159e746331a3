"""Classical baselines: the straight line's geometry, and A* around a wall on an ego ESDF."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.config import ConfigError
from astra_jax.geometry import signed_distance
from astra_jax.local_model.classical_planners import (
    AStarConfig,
    astar_path,
    astar_plan,
    straight_line,
    time_parameterize,
)
from astra_jax.local_model.depth_occupancy import EgoESDF, ego_cell_centres
from astra_jax.local_model.plan_metrics import path_points
from astra_jax.local_model.trajectory import rollout

RES = 0.1
SHAPE = (80, 80)  # 8 x 8 m around the robot


def _esdf(occupied: np.ndarray) -> EgoESDF:
    return EgoESDF(signed_distance(occupied, RES), RES)


def _wall(x: float = 1.5, half_width: float = 1.5) -> np.ndarray:
    """A 0.2 m thick wall across the way ahead: x in [x-0.1, x+0.1], |y| < half_width."""
    c = ego_cell_centres(SHAPE, RES)
    return (np.abs(c[..., 0] - x) < 0.1) & (np.abs(c[..., 1]) < half_width)


def test_straight_line_runs_at_constant_speed_and_stops_at_the_subgoal():
    goal = np.array([3.0, 4.0])  # 5 m away
    deltas = straight_line(goal, 8, 0.5, 2.0)  # 1 m per waypoint
    poses = rollout(deltas)
    heading = math.atan2(4.0, 3.0)
    want = np.array([min(k, 5) for k in range(1, 9)], np.float64)[:, None] * np.array([0.6, 0.8])
    np.testing.assert_allclose(poses[:, :2], want, atol=1e-9)
    np.testing.assert_allclose(poses[:, 2], heading, atol=1e-9)
    # in the action format: the first delta turns to the line, the later ones go straight ahead
    np.testing.assert_allclose(deltas[0], [0.6, 0.8, heading], atol=1e-9)
    np.testing.assert_allclose(deltas[1:5], [[1.0, 0.0, 0.0]] * 4, atol=1e-9)
    np.testing.assert_allclose(deltas[5:], 0.0, atol=1e-9)


def test_straight_line_to_the_robot_itself_stays_put_and_bad_input_is_named():
    np.testing.assert_allclose(straight_line(np.zeros(2), 4, 0.5, 1.0), 0.0)
    with pytest.raises(ValueError, match="subgoal_xy"):
        straight_line(np.zeros(3), 4, 0.5, 1.0)
    with pytest.raises(ValueError, match="num_waypoints"):
        straight_line(np.ones(2), 0, 0.5, 1.0)
    with pytest.raises(ValueError, match="interval_s"):
        straight_line(np.ones(2), 4, 0.0, 1.0)
    with pytest.raises(ConfigError, match="radius"):
        AStarConfig(radius=0.0)


def test_time_parameterization_follows_a_polyline_with_its_heading():
    path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    poses = time_parameterize(path, 4, 1.0, 0.75)  # 0.75, 1.5, 2.25, 3.0 m along
    np.testing.assert_allclose(
        poses,
        [[0.75, 0, 0], [1, 0.5, math.pi / 2], [1, 1.25, math.pi / 2], [1, 2, math.pi / 2]],
        atol=1e-9,
    )


def test_astar_goes_around_a_wall_that_blocks_the_straight_line_and_reaches_the_subgoal():
    occupied = _wall()
    esdf = _esdf(occupied)
    goal = np.array([3.0, 0.0])
    straight = rollout(straight_line(goal, 12, 0.5, 1.0))
    assert esdf.at(path_points(straight)).min() < 0.0  # the straight line hits the wall
    cfg = AStarConfig()
    deltas = astar_plan(esdf, goal, 12, 0.5, 1.0, cfg)
    assert deltas is not None and deltas.shape == (12, 3)
    poses = rollout(deltas)
    dense = path_points(poses)
    clearance = esdf.at(dense)
    assert clearance.min() > cfg.radius, f"A* path comes {clearance.min():.3f} m from the wall"
    assert np.abs(dense[:, 1]).max() > 1.5  # it went around an end of the wall
    np.testing.assert_allclose(poses[-1, :2], goal, atol=1e-6)  # 12 s at 1 m/s is enough
    # waypoints 0.5 m apart along the path until the subgoal, heading along the motion
    steps = np.linalg.norm(
        np.diff(np.concatenate([np.zeros((1, 2)), poses[:, :2]]), axis=0), axis=1
    )
    moving = steps > 1e-6
    # (a waypoint after a corner is nearer than 0.5 m in a straight line: the path bends)
    assert np.all(steps <= 0.5 + 1e-6) and np.sum(steps > 0.45) >= np.sum(moving) - 3
    motion = np.diff(np.concatenate([np.zeros((1, 2)), poses[:, :2]]), axis=0)[moving]
    heading = np.arctan2(motion[:, 1], motion[:, 0])
    off = np.cos(poses[moving, 2] - heading) < 0.99  # only right after a corner of the path
    corners = len(astar_path(esdf, goal, cfg)) - 2
    assert 1 <= corners <= 3 and off.sum() <= corners


def test_astar_path_is_shortcut_and_unobstructed_goals_are_a_straight_segment():
    esdf = _esdf(np.zeros(SHAPE, bool) | _wall(x=3.5, half_width=0.2))  # off the way
    path = astar_path(esdf, np.array([2.0, 1.0]))
    assert path is not None
    np.testing.assert_allclose(path, [[0.0, 0.0], [2.0, 1.0]], atol=1e-9)


def test_astar_heads_for_the_nearest_reachable_cell_or_returns_none_without_a_start():
    # the subgoal sits inside a closed box: A* ends at the reachable point nearest to it
    c = ego_cell_centres(SHAPE, RES)
    box = (np.abs(c[..., 0] - 2.5) < 0.8) & (np.abs(c[..., 1]) < 0.8)
    inner = (np.abs(c[..., 0] - 2.5) < 0.6) & (np.abs(c[..., 1]) < 0.6)
    esdf = _esdf(box & ~inner)
    path = astar_path(esdf, np.array([2.5, 0.0]))
    assert path is not None
    assert 1.0 < np.linalg.norm(path[-1] - [2.5, 0.0]) < 1.4  # just outside the box's wall
    assert esdf.at(path_points(np.concatenate([path, np.zeros((len(path), 1))], 1)[1:])).min() > 0.3
    # the robot walled in on all sides: the plan stays inside the ring, as far as it can get
    ring = (np.linalg.norm(c, axis=-1) > 0.9) & (np.linalg.norm(c, axis=-1) < 1.1)
    poses = rollout(astar_plan(_esdf(ring), np.array([3.0, 0.0]), 8, 0.5, 1.0))
    assert np.linalg.norm(poses[:, :2], axis=1).max() < 0.6
    assert 0.4 < poses[-1, 0] < 0.6 and abs(poses[-1, 1]) < 0.1
    # no free cell near the robot at all
    assert astar_plan(_esdf(np.ones(SHAPE, bool)), np.array([3.0, 0.0]), 8, 0.5, 1.0) is None


def test_astar_passes_a_narrow_door_with_the_relaxed_margin():
    # a wall across the way with a 0.9 m door, read 0.05 m short as the run-time ESDF does:
    # the door's centre is 0.40 m from the jambs, not free at radius 0.3 + margin 0.1
    c = ego_cell_centres(SHAPE, RES)
    door = (np.abs(c[..., 0] - 1.5) < 0.1) & (np.abs(c[..., 1]) >= 0.45)
    esdf = EgoESDF(signed_distance(door, RES) - 0.05, RES)
    goal = np.array([3.0, 0.0])
    strict, relaxed = AStarConfig(), AStarConfig(relaxed_margin=0.0)  # off by default
    stuck = astar_path(esdf, goal, strict)
    assert stuck is not None and stuck[-1, 0] < 1.4  # it ends before the wall: no way through
    path = astar_path(esdf, goal, relaxed)
    np.testing.assert_allclose(path[-1], goal, atol=1e-9)  # through the door to the subgoal
    dense = path_points(np.concatenate([path, np.zeros((len(path), 1))], 1)[1:])
    assert esdf.at(dense).min() > relaxed.radius  # the radius alone is kept
    # where the margin's plan reaches the subgoal, the margin holds: no relaxed shortcut
    wide = EgoESDF(signed_distance(door & (np.abs(c[..., 1]) >= 0.7), RES) - 0.05, RES)
    np.testing.assert_allclose(astar_path(wide, goal, relaxed), astar_path(wide, goal, strict))
    # a subgoal behind a solid wall: the relaxed search only gets 0.1 m nearer the wall, which
    # is no passage, so the margin's plan stands
    solid = EgoESDF(signed_distance(np.abs(c[..., 0] - 1.5) < 0.1, RES) - 0.05, RES)
    np.testing.assert_allclose(astar_path(solid, goal, relaxed), astar_path(solid, goal, strict))
    with pytest.raises(ConfigError, match="relaxed_margin"):
        AStarConfig(relaxed_margin=-0.1)
    with pytest.raises(ConfigError, match="expected less than margin"):
        AStarConfig(relaxed_margin=0.1)
