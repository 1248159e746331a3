"""The query-day knob (``SimConfig.world_changes``, astra_jax/sim/changes.py): lights change and
movable objects move, deterministically per seed, to free spots; everything else stays."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from astra_jax.config import ConfigError, SimConfig, WorldChanges
from astra_jax.sim.changes import MOVABLE
from astra_jax.sim.clutter import OBJECT_GAP
from astra_jax.sim.world import check_reachable, world_from_file

CHANGES = WorldChanges(lighting=1.0, moved_fraction=1.0, seed=3)


def _sim(changes: WorldChanges = CHANGES) -> SimConfig:
    return dataclasses.replace(SimConfig(clutter_density=0.05), world_changes=changes)


@pytest.fixture(scope="module")
def days(office_plan_path):
    tour = world_from_file(office_plan_path, 0, _sim(WorldChanges()))
    query = world_from_file(office_plan_path, 0, _sim())
    return tour, query


def test_default_changes_nothing_and_keeps_cache_keys(office_plan_path):
    from astra_jax.config import get_preset
    from astra_jax.sim.batch import sim_config_fingerprint

    plain = world_from_file(office_plan_path, 0)
    assert plain.lighting is None and plain.changes is None and "world_changes" not in plain.info()
    rig = get_preset("tiny").rig
    # inactive changes are left out of the episode-cache key: worlds as toured keep their keys
    idle = dataclasses.replace(SimConfig(), world_changes=WorldChanges(seed=5))
    assert sim_config_fingerprint(SimConfig(), rig) == sim_config_fingerprint(idle, rig)
    active = dataclasses.replace(SimConfig(), world_changes=CHANGES)
    assert sim_config_fingerprint(SimConfig(), rig) != sim_config_fingerprint(active, rig)


def test_only_movable_objects_move_within_the_limits(days):
    tour, query = days
    assert query.info()["moved_objects"] == query.moved_objects > 0
    moved = 0
    for a, b in zip(tour.landmarks + tour.clutter, query.landmarks + query.clutter, strict=True):
        assert (a.id, a.category, dict(a.attributes)) == (b.id, b.category, dict(b.attributes))
        if a.position == b.position and a.yaw == b.yaw:
            continue
        moved += 1
        assert a.id == 0 or a.category in MOVABLE
        shift = math.dist(a.position[:2], b.position[:2])
        turn = abs(math.remainder(b.yaw - a.yaw, math.tau))
        assert shift <= CHANGES.max_shift + 1e-6 and turn <= CHANGES.max_turn + 1e-6
        assert b.position[2] == pytest.approx(a.position[2]) and b.size == pytest.approx(a.size)
    assert moved == query.moved_objects


def test_moved_objects_stand_clear_and_every_room_stays_reachable(days):
    from scipy import ndimage

    from astra_jax.sim.occupancy import rasterize_rects
    from astra_jax.sim.world import OBSTACLE_BAND

    tour, query = days
    occ = query.occupancy(0.05)
    grid, res = occ.grid, occ.grid.resolution
    walls = list(query.structure.piece_rects(*OBSTACLE_BAND))
    for a, b in zip(tour.landmarks + tour.clutter, query.landmarks + query.clutter, strict=True):
        if a.position == b.position and a.yaw == b.yaw:
            continue
        others = [o for o in query.landmarks + query.clutter if o is not b and o.obstacle]
        mine = rasterize_rects(grid, b.footprints())
        theirs = rasterize_rects(grid, walls + [r for o in others for r in o.footprints()])
        clearance = ndimage.distance_transform_edt(~theirs) * res
        assert clearance[mine].min() > OBJECT_GAP - res, f"{b.category} moved against another"
        assert (occ.rooms[mine] >= 0).all(), f"{b.category} moved out of the rooms"
    check_reachable(query, _sim())  # raises if a room became unreachable


def test_changes_are_deterministic_per_seed(office_plan_path, days):
    _, query = days
    again = world_from_file(office_plan_path, 0, _sim())
    assert [lm.position for lm in again.landmarks] == [lm.position for lm in query.landmarks]
    assert again.lighting == query.lighting
    other = world_from_file(office_plan_path, 0, _sim(dataclasses.replace(CHANGES, seed=4)))
    assert [lm.position for lm in other.landmarks] != [lm.position for lm in query.landmarks]


def test_lighting_changes_the_rendered_image(days, tiny_cfg):
    from astra_jax.sim import RigRenderer, build_scene
    from astra_jax.sim.changes import change_world

    tour, _ = days
    dim = dataclasses.replace(CHANGES, moved_fraction=0.0, seed=0)
    lit = dataclasses.replace(tour, lighting=None)
    dark = change_world(lit, dim, _sim(dim))
    assert dark.landmarks == lit.landmarks  # lights only
    pose = _free_pose(lit, tiny_cfg)
    images = []
    for w in (lit, dark):
        with RigRenderer(build_scene(w, tiny_cfg.rig), (24, 32)) as r:
            rgb, depth, _ = r.render(pose)
        images.append((rgb.astype(np.float64), depth))
    (rgb0, d0), (rgb1, d1) = images
    np.testing.assert_array_equal(d0, d1)  # the same geometry
    assert abs(rgb0.mean() - rgb1.mean()) > 2.0  # in a differently lit room


def _free_pose(world, cfg) -> np.ndarray:
    occ = world.occupancy(cfg.sim.occupancy_resolution)
    i, j = np.unravel_index(np.argmax(occ.esdf), occ.esdf.shape)
    x, y = occ.grid.to_world(np.array([i, j]))
    return np.array([x, y, 0.0])


@pytest.mark.parametrize(
    "bad", [dict(lighting=1.5), dict(moved_fraction=-0.1), dict(max_shift=0.0), dict(seed=-1)]
)
def test_bad_changes_are_refused(bad):
    with pytest.raises(ConfigError, match="WorldChanges"):
        WorldChanges(**bad)


def test_command_line_form():
    from astra_jax.sim.changes import parse_changes

    c = parse_changes("lighting=0.8, moved=0.3,turn_deg=30,seed=2")
    assert c == WorldChanges(lighting=0.8, moved_fraction=0.3, max_turn=math.radians(30), seed=2)
    with pytest.raises(ValueError, match="KEY one of"):
        parse_changes("light=0.5")
    with pytest.raises(ValueError, match="not a number"):
        parse_changes("lighting=bright")
    with pytest.raises(ConfigError, match="moved_fraction"):
        parse_changes("moved=2")
