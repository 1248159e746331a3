"""Run-time local occupancy: the rig's depth frames -> an ego-frame 2-D grid and its signed ESDF.

This is what a robot with RGB-D cameras can build at run time, with no privileged data: the
planner's best-of-N scoring, the collision check and the fallback planner use it. The
simulator's world ESDF stays for training labels and for the evaluation only.

Steps, all numpy/scipy:

1. **Back-project.** ``depth`` is z-depth (metres along each camera's optical axis, OpenCV z),
   as :mod:`astra_jax.sim.render` renders it and episodes store it. Pixel centres
   ``(j + 0.5, i + 0.5)`` are lifted with :func:`geometry.unproject` and moved into the ego frame
   with the extrinsics ``T_ego_cam`` (camera -> ego). Non-finite or non-positive depths are
   missing. The renderer clips empty views to its far plane (120 m): such returns are never
   obstacles (beyond ``max_range``) and see everything in front of them, up to ``max_range``,
   as free.
2. **Obstacles.** A return is an obstacle when its height lies in the obstacle band
   ``[z_min, z_max]`` (the simulator's ``OBSTACLE_BAND``: from just above the floor to the top
   of the robot) and its horizontal distance from the camera is at most ``max_range``. Floor
   (z < z_min) and ceiling (z > z_max) returns are not obstacles.
3. **Observed free cells: the whole column must be seen.** A 2-D cell is free only when its
   column over the band is empty, and one ray passing over a cell proves emptiness at one
   height only (a ray above a desk top at 0.75 m, or one under it to the floor, says nothing
   about the top itself). So each cell's column is sampled every ``column_step`` m over the
   band and each sample is projected into every camera: it is *seen free* when it falls in
   the image, within ``max_range`` of the camera, in front of the rendered surface by more than
   ``free_tolerance`` m of depth. A cell is observed when every sample of its column is seen
   free by some camera, or when it holds an obstacle return (obstacles win). Of the cells left
   unknown, a cell is **occluded** when some sample of its column is in a camera's view but
   behind the rendered surface (behind a wall or a box, under a desk top between the returns
   on the top), and **out of view** otherwise: the blind ring around the robot's base below
   the cameras, and the seams between cameras (each camera covers 120 degrees from its own
   position, and the three positions differ, so a strip about 0.35 m wide at +-60 and 180
   degrees is seen by none of them).
   **Missing returns** (a stereo camera's: nearer than its minimum range, farther than its
   maximum, in the occlusion shadows beside near objects) are filled for this test only, not
   as obstacle returns (``fill_holes``): each takes the nearest depth among the returns
   around it, one ring of pixels per pass until every hole that borders a return is filled
   (RealSense's "nearest from around" hole filling, run to convergence). A hole below the
   minimum range is bordered by near returns, so the space behind it is hidden (occluded: an
   obstacle by default) where an unfilled hole left it out of view (free by default); a hole
   beyond the maximum range is bordered by far returns, so the space in front of it is still
   seen free. Exact depth has no holes and reads as before.
4. **Unknown cells** (``unknown``): ``"occluded"`` (the default) makes occluded cells
   obstacles and leaves out-of-view cells free. Occluded space is where unseen obstacles
   hide (the rest of a desk, the far side of a doorway's jamb); out-of-view space is the
   ring the robot just drove over and the seams, which would otherwise wall the robot into
   its front sector. ``"free"`` treats all unknown cells as free (optimistic), ``"occupied"``
   all of them as obstacles except within ``blind_radius`` of the ego origin (pessimistic;
   the seams then cut the grid into three sectors).
5. **ESDF.** Positive in free space, negative inside obstacles, metres: the distance to the
   nearest surface cell's *centre* (a surface cell holds a depth return, so the surface runs
   through it), or to the nearest unknown-as-obstacle cell's edge
   (:func:`astra_jax.geometry.signed_distance`, made for the world grid, whose cells are
   obstacles when their centre is inside one); inside obstacles, ``signed_distance``'s values.

Grid layout (equal to :meth:`astra_jax.sim.occupancy.OccupancyMap.local_crop`): ``values[i, j]``,
first index along ego x (forward), second along ego y (left), cell (i, j) centred at ego point
``(-X/2 + (i + 0.5) r, -Y/2 + (j + 0.5) r)`` with ``(X, Y) = shape * r``; the robot sits at the
centre of the grid.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import ndimage

from astra_jax.geometry import (
    pixel_centers,
    project,
    se3_apply,
    se3_inverse,
    signed_distance,
    unproject,
)
from astra_jax.validation import (
    check_bools,
    check_choice,
    check_non_negative_numbers,
    check_positive_numbers,
    fail_field,
    is_int,
)

# The simulator's obstacle band (astra_jax.sim.world.OBSTACLE_BAND, m above the floor), copied
# because models may not import the simulator: from just above the floor (pallets, forks) to
# the top of the robot (cameras at 1.0 m plus the housing). Keep the two in step.
OBSTACLE_Z_MIN = 0.02
OBSTACLE_Z_MAX = 1.2
# What an ESDF lookup reads outside the grid (m): an obstacle, as the world's local_crop does.
OUTSIDE_ESDF = -1.0


@dataclasses.dataclass(frozen=True)
class LocalGridConfig:
    """The run-time ego grid and how depth fills it.

    ``shape`` (nx, ny) cells of ``resolution`` m, centred on the robot (nx along ego x).
    ``z_min``/``z_max``: the obstacle height band (m above the floor). ``max_range``: returns
    and column samples farther than this (m, horizontal, from the camera) are not used.
    ``column_step`` (m): spacing of the samples that test a cell's column;
    ``free_tolerance`` (m of z-depth): how far in front of the rendered surface a sample must
    lie to count as seen free. ``unknown``: ``"occluded"``, ``"free"`` or ``"occupied"``, how
    never-observed cells enter the ESDF (module docstring); ``blind_radius`` (m): with
    ``"occupied"``, unknown cells this close to the ego origin still count as free.
    ``fill_holes``: fill missing returns from their neighbours for the free-space test
    (module docstring, step 3).
    """

    shape: tuple[int, int] = (96, 96)
    resolution: float = 0.1
    z_min: float = OBSTACLE_Z_MIN
    z_max: float = OBSTACLE_Z_MAX
    max_range: float = 5.0
    column_step: float = 0.2
    free_tolerance: float = 0.05
    unknown: str = "occluded"
    blind_radius: float = 0.6
    fill_holes: bool = True

    def __post_init__(self) -> None:
        check_bools(self, "fill_holes")
        s = self.shape
        if not (isinstance(s, tuple) and len(s) == 2 and all(is_int(v) and v > 0 for v in s)):
            fail_field(self, "shape", "(nx, ny) as two positive integers")
        check_positive_numbers(self, "resolution", "max_range", "column_step", "free_tolerance")
        check_non_negative_numbers(self, "z_min", "blind_radius")
        check_positive_numbers(self, "z_max")
        if self.z_max <= self.z_min:
            fail_field(self, "z_max", f"a height above z_min = {self.z_min}")
        check_choice(self, "unknown", ("occluded", "free", "occupied"))

    @property
    def extent(self) -> tuple[float, float]:
        """Side lengths (m) along ego x and y."""
        return (self.shape[0] * self.resolution, self.shape[1] * self.resolution)


def ego_cell_centres(shape: tuple[int, int], resolution: float) -> np.ndarray:
    """(nx, ny, 2) ego (x, y) of every cell centre of an ego grid (robot at the centre)."""
    gx = -0.5 * shape[0] * resolution + (np.arange(shape[0]) + 0.5) * resolution
    gy = -0.5 * shape[1] * resolution + (np.arange(shape[1]) + 0.5) * resolution
    return np.stack(np.meshgrid(gx, gy, indexing="ij"), -1)


def ego_to_cell(xy: np.ndarray, shape: tuple[int, int], resolution: float) -> np.ndarray:
    """Continuous cell coordinates (..., 2) of ego points (..., 2); cell centres are integers."""
    half = 0.5 * np.asarray(shape, np.float64) * resolution
    return (np.asarray(xy, np.float64) + half) / resolution - 0.5


@dataclasses.dataclass(frozen=True)
class EgoESDF:
    """A signed ESDF on an ego grid: ``values`` (nx, ny) float32 metres (> 0 free, < 0 inside an
    obstacle), cells of ``resolution`` m, laid out as :class:`LocalGridConfig` says.

    Built from run-time depth (:func:`runtime_esdf`) or, for labels and evaluation, from the
    world's ``local_crop`` (``EgoESDF(crop, resolution)``).
    """

    values: np.ndarray
    resolution: float

    def __post_init__(self) -> None:
        v = np.asarray(self.values)
        if v.ndim != 2 or min(v.shape) < 1:
            raise ValueError(f"EgoESDF.values shape {v.shape}: expected (nx, ny)")
        if not (isinstance(self.resolution, int | float) and self.resolution > 0):
            raise ValueError(f"EgoESDF.resolution = {self.resolution!r}: expected metres > 0")
        object.__setattr__(self, "values", v.astype(np.float32, copy=False))

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    @property
    def extent(self) -> tuple[float, float]:
        """Side lengths (m) along ego x and y."""
        return (self.shape[0] * self.resolution, self.shape[1] * self.resolution)

    def to_cell(self, xy: np.ndarray) -> np.ndarray:
        """Continuous cell coordinates (..., 2) of ego points (..., 2)."""
        return ego_to_cell(xy, self.shape, self.resolution)

    def to_ego(self, ij: np.ndarray) -> np.ndarray:
        """Ego (x, y) (..., 2) of (possibly fractional) cell indices (..., 2)."""
        half = 0.5 * np.asarray(self.shape, np.float64) * self.resolution
        return (np.asarray(ij, np.float64) + 0.5) * self.resolution - half

    def at(self, xy: np.ndarray) -> np.ndarray:
        """Bilinear ESDF (...) in metres at ego points (..., 2); off the grid reads as an
        obstacle (-1 m), as the world's ``local_crop`` does."""
        xy = np.asarray(xy, np.float64)
        if xy.shape[-1:] != (2,):
            raise ValueError(f"EgoESDF.at: xy shape {xy.shape}: expected (..., 2)")
        flat = self.to_cell(xy).reshape(-1, 2).T
        vals = ndimage.map_coordinates(
            self.values, flat, order=1, mode="constant", cval=OUTSIDE_ESDF
        )
        return vals.reshape(xy.shape[:-1]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class LocalOccupancy:
    """The run-time grid before the distance transform, (nx, ny) bool each: ``occupied`` (holds
    an obstacle return), ``observed`` (its column was seen free, or occupied), ``occluded``
    (not observed, and part of its column is in view but hidden behind a surface)."""

    occupied: np.ndarray
    observed: np.ndarray
    occluded: np.ndarray
    resolution: float


def _check_inputs(depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray) -> None:
    if depth.ndim != 3:
        raise ValueError(f"depth shape {depth.shape}: expected (N, H, W) metres")
    n = depth.shape[0]
    if intrinsics.shape != (n, 3, 3):
        raise ValueError(f"intrinsics shape {intrinsics.shape}: expected ({n}, 3, 3)")
    if extrinsics.shape != (n, 4, 4):
        raise ValueError(f"extrinsics shape {extrinsics.shape}: expected ({n}, 4, 4) T_ego_cam")


def depth_occupancy(
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    cfg: LocalGridConfig | None = None,
) -> LocalOccupancy:
    """Occupied and observed cells of the ego grid from one rig frame.

    Args:
      depth: (N, H, W) z-depth in metres per camera; non-finite or <= 0 is missing.
      intrinsics: (N, 3, 3) pinhole K at (H, W).
      extrinsics: (N, 4, 4) ``T_ego_cam`` (OpenCV camera frame -> ego frame).
      cfg: the grid; :class:`LocalGridConfig` defaults when None.
    """
    cfg = cfg or LocalGridConfig()
    depth = np.asarray(depth, np.float64)
    intrinsics = np.asarray(intrinsics, np.float64)
    extrinsics = np.asarray(extrinsics, np.float64)
    _check_inputs(depth, intrinsics, extrinsics)
    n, h, w = depth.shape
    r, shape = cfg.resolution, cfg.shape

    valid = np.isfinite(depth) & (depth > 0)
    d = np.where(valid, depth, 1.0)
    pts_cam = unproject(intrinsics[:, None, None], pixel_centers(h, w)[None], d)
    pts = se3_apply(extrinsics[:, None, None], pts_cam)[valid]  # (R, 3) returns, ego frame
    cam = np.broadcast_to(extrinsics[:, None, None, :3, 3], (n, h, w, 3))[valid]  # (R, 3)
    horiz = np.linalg.norm((pts - cam)[:, :2], axis=1)  # horizontal range of each return (m)
    hit = (pts[:, 2] >= cfg.z_min) & (pts[:, 2] <= cfg.z_max) & (horiz <= cfg.max_range)
    occupied = np.zeros(shape, bool)
    _mark(occupied, pts[hit, :2], shape, r)
    if cfg.fill_holes and not valid.all():
        depth, valid = fill_holes(depth, valid)
    column_free, hidden = _column_visibility(depth, valid, intrinsics, extrinsics, cfg)
    observed = column_free | occupied
    return LocalOccupancy(occupied, observed, hidden & ~observed, r)


def fill_holes(depth: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) z-depth (m) and its returns -> the same with each missing pixel set to the
    nearest depth among the returns around it, a ring of pixels per pass (8-neighbours), until
    no hole borders a filled pixel; and where the result holds a depth (holes with no return
    in their image stay missing). A thin object nearer than the minimum range with only far
    returns around it is filled far, so the space behind it still reads as seen free."""
    d = np.where(valid, depth, np.inf)
    holes = ~valid
    while True:
        grown = ndimage.minimum_filter(d, size=(1, 3, 3), mode="nearest")
        newly = holes & np.isfinite(grown)
        if not newly.any():
            return d, np.isfinite(d)
        d = np.where(newly, grown, d)
        holes &= ~newly


def _column_heights(cfg: LocalGridConfig) -> np.ndarray:
    """Sample heights (Z,) over the band: the centres of ceil(band / column_step) equal slices."""
    k = math.ceil((cfg.z_max - cfg.z_min) / cfg.column_step)
    return cfg.z_min + (np.arange(k) + 0.5) * (cfg.z_max - cfg.z_min) / k


def _column_visibility(
    depth: np.ndarray,
    valid: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    cfg: LocalGridConfig,
) -> np.ndarray:
    """(nx, ny) bool each: every sample of the cell's column is seen free by some camera; some
    sample is in some camera's view but seen free by none (hidden behind a surface)."""
    n, h, w = depth.shape
    centres = ego_cell_centres(cfg.shape, cfg.resolution)  # (nx, ny, 2)
    zs = _column_heights(cfg)
    col = np.concatenate(
        [
            np.broadcast_to(centres[:, :, None], (*cfg.shape, len(zs), 2)),
            np.broadcast_to(zs, (*cfg.shape, len(zs)))[..., None],
        ],
        -1,
    ).reshape(-1, 3)  # (M, 3) ego points
    seen = np.zeros(len(col), bool)
    in_view = np.zeros(len(col), bool)
    for c in range(n):
        t_cam_ego = se3_inverse(extrinsics[c])
        uv, z = project(intrinsics[c], se3_apply(t_cam_ego, col))
        j, i = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
        ok = (z > 1e-3) & (i >= 0) & (i < h) & (j >= 0) & (j < w)
        ok &= np.linalg.norm(col[:, :2] - extrinsics[c, :2, 3], axis=1) <= cfg.max_range
        ic, jc = np.clip(i, 0, h - 1), np.clip(j, 0, w - 1)
        ok &= valid[c, ic, jc]
        in_view |= ok
        seen |= ok & (z < depth[c, ic, jc] - cfg.free_tolerance)
    seen = seen.reshape(*cfg.shape, len(zs))
    hidden = (in_view.reshape(seen.shape) & ~seen).any(-1)
    return seen.all(-1), hidden


def ego_cell_index(
    xy: np.ndarray, shape: tuple[int, int], resolution: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, inside), each (...,): the cell containing each ego point (..., 2), clipped to the
    grid, and whether the point lies on it."""
    ij = np.floor(ego_to_cell(xy, shape, resolution) + 0.5).astype(np.int64)
    i, j = ij[..., 0], ij[..., 1]
    inside = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
    return np.clip(i, 0, shape[0] - 1), np.clip(j, 0, shape[1] - 1), inside


def _mark(grid: np.ndarray, xy: np.ndarray, shape: tuple[int, int], r: float) -> None:
    """Set the cells of ``grid`` containing ego points (M, 2); points off the grid are dropped."""
    i, j, inside = ego_cell_index(xy, shape, r)
    grid[i[inside], j[inside]] = True


def occupancy_esdf(occ: LocalOccupancy, cfg: LocalGridConfig | None = None) -> EgoESDF:
    """The signed ESDF of a run-time grid, with unknown cells handled as ``cfg.unknown`` says."""
    cfg = cfg or LocalGridConfig()
    obstacle = occ.occupied
    if cfg.unknown == "occluded":
        obstacle = obstacle | occ.occluded
    elif cfg.unknown == "occupied":
        centres = ego_cell_centres(occ.occupied.shape, occ.resolution)
        blind = np.linalg.norm(centres, axis=-1) <= cfg.blind_radius
        obstacle = obstacle | (~occ.observed & ~blind)
    esdf = signed_distance(obstacle, occ.resolution)
    if occ.occupied.any():
        # A surface cell holds a depth return, so the surface runs through the cell, on
        # average through its centre: measured to the centre, not to the cell's edge as
        # signed_distance does (it is made for cells whose centre lies inside the obstacle,
        # the world grid's rasterisation). The edge convention read the free space ~0.08 m
        # short of the world's ESDF on val offices, so best-of-N saw phantom collisions.
        # Unknown cells entered as obstacles keep the edge (the whole cell is unknown).
        r = occ.resolution
        free = ndimage.distance_transform_edt(~occ.occupied) * r
        others = obstacle & ~occ.occupied
        if others.any():
            free = np.minimum(free, ndimage.distance_transform_edt(~others) * r - 0.5 * r)
        esdf = np.where(obstacle, esdf, free).astype(np.float32)
    return EgoESDF(esdf, occ.resolution)


def runtime_esdf(
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    cfg: LocalGridConfig | None = None,
) -> EgoESDF:
    """The ego ESDF from one rig frame: :func:`depth_occupancy` then :func:`occupancy_esdf`."""
    cfg = cfg or LocalGridConfig()
    return occupancy_esdf(depth_occupancy(depth, intrinsics, extrinsics, cfg), cfg)
