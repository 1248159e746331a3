"""The navigation loop: localize, route on the map, and drive tick by tick to a goal.

States (:class:`NavState`) and what moves the navigator between them:

* ``localizing``: the start is localized from the rig's images (Astra-Global or the VPR
  baseline, through the localizer interface); the first accepted fix initializes the pose
  filter (:mod:`astra_jax.serve.ekf`). A failed attempt turns the robot in place a little and
  tries again, up to ``max_localize_attempts``, else ``failed``.
* ``navigating``: every tick (``tick_interval`` s) the robot's newest frame goes through the
  exported Astra-Local tick (:class:`~astra_jax.serve.runtime.LocalRuntime`), which returns S
  planned trajectories and the odometry of the last drive. The filter predicts with that
  odometry (variances from the head's Laplace scales); every ``relocalize_every`` ticks a new
  fix is fused, gated by its confidence and its Mahalanobis distance. With
  ``fix_latency_ticks`` >= 1 the fix is computed on a worker thread while the loop goes on
  ticking (:class:`~astra_jax.serve.fix_worker.FixWorker`), and fused that many ticks later at
  the time of its images (the filter goes back to its state then and predicts again with the
  odometry since); with 0 the tick waits for it. The route (the paper's
  Algorithm 1: A* over the map's graph, subgoals every ``subgoal_spacing`` m, the subgoal ahead
  of the robot's projection on the route) gives the subgoal in the estimated ego frame.
* ``lost``: the filter's confidence (P(error <= 1 m)) fell below its threshold: the robot turns
  slowly in place (new views) and relocalizes every tick until a confident fix re-initializes
  the filter.
* ``arrived`` (the estimate within ``goal_radius`` of the goal) or ``failed`` (``max_ticks``, or
  no localization).

Planning per tick: the S samples are scored on the run-time ESDF of this tick's depth frames
(:func:`~astra_jax.local_model.depth_occupancy.runtime_esdf`; never the simulator's map; with
``occupancy_memory`` > 0, what the cameras cannot see filled in from the grids of the last
ticks moved by the odometry, :mod:`~astra_jax.local_model.occupancy_memory`), by
:func:`~astra_jax.local_model.plan_metrics.score_trajectories` (the paper's FM*); when the best
still collides, A* on the same ESDF takes over for this tick and the fallback is counted. With
``planner = "classical"`` A* plans every tick (the baseline of ``astra eval nav``). The robot
then follows the chosen trajectory with pure pursuit for one tick.

Blocked: a real robot knows when its wheels stall against something (bumper, motor current);
here, a drive that covered under a quarter of the commanded distance. The navigator then
remembers an obstacle point just ahead of the robot in the map frame (a *bump*, as a costmap
would), backs off for one tick, and the run-time grids mark the bumps within ``bump_radius`` as
occupied, so A* plans around what the cameras could not see (the ring below them, the seams
between them). A bump is forgotten ``bump_ticks`` ticks after it once the robot is more than
``bump_forget_distance`` from it (a robot that waited beside it for it to expire drove into it
again, every 23 ticks until the run ended). With no free path at all the robot turns toward
the subgoal to see more; closer to an obstacle than A* can start from, it escapes slowly up
the ESDF's gradient. Standing ``squeeze_after`` planned ticks with no plan that moves it (a door
narrower in the run-time ESDF than A*'s clearance splits the free space), it squeezes: A*
searches at ``squeeze_margin`` until a plan at the full margin moves it again.

Odometry without a learned head (``planner = "classical"`` and no runtime): the head's own
kinematic prior (:func:`~astra_jax.local_model.odometry_config.kinematic_prior`), wheel distance
in the gyro's heading.

Every tick records its timings (observe, tick, esdf, plan, localize, drive; gyro: the scan
calibration's match) and what happened.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from astra_jax.geometry import se2_compose, se2_relative
from astra_jax.local_model.classical_planners import AStarConfig, astar_plan
from astra_jax.local_model.depth_occupancy import (
    EgoESDF,
    LocalGridConfig,
    depth_occupancy,
    ego_cell_centres,
    occupancy_esdf,
)
from astra_jax.local_model.occupancy_memory import OccupancyMemory
from astra_jax.local_model.odometry_config import (
    GYRO_REFERENCES,
    OdometryHeadConfig,
    kinematic_prior,
)
from astra_jax.local_model.plan_metrics import score_trajectories, trajectory_metrics
from astra_jax.local_model.trajectory import rollout
from astra_jax.maps.imu_calibration import GyroScaleEstimator
from astra_jax.maps.routing import (
    Route,
    lookahead_point,
    pick_subgoal,
    route_from_pose,
    subgoal_stations,
)
from astra_jax.maps.scan_gyro_calibration import ScanGyroCalibrationConfig, ScanGyroScaleEstimator
from astra_jax.maps.schema import TopoSemanticMap
from astra_jax.serve.ekf import FilterConfig, FilterState, FixOutcome, PoseFilter
from astra_jax.serve.fix_worker import FixWorker

PLANNERS = ("learned", "classical")


class NavState(enum.Enum):
    LOCALIZING = "localizing"
    NAVIGATING = "navigating"
    LOST = "lost"
    ARRIVED = "arrived"
    FAILED = "failed"


class Robot(Protocol):
    """What the navigator drives: the simulator's :class:`~astra_jax.sim.closed_loop.SimRobot`
    or a real robot's driver."""

    camera_names: tuple[str, ...]

    def observe(self) -> tuple[np.ndarray, np.ndarray]: ...  # rgb (N,H,W,3), depth (N,H,W) m
    def query_images(self) -> dict[str, np.ndarray]: ...  # camera -> (H, W, 3), mapping size
    def drive(self, v: float, omega: float, duration: float) -> tuple[np.ndarray, np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class NavigatorConfig:
    """Settings (m, s, rad). ``speed``: the classical planner's and the fallback's cruise."""

    planner: str = "learned"
    tick_interval: float = 0.5
    subgoal_spacing: float = 2.0
    subgoal_reached: float = 0.5
    goal_radius: float = 0.5
    relocalize_every: int = 10
    # ticks between a fix's images and its fusion: 0, the tick waits for the localizer; >= 1,
    # it localizes on a worker thread and the fix is fused that many ticks later at its
    # images' time (fix_wait: the loop waits there if it is not done, deterministic; False:
    # fused at the first tick it is done by). 2 ticks = 1 s: VPR + refinement takes 0.25-0.75 s
    # (p50 per world) on 2 cores (docs/design.md section 15, "Fixes beside the loop")
    fix_latency_ticks: int = 2
    fix_wait: bool = False  # the simulator's evaluations wait: the same run on any machine
    fix_nice: int = 10  # the worker's lower priority (Linux): the loop comes first
    max_ticks: int = 400
    max_localize_attempts: int = 10
    robot_radius: float = 0.3
    speed: float = 0.5
    max_speed: float = 0.8
    max_turn_rate: float = 1.2
    lookahead: float = 0.6
    bump_radius: float = 0.15
    bump_ticks: int = 20
    bump_forget_distance: float = 1.0
    backoff_speed: float = 0.15
    classical_odometry_sigma: tuple[float, float, float] = (0.02, 0.01, math.radians(1.0))
    filter: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    grid: LocalGridConfig = dataclasses.field(default_factory=LocalGridConfig)
    # 0: each tick's own grid. Memory (OccupancyMemory) helps A* open loop but cost success
    # in closed loop on the val worlds (docs/design.md section 13, session 20).
    occupancy_memory: int = 0
    astar: AStarConfig = dataclasses.field(default_factory=AStarConfig)
    # A*'s goal: the route's point this far (m of arc) ahead of the robot, never past the
    # subgoal (None: the subgoal itself, as before session 29). A subgoal 2 m ahead can lie
    # behind a wall, inside a room whose door the robot stands at; A* then planned around
    # through unseen space, and turning to follow that plan changed the view and the plan back:
    # the robot turned to and fro at the door until the run ended. The carrot keeps A* on the
    # map's route (docs/design.md section 15, "A* on the route")
    astar_lookahead: float | None = 1.5
    # Ticks the robot may stand with no plan that moves it (A* stays put or finds no path)
    # before A* searches again with ``squeeze_margin`` instead of ``astar.margin`` (None: never).
    # A door whose free width in the run-time ESDF is under 2 (radius + margin) splits the free
    # space in two, and the robot stood before it until the run ended; squeezing keeps on until
    # a plan at the full margin moves the robot again (docs/design.md section 15, "Squeezing
    # through narrow doors")
    squeeze_after: int | None = 3
    squeeze_margin: float = 0.05

    def __post_init__(self) -> None:
        if self.planner not in PLANNERS:
            raise ValueError(f"planner = {self.planner!r}: expected one of {PLANNERS}")
        if self.tick_interval <= 0 or self.max_ticks < 1 or self.relocalize_every < 1:
            raise ValueError("NavigatorConfig: tick_interval > 0, max_ticks and "
                             "relocalize_every >= 1 expected")  # fmt: skip
        if not (isinstance(self.fix_latency_ticks, int) and self.fix_latency_ticks >= 0):
            raise ValueError(f"fix_latency_ticks = {self.fix_latency_ticks!r}: expected ticks >= 0")
        if not (isinstance(self.fix_nice, int) and 0 <= self.fix_nice <= 19):
            raise ValueError(f"fix_nice = {self.fix_nice!r}: expected an int in [0, 19]")
        if self.astar_lookahead is not None and not self.astar_lookahead > 0:
            raise ValueError(f"astar_lookahead = {self.astar_lookahead!r}: expected m > 0 or None")
        if not (isinstance(self.occupancy_memory, int) and self.occupancy_memory >= 0):
            raise ValueError(f"occupancy_memory = {self.occupancy_memory!r}: expected ticks >= 0")
        if not self.bump_forget_distance >= 0:
            raise ValueError(
                f"bump_forget_distance = {self.bump_forget_distance!r}: expected m >= 0"
            )
        if self.squeeze_after is not None and not (
            isinstance(self.squeeze_after, int) and self.squeeze_after >= 1
        ):
            raise ValueError(f"squeeze_after = {self.squeeze_after!r}: expected ticks >= 1 or None")
        if not 0.0 <= self.squeeze_margin < self.astar.margin:
            raise ValueError(f"squeeze_margin = {self.squeeze_margin!r}: expected m in [0, "
                             f"astar.margin = {self.astar.margin!r})")  # fmt: skip


@dataclasses.dataclass
class TickRecord:
    """One tick: the state, the estimate (map frame), its confidence, the planner that drove
    (learned, fallback, classical, squeeze, escape, no path, recovery, lost, stop), the subgoal
    index, a fix's outcome, seconds per part."""

    tick: int
    state: str
    pose: list[float]
    confidence: float
    planner: str
    subgoal: int
    command: tuple[float, float]
    fix: str = ""
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class NavResult:
    """The outcome (the navigator's own view; success against the truth is the evaluation's)."""

    state: NavState
    goal_node: int | None
    route: Route | None
    ticks: list[TickRecord]
    fallbacks: int = 0
    squeezes: int = 0  # ticks driven by A* at the squeeze margin
    fixes_accepted: int = 0
    fixes_rejected: int = 0
    relocalizations: int = 0
    recoveries: int = 0
    reason: str = ""

    @property
    def estimates(self) -> np.ndarray:
        return np.array([t.pose for t in self.ticks]) if self.ticks else np.zeros((0, 3))


class Navigator:
    """Drives a :class:`Robot` to a goal on map ``m`` (module docstring).

    Args:
      m: the map (its frame is the navigator's).
      localizer: ``localize(images) -> Localization`` and ``text_goal(text, robot_xy)``
        (:class:`~astra_jax.global_model.localize.GlobalLocalizer`, or the VPR baseline).
      rig: the rig calibration in the artifact manifest's layout (intrinsics and ``T_ego_cam``
        per camera), for the run-time ESDF.
      runtime: the exported Astra-Local tick (None only with ``planner = "classical"``). When
        its odometry head was trained on the calibrated gyro (``gyro_calibration``), every
        stretch's gyro is calibrated online before the tick and the kinematics read it
        (afresh per navigation: each run may be another robot), against the centripetal force
        (:class:`~astra_jax.maps.imu_calibration.GyroScaleEstimator`) or, with
        ``gyro_reference = "scan"``, against the turns of each tick's depth frame
        (:class:`~astra_jax.maps.scan_gyro_calibration.ScanGyroScaleEstimator`).
      wheel_radius, wheel_base: the robot's nominal drive geometry (m), for odometry without
        the head (the head's own kinematic prior: wheel distance in the gyro's heading).
    """

    def __init__(self, m: TopoSemanticMap, localizer: Any, rig: Mapping[str, Any],
                 runtime: Any = None, config: NavigatorConfig = NavigatorConfig(),
                 wheel_radius: float = 0.08, wheel_base: float = 0.45,
                 seed: int = 0) -> None:  # fmt: skip
        if runtime is None and config.planner == "learned":
            raise ValueError("Navigator: the learned planner needs the exported tick (runtime)")
        self.map, self.localizer, self.runtime, self.config = m, localizer, runtime, config
        self.intrinsics = np.array([c["intrinsics"] for c in rig["cameras"]], np.float64)
        self.extrinsics = np.array([c["T_ego_cam"] for c in rig["cameras"]], np.float64)
        self.wheel_radius, self.seed = wheel_radius, seed
        self._kinematics = OdometryHeadConfig(pair_interval=config.tick_interval,
                                              wheel_radius=wheel_radius, wheel_base=wheel_base)  # fmt: skip
        self.filter = PoseFilter(config.filter)
        self._memory = OccupancyMemory(config.occupancy_memory)  # the last ticks' grids
        odometry = runtime.manifest["config"].get("odometry", {}) if runtime is not None else {}
        self.gyro_calibration = bool(odometry.get("gyro_calibration", False))
        self.gyro_reference = str(odometry.get("gyro_reference", "accel"))
        if self.gyro_reference not in GYRO_REFERENCES:
            raise ValueError(f"Navigator: the artifact's odometry gyro_reference is "
                             f"{self.gyro_reference!r}; expected one of {GYRO_REFERENCES}")  # fmt: skip
        self._gyro: GyroScaleEstimator | ScanGyroScaleEstimator | None = None
        self._clock = 0.0  # s since the navigation began: the calibration's sample times
        # a fix in flight on the worker (fix_latency_ticks >= 1): the filter when its images
        # were taken, and the (motion, variance) predictions made since
        self._asked_at: FilterState | None = None
        self._since: list[tuple[np.ndarray, np.ndarray]] = []
        self.guided = runtime is not None and "esdf" in runtime.manifest["inputs"]
        if self.guided:  # the tick steers its samples with this navigator's run-time grid
            want = list(runtime.manifest["inputs"]["esdf"]["shape"][1:])
            cell = float(runtime.manifest["config"]["guidance"]["resolution"])
            if want != list(config.grid.shape) or abs(cell - config.grid.resolution) > 1e-9:
                raise ValueError(f"Navigator: the tick's esdf input is {want} cells of {cell} m; "
                                 f"config.grid is {list(config.grid.shape)} of "
                                 f"{config.grid.resolution} m")  # fmt: skip

    # ------------------------------------------------------------------ localization

    def _fix(self, images: dict[str, np.ndarray], result: NavResult) -> FixOutcome:
        """Localize ``images`` here and now, and fuse the fix."""
        loc = self.localizer.localize(images)
        was_lost = self.filter.initialized and self.filter.lost  # the start's is no re-fix
        return _counted(result, self.filter.update(loc.pose2d, float(loc.confidence)), was_lost)

    def _delayed_fix(self, k: int, robot: Robot, result: NavResult, worker: FixWorker,
                     due: bool, t: dict[str, float]) -> tuple[str, bool]:  # fmt: skip
        """Tick ``k`` with the localizer on ``worker``: fuse the fix it hands back (at its
        images' time), then ask for a new one when ``due`` and none is in flight. Returns (what
        happened, for the tick's record; whether a fix was fused or refused). Timings in ``t``:
        ``fix_wait``, the loop blocked for a due fix (with ``fix_wait``, when the localizer took
        longer than its ticks: in the simulator, which ticks faster than real time, nearly
        always); ``fix_worker``, the localizer's seconds on the worker; ``images``, taking the
        rig's images; ``localize``, asking."""
        what = []
        t0 = time.perf_counter()
        back = worker.poll(k)
        if back is not None:
            t["fix_wait"], t["fix_worker"] = time.perf_counter() - t0, back.seconds
            loc, was_lost = back.localization, self.filter.lost
            outcome = self.filter.update_delayed(loc.pose2d, float(loc.confidence),
                                                 self._asked_at, self._since)  # fmt: skip
            _counted(result, outcome, was_lost)
            self._asked_at, self._since = None, []
            what.append(f"{_verdict(outcome)}, images of tick {back.tick}")
        if due and not worker.busy:
            t0 = time.perf_counter()
            images = {name: np.array(image) for name, image in robot.query_images().items()}
            t["images"] = time.perf_counter() - t0  # copies: a driver may reuse its buffers
            t0 = time.perf_counter()
            self._asked_at, self._since = self.filter.state(), []
            worker.submit(k, images)
            t["localize"] = time.perf_counter() - t0
            what.append("asked")
        return "; ".join(what), back is not None

    def _localize_start(self, robot: Robot, result: NavResult) -> bool:
        for _ in range(self.config.max_localize_attempts):
            if self._fix(robot.query_images(), result).accepted:
                return True
            # look elsewhere and retry: ten tries at the top turn rate sweep the full circle
            robot.drive(0.0, self.config.max_turn_rate, self.config.tick_interval)
        return False

    # ------------------------------------------------------------------ planning

    def _esdf(self, depth: np.ndarray, pose: np.ndarray, odom: np.ndarray,
              bumps: list[np.ndarray]) -> EgoESDF:  # fmt: skip
        """The run-time ESDF of this tick's depth, what the last ticks saw filling what it
        cannot see (their grids moved by the odometry pose ``odom``), and the remembered bumps
        (map frame, placed with the estimate ``pose``) as obstacles."""
        c = self.config
        occ = depth_occupancy(depth, self.intrinsics, self.extrinsics, c.grid)
        occ = self._memory.update(occ, odom)
        if bumps:
            centres = ego_cell_centres(occ.occupied.shape, occ.resolution)
            ego = se2_relative(pose, np.array([[*b, 0.0] for b in bumps]))[:, :2]
            near = np.linalg.norm(centres[:, :, None, :] - ego[None, None], axis=-1)
            occ = dataclasses.replace(occ, occupied=occ.occupied | (near.min(-1) <= c.bump_radius))
        return occupancy_esdf(occ, c.grid)

    def _plan(self, trajectories: np.ndarray | None, esdf: EgoESDF, subgoal: np.ndarray,
              n: int, interval: float, astar_goal: np.ndarray | None = None,
              squeeze: bool = False) -> tuple[np.ndarray | None, str]:  # fmt: skip
        """(ego poses (n, 3) to follow or None, which planner). A* plans to ``astar_goal`` (ego,
        m) when given, else to the subgoal. ``squeeze``: when no plan at A*'s margin moves the
        robot, one at ``squeeze_margin`` may ("squeeze")."""
        c = self.config
        if trajectories is not None:
            cost = score_trajectories(trajectories, esdf, subgoal, c.robot_radius, interval)
            best = trajectories[int(np.argmin(cost))]
            if not bool(
                trajectory_metrics(best, esdf, subgoal, c.robot_radius, interval).collision
            ):
                return best, "learned"
        goal = subgoal if astar_goal is None else astar_goal
        poses = self._astar(esdf, goal, n, interval, c.astar)
        name = "fallback" if trajectories is not None else "classical"
        if not squeeze or self._moves(poses):
            return poses, name
        tight = dataclasses.replace(c.astar, margin=c.squeeze_margin, relaxed_margin=None)
        squeezed = self._astar(esdf, goal, n, interval, tight)
        return (squeezed, "squeeze") if self._moves(squeezed) else (poses, name)

    def _astar(self, esdf: EgoESDF, goal: np.ndarray, n: int, interval: float,
               astar: AStarConfig) -> np.ndarray | None:  # fmt: skip
        """A*'s ego poses (n, 3) toward ``goal`` at the cruise speed, or None (no path)."""
        deltas = astar_plan(esdf, goal, n, interval, self.config.speed, astar)
        return None if deltas is None else rollout(deltas)

    def _moves(self, poses: np.ndarray | None) -> bool:
        """Whether a plan takes the robot one grid cell or more: a shorter one means the planner
        gets no nearer its goal from here (A* ends in the cell it starts from or its neighbour)."""
        if poses is None:
            return False
        xy = np.concatenate([np.zeros((1, 2)), np.asarray(poses)[:, :2]])
        length = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
        return length >= self.config.grid.resolution

    def _astar_goal(self, route: Route, sub_i: int, est: np.ndarray) -> np.ndarray | None:
        """A*'s goal in the ego frame: the route's point ``astar_lookahead`` m of arc ahead of
        the robot's projection on it, never past subgoal ``sub_i`` (None: no lookahead)."""
        c = self.config
        if c.astar_lookahead is None:
            return None
        xy = lookahead_point(route, est, c.astar_lookahead, float(subgoal_stations(route)[sub_i]))
        return se2_relative(est, np.array([*xy, 0.0]))[:2]

    def _turn_rate(self, angle: float) -> float:
        """The yaw rate that turns ``angle`` rad in one tick, within the robot's limit."""
        c = self.config
        return float(np.clip(angle / c.tick_interval, -c.max_turn_rate, c.max_turn_rate))

    def _escape(self, esdf: EgoESDF) -> tuple[float, float]:
        """Too close to an obstacle for A* to start: move slowly up the ESDF's gradient,
        backwards when it points behind the robot, turning to align with it."""
        c, h = self.config, esdf.resolution
        gx = float(esdf.at(np.array([h, 0.0])) - esdf.at(np.array([-h, 0.0])))
        gy = float(esdf.at(np.array([0.0, h])) - esdf.at(np.array([0.0, -h])))
        if math.hypot(gx, gy) < 1e-6:
            return -c.backoff_speed, 0.0
        angle = math.atan2(gy, gx)
        if abs(angle) <= math.pi / 2:  # ahead: forward, steering toward it
            return c.backoff_speed, self._turn_rate(angle)
        rear = math.atan2(-gy, -gx)  # behind: reverse, steering the rear toward it
        return -c.backoff_speed, self._turn_rate(rear)

    def _command(self, poses: np.ndarray | None) -> tuple[float, float]:
        """Pure pursuit toward the point ``lookahead`` m along the planned path, at the plan's
        own speed (turn in place when the point is behind the robot's side)."""
        c = self.config
        if poses is None:
            return 0.0, 0.0
        xy = np.concatenate([np.zeros((1, 2)), poses[:, :2]])
        seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        length = float(seg.sum())
        if length < 0.02:
            return 0.0, 0.0
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        target = np.array([np.interp(min(c.lookahead, length), cum, xy[:, k]) for k in range(2)])
        alpha = math.atan2(target[1], target[0])
        if abs(alpha) > math.radians(60):
            return 0.0, self._turn_rate(alpha)
        horizon = c.tick_interval * len(poses)
        v = float(np.clip(length / horizon, 0.0, c.max_speed))
        dist = max(float(np.hypot(*target)), 1e-6)
        omega = 2.0 * v * math.sin(alpha) / dist
        return v, float(np.clip(omega, -c.max_turn_rate, c.max_turn_rate))

    # ------------------------------------------------------------------ the loop

    def navigate(self, robot: Robot, goal_text: str | None = None, goal_node: int | None = None
                 ) -> NavResult:  # fmt: skip
        """Localize, route to the goal (a text goal, or a node of the map), and drive there."""
        if (goal_text is None) == (goal_node is None):
            raise ValueError("navigate: give exactly one of goal_text and goal_node")
        c = self.config
        result = NavResult(NavState.LOCALIZING, goal_node, None, [])
        self.filter = PoseFilter(c.filter)  # each run starts unknown: nothing from the last
        self._memory.reset()  # nor any grid of the last run
        self._asked_at, self._since = None, []  # nor a fix it had in flight
        self._reset_gyro()  # nor the last robot's gyro scale
        if self.runtime is not None:
            self.runtime.warm_up(1)  # compiled before the first tick, not during it
        if not self._localize_start(robot, result):
            result.state, result.reason = NavState.FAILED, "the start could not be localized"
            return result
        if goal_text is not None:
            found = self.localizer.text_goal(goal_text, self.filter.pose[:2])
            if found is None:
                result.state, result.reason = NavState.FAILED, f"no goal found for {goal_text!r}"
                return result
            goal_node = int(found.node_id)
        result.goal_node = goal_node
        goal_xy = self.map.node(goal_node).xy
        route = route_from_pose(self.map, self.filter.pose, goal_node, spacing=c.subgoal_spacing)
        result.route = route
        worker = None
        if c.fix_latency_ticks:  # the localizer leaves this thread for the run's fixes
            worker = FixWorker(self.localizer, c.fix_latency_ticks, c.fix_wait, c.fix_nice)
        try:
            return self._drive(robot, result, route, goal_xy, worker)
        finally:
            if worker is not None:
                worker.close()  # a fix still in flight is waited for and dropped

    def _drive(self, robot: Robot, result: NavResult, route: Route, goal_xy: np.ndarray,
               worker: FixWorker | None) -> NavResult:  # fmt: skip
        """The navigating ticks (module docstring), from a localized start."""
        c = self.config
        state = self.runtime.init_state(1) if self.runtime is not None else None
        odom = np.zeros(3)  # dead-reckoned pose in the odometry frame (the tick's input)
        velocity = np.zeros(2)
        imu, wheel = self._samples_at_rest(robot)
        nav_state = NavState.NAVIGATING
        bumps: list[tuple[int, np.ndarray]] = []  # (tick, map-frame point) where it was blocked
        blocked = False
        stalled = 0  # planned ticks in a row with no plan at the full margin that moves the robot
        for k in range(c.max_ticks):
            t: dict[str, float] = {}
            t0 = time.perf_counter()
            rgb, depth = robot.observe()
            t["observe"] = time.perf_counter() - t0
            est = self.filter.pose
            sub_i = pick_subgoal(route, est, reached_radius=c.subgoal_reached)
            subgoal = se2_relative(est, route.subgoals[sub_i])[:2]
            trajectories, motion, variance, esdf = None, None, None, None
            bumps = live_bumps(bumps, k, est[:2], c)
            if self.guided:
                # the guided tick needs this frame's ESDF before it plans: the bumps placed with
                # the last estimate moved by this drive's kinematics (the odometry comes later)
                t0 = time.perf_counter()
                moved = np.asarray(kinematic_prior(self._kinematics, imu[None], wheel[None], 1)[0],
                                   np.float64)  # fmt: skip
                now = se2_compose(est, moved) if k > 0 else est
                odom_now = se2_compose(odom, moved) if k > 0 else odom
                esdf = self._esdf(depth, now, odom_now, [b for _, b in bumps])
                t["esdf"] = time.perf_counter() - t0
            if self.runtime is not None:
                t0 = time.perf_counter()
                inputs = {
                    "images": rgb[None], "pose": odom[None].astype(np.float32),
                    "subgoal": subgoal[None].astype(np.float32),
                    "velocity": velocity[None].astype(np.float32),
                    "imu": imu[None].astype(np.float32), "wheel": wheel[None].astype(np.float32),
                    "rng": np.array([self.seed, k], np.uint32),
                }  # fmt: skip
                if esdf is not None:
                    inputs["esdf"] = esdf.values[None].astype(np.float32)
                state, out = self.runtime.tick(state, inputs)
                t["tick"] = time.perf_counter() - t0
                if c.planner == "learned":
                    trajectories = np.asarray(out["trajectories"][0], np.float64)
                if bool(out["odometry_valid"][0]):
                    motion = np.asarray(out["odometry"][0], np.float64)
                    variance = 2.0 * np.exp(2.0 * np.asarray(out["odometry_log_scale"][0], float))
            if motion is None and k > 0:
                prior = kinematic_prior(self._kinematics, imu[None], wheel[None], 1)
                motion = np.asarray(prior[0], np.float64)
                variance = np.square(c.classical_odometry_sigma)
            if motion is not None:
                self.filter.predict(motion, variance)
                odom = se2_compose(odom, motion)
                if worker is not None and worker.busy:  # replayed when its fix comes back
                    self._since.append((motion.copy(), np.array(variance, np.float64)))
            if isinstance(self._gyro, ScanGyroScaleEstimator):
                # this frame ends the last drive, whose motion odom now holds (the match's guess)
                t0 = time.perf_counter()
                self._gyro.observe(self._clock, depth, odom)
                t["gyro"] = time.perf_counter() - t0
            fix = ""
            due = self.filter.lost or (k > 0 and k % c.relocalize_every == 0)
            if worker is not None:
                fix, fused = self._delayed_fix(k, robot, result, worker, due, t)
                if fused or self.filter.lost:
                    nav_state = NavState.LOST if self.filter.lost else NavState.NAVIGATING
            elif due:
                t0 = time.perf_counter()
                images = robot.query_images()
                t["images"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                fix = _verdict(self._fix(images, result))
                t["localize"] = time.perf_counter() - t0
                nav_state = NavState.LOST if self.filter.lost else NavState.NAVIGATING
            est = self.filter.pose
            if np.hypot(*(goal_xy - est[:2])) <= c.goal_radius:
                result.ticks.append(TickRecord(k, NavState.ARRIVED.value, est.tolist(),
                                               self.filter.confidence, "stop", sub_i, (0.0, 0.0),
                                               fix, t))  # fmt: skip
                result.state = NavState.ARRIVED
                return result
            if nav_state is NavState.LOST:  # turn in place, slowly: new views to relocalize on
                planner, command = "lost", (0.0, 0.5 * c.max_turn_rate)
            elif blocked:  # remember what stopped the robot, and back off
                point = se2_compose(est, np.array([c.robot_radius + 0.05, 0.0, 0.0]))[:2]
                bumps.append((k, point))
                planner, command = "recovery", (-c.backoff_speed, 0.0)
                result.recoveries += 1
            else:
                if esdf is None:
                    t0 = time.perf_counter()
                    esdf = self._esdf(depth, est, odom, [b for _, b in bumps])
                    t["esdf"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                n = trajectories.shape[1] if trajectories is not None else 4
                subgoal = se2_relative(est, route.subgoals[sub_i])[:2]
                squeeze = c.squeeze_after is not None and stalled >= c.squeeze_after
                poses, planner = self._plan(trajectories, esdf, subgoal, n, c.tick_interval,
                                            self._astar_goal(route, sub_i, est), squeeze)  # fmt: skip
                # standing with no plan that moves it, the robot counts toward squeezing; a plan
                # at the full margin that moves it ends that
                stalled = stalled + 1 if planner == "squeeze" or not self._moves(poses) else 0
                result.fallbacks += int(planner == "fallback")
                result.squeezes += int(planner == "squeeze")
                command = self._command(poses)
                if poses is None and float(esdf.at(np.zeros(2))) < c.robot_radius + c.astar.margin:
                    planner, command = "escape", self._escape(esdf)
                elif poses is None:  # no free path from here: turn toward the subgoal
                    planner = "no path"
                    command = (0.0, self._turn_rate(math.atan2(subgoal[1], subgoal[0])))
                t["plan"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            imu, wheel = self._calibrated(*robot.drive(*command, c.tick_interval))
            t["drive"] = time.perf_counter() - t0
            velocity = np.array(command)
            moved = self.wheel_radius * abs(float(np.mean(wheel.sum(1)))) / 2 * c.tick_interval
            blocked = command[0] > 0.05 and moved < 0.25 * command[0] * c.tick_interval
            result.ticks.append(TickRecord(k, nav_state.value, est.tolist(),
                                           self.filter.confidence, planner, sub_i, command, fix,
                                           t))  # fmt: skip
        result.state, result.reason = NavState.FAILED, f"not arrived after {c.max_ticks} ticks"
        return result

    def _samples_at_rest(self, robot: Robot) -> tuple[np.ndarray, np.ndarray]:
        """Sensor samples of one tick standing still (the first tick's 'previous' stretch)."""
        return self._calibrated(*robot.drive(0.0, 0.0, self.config.tick_interval))

    def _reset_gyro(self) -> None:
        """A fresh online gyro calibration (a new run may be another robot)."""
        if self.gyro_calibration and self.gyro_reference == "scan":
            cfg = ScanGyroCalibrationConfig(pair_interval=self.config.tick_interval)
            self._gyro = ScanGyroScaleEstimator(self.intrinsics, self.extrinsics, cfg)
        elif self.gyro_calibration:
            self._gyro = GyroScaleEstimator(self.wheel_radius)
        self._clock = 0.0

    def _calibrated(self, imu: np.ndarray, wheel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One stretch's samples (imu (K, 6), wheel (K', 2), evenly spaced over the tick) with
        the gyro calibrated online when the head was trained so; else as read."""
        if self._gyro is None:
            return imu, wheel
        dt = self.config.tick_interval
        t_imu = self._clock + dt * np.arange(1, len(imu) + 1) / len(imu)
        t_wheel = self._clock + dt * np.arange(1, len(wheel) + 1) / len(wheel)
        self._clock += dt
        if isinstance(self._gyro, ScanGyroScaleEstimator):  # its pairs come from the frames
            return self._gyro.calibrate(np.column_stack([t_imu, imu]))[:, 1:], wheel
        rows = self._gyro.calibrate(
            np.column_stack([t_imu, imu]), np.column_stack([t_wheel, wheel])
        )
        return rows[:, 1:], wheel


def live_bumps(bumps: list[tuple[int, np.ndarray]], tick: int, xy: np.ndarray,
               config: NavigatorConfig) -> list[tuple[int, np.ndarray]]:  # fmt: skip
    """The bumps ((tick, map-frame point (2,)), ...) still remembered at ``tick`` with the robot
    at ``xy`` (map frame, m): younger than ``bump_ticks``, or within ``bump_forget_distance``."""
    return [(k, b) for k, b in bumps
            if tick - k <= config.bump_ticks
            or float(np.hypot(*(np.asarray(b) - xy))) <= config.bump_forget_distance]  # fmt: skip


def _counted(result: NavResult, outcome: FixOutcome, was_lost: bool) -> FixOutcome:
    """Count a fix's outcome in ``result`` (a fix accepted while lost is a relocalization)."""
    result.fixes_accepted += int(outcome.accepted)
    result.fixes_rejected += int(not outcome.accepted)
    result.relocalizations += int(was_lost and outcome.accepted)
    return outcome


def _verdict(outcome: FixOutcome) -> str:
    return "accepted" if outcome.accepted else f"rejected ({outcome.reason})"
