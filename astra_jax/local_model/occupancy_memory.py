"""A short memory for the run-time grid: what the last ticks saw fills what this one cannot see.

One rig frame leaves cells unobserved (:mod:`~astra_jax.local_model.depth_occupancy`): the ring
around the base below the cameras, the seams between them, and space hidden behind surfaces.
The robot has just seen most of them: the ring was in front of it a second ago. A robot's
costmap keeps that (a rolling window with memory); :class:`OccupancyMemory` does it for the
last ``ticks`` grids, moved into the current ego frame by the robot's own odometry (no
privileged data):

* a cell observed in this frame keeps this frame's answer (occupied or free);
* a cell *out of this frame's view* (unobserved and not occluded: the ring, the seams) takes
  the answer of the latest remembered grid that observed it (nearest-cell lookup of its centre
  in that grid), and is then observed;
* an *occluded* cell stays occluded (an obstacle in the ESDF by default): something this frame
  sees stands in front of it, so the memory's job (the ring, the seams) does not extend to it.

The world is taken as static over the memory's span (``ticks`` x the tick interval): a person
who walked through a blind spot leaves a ghost there for at most that long, on the safe side.
Odometry drifts millimetres over a second or two (its RTE is ~0.4 %).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from astra_jax.geometry import se2_apply, se2_inverse, se2_relative
from astra_jax.local_model.depth_occupancy import (
    LocalOccupancy,
    ego_cell_centres,
    ego_cell_index,
)


def fuse_occupancy(
    current: LocalOccupancy, past: list[tuple[LocalOccupancy, np.ndarray]]
) -> LocalOccupancy:
    """``current`` with its out-of-view cells (unobserved, not occluded) filled from ``past``.

    Args:
      current: this frame's grid.
      past: (grid, pose (3,)) pairs, oldest first; each pose is that grid's ego frame in
        ``current``'s ego frame (x, y m; yaw rad). Later entries win over earlier ones.
    """
    shape, r = current.occupied.shape, current.resolution
    occupied = current.occupied.copy()
    observed = current.observed.copy()
    filled = np.zeros(shape, bool)
    centres = ego_cell_centres(shape, r)  # (nx, ny, 2) in the current frame
    for grid, pose in past:
        if grid.occupied.shape != shape or grid.resolution != r:
            raise ValueError(
                f"fuse_occupancy: a past grid is {grid.occupied.shape} cells of {grid.resolution} "
                f"m, this one {shape} of {r} m"
            )
        pose = np.asarray(pose, np.float64)
        if pose.shape != (3,) or not np.isfinite(pose).all():
            raise ValueError(f"fuse_occupancy: past pose {pose!r}: expected finite (x, y, yaw)")
        # where each current cell centre lies in the past grid: p_past = pose^-1 (p_current)
        i, j, inside = ego_cell_index(se2_apply(se2_inverse(pose), centres), shape, r)
        take = inside & ~current.observed & ~current.occluded & grid.observed[i, j]
        occupied = np.where(take, grid.occupied[i, j], occupied)
        filled |= take
    observed |= filled
    return LocalOccupancy(occupied, observed, current.occluded & ~observed, r)


@dataclasses.dataclass
class OccupancyMemory:
    """The last ``ticks`` grids with their odometry poses (any fixed frame: the robot's
    dead-reckoned one). :meth:`update` fuses a new grid with them, then remembers it; its raw
    grid is remembered, not the fused one, so nothing lives longer than ``ticks`` updates.
    ``ticks = 0`` returns each grid as it is."""

    ticks: int = 2
    _past: collections.deque = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.ticks, int) and self.ticks >= 0):
            raise ValueError(f"OccupancyMemory.ticks = {self.ticks!r}: expected an int >= 0")
        self._past = collections.deque(maxlen=self.ticks)  # (raw grid, odometry pose)

    def reset(self) -> None:
        """Forget everything (a new episode, or the robot was moved)."""
        self._past.clear()

    def update(self, occ: LocalOccupancy, odom_pose: np.ndarray) -> LocalOccupancy:
        """The fused grid of ``occ``, taken at ``odom_pose`` (3,) (x, y m; yaw rad)."""
        odom_pose = np.asarray(odom_pose, np.float64)
        if odom_pose.shape != (3,) or not np.isfinite(odom_pose).all():
            raise ValueError(
                f"OccupancyMemory.update: odom_pose {odom_pose!r}: expected finite (3,)"
            )
        if self.ticks == 0:
            return occ
        fused = fuse_occupancy(occ, [(g, se2_relative(odom_pose, p)) for g, p in self._past])
        self._past.append((occ, odom_pose))  # the oldest drops out
        return fused
