"""A simulated robot driven one control tick at a time: what a navigation loop talks to.

Episodes (:mod:`astra_jax.sim.generate`) render a drive planned in advance by the expert. A
navigator instead decides each tick from what it just saw, so :class:`SimRobot` keeps the true
pose and, per call:

* :meth:`observe`: the rig at the model's resolution (rgb (N, H, W, 3) uint8, z-depth
  (N, H, W) m), as the tick and the run-time ESDF read it;
* :meth:`query_images`: the rig at the mapping resolution, camera name -> (H, W, 3), as
  Astra-Global localizes it against the map's node images;
* :meth:`drive`: body velocities (v m/s, omega rad/s) held for ``duration`` s, clipped to the
  robot's limits and integrated at the physics rate; the IMU and wheel samples of that stretch
  (:class:`~astra_jax.sim.sensors.SensorStream`: the episode's sensor errors, the floor's slip,
  the IMU bias walk carried across ticks). A motion that would bring the robot's disc into an
  obstacle (the world's ESDF below the robot's radius) stops at the last clear step and counts
  one collision.

With ``SimConfig.people`` the robot shares the world with walking people
(:class:`~astra_jax.sim.people.YieldingCrowd`: they give way, as in episodes): the renders show
them where they are at the robot's clock, the crowd moves on at every 0.02 s of a drive, and a
motion that would bring the robot's disc into a person's stops there too and counts one
collision (and one ``people_collisions``).

The simulator's ground truth (``pose``, ``collisions``, ``people_collisions``, ``path``,
``time``) is for the evaluation only.
"""

from __future__ import annotations

import numpy as np

from astra_jax.config import AstraConfig
from astra_jax.sim import seeds
from astra_jax.sim.control import Trajectory, integrate
from astra_jax.sim.depth_noise import apply_depth_noise
from astra_jax.sim.generate import floor_under
from astra_jax.sim.people import YieldingCrowd, plan_walkers
from astra_jax.sim.render import RigRenderer
from astra_jax.sim.scene import build_scene
from astra_jax.sim.sensors import SensorStream, floor_friction
from astra_jax.sim.world import World

CLOSED_LOOP_INDEX = 7_000_000  # sensor stream index of closed-loop drives (episodes use 0..)
CROWD_DURATION = 900.0  # s of planned walks (afterwards the people stand where they are)
CROWD_STEP = 0.02  # s between the crowd's moves during a drive


