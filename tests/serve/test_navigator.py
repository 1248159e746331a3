"""The navigation loop in the simulator: localize the start on the tests' map, route, drive with
the classical planner on the run-time ESDF and wheel + gyro odometry fused with VPR fixes, and
arrive at the goal node, scored against the simulator's truth by ``astra eval nav``'s code."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

import astra_jax.sim
from astra_jax.config import get_preset
from astra_jax.demo_nav import ARTIFACT
from astra_jax.global_model.vpr_localizer import VprLocalizer
from astra_jax.local_model.depth_occupancy import LocalGridConfig
from astra_jax.local_model.occupancy_memory import OccupancyMemory
from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour
from astra_jax.serve.ekf import PoseFilter
from astra_jax.serve.export import rig_calibration
from astra_jax.serve.fix_worker import FixWorker
from astra_jax.serve.nav_eval import draw_episodes, run_episode, summarize
from astra_jax.serve.navigator import Navigator, NavigatorConfig
from astra_jax.serve.runtime import LocalRuntime
from astra_jax.serve.tick import TickConfig
from astra_jax.sim import load_world
from astra_jax.train.train_config import config_from_json


@pytest.fixture(scope="module")
def setting(sim_map: Path, sim_tour_dir: Path):
    cfg = get_preset("small")  # the tests' map was built from the small preset's tour
    plan = Path(astra_jax.sim.__file__).parent / "floorplans" / "small_office.json"
    world = load_world(None, 0, plan, cfg.sim)
    return cfg, world, load_map(sim_map), load_tour(sim_tour_dir)


def test_navigates_to_a_node_with_the_classical_planner(setting, monkeypatch) -> None:
    cfg, world, m, tour = setting
    (start, goal), (start2, goal2), *_ = draw_episodes(m, tour, 2, seed=0)
    # with the run-time map's memory on (off by default), so that its wiring is exercised;
    # fix_wait: the simulator ticks faster than real time (a robot's fixes would have come)
    config = NavigatorConfig(planner="classical", max_ticks=120, relocalize_every=6,
                             occupancy_memory=2, fix_wait=True)  # fmt: skip
    nav = Navigator(m, VprLocalizer(m), rig_calibration(cfg.rig), config=config)
    occupancy = world.occupancy(cfg.sim.occupancy_resolution)
    remembered: list[np.ndarray] = []  # the odometry poses the run-time grids were taken at
    update = OccupancyMemory.update

    def spy(self, occ, odom):
        remembered.append(np.asarray(odom))
        return update(self, occ, odom)

    monkeypatch.setattr(OccupancyMemory, "update", spy)
    e = run_episode(nav, world, cfg, m, start, goal, occupancy, run=0)
    # every planned tick's grid went through the memory, at odometry poses along the drive
    assert len(remembered) >= 0.8 * e["ticks"]  # not on recovery, lost or arrival ticks
    travelled = np.linalg.norm(np.diff(np.array(remembered)[:, :2], axis=0), axis=1).sum()
    assert travelled > 0.8 * e["shortest_m"]
    # the same navigator again, elsewhere: nothing of the first run may leak into the second
    # (a filter kept from it gated every fix of the new start away)
    again = run_episode(nav, world, cfg, m, start2, goal2, occupancy, run=1)
    assert again["fixes"][0] >= 1 and again["state"] == "arrived", again["reason"]
    assert e["state"] == "arrived" and e["success"], e["reason"]  # within 1 m by the truth
    assert e["shortest_m"] > 5.0 and 0.7 < e["spl"] <= 1.0
    # the start is in a tight spot (0.30 m clearance): a bump or two before the bump memory and
    # the back-off get it out (the fixes vary a little: pycolmap's RANSAC is not seeded)
    assert e["fallback_ticks"] == 0 and e["collisions"] <= 3
    assert e["self_localized"] and e["max_error_m"] < 0.5  # the estimate tracked the truth
    assert e["fixes"][0] >= 2  # the start and at least one fix on the way
    assert {"observe", "esdf", "plan", "drive"} <= set(e["tick_ms"])
    s = summarize([e, {**e, "success": False, "spl": 0.0, "self_localized": False}])
    assert s["success"] == 0.5 and s["self_localization"] == 0.5 and s["episodes"] == 2


def test_fixes_localized_beside_the_loop_are_fused_at_their_images_time(
    setting, monkeypatch
) -> None:
    """``fix_latency_ticks`` 2: the fixes on the way are localized on the worker thread while the
    loop ticks on, and fused two ticks after their images (at their time); the robot arrives
    with its estimate on the truth."""
    cfg, world, m, tour = setting
    (start, goal), *_ = draw_episodes(m, tour, 1, seed=0)
    vpr, threads = VprLocalizer(m), []

    class Recording:  # the VPR localizer, noting the thread of each call
        def localize(self, images):
            threads.append(threading.get_ident())
            return vpr.localize(images)

    config = NavigatorConfig(planner="classical", max_ticks=120, relocalize_every=6,
                             fix_latency_ticks=2, fix_wait=True)  # fmt: skip
    nav = Navigator(m, Recording(), rig_calibration(cfg.rig), config=config)
    # each fusion goes back to the filter of its images' tick and replays the 2 drives since
    states: list[tuple] = []  # (tick, the filter after that tick's fixes)
    delayed: list[tuple] = []
    plain_delayed, plain_submit = PoseFilter.update_delayed, FixWorker.submit

    def spy_delayed(self, fix, confidence, then, motions):
        delayed.append((then, len(motions)))
        return plain_delayed(self, fix, confidence, then, motions)

    def spy_submit(self, tick, images):
        states.append((tick, nav.filter.state()))
        return plain_submit(self, tick, images)

    monkeypatch.setattr(PoseFilter, "update_delayed", spy_delayed)
    monkeypatch.setattr(FixWorker, "submit", spy_submit)
    results, navigate = [], nav.navigate
    nav.navigate = lambda *a, **k: results.append(navigate(*a, **k)) or results[-1]  # type: ignore[method-assign]
    occupancy = world.occupancy(cfg.sim.occupancy_resolution)
    e = run_episode(nav, world, cfg, m, start, goal, occupancy, run=0)
    assert e["state"] == "arrived" and e["success"], e["reason"]
    assert e["self_localized"] and e["max_error_m"] < 0.5
    ticks = results[0].ticks
    asked = [t.tick for t in ticks if "asked" in t.fix]
    fused = [t for t in ticks if "images of tick" in t.fix]
    assert len(asked) >= 2 and all(k % 6 == 0 for k in asked)  # never lost on this drive
    assert len(fused) >= 1 and all(f"images of tick {t.tick - 2}" in t.fix for t in fused)
    assert {t.tick - 2 for t in fused} <= set(asked)
    assert len(delayed) == len(fused) and all(n == 2 for _, n in delayed)
    for (then, _), (_, saved) in zip(delayed, states, strict=False):  # the state at its ask
        np.testing.assert_array_equal(then.pose, saved.pose)
    # the start is localized in the loop's thread (the robot waits there); the rest beside it
    main = threading.get_ident()
    beside = [t for t in threads if t != main]
    assert threads[0] == main and len(beside) == len(asked)
    # each fix's ticks record the localizer's time on the worker and the wait for it (the
    # simulator ticks faster than real time); the loop's own work per tick leaves them out, and
    # the simulator's cameras and wheels
    back = [tick.timings for tick in fused]
    assert all("fix_worker" in x and "fix_wait" in x for x in back)
    assert all("localize" in tick.timings for tick in ticks if "asked" in tick.fix)
    assert all("images" in tick.timings for tick in ticks if "asked" in tick.fix)
    loop = summarize([e])["loop_ms"]
    parts = ("observe", "images", "drive", "fix_wait", "fix_worker")
    work = sorted(1e3 * sum(v for p, v in t.items() if p not in parts) for t in e["tick_s"])
    assert loop["max"] == pytest.approx(work[-1]) and loop["p50"] == pytest.approx(np.median(work))


def test_navigates_with_the_esdf_guided_learned_tick(setting) -> None:
    """The shipped tiny heads (exported with ESDF guidance): the navigator computes the run-time
    ESDF before each tick, feeds it in, and the robot arrives. Here each fix is localized in
    the tick that asks for it (``fix_latency_ticks`` 0) and fused there."""
    cfg, world, m, tour = setting
    grid = LocalGridConfig()
    runtime = LocalRuntime(ARTIFACT)
    assert config_from_json(TickConfig, runtime.manifest["config"]).guidance is not None
    fed: list[np.ndarray] = []
    plain_tick = runtime.tick

    def spy(state, inputs):
        fed.append(np.asarray(inputs["esdf"]))
        return plain_tick(state, inputs)

    runtime.tick = spy  # type: ignore[method-assign]
    hw = tuple(runtime.manifest["rig"]["image_hw"])
    cfg = dataclasses.replace(cfg, rig=dataclasses.replace(cfg.rig, image_hw=hw))
    (start, goal), *_ = draw_episodes(m, tour, 1, seed=0)
    config = NavigatorConfig(planner="learned", max_ticks=120, relocalize_every=6,
                             fix_latency_ticks=0)  # fmt: skip
    nav = Navigator(m, VprLocalizer(m), rig_calibration(cfg.rig), runtime, config=config,
                    wheel_radius=cfg.sim.robot.wheel_radius,
                    wheel_base=cfg.sim.robot.wheel_base)  # fmt: skip
    assert nav.guided
    results, navigate = [], nav.navigate
    nav.navigate = lambda *a, **k: results.append(navigate(*a, **k)) or results[-1]  # type: ignore[method-assign]
    occupancy = world.occupancy(cfg.sim.occupancy_resolution)
    e = run_episode(nav, world, cfg, m, start, goal, occupancy, run=0)
    assert e["state"] == "arrived" and e["success"], e["reason"]
    fixed = [t for t in results[0].ticks if t.fix]
    assert fixed and all(t.fix.startswith(("accepted", "rejected")) for t in fixed)
    assert all(t.tick % 6 == 0 and "localize" in t.timings for t in fixed)
    assert all(x.shape == (1, *grid.shape) for x in fed)
    fields = [x for x in fed if x.any()]  # the runtime's warm-up feeds zeros
    assert len(fields) >= e["ticks"] > 10
    # real fields: obstacles (< 0.3 m) and free space (> 1 m) in every tick's grid
    assert all(x.min() < 0.3 and x.max() > 1.0 for x in fields)
    # a tick exported for another grid is refused, naming both
    small = dataclasses.replace(config, grid=dataclasses.replace(grid, shape=(48, 48)))
    with pytest.raises(ValueError, match="esdf input"):
        Navigator(m, VprLocalizer(m), rig_calibration(cfg.rig), runtime, config=small)


def test_navigates_with_the_gyro_calibrated_against_the_depth_scans(setting, monkeypatch) -> None:
    """An artifact whose odometry read the scan-calibrated gyro (``gyro_reference "scan"``; a
    stand-in tick without planning or odometry outputs, so the kinematic prior drives on the
    calibrated gyro): every tick's rendered depth frame is matched to the last one's at the
    tick's clock, the matches pass the gate, and the robot arrives."""
    from types import SimpleNamespace

    from astra_jax.maps.scan_gyro_calibration import ScanGyroScaleEstimator

    cfg, world, m, tour = setting
    odometry = {"gyro_calibration": True, "gyro_reference": "scan"}
    runtime = SimpleNamespace(
        manifest={"config": {"odometry": odometry}, "inputs": {}},
        warm_up=lambda batch: None, init_state=lambda batch: None,
        tick=lambda state, inputs: (state, {"odometry_valid": np.zeros(1, bool)}),
    )  # fmt: skip
    seen: list[tuple[float, int, int]] = []  # (time, scan points, pairs fitted before)
    plain = ScanGyroScaleEstimator.observe_scan

    def spy(self, time, scan, odom_pose=None):
        seen.append((time, len(scan), self.pairs))
        return plain(self, time, scan, odom_pose)

    monkeypatch.setattr(ScanGyroScaleEstimator, "observe_scan", spy)
    (start, goal), *_ = draw_episodes(m, tour, 1, seed=0)
    config = NavigatorConfig(planner="classical", max_ticks=120, relocalize_every=6,
                             fix_wait=True)  # fmt: skip
    nav = Navigator(m, VprLocalizer(m), rig_calibration(cfg.rig), runtime, config=config,
                    wheel_radius=cfg.sim.robot.wheel_radius,
                    wheel_base=cfg.sim.robot.wheel_base)  # fmt: skip
    e = run_episode(nav, world, cfg, m, start, goal, world.occupancy(cfg.sim.occupancy_resolution),
                    run=0)  # fmt: skip
    assert e["state"] == "arrived" and e["success"], e["reason"]
    assert "gyro" in e["tick_ms"] and len(seen) >= e["ticks"] > 10
    times = np.array([t for t, _, _ in seen])
    # one frame per tick, at the clock of the stretch it ends (after the first, at-rest one)
    np.testing.assert_allclose(np.diff(times), config.tick_interval, atol=1e-9)
    assert times[0] == pytest.approx(config.tick_interval)
    assert min(n for _, n, _ in seen) > 100  # the office's walls and furniture in every scan
    assert nav._gyro.pairs >= 0.8 * (len(seen) - 1)  # most matches pass the gate
    assert abs(nav._gyro.scale - 1.0) < 0.05


