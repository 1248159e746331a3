"""The astra-jax indoor simulator: worlds, rendering, sensors, motion and episodes.

Public API (details in each module and in docs/design.md, "Simulator"):

Worlds
    :func:`build_world` (family, seed) · :func:`world_from_file` (floor-plan JSON, seed) ·
    :func:`load_world` (either) · :class:`World`, :class:`Landmark` · :data:`BACKGROUND_ID`
    · floor plans: :func:`load_plan`, :func:`parse_plan`, :class:`FloorPlan`,
    :class:`FloorPlanError` · :data:`CATEGORIES` (the landmark catalogue)
Occupancy
    ``world.occupancy(resolution)`` → :class:`OccupancyMap` (occupied, signed ESDF, rooms,
    ``esdf_at``, ``local_crop``) · :func:`signed_distance`, :func:`local_crop`
Rendering
    :func:`build_scene` (MuJoCo model with the rig on a mocap robot; :class:`SceneError`) · :class:`RigRenderer`
    (RGB, z-depth, segmentation for the C cameras)
Motion and sensors
    :func:`plan_path` (A* + smoothing) · :func:`follow_path` (pure pursuit) ·
    :class:`Trajectory` · :func:`imu_readings`, :func:`wheel_readings`, :func:`wheel_odometry`
Episodes
    :func:`make_tour`, :func:`make_goal_episode`, :func:`generate_episodes` ·
    :class:`Episode`, :func:`save_episode`, :func:`load_episode`, :func:`is_episode_dir`
Seeds
    :mod:`astra_jax.sim.seeds`: train / val / test world-seed ranges (disjoint).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco

from astra_jax.sim.batch import generate_episodes
from astra_jax.sim.catalog import CATEGORIES, Category
from astra_jax.sim.control import MotionLimits, Trajectory, follow_path
from astra_jax.sim.episode import Episode, EpisodeError, is_episode_dir, load_episode, save_episode
from astra_jax.sim.floorplan import FloorPlan, FloorPlanError, load_plan, parse_plan
from astra_jax.sim.generate import make_goal_episode, make_tour
from astra_jax.sim.occupancy import GridSpec, OccupancyMap, local_crop, signed_distance
from astra_jax.sim.planning import NoPathError, plan_path, room_graph
from astra_jax.sim.render import RigRenderer
from astra_jax.sim.scene import Scene, SceneError, build_scene
from astra_jax.sim.seeds import SPLITS, split_of_seed
from astra_jax.sim.sensors import imu_readings, wheel_odometry, wheel_readings
from astra_jax.sim.world import (
    BACKGROUND_ID,
    Landmark,
    World,
    build_world,
    load_world,
    world_from_file,
)

__all__ = [
    "BACKGROUND_ID",
    "CATEGORIES",
    "SPLITS",
    "Category",
    "Episode",
    "EpisodeError",
    "FloorPlan",
    "FloorPlanError",
    "GridSpec",
    "Landmark",
    "MotionLimits",
    "NoPathError",
    "OccupancyMap",
    "RigRenderer",
    "Scene",
    "SceneError",
    "Trajectory",
    "World",
    "build_scene",
    "build_world",
    "follow_path",
    "generate_episodes",
    "imu_readings",
    "is_episode_dir",
    "load_episode",
    "load_plan",
    "load_world",
    "local_crop",
    "make_goal_episode",
    "make_tour",
    "parse_plan",
    "plan_path",
    "room_graph",
    "save_episode",
    "signed_distance",
    "split_of_seed",
    "wheel_odometry",
    "wheel_readings",
    "world_from_file",
]
