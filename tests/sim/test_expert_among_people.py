"""The expert among people (paper Fig. 11): it slows for a person ahead, never drives into one,
replans around one who blocks its way; people give way to the robot and turn away."""

from __future__ import annotations

import numpy as np
import pytest

from astra_jax.config import PeopleConfig, RobotConfig
from astra_jax.geometry import signed_distance
from astra_jax.sim.control import MotionLimits
from astra_jax.sim.expert import CrowdRules, drive_among_people
from astra_jax.sim.occupancy import GridSpec, OccupancyMap
from astra_jax.sim.people import PERSON_ID_BASE, Walker, YieldingCrowd, with_people
from astra_jax.sim.world import load_world

ROBOT = RobotConfig()
LIMITS = MotionLimits.for_robot(ROBOT)
RATE = 200.0


def hall(width: float = 6.0, length: float = 14.0) -> OccupancyMap:
    """An empty walled hall, x in [0, length], y in [0, width] (5 cm cells)."""
    grid = GridSpec((-0.5, -0.5), 0.05, (round((length + 1) / 0.05), round((width + 1) / 0.05)))
    xs, ys = grid.centres()
    inside = (xs[:, None] > 0) & (xs[:, None] < length) & (ys[None] > 0) & (ys[None] < width)
    return OccupancyMap(grid, ~inside, signed_distance(~inside, 0.05), np.where(inside, 0, -1))


def standing(x: float, y: float, k: int = 0) -> Walker:
    return Walker(PERSON_ID_BASE + k, np.array([0.0, 1e4]), np.array([[x, y], [x, y]]))


def crowd_of(occ: OccupancyMap, *walkers: Walker) -> YieldingCrowd:
    world = load_world("office", 0)  # only names the random stream of the turns away
    return YieldingCrowd(world, occ, PeopleConfig(density=1.0), walkers, ROBOT.radius)


def drive(occ, crowd, start=(1.0, 3.0), goal=(12.0, 3.0)):
    path = np.linspace(start, goal, 60)
    return drive_among_people(occ, path, np.array([*start, 0.0]), np.array(goal), crowd, RATE,
                              LIMITS, ROBOT.radius, max_time=120.0)  # fmt: skip


def gaps(traj, crowd) -> np.ndarray:
    """(T,) gap between the robot's and the nearest person's discs every 0.05 s."""
    clock = np.arange(0.0, traj.duration, 0.05)
    centre = np.linalg.norm(
        crowd.poses_at(clock)[..., :2] - traj.pose_at(clock)[:, None, :2], axis=-1
    )
    return centre.min(axis=1) - ROBOT.radius - 0.25


def test_a_person_standing_in_the_way_is_driven_around_not_into():
    occ = hall()
    crowd = crowd_of(occ, standing(6.0, 3.0))
    d = drive(occ, crowd)
    end = d.trajectory.pose[-1]
    assert np.linalg.norm(end[:2] - [12.0, 3.0]) < 0.1  # arrived
    assert d.replans >= 1 and d.blocked_s > 0.5  # it stopped, then planned around
    assert gaps(d.trajectory, crowd).min() > 0.15  # it keeps its distance going round
    # the way round leaves the straight line by at least the two radii
    assert np.abs(d.trajectory.pose[:, 1] - 3.0).max() > ROBOT.radius + 0.25
    # without the person it drives the straight line, faster
    alone = drive(occ, None)
    assert alone.replans == 0 and np.abs(alone.trajectory.pose[:, 1] - 3.0).max() < 0.05
    assert alone.trajectory.duration < d.trajectory.duration


def test_an_approaching_person_slows_the_robot_down():
    occ = hall(width=6.0, length=20.0)
    # a person walks towards the robot along its line, then steps aside (off its path)
    towards = Walker(PERSON_ID_BASE, np.array([0.0, 8.0, 9.5, 1e4]),
                     np.array([[17.0, 3.0], [9.0, 3.0], [9.0, 4.5], [9.0, 4.5]]))  # fmt: skip
    crowd = crowd_of(occ, towards)
    d = drive(occ, crowd, goal=(18.0, 3.0))
    alone = drive(occ, None, goal=(18.0, 3.0))
    t = np.arange(0.0, 9.0, 0.05)
    near = gaps(d.trajectory, crowd)[: len(t)] < 2.5  # the person ahead, coming nearer
    assert near.sum() > 15
    v_with = d.trajectory.velocity_at(t[near])[:, 0]
    v_alone = alone.trajectory.velocity_at(t[near])[:, 0]
    assert v_with.mean() < 0.7 * v_alone.mean()
    assert gaps(d.trajectory, crowd).min() > 0.25
    assert np.linalg.norm(d.trajectory.pose[-1, :2] - [18.0, 3.0]) < 0.15


