"""2D occupancy grid, signed ESDF and ego-centric local crops.

Grid convention: ``values[ix, iy]``, first index along world x, second along world y; cell
(ix, iy) covers ``[x0 + ix*r, x0 + (ix+1)*r) x [y0 + iy*r, y0 + (iy+1)*r)`` and its centre is at
``origin + (index + 0.5) * r`` (the same convention as :func:`astra_jax.geometry.voxel_coords`).

The ESDF is signed: positive in free space (distance to the nearest obstacle), negative inside
obstacles (minus the distance to the nearest free space), in metres. It comes from
:func:`scipy.ndimage.distance_transform_edt` between cell centres, minus half a cell so that the
zero level lies on the obstacle boundary; values are accurate to about half a cell.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from matplotlib.path import Path as MplPath
from scipy import ndimage

from astra_jax.geometry import se2_apply

# signed_distance lives in geometry (the run-time occupancy of local_model uses it too); the
# explicit re-export keeps it importable from here.
from astra_jax.geometry import signed_distance as signed_distance


@dataclasses.dataclass(frozen=True)
class GridSpec:
    """A regular 2D grid: ``origin`` (x0, y0) of cell (0, 0)'s corner, ``resolution`` m/cell,
    ``shape`` (nx, ny)."""

    origin: tuple[float, float]
    resolution: float
    shape: tuple[int, int]

    @staticmethod
    def covering(
        bounds: tuple[float, float, float, float], resolution: float, pad: float = 0.5
    ) -> GridSpec:
        """A grid covering (xmin, ymin, xmax, ymax) plus ``pad`` metres on each side, with its
        origin on a multiple of the resolution (so grids of one world line up)."""
        x0 = math.floor((bounds[0] - pad) / resolution) * resolution
        y0 = math.floor((bounds[1] - pad) / resolution) * resolution
        nx = math.ceil((bounds[2] + pad - x0) / resolution)
        ny = math.ceil((bounds[3] + pad - y0) / resolution)
        return GridSpec((round(x0, 9), round(y0, 9)), resolution, (nx, ny))

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates: xs (nx,), ys (ny,)."""
        xs = self.origin[0] + (np.arange(self.shape[0]) + 0.5) * self.resolution
        ys = self.origin[1] + (np.arange(self.shape[1]) + 0.5) * self.resolution
        return xs, ys

    def to_cell(self, xy: np.ndarray) -> np.ndarray:
        """Continuous cell coordinates (..., 2) of world points (..., 2); centres are integers."""
        return (np.asarray(xy, np.float64) - np.asarray(self.origin)) / self.resolution - 0.5

    def index(self, xy: np.ndarray) -> np.ndarray:
        """Integer (ix, iy) of the cells containing world points (..., 2), clipped to the grid."""
        ij = np.floor((np.asarray(xy, np.float64) - np.asarray(self.origin)) / self.resolution)
        return np.clip(ij, 0, np.asarray(self.shape) - 1).astype(np.int64)

    def to_world(self, ij: np.ndarray) -> np.ndarray:
        """World coordinates (..., 2) of (possibly fractional) cell indices (..., 2)."""
        return np.asarray(self.origin) + (np.asarray(ij, np.float64) + 0.5) * self.resolution


def rasterize_rects(
    grid: GridSpec, rects: list[tuple[float, float, float, float, float]], out: np.ndarray | None = None,
    value: int | bool = True,
) -> np.ndarray:  # fmt: skip
    """Mark cells whose centre lies in any oriented rectangle (cx, cy, length, width, yaw).

    ``length`` runs along the yaw direction. Writes ``value`` into ``out`` (bool (nx, ny) by
    default) and returns it.
    """
    if out is None:
        out = np.zeros(grid.shape, bool)
    r = grid.resolution
    for cx, cy, length, width, yaw in rects:
        c, s = math.cos(yaw), math.sin(yaw)
        ex = 0.5 * (abs(length * c) + abs(width * s))
        ey = 0.5 * (abs(length * s) + abs(width * c))
        i0, j0 = grid.index(np.array([cx - ex, cy - ey]))
        i1, j1 = grid.index(np.array([cx + ex, cy + ey]))
        xs = grid.origin[0] + (np.arange(i0, i1 + 1) + 0.5) * r - cx
        ys = grid.origin[1] + (np.arange(j0, j1 + 1) + 0.5) * r - cy
        u = xs[:, None] * c + ys[None, :] * s
        v = -xs[:, None] * s + ys[None, :] * c
        inside = (np.abs(u) <= 0.5 * length) & (np.abs(v) <= 0.5 * width)
        out[i0 : i1 + 1, j0 : j1 + 1][inside] = value
    return out