def test_navigator_config_checks() -> None:
    with pytest.raises(ValueError, match="needs the exported tick"):
        Navigator(None, None, {"cameras": []})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="planner"):
        NavigatorConfig(planner="random")
    with pytest.raises(ValueError, match="occupancy_memory"):
        NavigatorConfig(occupancy_memory=-1)
    with pytest.raises(ValueError, match="astar_lookahead"):
        NavigatorConfig(astar_lookahead=0.0)
    with pytest.raises(ValueError, match="squeeze_after"):
        NavigatorConfig(squeeze_after=0)
    with pytest.raises(ValueError, match="squeeze_margin"):
        NavigatorConfig(squeeze_margin=0.1)  # not below A*'s margin: no smaller search


def test_the_navigator_calibrates_the_gyro_when_the_head_was_trained_so() -> None:
    """With an artifact whose odometry head read the calibrated gyro, each stretch's gyro is
    calibrated online, stretch after stretch as on the whole record, and afresh per run;
    without it the samples pass as read."""
    from types import SimpleNamespace

    from astra_jax.config import RobotConfig, SensorNoiseConfig
    from astra_jax.maps.imu_calibration import calibrate_gyro
    from astra_jax.sim.control import Trajectory, integrate
    from astra_jax.sim.sensors import SensorErrors, imu_readings, wheel_readings

    rate, n = 200.0, 4000  # 20 s: 40 ticks of 0.5 s
    v, omega = np.full(n, 0.5), 0.6 * (np.arange(n) % 1200 < 400)
    traj = Trajectory(1 / rate, integrate(np.zeros(3), v, omega, 1 / rate), v, omega)
    errors = SensorErrors(np.zeros(3), np.array([0, 0, 0.02]), np.zeros(2), 0.0)
    noise, rng = SensorNoiseConfig(), np.random.default_rng(0)
    imu = imu_readings(traj, noise, rng, rate, errors)  # (4000, 7): 200 Hz
    wheel = wheel_readings(traj, RobotConfig(), noise, rng, rate, errors)  # (2000, 3): 100 Hz

    def runtime(calibrated: bool):
        odometry = {"gyro_calibration": True} if calibrated else {}
        return SimpleNamespace(manifest={"config": {"odometry": odometry}, "inputs": {}})

    classical = NavigatorConfig(planner="classical")
    nav = Navigator(None, None, {"cameras": []}, runtime(True), config=classical)  # type: ignore[arg-type]
    want = calibrate_gyro(imu, wheel, 0.08)[:, 1:]
    for _ in range(2):  # the second run starts from a fresh calibration
        nav._reset_gyro()
        got = [nav._calibrated(imu[i * 100 : (i + 1) * 100, 1:], wheel[i * 50 : (i + 1) * 50, 1:])
               for i in range(40)]  # fmt: skip
        np.testing.assert_allclose(np.concatenate([g[0] for g in got]), want, rtol=1e-12)
    assert nav._gyro.scale == pytest.approx(1.02, abs=3e-3)
    plain = Navigator(None, None, {"cameras": []}, runtime(False), config=classical)  # type: ignore[arg-type]
    plain._reset_gyro()
    raw_imu, raw_wheel = imu[:100, 1:], wheel[:50, 1:]
    out_imu, out_wheel = plain._calibrated(raw_imu, raw_wheel)
    assert out_imu is raw_imu and out_wheel is raw_wheel