class SimRobot:
    """The robot of ``config`` in ``world`` at ``start`` (x, y, yaw in the world frame)."""

    def __init__(self, world: World, config: AstraConfig, start: np.ndarray, run: int = 0) -> None:
        sim = config.sim
        self.world, self.config = world, config
        self.occupancy = world.occupancy(sim.occupancy_resolution)
        start = np.asarray(start, np.float64)
        if start.shape != (3,) or not np.all(np.isfinite(start)):
            raise ValueError(f"start pose {start!r}: expected finite (x, y, yaw)")
        if float(self.occupancy.esdf_at(start[None, :2])[0]) < sim.robot.radius:
            raise ValueError(f"start pose {start.tolist()}: the robot's disc is in an obstacle")
        self.pose = start
        self.path = [start.copy()]
        self.collisions = 0
        self.people_collisions = 0
        self.time = 0.0
        self.crowd: YieldingCrowd | None = None
        if sim.people.active:
            walkers = plan_walkers(world, self.occupancy, sim.people, CROWD_DURATION,
                                   CLOSED_LOOP_INDEX + run, avoid=start[:2])  # fmt: skip
            self.crowd = YieldingCrowd(world, self.occupancy, sim.people, walkers,
                                       sim.robot.radius, seed=CLOSED_LOOP_INDEX + run)  # fmt: skip
        scene = build_scene(world, config.rig, sim)
        self._renderer = RigRenderer(scene, config.rig.image_hw)
        self._query_renderer = RigRenderer(scene, config.rig.mapping_hw)
        rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_SENSORS, CLOSED_LOOP_INDEX + run)
        self.sensors = SensorStream(sim.robot, sim.sensors, rng, sim.physics_rate_hz)
        self._depth_rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_DEPTH,
                                        CLOSED_LOOP_INDEX + run)  # fmt: skip

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.config.rig.cameras)

    def people(self) -> np.ndarray | None:
        """(P, 3) the walking people's (x, y, heading) now (None: nobody walks)."""
        return None if self.crowd is None else self.crowd.current()

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """(rgb (N, H, W, 3) uint8, depth (N, H, W) float32 m) at the model's resolution."""
        rgb, depth, _ = self._renderer.render(self.pose, depth=True, seg=False,
                                              people=self.people())  # fmt: skip
        noise = self.config.sim.depth_noise
        if not noise.active:
            return rgb, depth
        fx = self._renderer.intrinsics[:, 0, 0]
        return rgb, apply_depth_noise(depth, noise, self._depth_rng, focal_px=fx)

    def query_images(self) -> dict[str, np.ndarray]:
        """The rig at the mapping resolution, camera name -> (H, W, 3) uint8."""
        rgb, _, _ = self._query_renderer.render(self.pose, depth=False, seg=False,
                                                people=self.people())  # fmt: skip
        return dict(zip(self.camera_names, rgb, strict=True))

    def drive(self, v: float, omega: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
        """Hold (v, omega) for ``duration`` s; returns (imu (K, 6), wheel (K', 2)) of the stretch."""
        sim = self.config.sim
        robot = sim.robot
        if not (np.isfinite(v) and np.isfinite(omega) and duration > 0):
            raise ValueError(f"drive({v}, {omega}, {duration}): expected finite commands, "
                             "duration > 0")  # fmt: skip
        v = float(np.clip(v, -robot.max_linear_speed, robot.max_linear_speed))
        omega = float(np.clip(omega, -robot.max_angular_speed, robot.max_angular_speed))
        dt = 1.0 / sim.physics_rate_hz
        n = max(1, round(duration / dt))
        vs, ws = np.full(n, v), np.full(n, omega)
        poses = integrate(self.pose, vs, ws, dt)
        clear = self.occupancy.esdf_at(poses[1:, :2]) >= robot.radius
        stop = int(np.argmin(clear)) if not clear.all() else n  # first step into an obstacle
        stop, hit_person = self._move_crowd(poses, dt, stop)
        if stop < n:
            vs[stop:] = ws[stop:] = 0.0
            poses = integrate(self.pose, vs, ws, dt)
            self.collisions += 1
            self.people_collisions += int(hit_person)
        traj = Trajectory(dt, poses, vs, ws)
        self.time += n * dt
        floors = floor_under(self.world, self.occupancy, poses[:-1, :2])
        imu, wheel = self.sensors.read(traj, floor_friction(floors))
        self.pose = poses[-1].copy()
        self.path.append(self.pose.copy())
        return imu, wheel

    def _move_crowd(self, poses: np.ndarray, dt: float, stop: int) -> tuple[int, bool]:
        """Move the crowd through a drive of (n + 1, 3) ``poses`` whose first ``stop`` steps
        are clear of walls and objects (the robot stands at ``poses[stop]`` after them), every
        ``CROWD_STEP`` s, each person reacting to the robot where it is then. Returns the
        drive's steps before its first contact with a wall, an object or a person, and whether
        that contact is a person."""
        if self.crowd is None:
            return stop, False
        n = len(poses) - 1
        every = max(1, round(CROWD_STEP / dt))
        reach = self.config.sim.robot.radius + self.config.sim.people.radius
        hit = False
        ticks = list(range(every, n + 1, every))
        for i in ticks + ([n] if not ticks or ticks[-1] != n else []):
            self.crowd.advance(self.time + i * dt, poses[min(i, stop), :2])
            if hit or i - every >= stop:
                continue  # the robot stands from here; people give way to a standing robot
            people = self.crowd.current()[:, :2]
            lo, hi = max(i - every, 0) + 1, min(i, stop)  # poses reached in this stretch
            if hi < lo:
                continue
            gap = np.linalg.norm(poses[lo : hi + 1, None, :2] - people[None], axis=-1).min(1)
            if (gap < reach).any():
                stop, hit = lo + int(np.argmax(gap < reach)) - 1, True
        return stop, hit

    def close(self) -> None:
        self._renderer.close()
        self._query_renderer.close()

    def __enter__(self) -> SimRobot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
