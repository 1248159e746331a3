"""The navigation loop in the simulator: localize the start on the tests' map, route, drive with
the classical planner on the run-time ESDF and wheel + gyro odometry fused with VPR fixes, and
arrive at the goal node (checked against the simulator's truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import astra_jax.sim
from astra_jax.config import get_preset
from astra_jax.geometry import se2_from_se3, se3_from_se2
from astra_jax.global_model.vpr_localizer import VprLocalizer
from astra_jax.maps.alignment import Sim3
from astra_jax.maps.storage import load_map
from astra_jax.serve.export import rig_calibration
from astra_jax.serve.navigator import Navigator, NavigatorConfig, NavState
from astra_jax.sim import load_world
from astra_jax.sim.closed_loop import SimRobot
from astra_jax.sim.generate import tour_trajectory


@pytest.fixture(scope="module")
def world_and_map(sim_map: Path):
    cfg = get_preset("small")  # the tests' map was built from the small preset's tour
    plan = Path(astra_jax.sim.__file__).parent / "floorplans" / "small_office.json"
    world = load_world(None, 0, plan, cfg.sim)
    return cfg, world, load_map(sim_map)


def test_navigates_to_a_node_with_the_classical_planner(world_and_map) -> None:
    cfg, world, m = world_and_map
    to_world = Sim3.from_json(m.metadata.evaluation["gt_from_map"])
    start = tour_trajectory(world, cfg)[0].pose[0]
    goal = m.nodes[-1]  # the far end of the mapped stretch
    goal_world = to_world.apply_pose(se3_from_se2(goal.pose2d))[:2, 3]
    assert np.hypot(*(goal_world - start[:2])) > 5.0
    config = NavigatorConfig(planner="classical", max_ticks=120, relocalize_every=6)
    nav = Navigator(m, VprLocalizer(m), rig_calibration(cfg.rig), config=config)
    with SimRobot(world, cfg, start) as robot:
        result = nav.navigate(robot, goal_node=goal.id)
        truth = robot.pose
        collisions = robot.collisions
    assert result.state is NavState.ARRIVED, (result.reason, len(result.ticks))
    assert np.hypot(*(truth[:2] - goal_world)) < 1.0  # the truth, not only the estimate
    assert collisions == 0
    assert result.fixes_accepted >= 2  # the start and at least one fix on the way
    planners = {t.planner for t in result.ticks}
    assert planners <= {"classical", "stop"} and "classical" in planners
    assert all({"observe", "esdf", "plan", "drive"} <= set(t.timings) for t in result.ticks[:-1])
    # the estimate tracked the truth on the way (map frame -> world frame)
    last = se2_from_se3(to_world.apply_pose(se3_from_se2(np.array(result.ticks[-1].pose))))
    assert np.hypot(*(last[:2] - truth[:2])) < 0.5


def test_learned_planner_needs_the_tick() -> None:
    with pytest.raises(ValueError, match="needs the exported tick"):
        Navigator(None, None, {"cameras": []})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="planner"):
        NavigatorConfig(planner="random")
