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

The simulator's ground truth (``pose``, ``collisions``, ``path``) is for the evaluation only.
"""

from __future__ import annotations

import numpy as np

from astra_jax.config import AstraConfig
from astra_jax.sim import seeds
from astra_jax.sim.control import Trajectory, integrate
from astra_jax.sim.generate import floor_under
from astra_jax.sim.render import RigRenderer
from astra_jax.sim.scene import build_scene
from astra_jax.sim.sensors import SensorStream, floor_friction
from astra_jax.sim.world import World

CLOSED_LOOP_INDEX = 7_000_000  # sensor stream index of closed-loop drives (episodes use 0..)


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
        scene = build_scene(world, config.rig)
        self._renderer = RigRenderer(scene, config.rig.image_hw)
        self._query_renderer = RigRenderer(scene, config.rig.mapping_hw)
        rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_SENSORS, CLOSED_LOOP_INDEX + run)
        self.sensors = SensorStream(sim.robot, sim.sensors, rng, sim.physics_rate_hz)

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.config.rig.cameras)

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """(rgb (N, H, W, 3) uint8, depth (N, H, W) float32 m) at the model's resolution."""
        rgb, depth, _ = self._renderer.render(self.pose, depth=True, seg=False)
        return rgb, depth

    def query_images(self) -> dict[str, np.ndarray]:
        """The rig at the mapping resolution, camera name -> (H, W, 3) uint8."""
        rgb, _, _ = self._query_renderer.render(self.pose, depth=False, seg=False)
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
        if not clear.all():
            first = int(np.argmin(clear))  # the first step that would touch an obstacle
            vs[first:] = ws[first:] = 0.0
            poses = integrate(self.pose, vs, ws, dt)
            self.collisions += 1
        traj = Trajectory(dt, poses, vs, ws)
        floors = floor_under(self.world, self.occupancy, poses[:-1, :2])
        imu, wheel = self.sensors.read(traj, floor_friction(floors))
        self.pose = poses[-1].copy()
        self.path.append(self.pose.copy())
        return imu, wheel

    def close(self) -> None:
        self._renderer.close()
        self._query_renderer.close()

    def __enter__(self) -> SimRobot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
