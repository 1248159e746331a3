"""Global route planning on the map graph (the paper's Algorithm 1, ``global_search_planner``
and ``pick_subgoal``).

A route is an A* path over the keyframe graph (edges weighted by metric distance, Euclidean
distance between node positions as the admissible heuristic) from the node nearest the robot
to the goal node. Subgoals are world-frame planar poses spaced ``spacing`` metres apart along
the route's polyline; Astra-Local receives the current one in its ego frame.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import networkx as nx
import numpy as np

from astra_jax.geometry import se2_relative
from astra_jax.maps.schema import TopoSemanticMap

DEFAULT_SUBGOAL_SPACING = 2.0  # m: a few metres, inside Astra-Local's planning horizon


class UnreachableGoalError(ValueError):
    """No path joins the start node to the goal node in the map graph."""


@dataclasses.dataclass(frozen=True)
class Route:
    """``node_ids`` from start to goal, the route ``length`` (m) along its edges, the node
    positions ``waypoints`` (K, 2) and ``subgoals`` (S, 3) = (x, y, yaw) in the world frame,
    the last one at the goal node with its heading."""

    node_ids: tuple[int, ...]
    length: float
    waypoints: np.ndarray
    subgoals: np.ndarray
    spacing: float


def nearest_node(m: TopoSemanticMap, xy: np.ndarray) -> int:
    """Id of the node whose planar position is closest to ``xy`` (2,) (m)."""
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise ValueError(f"position {xy.tolist()}: expected (x, y) in metres")
    d = np.linalg.norm(m.poses2d()[:, :2] - xy, axis=1)
    return int(m.nodes[int(np.argmin(d))].id)


def shortest_path(graph: nx.Graph, start: int, goal: int) -> list[int]:
    """A* over ``graph`` (attributes ``pos`` on nodes, ``weight`` on edges)."""
    for name, n in (("start", start), ("goal", goal)):
        if n not in graph:
            raise KeyError(f"{name} node {n} is not in the map")

    def euclid(a: int, b: int) -> float:
        pa, pb = graph.nodes[a]["pos"], graph.nodes[b]["pos"]
        return math.hypot(pa[0] - pb[0], pa[1] - pb[1])

    try:
        return nx.astar_path(graph, start, goal, heuristic=euclid, weight="weight")
    except nx.NetworkXNoPath:
        comp = nx.node_connected_component(graph, start)
        raise UnreachableGoalError(
            f"goal node {goal} is unreachable from node {start}: the map graph splits into "
            f"{nx.number_connected_components(graph)} parts and node {start}'s part has "
            f"{len(comp)} of {graph.number_of_nodes()} nodes"
        ) from None


def subgoals_along(
    waypoints: np.ndarray, spacing: float, final_yaw: float | None = None
) -> np.ndarray:
    """Poses (S, 3) every ``spacing`` m of arc length along a polyline (K, 2), ending at its
    last point. Each yaw is the heading of the polyline where the subgoal lies; the last one
    takes ``final_yaw`` when given. A route of one point yields that point."""
    if not spacing > 0:
        raise ValueError(f"subgoal spacing = {spacing}: expected a positive distance in metres")
    pts = np.asarray(waypoints, dtype=np.float64)
    seg = np.diff(pts, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    keep = seg_len > 1e-9  # coincident nodes carry no direction
    pts = np.concatenate([pts[:1], pts[1:][keep]])
    seg, seg_len = seg[keep], seg_len[keep]
    if len(seg) == 0:
        yaw = 0.0 if final_yaw is None else final_yaw
        return np.array([[pts[0, 0], pts[0, 1], yaw]])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    total = cum[-1]
    stations = np.arange(spacing, total, spacing)
    if len(stations) and total - stations[-1] < 1e-9:
        stations = stations[:-1]
    stations = np.append(stations, total)
    seg_idx = np.clip(np.searchsorted(cum, stations, side="right") - 1, 0, len(seg) - 1)
    frac = (stations - cum[seg_idx]) / seg_len[seg_idx]
    xy = pts[seg_idx] + frac[:, None] * seg[seg_idx]
    yaw = np.arctan2(seg[seg_idx, 1], seg[seg_idx, 0])
    if final_yaw is not None:
        yaw[-1] = final_yaw
    return np.concatenate([xy, yaw[:, None]], axis=1)


def plan_route(
    m: TopoSemanticMap,
    start_node: int,
    goal_node: int,
    *,
    spacing: float = DEFAULT_SUBGOAL_SPACING,
    graph: nx.Graph | None = None,
) -> Route:
    """Route from ``start_node`` to ``goal_node``.

    Raises:
        KeyError: an unknown node id.
        UnreachableGoalError: the two nodes lie in different parts of the graph.
    """
    g = m.to_networkx() if graph is None else graph
    path = shortest_path(g, int(start_node), int(goal_node))
    wp = np.array([g.nodes[n]["pos"] for n in path], dtype=np.float64)
    length = float(sum(g.edges[a, b]["weight"] for a, b in itertools.pairwise(path)))
    goal_yaw = float(m.node(goal_node).pose2d[2])
    return Route(tuple(path), length, wp, subgoals_along(wp, spacing, goal_yaw), spacing)


def route_from_pose(
    m: TopoSemanticMap,
    pose2d: np.ndarray,
    goal_node: int,
    *,
    spacing: float = DEFAULT_SUBGOAL_SPACING,
) -> Route:
    """Route from the robot's planar pose (x, y, yaw): A* from the node nearest the robot."""
    return plan_route(m, nearest_node(m, np.asarray(pose2d)[:2]), goal_node, spacing=spacing)


