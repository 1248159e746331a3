"""Edges E of the map graph.

* ``sequential``: consecutive nodes of the tour. The robot drove from one to the next, so the
  edge is traversable whatever the distance.
* ``proximity``: two nodes closer than ``proximity_radius`` (0.5 m). The robot stood at both
  places and its body (0.3 m radius) keeps both centres that far from any wall, so no wall
  can separate them: a loop closure the robot can drive.
* ``covisibility``: two nodes within ``radius`` metres (planar) that share at least
  ``min_shared_points`` SfM points, and whose straight connection passes no obstacle. Shared
  points alone do not prove a free path (two cameras see one wall from both sides of a desk),
  so the segment is also checked against the sparse SfM point cloud: more than
  ``max_blocking_points`` points at obstacle height (``obstacle_z``) within
  ``corridor_halfwidth`` of the segment block it. Maps without SfM points (odometry-only,
  or up to scale, where heights are not metric) get no co-visibility edges.

Every edge is weighted by the planar distance between its nodes (m).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

from astra_jax.maps.schema import Edge


@dataclasses.dataclass(frozen=True)
class EdgeOptions:
    """Defaults: co-visibility within 3 m with >= 40 shared SfM points and a free corridor
    0.25 m either side of the segment (blocked by > 3 points between 0.15 and 1.6 m high);
    proximity within 0.5 m."""

    radius: float = 3.0
    min_shared_points: int = 40
    proximity_radius: float = 0.5
    corridor_halfwidth: float = 0.25
    obstacle_z: tuple[float, float] = (0.15, 1.6)
    max_blocking_points: int = 3


def build_edges(
    node_ids: Sequence[int],
    xy: np.ndarray,
    node_points: Sequence[set[int]] | None,
    points_xyz: np.ndarray | None,
    options: EdgeOptions = EdgeOptions(),
) -> list[Edge]:
    """Sequential, proximity and co-visibility edges.

    Args:
        node_ids: (N,) node ids in tour order.
        xy: (N, 2) planar positions (m).
        node_points: per node, the ids of the SfM points it observes; None for maps without.
        points_xyz: (P, 3) the map-frame SfM points that can block a co-visibility edge
            (metric, z up); None skips co-visibility edges.
        options: radii and thresholds.
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = len(node_ids)
    empty: list[set[int]] = [set() for _ in range(n)]
    shared_sets = node_points if node_points is not None else empty
    edges: dict[tuple[int, int], Edge] = {}

    def add(i: int, j: int, kind: str) -> None:
        a, b = sorted((int(node_ids[i]), int(node_ids[j])))
        if (a, b) in edges:
            return
        shared = len(shared_sets[i] & shared_sets[j])
        dist = float(np.linalg.norm(xy[i] - xy[j]))
        edges[(a, b)] = Edge(a, b, kind, dist, shared)  # type: ignore[arg-type]

    for i in range(n - 1):
        add(i, i + 1, "sequential")
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    for i, j in zip(*np.nonzero(np.triu(d <= options.proximity_radius, k=1))):
        add(int(i), int(j), "proximity")
    if node_points is None or points_xyz is None:
        return sorted(edges.values(), key=lambda e: (e.source, e.target))
    blockers = _obstacle_index(np.asarray(points_xyz, dtype=np.float64), options)
    # Inverted index: only node pairs that share something are counted.
    holders: dict[int, list[int]] = {}
    for i, s in enumerate(shared_sets):
        for p in s:
            holders.setdefault(p, []).append(i)
    counts: dict[tuple[int, int], int] = {}
    for nodes in holders.values():
        for i, j in combinations(nodes, 2):
            counts[(i, j)] = counts.get((i, j), 0) + 1
    for (i, j), c in sorted(counts.items()):
        if (
            c >= options.min_shared_points
            and d[i, j] <= options.radius
            and not _blocked(blockers, xy[i], xy[j], options)
        ):
            add(i, j, "covisibility")
    return sorted(edges.values(), key=lambda e: (e.source, e.target))


def _obstacle_index(points: np.ndarray, options: EdgeOptions) -> tuple[cKDTree, np.ndarray]:
    """KD-tree over the planar positions of the points at obstacle height."""
    lo, hi = options.obstacle_z
    p = points[(points[:, 2] >= lo) & (points[:, 2] <= hi), :2]
    return cKDTree(p if len(p) else np.zeros((0, 2))), p


def _blocked(
    index: tuple[cKDTree, np.ndarray], a: np.ndarray, b: np.ndarray, o: EdgeOptions
) -> bool:
    """Whether more than ``max_blocking_points`` obstacle points lie within
    ``corridor_halfwidth`` of the segment a-b."""
    tree, pts = index
    if len(pts) == 0:
        return False
    half = 0.5 * float(np.linalg.norm(b - a))
    near = tree.query_ball_point(0.5 * (a + b), half + o.corridor_halfwidth)
    if len(near) <= o.max_blocking_points:
        return False
    q = pts[near]
    ab = b - a
    t = np.clip(((q - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    dist = np.linalg.norm(q - (a + t[:, None] * ab), axis=1)
    return int((dist < o.corridor_halfwidth).sum()) > o.max_blocking_points
