"""Out-of-distribution clutter (``SimConfig.clutter_density``): density 0 changes nothing; a
density places about that many objects per m^2 of free floor, clear of walls, furniture, doors
and each other, without closing a passage; the occupancy, the rendered scene and the expert
see them; deterministic per seed; bad densities are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.config import ConfigError, SimConfig
from astra_jax.sim import (
    RigRenderer,
    build_scene,
    make_goal_episode,
    world_from_file,
)
from astra_jax.sim.clutter import (
    DOOR_DEPTH,
    PASSAGE_MARGIN,
    clutter_count,
    free_floor_area,
)
from astra_jax.sim.occupancy import OccupancyMap, rasterize_rects, signed_distance
from astra_jax.sim.planning import plan_path
from astra_jax.sim.world import BACKGROUND_ID

DENSITY = 0.2  # per m^2: 23 objects in the small office's ~112 m^2 of free floor
RES = 0.05


@pytest.fixture(scope="module")
def cluttered(office_plan_path):
    return world_from_file(office_plan_path, 0, SimConfig(clutter_density=DENSITY))


@pytest.fixture(scope="module")
def cluttered_scene(cluttered, tiny_cfg):
    return build_scene(cluttered, tiny_cfg.rig)


def _footprint_mask(world, objs) -> np.ndarray:
    grid = world.occupancy(RES).grid
    return rasterize_rects(grid, [r for o in objs for r in o.footprints()])


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    comp, n = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = ndimage.sum(mask, comp, index=np.arange(1, n + 1))
    return comp == int(np.argmax(sizes)) + 1


def test_density_zero_changes_nothing(office_plan_path, small_office):
    plain = world_from_file(office_plan_path, 0, SimConfig(clutter_density=0.0))
    assert plain.clutter == () and plain.clutter_density == 0.0
    assert plain.info() == small_office.info()  # no clutter keys in plain manifests
    assert "clutter_density" not in plain.info()
    a, b = plain.occupancy(RES), small_office.occupancy(RES)
    np.testing.assert_array_equal(a.occupied, b.occupied)
    np.testing.assert_array_equal(a.esdf, b.esdf)
    assert plain.landmark_table() == small_office.landmark_table()


def test_density_places_objects_in_free_space(cluttered, small_office):
    area = free_floor_area(small_office, RES)
    target = clutter_count(DENSITY, area)
    assert 20 <= target <= 26
    assert len(cluttered.clutter) == target  # the small office has room for all of them
    info = cluttered.info()
    assert info["clutter_density"] == DENSITY and info["clutter_objects"] == target
    # landmarks stay exactly the plan's: maps and goals use them
    assert cluttered.landmark_table() == small_office.landmark_table()
    assert {c.category for c in cluttered.clutter} <= {"box", "chair", "cart", "person"}
    assert len({c.category for c in cluttered.clutter}) >= 2
    plain = small_office.occupancy(RES)
    st = small_office.structure
    for c in cluttered.clutter:
        assert c.id == BACKGROUND_ID and c.obstacle and c.room
        fp = _footprint_mask(small_office, [c])
        assert fp.any()
        assert not (plain.occupied & fp).any(), c  # off walls and furniture
        assert (plain.esdf[fp] > 0.05).all(), c  # and a gap from them
        assert (plain.rooms[fp] >= 0).all()
        for cut in st.cuts:  # never in front of a door
            seg = st.segments[cut.segment]
            xy = plain.grid.to_world(np.argwhere(fp)) - seg.point(cut.s)
            along, across = np.abs(xy @ seg.direction), np.abs(xy @ seg.normal)
            assert not ((along < 0.5 * cut.width) & (across < DOOR_DEPTH)).any(), (c, cut)
    # clutter objects do not overlap each other
    masks = [_footprint_mask(small_office, [c]) for c in cluttered.clutter]
    assert (np.sum(masks, axis=0) <= 1).all()


def test_no_passage_closed_and_every_room_reachable(cluttered, small_office, tiny_cfg):
    clearance = tiny_cfg.sim.robot.radius + PASSAGE_MARGIN
    before = _largest(small_office.occupancy(RES).esdf > clearance)
    occ = cluttered.occupancy(RES)
    free_after = occ.esdf > clearance
    after = _largest(free_after)
    # whatever the robot could reach before and is still free, it can still reach
    assert not (before & free_after & ~after).any()
    for k in range(len(cluttered.plan.rooms)):
        if (before & (occ.rooms == k)).any():
            assert (after & (occ.rooms == k)).any(), cluttered.plan.rooms[k].name


def test_dense_clutter_keeps_every_room_reachable(office_plan_path, small_office, tiny_cfg):
    # at 0.5 per m^2 a placement without the passage rule cuts off rooms and pockets
    dense = world_from_file(office_plan_path, 0, SimConfig(clutter_density=0.5))
    assert len(dense.clutter) >= 40
    clearance = tiny_cfg.sim.robot.radius + PASSAGE_MARGIN
    before = _largest(small_office.occupancy(RES).esdf > clearance)
    occ = dense.occupancy(RES)
    free_after = occ.esdf > clearance
    after = _largest(free_after)
    assert not (before & free_after & ~after).any()
    for k in range(len(dense.plan.rooms)):
        assert (after & (occ.rooms == k)).any(), dense.plan.rooms[k].name


def test_occupancy_grows_where_clutter_stands(cluttered, small_office):
    plain, occ = small_office.occupancy(RES), cluttered.occupancy(RES)
    assert (occ.occupied >= plain.occupied).all()
    fp = _footprint_mask(small_office, cluttered.clutter)
    assert occ.occupied[fp].all() and not plain.occupied[fp].any()
    assert (occ.occupied & ~plain.occupied & ~fp).sum() == 0  # nothing else changed
    assert (occ.esdf[fp] < 0).all() and (plain.esdf[fp] > 0).all()


def test_clutter_is_deterministic_per_seed(office_plan_path, cluttered):
    again = world_from_file(office_plan_path, 0, SimConfig(clutter_density=DENSITY))
    assert again.clutter_table() == cluttered.clutter_table()
    other = world_from_file(office_plan_path, 1, SimConfig(clutter_density=DENSITY))
    assert other.clutter_table() != cluttered.clutter_table()


@pytest.mark.parametrize("bad", [-0.1, 0.6, math.nan, math.inf, "0.1", True])
def test_bad_density_is_refused(bad):
    with pytest.raises(ConfigError, match=r"SimConfig\.clutter_density = .*expected"):
        SimConfig(clutter_density=bad)
    with pytest.raises(ValueError, match="clutter density"):
        clutter_count(-1.0, 10.0)


def _view_of(world, obj, radius: float) -> np.ndarray | None:
    """A pose (x, y, yaw) 1.6 m from ``obj``, facing it, free in ``world`` (clutter included)
    and with nothing else on the way."""
    occ = world.occupancy(RES)
    p = np.asarray(obj.position[:2])
    for k in range(24):
        a = 2 * math.pi * k / 24
        q = p + 1.6 * np.array([math.cos(a), math.sin(a)])
        way = q + np.linspace(0, 1.0 / 1.6, 12)[:, None] * (p - q)  # to 0.6 m short of it
        if occ.esdf_at(q) > radius and (occ.esdf_at(way) > 0.05).all():
            return np.array([q[0], q[1], math.atan2(p[1] - q[1], p[0] - q[0])])
    return None


def test_rendered_frame_shows_clutter(cluttered, cluttered_scene, office_scene, tiny_cfg):
    people = sorted(
        (c for c in cluttered.clutter if c.category == "person"), key=lambda c: c.position
    )
    assert people, "expected a person among the clutter at this seed"
    radius = tiny_cfg.sim.robot.radius
    pose = next(p for p in (_view_of(cluttered, c, radius) for c in people) if p is not None)
    hw = (48, 64)
    with_r, without_r = RigRenderer(cluttered_scene, hw), RigRenderer(office_scene, hw)
    try:
        _, depth_c, seg_c = with_r.render(pose)
        _, depth_p, _ = without_r.render(pose)
    finally:
        with_r.close()
        without_r.close()
    # the front camera's middle columns, rows seeing 0.5-1.45 m above the floor at 1.2 m: the
    # person (0.3-0.5 m wide, 1.2-1.4 m from the camera) covers 3-6 of the 64 columns there
    centre = (slice(12, 29), slice(29, 36))
    dc, dp = depth_c[0][centre], depth_p[0][centre]
    closer = dc < dp - 0.5
    assert closer.any(axis=1).all()  # in every row: a standing figure
    assert 1.0 < float(np.median(dc[closer])) < 1.5  # 1.6 m from the robot, 0.2 m ahead of it
    assert (seg_c[0][centre][closer] == BACKGROUND_ID).all()  # clutter is not a landmark


def test_expert_drives_around_clutter(cluttered, cluttered_scene, small_office, tiny_cfg):
    radius = tiny_cfg.sim.robot.radius
    occ = cluttered.occupancy(RES)
    only = _footprint_mask(cluttered, cluttered.clutter)
    clutter_esdf = OccupancyMap(occ.grid, only, signed_distance(only, RES), occ.rooms)
    renderer = RigRenderer(cluttered_scene, (24, 32))
    try:
        ep = make_goal_episode(cluttered, renderer, tiny_cfg, 0)
    finally:
        renderer.close()
    assert ep.manifest["world"]["clutter_objects"] == len(cluttered.clutter)
    # between the same start and goal, a planner blind to the clutter drives into it ...
    blind = plan_path(small_office.occupancy(RES), ep.expert_path[0], ep.expert_path[-1], radius)
    assert float(clutter_esdf.esdf_at(_dense(blind)).min()) < radius
    # ... while the expert, planning on the cluttered world's occupancy, keeps clear of it
    assert float(clutter_esdf.esdf_at(_dense(ep.expert_path)).min()) > radius
    assert float(clutter_esdf.esdf_at(ep.pose[:, :2]).min()) > radius
    assert ep.manifest["stats"]["min_clearance_m"] > radius


def _dense(path: np.ndarray, step: float = 0.02) -> np.ndarray:
    """The polyline ``path`` (N, 2) resampled every ``step`` m."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(0.0, s[-1], step)
    return np.stack([np.interp(t, s, path[:, k]) for k in range(2)], -1)


def test_scatter_refuses_a_cluttered_world(cluttered):
    from astra_jax.sim.clutter import scatter_clutter

    with pytest.raises(ValueError, match="already has clutter"):
        scatter_clutter(cluttered, SimConfig(clutter_density=DENSITY))