def test_the_navigator_calibrates_against_the_depth_scans_when_the_head_was_trained_so() -> None:
    """``gyro_reference = "scan"``: the run's estimator matches the rig's depth frames (with
    the rig's cameras), each stretch's gyro is divided by its current scale, and a reference
    the navigator does not know is refused."""
    from types import SimpleNamespace

    from scan_scenes import room_points, seen_from  # tests/ is on sys.path

    from astra_jax.maps.scan_gyro_calibration import ScanGyroScaleEstimator

    def runtime(reference: str):
        odometry = {"gyro_calibration": True, "gyro_reference": reference}
        return SimpleNamespace(manifest={"config": {"odometry": odometry}, "inputs": {}})

    rig = {"cameras": [{"intrinsics": np.eye(3).tolist(), "T_ego_cam": np.eye(4).tolist()}]}
    classical = NavigatorConfig(planner="classical")
    nav = Navigator(None, None, rig, runtime("scan"), config=classical)  # type: ignore[arg-type]
    nav._reset_gyro()
    assert isinstance(nav._gyro, ScanGyroScaleEstimator)
    np.testing.assert_array_equal(nav._gyro.extrinsics, np.eye(4)[None])
    # a 3 % fast gyro turning in place at 0-0.6 rad/s for 20 s: rows (gyro xyz, accel xyz) of 0.5 s
    # stretches (the fit's intercept takes the bias, so the turns must differ)
    wheel, room, heading = np.zeros((50, 2)), room_points(), 0.0
    for k in range(40):
        rate = 0.2 * (k % 4)
        stretch = np.tile([0.0, 0.0, rate * 1.03, 0.0, 0.0, 9.81], (100, 1))
        out, _ = nav._calibrated(stretch, wheel)
        np.testing.assert_allclose(out[:, 2], stretch[:, 2] / nav._gyro.scale, rtol=1e-12)
        heading += 0.5 * rate
        nav._gyro.observe_scan(nav._clock, seen_from(room, np.array([1.0, 1.0, heading])))
    # 20 s of turns: the ridge to 1 (the 1 % prior) still holds back ~0.2 % of the 3 %
    assert nav._gyro.pairs == 39 and nav._gyro.scale == pytest.approx(1.03, abs=3e-3)
    with pytest.raises(ValueError, match="gyro_reference"):
        Navigator(None, None, rig, runtime("lidar"), config=classical)  # type: ignore[arg-type]


