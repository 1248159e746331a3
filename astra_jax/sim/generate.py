"""Episodes: mapping tours that visit every room, and goal-reaching runs of the expert.

* :func:`make_tour` plans a walk over the room graph (every room's most open point, in
  depth-first order from the lobby), drives it with pure pursuit and renders ``frames`` frames
  spread evenly over it, at the rig's ``mapping_hw``.
* :func:`make_goal_episode` draws a start pose and a landmark to reach, plans with A* on the
  inflated occupancy grid plus smoothing (the expert), drives it and renders at
  ``camera_rate_hz`` at the rig's ``image_hw``.

With ``SimConfig.people`` (density above 0), both drive among walking people
(:mod:`astra_jax.sim.people`; the expert of :mod:`astra_jax.sim.expert` slows for them and
replans around them, and they give way in turn), render them and record them
(``people.npy``, ``manifest.people``).

Both derive IMU, wheel readings and wheel odometry from the exact trajectory
(:mod:`astra_jax.sim.sensors`). A tour shows progress bars (:mod:`astra_jax.progress`) while it
drives its route and renders its frames; a goal episode is short and shows none (a batch has
its own bar). Every random choice comes from
``seeds.rng_for(world, seed, stream, index)``, so an episode is a pure function of
(world, index, config).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np

from astra_jax import progress
from astra_jax.config import AstraConfig, PeopleConfig, SimConfig
from astra_jax.sim import seeds
from astra_jax.sim.building import room_finishes
from astra_jax.sim.control import MotionLimits, Trajectory, follow_path
from astra_jax.sim.depth_noise import apply_depth_noise
from astra_jax.sim.episode import Episode
from astra_jax.sim.expert import drive_among_people
from astra_jax.sim.floorplan import FloorPlan
from astra_jax.sim.occupancy import OccupancyMap
from astra_jax.sim.people import YieldingCrowd, plan_walkers
from astra_jax.sim.planning import (
    NoPathError,
    free_mask,
    order_points,
    plan_path,
    room_anchor,
    room_graph,
    room_waypoints,
    tour_order,
)
from astra_jax.sim.render import RigRenderer
from astra_jax.sim.sensors import (
    SensorErrors,
    floor_friction,
    imu_readings,
    wheel_odometry,
    wheel_readings,
)
from astra_jax.sim.world import BACKGROUND_ID, World

TOUR_INDEX = 1 << 20  # episode index used for tours (goal episodes use 0, 1, 2, ...)


def _pad_to_multiple(traj: Trajectory, multiple: int) -> Trajectory:
    """Append rest steps so the step count is a multiple of ``multiple``."""
    extra = (-traj.num_steps) % multiple
    if extra == 0:
        return traj
    pose = np.concatenate([traj.pose, np.repeat(traj.pose[-1:], extra, 0)])
    return Trajectory(
        traj.dt,
        pose,
        np.concatenate([traj.v, np.zeros(extra)]),
        np.concatenate([traj.omega, np.zeros(extra)]),
    )


def _sensor_multiple(sim: SimConfig) -> int:
    r = sim.physics_rate_hz
    ms = [round(r / sim.sensors.imu_rate_hz), round(r / sim.sensors.wheel_rate_hz)]
    return math.lcm(*ms)


def door_openings(plan: FloorPlan) -> list[list[float]]:
    """Each door's opening ``[x0, y0, x1, y1]``: the stretch of the centre line of the wall
    that holds it (the first wall within 5 cm of its position) which the door leaves open, for
    the manifest's ``doors`` field (readers draw doors from it without rebuilding the world). A
    door on no wall (the floor-plan check refuses those) is left out."""
    out = []
    for door in plan.doors:
        p = np.asarray(door.position, dtype=np.float64)
        for wall in plan.walls:
            a = np.asarray(wall.start, dtype=np.float64)
            ab = np.asarray(wall.end, dtype=np.float64) - a
            t = float(np.clip((p - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0))
            if np.linalg.norm(a + t * ab - p) < 0.05:
                u = ab / np.linalg.norm(ab) * door.width / 2
                out.append([*(p - u).tolist(), *(p + u).tolist()])
                break
    return out


def floor_under(world: World, occ: OccupancyMap, xy: np.ndarray) -> list[str]:
    """The floor material (``astra_jax.sim.materials.FLOOR_MATERIALS``) under each point
    (N, 2) of a drive, from the room whose cell holds it. Points on no room's cell (a door
    opening lies between the rooms' polygons) take the room the drive was last in, or the
    first room it reaches; a drive on no room at all takes the first room's floor."""
    floors = [f[0] for f in room_finishes(world)]
    rooms = occ.rooms[tuple(occ.grid.index(xy).T)]
    known = np.flatnonzero(rooms >= 0)
    if len(known) == 0:
        return [floors[0]] * len(rooms)
    # index of the last known point at or before each point (leading points: the first known)
    last = np.maximum.accumulate(np.where(rooms >= 0, np.arange(len(rooms)), -1))
    last[last < 0] = known[0]
    return [floors[r] for r in rooms[last]]