def test_people_give_way_and_turn_away_from_a_robot_they_cannot_pass():
    occ = hall()
    # a person walks straight at a robot standing still at (6, 3)
    at_robot = Walker(PERSON_ID_BASE, np.array([0.0, 10.0]), np.array([[12.0, 3.0], [2.0, 3.0]]))
    crowd = crowd_of(occ, at_robot)
    robot = np.array([6.0, 3.0])
    for t in np.arange(0.02, 20.0, 0.02):
        crowd.advance(t, robot)
    clock = np.arange(0.0, 20.0, 0.05)
    dist = np.linalg.norm(crowd.poses_at(clock)[:, 0, :2] - robot, axis=1)
    assert dist.min() >= crowd.keep - 0.05  # it stopped short of the robot
    assert crowd.turned_away >= 1  # then walked elsewhere
    assert dist[-1] > crowd.keep + 0.5
    # the past is kept: the first seconds are the original walk
    np.testing.assert_allclose(crowd.poses_at([1.0])[0, 0, :2], [11.0, 3.0], atol=1e-9)


def test_with_people_marks_discs_as_obstacles():
    occ = hall()
    out = with_people(occ, np.array([[5.0, 3.0]]), 0.4)
    assert out.esdf_at(np.array([5.0, 3.0])) < -0.3 and out.esdf_at(np.array([5.0, 3.6])) > 0.1
    assert out.esdf_at(np.array([5.0, 3.6])) < 0.25
    assert with_people(occ, np.zeros((0, 2)), 0.4) is occ


def test_the_stop_gap_is_kept():
    """With no replanning allowed, the robot waits behind a standing person at the stop gap."""
    occ = hall()
    path = np.linspace((1.0, 3.0), (12.0, 3.0), 60)
    for stop_gap in (0.35, 1.0):
        crowd = crowd_of(occ, standing(6.0, 3.0))
        d = drive_among_people(occ, path, np.array([1.0, 3.0, 0.0]), np.array([12.0, 3.0]),
                               crowd, RATE, LIMITS, ROBOT.radius, max_time=30.0,
                               rules=CrowdRules(stop_gap=stop_gap, max_replans=0))  # fmt: skip
        assert d.replans == 0 and d.blocked_s > 15.0
        assert stop_gap - 0.05 < gaps(d.trajectory, crowd).min() < stop_gap + 0.1


@pytest.mark.parametrize("bad", [(0.0, 1.0), (1.5, 0.5), (1.0,)])
def test_people_config_rejects_bad_speed_ranges(bad):
    with pytest.raises(ValueError, match="speed_range"):
        PeopleConfig(speed_range=bad)


def test_a_rejected_way_round_resumes_the_rest_of_the_path_not_its_start():
    """The way round may be refused (too long): the robot then waits where it stands on the
    rest of its path; it must not turn back to track the path from its start."""
    occ = hall()
    crowd = crowd_of(occ, standing(6.0, 3.0))
    path = np.linspace((1.0, 2.7), (12.0, 3.3), 60)  # askew: turning back has a side
    d = drive_among_people(occ, path, np.array([1.0, 2.7, 0.05]), np.array([12.0, 3.3]), crowd,
                           RATE, LIMITS, ROBOT.radius, max_time=20.0,
                           rules=CrowdRules(max_detour=-100.0, max_replans=3))  # fmt: skip
    x = d.trajectory.pose[:, 0]
    assert d.replans == 3 and x.max() > 5.0
    assert d.path[0, 0] > 5.0  # the path it resumed starts where it stood
    assert (np.maximum.accumulate(x) - x).max() < 0.05  # never backwards
