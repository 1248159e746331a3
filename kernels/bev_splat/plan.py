"""The static geometry of a splat: which voxel every frustum point falls into.

A rig's cameras, image size, feature-map size, depth bins and voxel grid never change while a
model runs, so everything the kernels need to know about the geometry is computed once, in
numpy, and reused as compile-time constants:

* ``voxel_index`` (N, D, h, w): the flat voxel of every frustum point (camera n, depth bin d,
  feature cell (h, w)) in row-major (X, Y, Z) order, or -1 when the point is outside the grid.
* the valid points sorted by voxel (stable, so ties keep frustum order), and for every occupied
  voxel its *interval* in that order (the BEVPoolv2 idea).

Point ids are flat indices into (N, D, h, w); pixel ids are flat indices into (N, h, w).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np

from astra_jax import geometry
from astra_jax.config import CameraConfig, DepthBinsConfig, VoxelGridConfig


@dataclasses.dataclass(frozen=True, eq=False)
class SplatPlan:
    """Voxel index of every frustum point, plus the voxel-sorted point order.

    Build it with :func:`make_plan` (from a voxel index) or :func:`plan_for_rig` (from a rig).
    Hashing is by identity: a plan is a static argument of jitted functions and primitives.

    Attributes:
      voxel_index: (N, D, h, w) int32 flat voxel in (X, Y, Z) order, -1 outside the grid.
      grid_shape: (X, Y, Z) voxels.
      sorted_points: (Pv,) int32 ids of the in-grid points, sorted by voxel (stable).
      sorted_voxels: (Pv,) int32 voxel of each sorted point (non-decreasing).
      sorted_pixels: (Pv,) int32 pixel (n, h, w) of each sorted point.
      interval_voxels: (K,) int32 the occupied voxels, increasing.
      interval_starts: (K,) int32 first position of each occupied voxel in the sorted order.
      interval_lengths: (K,) int32 number of points in each occupied voxel (>= 1).
    """

    voxel_index: np.ndarray
    grid_shape: tuple[int, int, int]
    sorted_points: np.ndarray = dataclasses.field(init=False, repr=False)
    sorted_voxels: np.ndarray = dataclasses.field(init=False, repr=False)
    sorted_pixels: np.ndarray = dataclasses.field(init=False, repr=False)
    interval_voxels: np.ndarray = dataclasses.field(init=False, repr=False)
    interval_starts: np.ndarray = dataclasses.field(init=False, repr=False)
    interval_lengths: np.ndarray = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        vi = np.asarray(self.voxel_index)
        if vi.ndim != 4 or not np.issubdtype(vi.dtype, np.integer):
            raise ValueError(
                f"SplatPlan.voxel_index: shape {vi.shape} dtype {vi.dtype}: expected an integer "
                "array of shape (cameras, depth_bins, feature_h, feature_w)"
            )
        grid = tuple(int(g) for g in self.grid_shape)
        if len(grid) != 3 or min(grid) <= 0:
            raise ValueError(f"SplatPlan.grid_shape = {self.grid_shape}: expected (X, Y, Z) > 0")
        num_voxels = math.prod(grid)
        if vi.size and (vi.min() < -1 or vi.max() >= num_voxels):
            raise ValueError(
                f"SplatPlan.voxel_index: values in [{vi.min()}, {vi.max()}]: expected -1 or a "
                f"voxel in [0, {num_voxels})"
            )
        vi = vi.astype(np.int32)
        vi.setflags(write=False)
        _, d, h, w = vi.shape
        flat = vi.reshape(-1)
        valid = np.flatnonzero(flat >= 0)
        order = valid[np.argsort(flat[valid], kind="stable")].astype(np.int32)
        voxels = flat[order]
        # Point id (n, d, h, w) -> pixel id (n, h, w).
        cam, rem = np.divmod(order, d * h * w)
        pixels = (cam * (h * w) + rem % (h * w)).astype(np.int32)
        ivox, istart, ilen = np.unique(voxels, return_index=True, return_counts=True)
        derived = {
            "voxel_index": vi,
            "grid_shape": grid,
            "sorted_points": order,
            "sorted_voxels": voxels,
            "sorted_pixels": pixels,
            "interval_voxels": ivox.astype(np.int32),
            "interval_starts": istart.astype(np.int32),
            "interval_lengths": ilen.astype(np.int32),
        }
        for name, value in derived.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def num_cameras(self) -> int:
        return self.voxel_index.shape[0]

    @property
    def num_bins(self) -> int:
        return self.voxel_index.shape[1]

    @property
    def feature_hw(self) -> tuple[int, int]:
        return self.voxel_index.shape[2], self.voxel_index.shape[3]

    @property
    def num_points(self) -> int:
        """All frustum points N*D*h*w, in the grid or not."""
        return self.voxel_index.size

    @property
    def num_pixels(self) -> int:
        """Feature cells N*h*w."""
        return self.num_cameras * self.feature_hw[0] * self.feature_hw[1]

    @property
    def num_valid(self) -> int:
        """Frustum points inside the grid (Pv)."""
        return self.sorted_points.size

    @property
    def num_voxels(self) -> int:
        return math.prod(self.grid_shape)

    @property
    def num_occupied(self) -> int:
        """Voxels that receive at least one point (K)."""
        return self.interval_voxels.size

    def check_inputs(self, depth_prob_shape: Sequence[int], feat_shape: Sequence[int]) -> None:
        """Raise ValueError unless depth_prob is (B, N, D, h, w) and feat (B, N, h, w, C)."""
        n, d, h, w = self.voxel_index.shape
        dp, ft = tuple(depth_prob_shape), tuple(feat_shape)
        if len(dp) != 5 or dp[1:] != (n, d, h, w):
            raise ValueError(
                f"bev_splat: depth_prob shape {dp}: expected (batch, {n}, {d}, {h}, {w}) for "
                "this plan"
            )
        if len(ft) != 5 or ft[:4] != (dp[0], n, h, w):
            raise ValueError(
                f"bev_splat: feat shape {ft}: expected ({dp[0]}, {n}, {h}, {w}, channels)"
            )

    def __repr__(self) -> str:
        return (
            f"SplatPlan(points={self.voxel_index.shape}, grid={self.grid_shape}, "
            f"valid={self.num_valid}, occupied={self.num_occupied})"
        )


def make_plan(voxel_index: np.ndarray, grid_shape: Sequence[int]) -> SplatPlan:
    """A plan from a precomputed voxel index (N, D, h, w) (-1 = outside) and grid (X, Y, Z)."""
    return SplatPlan(np.asarray(voxel_index), tuple(int(g) for g in grid_shape))


@functools.lru_cache(maxsize=16)
def plan_for_rig(
    cameras: tuple[CameraConfig, ...],
    image_hw: tuple[int, int],
    feature_hw: tuple[int, int],
    depth_bins: DepthBinsConfig,
    grid: VoxelGridConfig,
) -> SplatPlan:
    """The plan of a rig: frustum points from ``geometry.frustum_points_ego`` at the depth-bin
    centres, binned into ``grid``. Cached: one plan per distinct geometry."""
    points = geometry.frustum_points_ego(
        geometry.rig_intrinsics(cameras, image_hw),
        geometry.rig_extrinsics(cameras),
        image_hw,
        feature_hw,
        geometry.depth_bin_centers(depth_bins),
    )  # (N, D, h, w, 3) float64
    voxel_index = geometry.voxel_flat_index(points, grid)
    return make_plan(voxel_index, (grid.nx, grid.ny, grid.nz))