def episode_sensors(world: World, occ: OccupancyMap, sim: SimConfig, traj: Trajectory,
                    rng: np.random.Generator) -> tuple[SensorErrors, list[str], np.ndarray, np.ndarray]:  # fmt: skip
    """An episode's sensors: its fixed errors (drawn first), the floor under each physics step
    (the pose at the step's start; it sets the wheels' slip), the IMU rows (K, 7) and the
    wheel rows (K, 3)."""
    errors = SensorErrors.draw(sim.sensors, rng)
    floors = floor_under(world, occ, traj.pose[:-1, :2])
    imu = imu_readings(traj, sim.sensors, rng, sim.physics_rate_hz, errors)
    wheel = wheel_readings(
        traj, sim.robot, sim.sensors, rng, sim.physics_rate_hz, errors, floor_friction(floors)
    )
    return errors, floors, imu, wheel


@dataclasses.dataclass(frozen=True)
class SensorRun:
    """An episode's proprioception without its renders: frame ``time`` (T,) s, true ``pose``
    and dead-reckoned wheel ``odom_pose`` (T, 3), the ``imu`` (K, 7) and ``wheel`` (K, 3) rows of
    the episode format, the drawn sensor ``errors`` and the floor under each physics step."""

    time: np.ndarray
    pose: np.ndarray
    odom_pose: np.ndarray
    imu: np.ndarray
    wheel: np.ndarray
    errors: SensorErrors
    floors: list[str]


def sensor_run(world: World, sim: SimConfig, traj: Trajectory, times: np.ndarray,
               index: int) -> SensorRun:  # fmt: skip
    """The sensors of episode ``index`` along ``traj``, at frame ``times`` clipped to the
    drive. ``traj`` must already be padded to the sensor rates (``_pad_to_multiple``, as
    :func:`build_episode` and :func:`goal_drive` pad it)."""
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_SENSORS, index)
    times = np.clip(times, 0.0, traj.duration)
    occ = world.occupancy(sim.occupancy_resolution)
    errors, floors, imu, wheel = episode_sensors(world, occ, sim, traj, rng)
    odom = wheel_odometry(wheel, sim.robot, traj.pose[0], times)
    return SensorRun(times, traj.pose_at(times), odom, imu, wheel, errors, floors)


