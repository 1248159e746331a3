"""The closed-loop robot: tick-by-tick sensors continue across ticks, collisions stop the
robot outside obstacles, and observations come at both resolutions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import astra_jax.sim
from astra_jax.config import AstraConfig, DepthNoiseConfig, get_preset
from astra_jax.sim import load_world, seeds
from astra_jax.sim.closed_loop import CLOSED_LOOP_INDEX, SimRobot
from astra_jax.sim.control import Trajectory, integrate
from astra_jax.sim.depth_noise import apply_depth_noise
from astra_jax.sim.occupancy import OccupancyMap
from astra_jax.sim.sensors import SensorStream, imu_readings
from astra_jax.sim.world import World


def test_sensor_stream_continues_across_stretches() -> None:
    cfg = get_preset("tiny").sim
    quiet = dataclasses.replace(cfg.sensors, gyro_noise_density=0.0, accel_noise_density=0.0,
                                gyro_bias_random_walk=0.0, accel_bias_random_walk=0.0,
                                accel_bias_std=0.0)  # no offset: at constant speed a_x is 0  # fmt: skip
    dt = 1.0 / cfg.physics_rate_hz
    n = round(0.5 / dt)
    stream = SensorStream(cfg.robot, quiet, np.random.default_rng(0), cfg.physics_rate_hz)
    stretches = []
    pose = np.zeros(3)
    for v in (0.4, 0.4):  # constant speed across the boundary
        vs, ws = np.full(n, v), np.full(n, 0.2)
        poses = integrate(pose, vs, ws, dt)
        stretches.append(stream.read(Trajectory(dt, poses, vs, ws))[0])
        pose = poses[-1]
    first, second = stretches
    # starting from rest the first sample sees the acceleration; the second stretch does not
    assert first[0, 3] > 10.0 and abs(second[0, 3]) < 1e-6
    # one stretch of the whole drive gives the same samples (noise off)
    vs, ws = np.full(2 * n, 0.4), np.full(2 * n, 0.2)
    whole = imu_readings(Trajectory(dt, integrate(np.zeros(3), vs, ws, dt), vs, ws), quiet,
                         np.random.default_rng(0), cfg.physics_rate_hz, stream.errors)  # fmt: skip
    np.testing.assert_allclose(np.concatenate(stretches), whole[:, 1:], atol=1e-9)


def office_start(cfg: AstraConfig, clearance: float) -> tuple[World, OccupancyMap, np.ndarray]:
    """The small office floor plan's world and a start (x, y) ``clearance`` m from obstacles."""
    plan = Path(astra_jax.sim.__file__).parent / "floorplans" / "small_office.json"
    world = load_world(None, 0, plan, cfg.sim)
    occ = world.occupancy(cfg.sim.occupancy_resolution)
    free = np.argwhere(occ.esdf > clearance)
    return world, occ, occ.grid.to_world(free[len(free) // 2][None])[0]


@pytest.fixture(scope="module")
def robot():
    cfg = get_preset("tiny")
    world, _, start_xy = office_start(cfg, 1.0)
    with SimRobot(world, cfg, np.array([*start_xy, 0.0])) as r:
        yield r


def test_observations_and_collisions(robot) -> None:
    cfg = robot.config
    rgb, depth = robot.observe()
    assert rgb.shape == (3, *cfg.rig.image_hw, 3) and rgb.dtype == np.uint8
    assert depth.shape == (3, *cfg.rig.image_hw) and np.all(depth > 0)
    query = robot.query_images()
    assert set(query) == {"front", "rear_left", "rear_right"}
    assert query["front"].shape == (*cfg.rig.mapping_hw, 3)
    imu, wheel = robot.drive(0.5, 0.0, 0.5)
    assert imu.shape == (100, 6) and wheel.shape == (50, 2) and robot.collisions == 0
    for _ in range(200):  # straight on until a wall stops the robot
        robot.drive(1.0, 0.0, 0.5)
        if robot.collisions:
            break
    assert robot.collisions >= 1
    clearance = robot.occupancy.esdf_at(robot.pose[None, :2])[0]
    assert clearance >= cfg.sim.robot.radius  # stopped outside the obstacle
    with pytest.raises(ValueError, match="finite"):
        robot.drive(float("nan"), 0.0, 0.5)


def test_people_walk_in_the_closed_loop_and_a_robot_driving_into_one_is_stopped() -> None:
    from astra_jax.sim.people import PERSON_ID_BASE, Walker, YieldingCrowd

    cfg = get_preset("tiny").with_people(3.0)
    world, occ, start_xy = office_start(cfg, 1.2)
    with SimRobot(world, cfg, np.array([*start_xy, 0.0])) as r:
        assert r.crowd is not None and len(r.crowd) >= 2
        before = r.people().copy()
        r.drive(0.0, 0.0, 1.0)  # standing still: the people walk on, the clock runs
        assert r.time == pytest.approx(1.0) and np.abs(r.people() - before).max() > 0.1
        # one person standing 0.9 m ahead of the robot (centres), the others far away
        x, y = start_xy
        stand = Walker(PERSON_ID_BASE, np.array([0.0, 1e4]), np.array([[x + 0.9, y]] * 2))
        r.crowd = YieldingCrowd(world, occ, cfg.sim.people, (stand,), cfg.sim.robot.radius)
        r.drive(0.5, 0.0, 1.0)  # 0.5 m forward: it would run into the person
        gap = np.linalg.norm(r.pose[:2] - [x + 0.9, y]) - 0.25 - cfg.sim.robot.radius
        assert r.collisions == 1 and r.people_collisions == 1
        assert 0.0 <= gap < 0.02  # stopped at the person


def test_the_robot_reads_depth_through_its_camera_when_asked(robot) -> None:
    """With the D435's errors a closed-loop robot's depth is the exact frame as that camera
    reads it, from its own seeded stream; without them it is exact."""
    cfg = robot.config
    noisy_cfg = cfg.replace(sim=dataclasses.replace(cfg.sim, depth_noise=DepthNoiseConfig.d435()))
    with SimRobot(robot.world, noisy_cfg, robot.pose.copy()) as noisy:
        _, exact = robot.observe()
        _, read = noisy.observe()
    rng = seeds.rng_for(robot.world.key, robot.world.seed, seeds.STREAM_DEPTH, CLOSED_LOOP_INDEX)
    fx = noisy._renderer.intrinsics[:, 0, 0]
    np.testing.assert_array_equal(read, apply_depth_noise(exact, DepthNoiseConfig.d435(), rng, fx))
    assert not np.array_equal(read, exact)
