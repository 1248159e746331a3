"""Global planning on the occupancy grid: A*, path smoothing, the room graph and tour routes.

* :func:`astar` runs 8-connected A* (octile heuristic, no corner cutting) on a boolean free
  grid, with an extra cost that keeps paths away from obstacles (the expert drives down the
  middle of corridors, as people do).
* :func:`smooth_path` shortcuts the A* polyline where the straight segment keeps the required
  clearance, then rounds corners (Chaikin) wherever that stays collision-free.
* :func:`room_graph` is a networkx graph of rooms joined where the robot can pass between
  them (doors and open boundaries); :func:`tour_order` visits every room.
"""

from __future__ import annotations

import heapq
import itertools
import math

import networkx as nx
import numpy as np
from scipy import ndimage

from astra_jax.sim.occupancy import OccupancyMap
from astra_jax.sim.world import World

SQRT2 = math.sqrt(2.0)
PLAN_RESOLUTION = 0.1  # m: A* runs on a 2x coarser grid than the 0.05 m occupancy


class NoPathError(RuntimeError):
    """No collision-free path exists between the requested points."""


def planning_grid(occ: OccupancyMap, clearance: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(free (nx, ny) bool, esdf (nx, ny), resolution) on the coarse planning grid.

    A coarse cell (2x2 occupancy cells) is free when any of its cells has an ESDF above
    ``clearance``, so narrow doorways stay connected; its ESDF is the max over its cells.
    """
    step = max(1, round(PLAN_RESOLUTION / occ.grid.resolution))
    nx, ny = occ.grid.shape[0] // step, occ.grid.shape[1] // step
    e = occ.esdf[: nx * step, : ny * step].reshape(nx, step, ny, step).max(axis=(1, 3))
    return e > clearance, e, occ.grid.resolution * step


def _coarse_index(
    occ: OccupancyMap, xy: np.ndarray, res: float, shape: tuple[int, int]
) -> tuple[int, int]:
    ij = np.floor((np.asarray(xy) - np.asarray(occ.grid.origin)) / res).astype(int)
    return int(np.clip(ij[0], 0, shape[0] - 1)), int(np.clip(ij[1], 0, shape[1] - 1))


def astar(free: np.ndarray, start: tuple[int, int], goal: tuple[int, int], penalty: np.ndarray | None = None
          ) -> list[tuple[int, int]]:  # fmt: skip
    """8-connected A* from ``start`` to ``goal`` cells over ``free``; step cost is the step length
    times (1 + penalty of the cell entered). Raises NoPathError."""
    nx_, ny_ = free.shape
    if not free[start] or not free[goal]:
        raise NoPathError(f"start {start} or goal {goal} is not a free cell")
    pen = np.zeros(free.shape) if penalty is None else penalty
    moves = [(1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0),
             (1, 1, SQRT2), (1, -1, SQRT2), (-1, 1, SQRT2), (-1, -1, SQRT2)]  # fmt: skip

    def h(c: tuple[int, int]) -> float:
        dx, dy = abs(c[0] - goal[0]), abs(c[1] - goal[1])
        return (dx + dy) + (SQRT2 - 2.0) * min(dx, dy)

    g = np.full(free.shape, np.inf)
    g[start] = 0.0
    parent = np.full((*free.shape, 2), -1, np.int32)
    closed = np.zeros(free.shape, bool)
    heap = [(h(start), 0.0, start)]
    while heap:
        _, gc, cur = heapq.heappop(heap)
        if closed[cur]:
            continue
        if cur == goal:
            path = [cur]
            while cur != start:
                cur = (int(parent[cur][0]), int(parent[cur][1]))
                path.append(cur)
            return path[::-1]
        closed[cur] = True
        ci, cj = cur
        for di, dj, step in moves:
            ni, nj = ci + di, cj + dj
            if not (0 <= ni < nx_ and 0 <= nj < ny_) or not free[ni, nj] or closed[ni, nj]:
                continue
            if di and dj and not (free[ci + di, cj] and free[ci, cj + dj]):
                continue  # no cutting corners
            ng = gc + step * (1.0 + pen[ni, nj])
            if ng < g[ni, nj]:
                g[ni, nj] = ng
                parent[ni, nj] = cur
                heapq.heappush(heap, (ng + h((ni, nj)), ng, (ni, nj)))
    raise NoPathError(f"no path from cell {start} to cell {goal}")


def segment_clear(
    occ: OccupancyMap, a: np.ndarray, b: np.ndarray, clearance: float, step: float = 0.05
) -> bool:
    """Whether the ESDF stays above ``clearance`` along the segment a→b."""
    n = max(2, math.ceil(np.linalg.norm(b - a) / step) + 1)
    pts = a[None] + (b - a)[None] * np.linspace(0, 1, n)[:, None]
    return bool(np.all(occ.esdf_at(pts) > clearance))


def smooth_path(
    occ: OccupancyMap, path: np.ndarray, clearance: float, iterations: int = 3
) -> np.ndarray:
    """Shortcut then round the corners of a polyline (N, 2), keeping ``clearance``."""
    pts = [path[0]]
    i = 0
    while i < len(path) - 1:
        j = len(path) - 1
        while j > i + 1 and not segment_clear(occ, path[i], path[j], clearance):
            j -= 1
        pts.append(path[j])
        i = j
    poly = np.asarray(pts)
    for _ in range(iterations):
        if len(poly) < 3:
            break
        new = [poly[0]]
        for a, b in itertools.pairwise(poly):
            new += [0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b]
        new.append(poly[-1])
        cand = np.asarray(new)
        dense = resample(cand, 0.05)
        if np.all(occ.esdf_at(dense) > clearance):
            poly = cand
        else:
            break
    return resample(poly, 0.1)


def resample(poly: np.ndarray, spacing: float) -> np.ndarray:
    """Points every ``spacing`` metres along a polyline (first and last kept)."""
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 1e-9:
        return poly[:1].copy()
    n = max(2, math.ceil(s[-1] / spacing) + 1)
    t = np.linspace(0, s[-1], n)
    return np.stack([np.interp(t, s, poly[:, 0]), np.interp(t, s, poly[:, 1])], -1)


def plan_path(occ: OccupancyMap, start: np.ndarray, goal: np.ndarray, radius: float, margin: float = 0.05
              ) -> np.ndarray:  # fmt: skip
    """A collision-free smoothed path (N, 2) from ``start`` to ``goal`` (world x, y).

    Cells closer than ``radius + margin`` to obstacles are forbidden; within 0.6 m beyond that
    a penalty grows, so paths keep to the middle of free space.
    """
    clearance = radius + margin
    free, esdf, res = planning_grid(occ, clearance)
    s = _coarse_index(occ, start, res, free.shape)
    g = _coarse_index(occ, goal, res, free.shape)
    s, g = _nearest_free(free, s), _nearest_free(free, g)
    penalty = 3.0 * np.clip((clearance + 0.6 - esdf) / 0.6, 0.0, 1.0)
    cells = np.asarray(astar(free, s, g, penalty), np.float64)
    pts = np.asarray(occ.grid.origin) + (cells + 0.5) * res
    pts[0], pts[-1] = start, goal
    return smooth_path(occ, pts, radius + margin)


def _nearest_free(free: np.ndarray, c: tuple[int, int], max_cells: int = 6) -> tuple[int, int]:
    if free[c]:
        return c
    i0, j0 = c
    best, bd = None, math.inf
    for i in range(max(0, i0 - max_cells), min(free.shape[0], i0 + max_cells + 1)):
        for j in range(max(0, j0 - max_cells), min(free.shape[1], j0 + max_cells + 1)):
            d = (i - i0) ** 2 + (j - j0) ** 2
            if free[i, j] and d < bd:
                best, bd = (i, j), d
    if best is None:
        raise NoPathError(f"cell {c} is not within {max_cells} cells of free space")
    return best


# ----------------------------------------------------------------------------- rooms


def room_anchor(occ: OccupancyMap, room: int) -> np.ndarray:
    """The point of ``room`` farthest from obstacles (x, y): where a tour visits it."""
    e = np.where(occ.rooms == room, occ.esdf, -np.inf)
    ij = np.unravel_index(int(np.argmax(e)), e.shape)
    return occ.grid.to_world(np.array(ij, np.float64))


def room_waypoints(occ: OccupancyMap, room: int, clearance: float, spacing: float = 5.0,
                   min_area: float = 40.0) -> list[np.ndarray]:  # fmt: skip
    """Points that cover ``room`` for a tour: its anchor, or for rooms above ``min_area`` m^2 one
    open point per ``spacing`` x ``spacing`` block (the most open point of the block), so that a
    mapping tour drives down every aisle of a warehouse."""
    in_room = occ.rooms == room
    area = float(in_room.sum()) * occ.grid.resolution**2
    if area < min_area:
        return [room_anchor(occ, room)]
    e = np.where(in_room, occ.esdf, -np.inf)
    block = max(1, round(spacing / occ.grid.resolution))
    pts = []
    for i in range(0, e.shape[0], block):
        for j in range(0, e.shape[1], block):
            sub = e[i : i + block, j : j + block]
            k = np.unravel_index(int(np.argmax(sub)), sub.shape)
            if sub[k] > clearance + 0.3:
                pts.append(occ.grid.to_world(np.array([i + k[0], j + k[1]], np.float64)))
    return pts or [room_anchor(occ, room)]


def order_points(points: list[np.ndarray], start: np.ndarray) -> list[np.ndarray]:
    """Greedy nearest-neighbour order of ``points`` from ``start`` (straight-line distance)."""
    left = list(points)
    out = []
    cur = start
    while left:
        k = int(np.argmin([np.linalg.norm(p - cur) for p in left]))
        cur = left.pop(k)
        out.append(cur)
    return out


def room_graph(world: World, occ: OccupancyMap, radius: float) -> nx.Graph:
    """Rooms (nodes, with ``label`` and ``anchor``) joined where a robot of ``radius`` passes."""
    free = occ.esdf > radius
    rooms = np.where(free, occ.rooms, -1)
    g = nx.Graph()
    for k, r in enumerate(world.plan.rooms):
        anchor = room_anchor(occ, k)
        g.add_node(k, name=r.name, label=r.label, anchor=anchor)
    # rooms whose free cells touch (8-neighbourhood): doorways and open boundaries
    h, w = rooms.shape
    for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
        i0, i1 = max(0, -di), h - max(0, di)
        j0, j1 = max(0, -dj), w - max(0, dj)
        a = rooms[i0:i1, j0:j1]
        b = rooms[i0 + di : i1 + di, j0 + dj : j1 + dj]
        m = (a >= 0) & (b >= 0) & (a != b)
        for u, v in set(zip(a[m].tolist(), b[m].tolist())):
            if not g.has_edge(u, v):
                du, dv = g.nodes[u]["anchor"], g.nodes[v]["anchor"]
                g.add_edge(u, v, weight=float(np.linalg.norm(du - dv)))
    return g


def tour_order(graph: nx.Graph, start: int) -> list[int]:
    """A walk over the room graph from ``start`` that visits every room (depth-first, nearest
    room first, returning through rooms already seen); consecutive rooms are neighbours."""
    order = [start]
    seen = {start}

    def visit(u: int) -> None:
        nbrs = sorted(graph.neighbors(u), key=lambda v: (graph.edges[u, v]["weight"], v))
        for v in nbrs:
            if v not in seen:
                seen.add(v)
                order.append(v)
                visit(v)
                order.append(u)

    visit(start)
    while len(order) > 1 and order[-1] in order[:-1]:
        order.pop()  # no need to walk back at the end
    return order


def free_mask(occ: OccupancyMap, clearance: float) -> np.ndarray:
    """Free cells (ESDF > clearance) of the largest connected free region."""
    free = occ.esdf > clearance
    comp, n = ndimage.label(free, structure=np.ones((3, 3)))
    if n == 0:
        return free
    sizes = ndimage.sum(free, comp, index=np.arange(1, n + 1))
    return comp == (int(np.argmax(sizes)) + 1)