def build_episode(world: World, renderer: RigRenderer, cfg: AstraConfig, kind: str, traj: Trajectory,
                  times: np.ndarray, index: int, extra: dict[str, Any] | None = None,
                  progress_stage: str | None = None, crowd: Crowd | None = None) -> Episode:  # fmt: skip
    """Sensors, odometry, renders and the manifest for a driven trajectory, among ``crowd``'s
    walkers when given. With ``progress_stage``, rendering shows a progress bar of that
    name."""
    sim = cfg.sim
    traj = _pad_to_multiple(traj, _sensor_multiple(sim))
    run = sensor_run(world, sim, traj, times, index)
    times, errors = run.time, run.errors
    occ = world.occupancy(sim.occupancy_resolution)
    people = crowd.people.poses_at(times) if crowd else None
    rgb, depth, seg = _render(renderer, run.pose, progress_stage, people)
    if sim.depth_noise.active:
        depth_rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_DEPTH, index)
        depth = apply_depth_noise(depth, sim.depth_noise, depth_rng,
                                  focal_px=renderer.intrinsics[:, 0, 0])  # fmt: skip
    visited = sorted(
        {int(r) for r in occ.rooms[tuple(occ.grid.index(traj.pose[:, :2]).T)] if r >= 0}
    )
    step_len = np.linalg.norm(np.diff(traj.pose[:, :2], axis=0), axis=1)
    floor_m: dict[str, float] = {}
    for name, d in zip(run.floors, step_len, strict=True):
        floor_m[name] = floor_m.get(name, 0.0) + float(d)
    manifest: dict[str, Any] = {
        "kind": kind,
        "world": world.info(),
        "preset": cfg.name,
        "image_hw": [renderer.height, renderer.width],
        "camera_names": [c.name for c in renderer.scene.rig.cameras],
        "num_frames": len(times),
        "rates_hz": {
            "camera": float(len(times) - 1) / max(float(times[-1] - times[0]), 1e-9)
            if len(times) > 1
            else 0.0,
            "imu": sim.sensors.imu_rate_hz,
            "wheel": sim.sensors.wheel_rate_hz,
            "physics": sim.physics_rate_hz,
        },
        "robot": dataclasses.asdict(sim.robot),
        "noise": dataclasses.asdict(sim.sensors),
        # the factor on each wheel's reading from its radius error (kept from before
        # sensor_errors, which holds every drawn error)
        "wheel_slip": (1.0 / (1.0 + errors.wheel_radius)).tolist(),
        "sensor_errors": {
            **errors.to_json(),
            "floor_m": {k: round(v, 4) for k, v in sorted(floor_m.items())},
        },
        "episode_index": index,
        "background_id": BACKGROUND_ID,
        "landmarks": world.landmark_table(),
        "rooms": [
            {"name": r.name, "label": r.label, "polygon": [list(p) for p in r.polygon]}
            for r in world.plan.rooms
        ],
        "walls": [[*w.start, *w.end, w.thickness, w.height] for w in world.plan.walls],
        "doors": door_openings(world.plan),
        "goal": None,
        "stats": {
            "duration_s": round(traj.duration, 4),
            "path_length_m": round(float(step_len.sum()), 4),
            "min_clearance_m": round(float(occ.esdf_at(traj.pose[:, :2]).min()), 4),
            "rooms_visited": [world.plan.rooms[k].name for k in visited],
        },
    }
    if crowd:
        manifest["people"] = crowd.summary(traj, sim)
    if sim.depth_noise.active:
        manifest["depth_noise"] = dataclasses.asdict(sim.depth_noise)
    manifest.update(extra or {})
    return Episode(
        rgb=rgb, depth=depth, seg=seg, time=times.astype(np.float64), pose=run.pose,
        odom_pose=run.odom_pose, velocity=traj.velocity_at(times), imu=run.imu, wheel=run.wheel,
        intrinsics=renderer.intrinsics,
        extrinsics=renderer.extrinsics, manifest=manifest, people=people,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Crowd:
    """The people of one episode and what they made the expert do (summed over its drives)."""

    people: YieldingCrowd
    config: PeopleConfig
    replans: int = 0
    blocked_s: float = 0.0

    def __bool__(self) -> bool:
        return len(self.people) > 0

    def summary(self, traj: Trajectory, sim: SimConfig) -> dict[str, Any]:
        """The manifest's ``people`` field (:mod:`astra_jax.formats.episode`)."""
        clock = np.arange(0.0, traj.duration + 1e-9, 0.1)
        robot = traj.pose_at(clock)[:, None, :2]
        centre = np.linalg.norm(self.people.poses_at(clock)[..., :2] - robot, axis=-1)
        return {
            "count": len(self.people), "density": self.config.density,
            "radius": self.config.radius, "height": self.config.height,
            "replans": self.replans, "blocked_s": round(self.blocked_s, 2),
            "turned_away": self.people.turned_away,
            "min_gap_m": round(float(centre.min()) - self.config.radius - sim.robot.radius, 4),
        }  # fmt: skip


def episode_crowd(world: World, occ: OccupancyMap, sim: SimConfig, duration: float,
                  index: int, start_xy: np.ndarray) -> Crowd | None:  # fmt: skip
    """The walkers of episode ``index`` for ``duration`` s, none starting near the robot's
    ``start_xy`` (None: the config has no people)."""
    if not sim.people.active:
        return None
    walkers = plan_walkers(world, occ, sim.people, duration, index, avoid=start_xy)
    people = YieldingCrowd(world, occ, sim.people, walkers, sim.robot.radius, seed=index)
    return Crowd(people, sim.people)


def _render(
    renderer: RigRenderer, poses: np.ndarray, stage: str | None, people: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``renderer.render_many(poses, people=people)`` (rgb, depth, seg), frame by frame under a
    progress bar named ``stage`` (None: no bar)."""
    if stage is None:
        return renderer.render_many(poses, people=people)  # type: ignore[return-value]
    t, c, h, w = len(poses), renderer.num_cameras, renderer.height, renderer.width
    rgb = np.empty((t, c, h, w, 3), np.uint8)
    depth = np.empty((t, c, h, w), np.float32)
    seg = np.empty((t, c, h, w), np.int32)
    with progress.bar(stage, t, unit="frame") as bar:
        for k, pose in enumerate(poses):
            rgb[k], depth[k], seg[k] = renderer.render(
                pose, people=None if people is None else people[k]
            )
            bar.update(1)
    return rgb, depth, seg


def tour_trajectory(
    world: World, cfg: AstraConfig, max_speed: float = 0.6
) -> tuple[Trajectory, list[int]]:
    """The trajectory of a tour over every room (nobody walking), and the room visiting
    order."""
    traj, order, _ = tour_drive(world, cfg, max_speed, with_people=False)
    return traj, order


def tour_drive(world: World, cfg: AstraConfig, max_speed: float = 0.6, with_people: bool = True
               ) -> tuple[Trajectory, list[int], Crowd | None]:  # fmt: skip
    """A tour's trajectory, its room order, and its walkers (``cfg.sim.people``; None
    without), whom the driver slows for and steers around."""
    sim = cfg.sim
    occ = world.occupancy(sim.occupancy_resolution)
    graph = room_graph(world, occ, sim.robot.radius + 0.05)
    labels = [r.label for r in world.plan.rooms]
    start = next((k for k, lab in enumerate(labels) if lab in ("lobby", "loading_area")), 0)
    order = tour_order(graph, start)
    # first visit of a room: cover it (large rooms get several waypoints); later visits pass
    # through its anchor
    anchors: list[np.ndarray] = []
    seen: set[int] = set()
    for k in order:
        if k in seen:
            anchors.append(room_anchor(occ, k))
            continue
        seen.add(k)
        pts = room_waypoints(occ, k, sim.robot.radius)
        anchors.extend(order_points(pts, anchors[-1] if anchors else pts[0]))
    legs = [plan_path(occ, a, b, sim.robot.radius) for a, b in itertools.pairwise(anchors)
            if np.linalg.norm(a - b) > 0.2]  # fmt: skip
    first = legs[0] if legs else np.asarray(anchors[:1])
    d = first[min(5, len(first) - 1)] - first[0]
    pose = np.array([first[0, 0], first[0, 1], math.atan2(d[1], d[0])])
    limits = MotionLimits.for_robot(sim.robot, max_speed)
    length = sum(float(np.linalg.norm(np.diff(leg, axis=0), axis=1).sum()) for leg in legs)
    crowd = (
        episode_crowd(world, occ, sim, length / 0.25 + 60.0, TOUR_INDEX, pose[:2])
        if with_people
        else None
    )
    # drive leg by leg: stop at each room's anchor, as a person showing the robot around would
    parts, clock, replans, blocked = [], 0.0, 0, 0.0
    with progress.bar("route", len(legs), unit="leg") as bar:
        for leg in legs:
            drive = drive_among_people(occ, leg, pose, leg[-1], crowd.people if crowd else None,
                                       sim.physics_rate_hz, limits, sim.robot.radius,
                                       clock0=clock)  # fmt: skip
            parts.append(drive.trajectory)
            pose, clock = drive.trajectory.pose[-1], clock + drive.trajectory.duration
            replans, blocked = replans + drive.replans, blocked + drive.blocked_s
            bar.update(1)
    if not parts:
        parts = [follow_path(first, pose, sim.physics_rate_hz, limits)]
    if crowd:
        crowd = dataclasses.replace(crowd, replans=replans, blocked_s=blocked)
    return Trajectory.concatenate(parts), order, crowd


def make_tour(
    world: World, renderer: RigRenderer, cfg: AstraConfig, frames: int, max_speed: float = 0.6
) -> Episode:
    """A tour visiting every room (among ``cfg.sim.people``), rendered as ``frames`` frames
    evenly spaced in time."""
    if frames < 2:
        raise ValueError(f"frames = {frames}: expected at least 2")
    traj, order, crowd = tour_drive(world, cfg, max_speed)
    traj = _pad_to_multiple(traj, _sensor_multiple(cfg.sim))
    times = np.linspace(0.0, traj.duration, frames)
    extra = {"tour_rooms": [world.plan.rooms[k].name for k in order]}
    return build_episode(
        world, renderer, cfg, "tour", traj, times, TOUR_INDEX, extra, "render", crowd
    )


# ----------------------------------------------------------------------------- goal episodes


def approach_pose(
    world: World,
    landmark_id: int,
    clearance: float,
    free: np.ndarray | None = None,
    occ: OccupancyMap | None = None,
) -> np.ndarray | None:
    """A free pose (x, y, yaw) in front of a landmark, facing it; None if there is none."""
    occ = world.occupancy() if occ is None else occ
    lm = world.landmark(landmark_id)
    c = np.asarray(lm.position[:2])
    base = lm.yaw
    for dist_extra in (0.35, 0.6, 0.9):
        for dang in (0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5):
            a = base + dang
            reach = 0.5 * max(lm.size[0], min(lm.size[1], 1.2)) + clearance + dist_extra
            p = c + reach * np.array([math.cos(a), math.sin(a)])
            if occ.esdf_at(p) <= clearance:
                continue
            if free is not None:
                ij = occ.grid.index(p)
                if not free[ij[0], ij[1]]:
                    continue
            yaw = math.atan2(c[1] - p[1], c[0] - p[0])
            return np.array([p[0], p[1], yaw])
    return None


@dataclasses.dataclass(frozen=True)
class GoalDrive:
    """The expert's drive of goal episode ``index``, before sensors and renders: the padded
    trajectory, the frame times, the A* path (N, 2), the manifest's ``goal`` and the crowd."""

    traj: Trajectory
    times: np.ndarray
    path: np.ndarray
    goal: dict[str, Any]
    crowd: Crowd | None


def goal_drive(world: World, cfg: AstraConfig, index: int, min_path: float = 4.0,
               max_path: float = 15.0) -> GoalDrive:  # fmt: skip
    """The expert drives from a random free pose to a random landmark (episode ``index``)."""
    sim = cfg.sim
    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_EPISODE, index)
    occ = world.occupancy(sim.occupancy_resolution)
    clearance = sim.robot.radius + 0.1
    free = free_mask(occ, clearance + 0.05)
    cells = np.argwhere(free)
    limits = MotionLimits.for_robot(sim.robot)
    for _attempt in range(40):
        lm = world.landmarks[int(rng.integers(len(world.landmarks)))]
        goal = approach_pose(world, lm.id, clearance, free, occ)
        if goal is None:
            continue
        start_xy = occ.grid.to_world(cells[int(rng.integers(len(cells)))].astype(np.float64))
        if np.linalg.norm(start_xy - goal[:2]) < min_path:
            continue
        try:
            path = plan_path(occ, start_xy, goal[:2], sim.robot.radius)
        except NoPathError:
            continue
        length = float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))
        if not min_path <= length <= max_path:
            continue
        pose0 = np.array([start_xy[0], start_xy[1], rng.uniform(-math.pi, math.pi)])
        max_time = length / 0.3 + 20.0
        crowd = episode_crowd(world, occ, sim, max_time + 5.0, index, start_xy)
        drive = drive_among_people(occ, path, pose0, goal[:2], crowd.people if crowd else None,
                                   sim.physics_rate_hz, limits, sim.robot.radius,
                                   goal_yaw=float(goal[2]), max_time=max_time)  # fmt: skip
        if crowd:
            crowd = dataclasses.replace(crowd, replans=drive.replans, blocked_s=drive.blocked_s)
        traj = _pad_to_multiple(drive.trajectory, _sensor_multiple(sim))
        n = math.floor(traj.duration * sim.camera_rate_hz + 1e-9) + 1
        times = np.arange(n) / sim.camera_rate_hz
        colour = lm.attributes.get("colour", "")
        name = lm.category.replace("_", " ")
        goal_info = {
            "landmark_id": lm.id,
            "category": lm.category,
            "function": lm.function,
            "description": f"the {colour} {name}".replace("  ", " "),
            "instruction": f"Take me to the place where I can {lm.function}.",
            "pose": [float(v) for v in goal],
            "reached_m": round(float(np.linalg.norm(traj.pose[-1, :2] - goal[:2])), 4),
        }
        return GoalDrive(traj, times, path.astype(np.float64), goal_info, crowd)
    raise NoPathError(f"{world.name}: no goal episode found for index {index} after 40 attempts")


def make_goal_episode(world: World, renderer: RigRenderer, cfg: AstraConfig, index: int,
                      min_path: float = 4.0, max_path: float = 15.0) -> Episode:  # fmt: skip
    """Goal episode ``index``: :func:`goal_drive`, its sensors and its renders."""
    d = goal_drive(world, cfg, index, min_path, max_path)
    ep = build_episode(
        world, renderer, cfg, "goal", d.traj, d.times, index, {"goal": d.goal}, crowd=d.crowd
    )
    return dataclasses.replace(ep, expert_path=d.path)


def goal_sensor_run(world: World, cfg: AstraConfig, index: int) -> SensorRun:
    """Goal episode ``index``'s sensors exactly as :func:`make_goal_episode` draws them (same
    drive, same sensor stream), without rendering: odometry studies over hundreds of episodes
    in seconds each."""
    d = goal_drive(world, cfg, index)
    return sensor_run(world, cfg.sim, d.traj, d.times, index)