def rasterize_polygons(
    grid: GridSpec, polygons: list[tuple[tuple[float, float], ...]]
) -> np.ndarray:
    """(nx, ny) int32 label grid: index of the polygon containing each cell centre, or -1."""
    xs, ys = grid.centres()
    pts = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    labels = np.full(grid.shape[0] * grid.shape[1], -1, np.int32)
    for k, poly in enumerate(polygons):
        path = MplPath(np.asarray(poly, np.float64))
        x0, y0 = np.min(poly, 0)
        x1, y1 = np.max(poly, 0)
        cand = np.nonzero(
            (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
        )[0]
        inside = cand[path.contains_points(pts[cand])]
        labels[inside[labels[inside] < 0]] = k
    return labels.reshape(grid.shape)


@dataclasses.dataclass(frozen=True)
class OccupancyMap:
    """A world's occupancy grid and its signed ESDF.

    ``occupied`` (nx, ny) bool: a wall or obstacle intersects the robot's height band at the
    cell centre. ``esdf`` (nx, ny) float32 metres, positive in free space. ``rooms`` (nx, ny)
    int32: index of the room whose polygon holds the cell centre, -1 outside every room.
    """

    grid: GridSpec
    occupied: np.ndarray
    esdf: np.ndarray
    rooms: np.ndarray

    def esdf_at(self, xy: np.ndarray) -> np.ndarray:
        """Bilinear ESDF (m) at world points (..., 2); points off the grid read as obstacles."""
        ij = self.grid.to_cell(xy)
        flat = ij.reshape(-1, 2).T
        vals = ndimage.map_coordinates(self.esdf, flat, order=1, mode="constant", cval=-1.0)
        return vals.reshape(np.shape(xy)[:-1]).astype(np.float32)

    def free_at(self, xy: np.ndarray, clearance: float = 0.0) -> np.ndarray:
        """True where the ESDF exceeds ``clearance`` metres."""
        return self.esdf_at(xy) > clearance

    def local_crop(
        self, pose: np.ndarray, shape: tuple[int, int], resolution: float, values: str = "esdf"
    ) -> np.ndarray:
        """An ego-centric crop (nx, ny) of the ESDF (or ``"occupied"`` as 0/1 floats).

        Cell (i, j) of the crop is centred at ego point ``(-X/2 + (i+0.5) r, -Y/2 + (j+0.5) r)``
        with X, Y the crop's extent: the layout of :class:`astra_jax.config.VoxelGridConfig`
        (x forward, y left, robot at the centre). Bilinear sampling; outside the map reads as
        obstacle (-1 m, or 1 for occupancy). ``pose`` is the robot's (x, y, yaw).
        """
        return local_crop(self, np.asarray(pose, np.float64), shape, resolution, values)


def local_crop(
    occ: OccupancyMap,
    pose: np.ndarray,
    shape: tuple[int, int],
    resolution: float,
    values: str = "esdf",
) -> np.ndarray:
    """See :meth:`OccupancyMap.local_crop`; ``pose`` may be batched (..., 3) → (..., nx, ny)."""
    nx, ny = shape
    ex, ey = nx * resolution, ny * resolution
    gx = -0.5 * ex + (np.arange(nx) + 0.5) * resolution
    gy = -0.5 * ey + (np.arange(ny) + 0.5) * resolution
    ego = np.stack(np.meshgrid(gx, gy, indexing="ij"), -1)  # (nx, ny, 2)
    pose = np.asarray(pose, np.float64)
    world = se2_apply(pose[..., None, None, :], ego)  # (..., nx, ny, 2)
    ij = occ.grid.to_cell(world)
    src = occ.esdf if values == "esdf" else occ.occupied.astype(np.float32)
    cval = -1.0 if values == "esdf" else 1.0
    flat = ij.reshape(-1, 2).T
    out = ndimage.map_coordinates(src, flat, order=1, mode="constant", cval=cval)
    return out.reshape(world.shape[:-1]).astype(np.float32)
