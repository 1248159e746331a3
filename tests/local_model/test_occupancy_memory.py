"""The run-time grid's memory: earlier grids, moved by odometry, fill what this frame cannot see."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from astra_jax.config import RigConfig
from astra_jax.geometry import se2_apply, se2_compose, se2_relative
from astra_jax.local_model.depth_occupancy import (
    LocalGridConfig,
    LocalOccupancy,
    depth_occupancy,
    ego_cell_centres,
    ego_cell_index,
)
from astra_jax.local_model.occupancy_memory import OccupancyMemory, fuse_occupancy

os.environ.setdefault("MUJOCO_GL", "egl")

FLOORPLANS = Path(__file__).resolve().parents[2] / "astra_jax" / "sim" / "floorplans"
SHAPE, RES = (40, 40), 0.1  # 4 x 4 m


def _grid(observed: bool = False) -> LocalOccupancy:
    z = np.zeros(SHAPE, bool)
    return LocalOccupancy(z.copy(), np.full(SHAPE, observed), z.copy(), RES)


def _cell(xy) -> tuple[int, int]:
    i, j, _ = ego_cell_index(np.asarray(xy, np.float64), SHAPE, RES)
    return int(i), int(j)


def test_a_remembered_obstacle_lands_where_the_robot_now_sees_it():
    """The robot saw a box 1.2 m ahead, 0.4 m left, then drove 0.8 m and turned 0.5 rad: the
    box is filled in at its place in the new ego frame; cells this frame observed keep their
    own answer, and so do occluded ones (something it sees stands in front of them); cells no
    grid saw stay unknown."""
    moved = np.array([0.8, 0.0, 0.5])  # the current ego frame in the past one
    pose_of_past = se2_relative(moved, np.zeros(3))  # the past frame in the current one
    past = _grid(observed=True)
    box_past = np.array([1.2, 0.4])
    past.occupied[_cell(box_past)] = True
    current = _grid()
    hidden = _cell([-1.5, 1.5])  # occluded now, occupied in the past grid: stays occluded
    current.occluded[hidden] = True
    past.occupied[_cell(se2_apply(moved, ego_cell_centres(SHAPE, RES)[hidden]))] = True
    seen_free = _cell([-0.5, -0.5])  # this frame sees it free, the past grid occupied
    current.observed[seen_free] = True
    centre = ego_cell_centres(SHAPE, RES)[seen_free]
    past.occupied[_cell(se2_apply(moved, centre))] = True
    fused = fuse_occupancy(current, [(past, pose_of_past)])
    box_now = se2_apply(pose_of_past, box_past)
    assert fused.occupied[_cell(box_now)], "the remembered box is missing"
    assert not fused.occupied[seen_free], "the cell this frame saw free must stay free"
    # nearest-cell lookup under a rotation: each remembered cell covers one or two cells
    # beside its place (the one under seen_free lands on its unobserved neighbours)
    hidden_xy = ego_cell_centres(SHAPE, RES)[hidden]
    gaps = [np.linalg.norm(ego_cell_centres(SHAPE, RES) - p, axis=-1)
            for p in (box_now, centre, hidden_xy)]  # fmt: skip
    near = (gaps[0] < 1.5 * RES) | (gaps[1] < 1.5 * RES) | (gaps[2] < 1.5 * RES)
    assert not (fused.occupied & ~near).any()
    assert fused.occluded[hidden] and not fused.observed[hidden] and not fused.occupied[hidden]
    # what the past grid covered is observed now (the occluded cell aside); the rest unknown
    centres_in_past = se2_apply(moved, ego_cell_centres(SHAPE, RES))
    covered = (np.abs(centres_in_past) < 2.0 - 1e-9).all(-1)
    assert fused.observed[covered].mean() > 0.97
    assert not fused.observed[~covered].any()
    assert not (fused.observed & fused.occluded).any()


def test_the_latest_grid_wins_and_old_ones_expire():
    memory = OccupancyMemory(ticks=2)
    first = _grid(observed=True)
    first.occupied[_cell([1.0, 0.0])] = True
    memory.update(first, np.zeros(3))
    second = _grid(observed=True)  # saw the same cell free: the box was moved away
    assert not memory.update(second, np.zeros(3)).occupied.any()  # this frame's own answer
    assert not memory.update(_grid(), np.zeros(3)).occupied.any()  # the latest grid wins
    memory.reset()
    memory.update(first, np.zeros(3))
    for _ in range(2):
        assert memory.update(_grid(), np.zeros(3)).occupied[_cell([1.0, 0.0])]
    # the first grid is now three updates old: forgotten
    assert not memory.update(_grid(), np.zeros(3)).observed.any()
    # without memory each grid comes back as it is
    assert OccupancyMemory(0).update(_grid(), np.zeros(3)).observed.sum() == 0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="ticks"):
        OccupancyMemory(-1)
    with pytest.raises(ValueError, match="odom_pose"):
        OccupancyMemory(2).update(_grid(), np.array([0.0, np.nan, 0.0]))
    other = LocalOccupancy(*(np.zeros((20, 20), bool),) * 3, RES)
    with pytest.raises(ValueError, match="past grid"):
        fuse_occupancy(_grid(), [(other, np.zeros(3))])
    with pytest.raises(ValueError, match="past pose"):
        fuse_occupancy(_grid(), [(_grid(), np.zeros(2))])


def test_a_drive_fills_the_blind_ring_with_what_the_world_holds():
    """Rendered office: the robot drove 0.8 m forward. Its current frame leaves the ring below
    the cameras and the seams unobserved; fused with the frame taken 0.8 m back, most of the
    1 m disk around the robot is observed, and the filled cells agree with the world's
    occupancy (within one cell, as the single-frame test allows). Measured: the observed share
    of the 1 m disk goes from 0.52 to 0.89."""
    from astra_jax.sim import RigRenderer, build_scene, world_from_file
    from astra_jax.sim.planning import room_anchor

    world = world_from_file(FLOORPLANS / "small_office.json", seed=0)
    occ_world = world.occupancy(0.05)
    cfg = LocalGridConfig()
    step = np.array([0.8, 0.0, 0.0])
    poses = []
    for k in range(8):  # a room centre with 1.6 m of free floor behind it along +x
        a = np.array([*room_anchor(occ_world, k), 0.0])
        line = se2_apply(a, np.stack([np.linspace(-1.6, 0.0, 9), np.zeros(9)], -1))
        if (occ_world.esdf_at(line) > 0.4).all():
            poses = [se2_compose(a, -step), a]
            break
    assert poses, "no room of the office has a free run behind its centre"
    scene = build_scene(world, RigConfig(image_hw=(96, 96)))
    with RigRenderer(scene, (96, 96)) as r:
        grids = [depth_occupancy(r.render(p, seg=False)[1], r.intrinsics, r.extrinsics, cfg)
                 for p in poses]  # fmt: skip
    memory = OccupancyMemory(ticks=4)
    memory.update(grids[0], poses[0])
    fused = memory.update(grids[1], poses[1])
    disk = np.linalg.norm(ego_cell_centres(cfg.shape, cfg.resolution), axis=-1) <= 1.0
    before, after = grids[1].observed[disk].mean(), fused.observed[disk].mean()
    assert after > 0.8 and after > before + 0.3, f"observed share {before:.2f} -> {after:.2f}"
    truth = occ_world.local_crop(poses[1], cfg.shape, cfg.resolution, values="occupied") > 0.5
    filled = fused.observed & ~grids[1].observed
    assert filled.sum() > 50
    wrong = filled & fused.occupied & ~ndimage.binary_dilation(truth)
    missed = filled & truth & ~ndimage.binary_dilation(fused.occupied)
    assert wrong.sum() <= 0.02 * filled.sum() and missed.sum() <= 0.02 * filled.sum()