def test_the_navigation_loop_never_imports_flax() -> None:
    """A robot runs the navigator beside the exported tick (no model code): importing it, with
    its classical planner, run-time occupancy and kinematic prior, must not pull in Flax."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import astra_jax.serve.navigator\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'flax'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_eval_nav_names_a_bad_depth_noise_before_any_world_is_prepared() -> None:
    from astra_jax.config import ConfigError
    from astra_jax.serve.nav_eval import evaluate_nav

    for bad in (-1.0, float("inf")):
        with pytest.raises(ConfigError, match="--depth-noise: depth noise scale"):
            evaluate_nav(["small_office:1100000"], depth_noise=bad)
    for bad in (-1, 0.5):
        with pytest.raises(ConfigError, match="--fix-latency-ticks: fix_latency_ticks"):
            evaluate_nav(["small_office:1100000"], fix_latency_ticks=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--squeeze-after: squeeze_after"):
        evaluate_nav(["small_office:1100000"], squeeze_after=-2)


def test_a_real_time_robot_ends_each_drive_a_tick_after_the_tick_began(monkeypatch) -> None:
    """``RealTimeRobot`` (``run_episode(real_time=True)``, bench/nav_loop.py) paces the simulator
    as a robot: a tick that took less than its interval sleeps out the rest in its drive."""
    from types import SimpleNamespace

    import astra_jax.serve.nav_eval as nav_eval
    from astra_jax.serve.nav_eval import RealTimeRobot

    calls, slept, clock = [], [], iter([10.0, 10.05])  # the tick began at 10 s, drove by 10.05 s
    monkeypatch.setattr(nav_eval.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(nav_eval.time, "sleep", slept.append)
    fake = SimpleNamespace(
        camera_names=("front",),
        pose=np.zeros(3),
        observe=lambda: calls.append("observe") or ("rgb", "depth"),
        query_images=lambda: calls.append("images") or {"front": "image"},
        drive=lambda v, w, d: calls.append(("drive", v, w, d)) or ("imu", "wheel"),
    )
    robot = RealTimeRobot(fake, interval=0.2)
    assert robot.drive(0.1, 0.0, 0.5) == ("imu", "wheel") and slept == []  # before any tick
    assert robot.observe() == ("rgb", "depth") and robot.query_images() == {"front": "image"}
    assert robot.drive(0.3, 0.1, 0.5) == ("imu", "wheel")
    assert slept == [pytest.approx(0.15)]  # the rest of the 0.2 s tick
    assert calls == [("drive", 0.1, 0.0, 0.5), "observe", "images", ("drive", 0.3, 0.1, 0.5)]
    assert robot.camera_names == ("front",) and robot.pose is fake.pose


def test_episode_starts_where_the_robot_does_not_fit_are_skipped(setting) -> None:
    _, _, m, tour = setting
    free = draw_episodes(m, tour, 3, seed=0)
    blocked_xy = free[0][0][:2]

    class OneBlockedPlace:  # the world's occupancy with the first start's place taken
        def esdf_at(self, xy: np.ndarray) -> np.ndarray:
            d = np.linalg.norm(np.asarray(xy) - blocked_xy, axis=-1)
            return np.where(d < 1e-9, 0.1, 5.0).astype(np.float32)

    drawn = draw_episodes(m, tour, 3, seed=0, occupancy=OneBlockedPlace(), clearance=0.3)
    assert len(drawn) == 3 and all(np.linalg.norm(s[:2] - blocked_xy) > 1e-9 for s, _ in drawn)
    # the next starts of the same order take its place
    np.testing.assert_array_equal(np.array([s for s, _ in drawn[:2]]),
                                  np.array([s for s, _ in free[1:]]))  # fmt: skip


def test_astar_plans_to_a_carrot_on_the_route_when_asked(setting) -> None:
    from astra_jax.geometry import se2_relative
    from astra_jax.maps.routing import pick_subgoal, route_from_pose, route_progress

    cfg, _, m, _ = setting
    start, goal = m.nodes[0], m.nodes[-1]
    route = route_from_pose(m, start.pose2d, goal.id, spacing=2.0)
    est = np.array([*route.waypoints[0], 0.3])
    sub_i = pick_subgoal(route, est)
    off = Navigator(m, None, rig_calibration(cfg.rig),
                    config=NavigatorConfig(planner="classical", astar_lookahead=None))  # fmt: skip
    assert off._astar_goal(route, sub_i, est) is None  # A* plans to the subgoal
    on = Navigator(m, None, rig_calibration(cfg.rig),
                   config=NavigatorConfig(planner="classical", astar_lookahead=0.8))  # fmt: skip
    ego = on._astar_goal(route, sub_i, est)
    world = se2_relative(np.array([0.0, 0.0, -est[2]]), np.array([*ego, 0.0]))[:2] + est[:2]
    # on the route, 0.8 m of arc ahead of the robot's projection (before the first subgoal)
    assert route_progress(route, np.array([*world, 0.0])) == pytest.approx(
        route_progress(route, est) + 0.8, abs=1e-6
    )
    far = Navigator(m, None, rig_calibration(cfg.rig),
                    config=NavigatorConfig(planner="classical", astar_lookahead=50.0))  # fmt: skip
    np.testing.assert_allclose(far._astar_goal(route, sub_i, est),
                               se2_relative(est, route.subgoals[sub_i])[:2], atol=1e-6)  # fmt: skip


def test_a_stalled_robot_squeezes_through_a_narrow_door(setting) -> None:
    """The robot at the mouth of a 0.9 m door read 0.05 m short, as the run-time ESDF reads:
    the door's free width is under 2 (radius + margin), so A* at its margin stays put; squeezing
    (the navigator's choice once stalled) plans through it at the squeeze margin, keeping the
    radius."""
    from astra_jax.geometry import signed_distance
    from astra_jax.local_model.depth_occupancy import EgoESDF, ego_cell_centres
    from astra_jax.local_model.plan_metrics import path_points

    cfg, _, m, _ = setting
    grid = LocalGridConfig()
    c = ego_cell_centres(grid.shape, grid.resolution)

    def wall_with_door(half_width: float) -> EgoESDF:  # the wall 0.1-0.3 m ahead of the robot
        wall = (c[..., 0] >= 0.1) & (c[..., 0] < 0.3) & (np.abs(c[..., 1]) >= half_width)
        return EgoESDF(signed_distance(wall, grid.resolution) - 0.05, grid.resolution)

    esdf, goal = wall_with_door(0.45), np.array([3.0, 0.0])
    nav = Navigator(m, None, rig_calibration(cfg.rig), config=NavigatorConfig(planner="classical"))
    poses, planner = nav._plan(None, esdf, goal, 8, 0.5)
    assert planner == "classical" and nav._command(poses) == (0.0, 0.0)  # it stands
    poses, planner = nav._plan(None, esdf, goal, 8, 0.5, squeeze=True)
    assert planner == "squeeze" and poses[-1, 0] > 1.0  # through the door
    assert esdf.at(path_points(poses)).min() > nav.config.astar.radius
    # where the margin's plan moves the robot, squeezing leaves it alone
    wide = wall_with_door(0.7)
    np.testing.assert_array_equal(nav._plan(None, wide, goal, 8, 0.5, squeeze=True)[0],
                                  nav._plan(None, wide, goal, 8, 0.5)[0])  # fmt: skip


def test_a_bump_is_remembered_while_the_robot_stays_beside_it() -> None:
    """A bump expires ``bump_ticks`` after it only once the robot has left it: one that waited
    beside a bump for it to expire drove into the same obstacle again and again."""
    from astra_jax.serve.navigator import live_bumps

    c = NavigatorConfig(bump_ticks=20, bump_forget_distance=1.0)
    bumps = [(0, np.array([5.0, 5.0])), (15, np.array([9.0, 9.0]))]
    assert len(live_bumps(bumps, 20, np.array([0.0, 0.0]), c)) == 2  # both young
    beside = live_bumps(bumps, 30, np.array([5.3, 5.0]), c)  # the first is old, but near
    assert [k for k, _ in beside] == [0, 15]
    away = live_bumps(bumps, 30, np.array([7.0, 7.0]), c)  # left it: forgotten
    assert [k for k, _ in away] == [15]
    assert live_bumps(bumps, 40, np.array([7.0, 7.0]), c) == []