def to_ego(robot_pose2d: np.ndarray, world_poses: np.ndarray) -> np.ndarray:
    """World-frame planar poses (..., 3) expressed in the robot's ego frame (x fwd, y left)."""
    return se2_relative(np.asarray(robot_pose2d, dtype=np.float64), np.asarray(world_poses))


def route_progress(route: Route, robot_pose2d: np.ndarray) -> float:
    """Arc length (m) along the route's polyline of the robot's position projected onto it."""
    xy = np.asarray(robot_pose2d, dtype=np.float64)[:2]
    wp = route.waypoints
    if len(wp) < 2:
        return 0.0
    seg = np.diff(wp, axis=0)
    seg_len2 = np.maximum((seg**2).sum(axis=1), 1e-18)
    t = np.clip(((xy - wp[:-1]) * seg).sum(axis=1) / seg_len2, 0.0, 1.0)
    proj = wp[:-1] + t[:, None] * seg
    i = int(np.argmin(np.linalg.norm(proj - xy, axis=1)))
    cum = np.concatenate([[0.0], np.cumsum(np.sqrt(seg_len2))])
    return float(cum[i] + t[i] * math.sqrt(seg_len2[i]))


def route_point(route: Route, station: float) -> np.ndarray:
    """The point (2,) of the route's polyline at arc length ``station`` (m, clipped to it)."""
    wp = route.waypoints
    if len(wp) < 2:
        return np.array(wp[0], np.float64)
    seg_len = np.linalg.norm(np.diff(wp, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    s = float(np.clip(station, 0.0, cum[-1]))
    return np.array([np.interp(s, cum, wp[:, k]) for k in range(2)])


def lookahead_point(route: Route, robot_pose2d: np.ndarray, distance: float,
                    limit: float = math.inf) -> np.ndarray:  # fmt: skip
    """The route's point (2,) ``distance`` m of arc ahead of the robot's projection on it, not
    past arc length ``limit`` (m): a carrot on the route for a local planner."""
    return route_point(route, min(route_progress(route, robot_pose2d) + distance, limit))


def pick_subgoal(route: Route, robot_pose2d: np.ndarray, *, reached_radius: float = 0.5) -> int:
    """Index of the subgoal the robot should head for now (``pick_subgoal`` of Algorithm 1).

    The robot's position is projected onto the route polyline; the chosen subgoal is the first
    one ahead of that projection by more than ``reached_radius`` (m) of arc length, or the last.
    """
    if len(route.waypoints) < 2:
        return len(route.subgoals) - 1
    progress = route_progress(route, robot_pose2d)
    sub_s = subgoal_stations(route)
    ahead = np.nonzero(sub_s > progress + reached_radius)[0]
    return int(ahead[0]) if len(ahead) else len(route.subgoals) - 1


def subgoal_stations(route: Route) -> np.ndarray:
    """Arc length (S,) of each subgoal along the route."""
    total = float(np.linalg.norm(np.diff(route.waypoints, axis=0), axis=1).sum())
    n = len(route.subgoals)
    return np.minimum(route.spacing * np.arange(1, n + 1), total)
