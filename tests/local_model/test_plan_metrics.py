"""Planning figures on known trajectories, and best-of-N scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.geometry import signed_distance
from astra_jax.local_model.depth_occupancy import EgoESDF, ego_cell_centres
from astra_jax.local_model.plan_metrics import (
    ScoreWeights,
    path_points,
    score_trajectories,
    trajectory_metrics,
    trajectory_metrics_from_deltas,
)
from astra_jax.local_model.trajectory import deltas_from_poses

RES = 0.05
SHAPE = (160, 160)  # 8 x 8 m
RADIUS = 0.3
GOAL = np.array([3.0, 0.0])


def _esdf_with_post(x: float, y: float, half: float = 0.1) -> EgoESDF:
    """A square post of side 2*half centred at ego (x, y)."""
    c = ego_cell_centres(SHAPE, RES)
    occ = (np.abs(c[..., 0] - x) < half) & (np.abs(c[..., 1] - y) < half)
    return EgoESDF(signed_distance(occ, RES), RES)


def _line(end: tuple[float, float], n: int = 6) -> np.ndarray:
    """Poses (n, 3) evenly along the segment from the origin to ``end``, heading along it."""
    t = np.arange(1, n + 1)[:, None] / n
    xy = t * np.asarray(end)
    return np.concatenate([xy, np.full((n, 1), math.atan2(end[1], end[0]))], 1)


def test_path_points_are_dense_and_keep_every_waypoint():
    poses = np.array([[1.0, 0.0, 0.0], [1.0, 0.05, 0.0], [2.0, 0.05, 0.0]])
    pts = path_points(poses)
    gaps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    assert gaps.max() <= 0.02 + 1e-12
    np.testing.assert_allclose(pts[0], [0.0, 0.0])
    for p in poses[:, :2]:
        assert np.min(np.linalg.norm(pts - p, axis=1)) < 1e-12


def test_collision_catches_a_post_between_waypoints():
    # the post's surface is 0.25 m from the segment between two waypoints 1 m apart, and
    # 0.47 m from both waypoints: only the interpolated path sees it
    esdf = _esdf_with_post(1.5, 0.35)
    poses = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    assert esdf.at(poses[:, :2]).min() > RADIUS
    m = trajectory_metrics(poses, esdf, GOAL, RADIUS, 1.0)
    assert bool(m.collision)
    assert m.min_clearance == pytest.approx(0.25, abs=0.03)  # segment to the post's surface
    # the same path 0.3 m farther from the post is clear
    clear = trajectory_metrics(poses - [0, 0.3, 0], esdf, GOAL, RADIUS, 1.0)
    assert not bool(clear.collision) and clear.min_clearance == pytest.approx(0.55, abs=0.03)


def test_distance_speed_and_smoothness_of_known_paths():
    esdf = _esdf_with_post(-3.0, -3.0)
    straight = _line((3.0, 0.0))  # 0.5 m per 0.5 s: 1 m/s, no acceleration
    m = trajectory_metrics(straight, esdf, np.array([3.0, 1.0]), RADIUS, 0.5)
    assert float(m.final_distance) == pytest.approx(1.0)
    assert float(m.mean_speed) == pytest.approx(1.0)
    assert float(m.smoothness) == pytest.approx(0.0, abs=1e-12)
    # a zigzag of the same waypoint count is rougher: lateral +-0.2 m alternating
    zig = straight.copy()
    zig[:-1, 1] = 0.2 * (-1.0) ** np.arange(5)
    mz = trajectory_metrics(zig, esdf, np.array([3.0, 1.0]), RADIUS, 0.5)
    assert float(mz.smoothness) > 1.0 and float(mz.mean_speed) > 1.0
    # stopping halfway: speed halves
    half = np.concatenate([_line((1.5, 0.0), 3), np.tile([[1.5, 0.0, 0.0]], (3, 1))])
    assert float(trajectory_metrics(half, esdf, GOAL, RADIUS, 0.5).mean_speed) == pytest.approx(0.5)


def test_metrics_batch_and_deltas_agree_with_poses():
    esdf = _esdf_with_post(1.5, 0.35)
    batch = np.stack([_line((3.0, 0.0)), _line((2.0, 2.0)), _line((0.0, -1.0))])
    m = trajectory_metrics(batch, esdf, GOAL, RADIUS, 0.5)
    assert m.collision.shape == (3,) and m.collision.tolist() == [True, False, False]
    md = trajectory_metrics_from_deltas(deltas_from_poses(batch), esdf, GOAL, RADIUS, 0.5)
    for f in ("min_clearance", "final_distance", "mean_speed", "smoothness"):
        np.testing.assert_allclose(getattr(md, f), getattr(m, f), atol=1e-9)


def test_scoring_puts_every_colliding_sample_behind_every_clear_one():
    esdf = _esdf_with_post(1.5, 0.0, half=0.2)
    second_leg = _line((1.5, -0.9), 3) + np.array([1.5, 0.9, 0.0])
    around = np.concatenate([_line((1.5, 0.9), 3), second_leg])
    samples = np.stack(
        [
            _line((3.0, 0.0)),  # straight through the post: reaches the goal, collides
            _line((3.0, 0.1)),  # grazes the post: collides too, nearly at the goal
            _line((1.0, 1.2)),  # clear but makes little progress
            around,  # clear, around the post, to the goal
        ]
    )
    cost = score_trajectories(samples, esdf, GOAL, RADIUS, 0.5)
    m = trajectory_metrics(samples, esdf, GOAL, RADIUS, 0.5)
    assert m.collision.tolist() == [True, True, False, False]
    assert cost[m.collision].min() > cost[~m.collision].max()
    assert int(np.argmin(cost)) == 3  # clear and at the goal
    # among clear samples, progress decides when clearance and smoothness are alike
    assert cost[3] < cost[2]


def test_scoring_weighs_clearance_then_smoothness():
    esdf = _esdf_with_post(1.5, 0.6)
    near = _line((3.0, 0.2))  # about 0.4 m from the post's surface: inside the comfort band
    far = _line((3.0, -0.3))  # about 0.65 m away; 0.1 m farther from the goal
    m = trajectory_metrics(np.stack([near, far]), esdf, GOAL, RADIUS, 0.5)
    assert not m.collision.any() and m.min_clearance[0] < RADIUS + 0.2 < m.min_clearance[1]
    cost = score_trajectories(np.stack([near, far]), esdf, GOAL, RADIUS, 0.5)
    assert cost[1] < cost[0]
    # with the clearance weight off, the two differ only by final distance (equal here up to
    # the lateral offset) and smoothness (zero for both)
    flat = score_trajectories(
        np.stack([near, far]), esdf, GOAL, RADIUS, 0.5, ScoreWeights(clearance=0.0)
    )
    np.testing.assert_allclose(flat, m.final_distance, atol=1e-9)


def test_bad_inputs_are_named():
    esdf = _esdf_with_post(1.5, 0.0)
    with pytest.raises(ValueError, match="poses shape"):
        trajectory_metrics(np.zeros((4, 2)), esdf, GOAL, RADIUS, 0.5)
    with pytest.raises(ValueError, match="subgoal_xy"):
        trajectory_metrics(_line((1.0, 0.0)), esdf, np.zeros(3), RADIUS, 0.5)
    with pytest.raises(ValueError, match="interval_s"):
        trajectory_metrics(_line((1.0, 0.0)), esdf, GOAL, RADIUS, 0.0)
    with pytest.raises(ValueError, match=r"\(K, n, 3\)"):
        score_trajectories(_line((1.0, 0.0)), esdf, GOAL, RADIUS, 0.5)


def test_moving_people_are_met_where_they_are_when_the_robot_gets_there() -> None:
    from astra_jax.local_model.plan_metrics import people_clearance, trajectory_metrics

    n = 4
    poses = np.stack([np.arange(1, n + 1) * 0.5, np.zeros(n), np.zeros(n)], -1)  # 1 m/s ahead
    t = np.arange(n + 1)[:, None, None] * 0.5  # waypoint times (n + 1, 1, 1)
    standing = np.broadcast_to([[1.0, 0.0]], (n + 1, 1, 2))  # on the path, 1 m ahead
    ahead = np.concatenate([1.0 + 2.0 * t, 0.0 * t], -1)  # walks away at 2 m/s
    crossing = np.concatenate([0.0 * t + 0.5, 2.0 * t - 2.0], -1)  # crosses x = 0.5 m at 1 s
    assert people_clearance(poses, standing, 0.25) == pytest.approx(-0.25)
    assert people_clearance(poses, ahead, 0.25) > 0.5  # where it stood is clear by then
    assert people_clearance(poses, crossing, 0.25) > 0.15  # it crosses after the robot passed
    assert np.isinf(people_clearance(poses, np.zeros((n + 1, 0, 2)), 0.25))
    esdf = EgoESDF(np.full((60, 60), 5.0, np.float32), 0.1)  # 6 m x 6 m, all free
    goal = np.array([2.0, 0.0])
    assert not trajectory_metrics(poses, esdf, goal, 0.3, 0.5).collision
    assert trajectory_metrics(poses, esdf, goal, 0.3, 0.5, standing).collision
    assert not trajectory_metrics(poses, esdf, goal, 0.3, 0.5, ahead).collision


def test_plans_png_draws_each_person_now_and_at_the_horizon():
    """The plans.png panels draw the static world's ESDF, so the people are drawn on top: a
    disc where each is at the tick, a dashed one where they are at the last waypoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from astra_jax.tasks.local_eval import _draw_people

    path = np.stack([np.linspace([2.8, 0.4], [1.2, 0.1], 9),
                     np.linspace([-1.0, -2.0], [-1.0, -0.5], 9)], axis=1)  # (n + 1, P, 2)  # fmt: skip
    fig, ax = plt.subplots()
    _draw_people(ax, path, 0.25)
    centres = [tuple(np.round(p.center, 3)) for p in ax.patches]
    assert centres == [(2.8, 0.4), (1.2, 0.1), (-1.0, -2.0), (-1.0, -0.5)]
    assert all(p.radius == 0.25 for p in ax.patches)
    assert [p.get_linestyle() for p in ax.patches] == ["solid", "--", "solid", "--"]
    assert len(ax.lines) == 2  # one walk per person
    np.testing.assert_allclose(ax.lines[1].get_xydata(), path[:, 1])
    plt.close(fig)
