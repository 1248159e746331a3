"""Rendered geometry is exact: depth unprojects onto walls/floor/ceiling and segmentation ids
land inside their landmarks' boxes; rendering is deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.geometry import pixel_centers, se3_apply, se3_from_se2, unproject
from astra_jax.sim.planning import room_anchor


def _poses(world) -> np.ndarray:
    occ = world.occupancy()
    out = []
    for k in range(len(world.plan.rooms)):
        xy = room_anchor(occ, k)
        for yaw in (0.0, 2.1):
            out.append([xy[0], xy[1], yaw])
    return np.asarray(out)


@pytest.fixture(scope="module")
def renders(small_office, office_renderer):
    poses = _poses(small_office)
    rgb, depth, seg = office_renderer.render_many(poses)
    return poses, rgb, depth, seg


def _world_points(renderer, poses: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(T, C, H, W, 3) world points of every pixel."""
    h, w = renderer.height, renderer.width
    uv = pixel_centers(h, w)
    pts_cam = unproject(renderer.intrinsics[:, None, None], uv[None], depth)  # (T, C, H, W, 3)
    t_world_cam = se3_from_se2(poses)[:, None] @ renderer.extrinsics[None]  # (T, C, 4, 4)
    return se3_apply(t_world_cam[:, :, None, None], pts_cam)


def _distance_to_walls(world, pts: np.ndarray) -> np.ndarray:
    """Distance (m) from points (N, 3) to the nearest solid wall piece (oriented boxes)."""
    st = world.structure
    best = np.full(len(pts), np.inf)
    for p in st.pieces:
        seg = st.segments[p.segment]
        c = np.array([*seg.point(0.5 * (p.s0 + p.s1)), 0.5 * (p.z0 + p.z1)])
        axes = np.array([[*seg.direction, 0.0], [*seg.normal, 0.0], [0.0, 0.0, 1.0]])
        half = np.array([0.5 * (p.s1 - p.s0), 0.5 * seg.thickness, 0.5 * (p.z1 - p.z0)])
        q = np.abs((pts - c) @ axes.T) - half
        best = np.minimum(best, np.linalg.norm(np.maximum(q, 0.0), axis=1))
    return best


def test_depth_of_wall_pixels_unprojects_onto_the_walls(small_office, office_renderer, renders):
    poses, _, depth, seg = renders
    pts = _world_points(office_renderer, poses, depth)
    background = seg == 0
    ceiling = small_office.plan.ceiling_height
    z = pts[..., 2]
    wall = background & (z > 0.05) & (z < ceiling - 0.05)  # neither floor nor ceiling
    d = _distance_to_walls(small_office, pts[wall])
    assert wall.sum() > 1000
    assert d.max() < 0.02, (
        f"{(d >= 0.02).sum()} wall pixels more than 2 cm off a wall (max {d.max():.3f} m)"
    )
    # every other background pixel lies on a wall, the floor or the ceiling
    rest = background & ~wall
    on_wall = _distance_to_walls(small_office, pts[rest]) < 0.02
    on_floor = np.abs(z[rest]) < 0.01
    on_ceiling = np.abs(z[rest] - ceiling) < 0.01
    assert np.all(on_wall | on_floor | on_ceiling)
    assert on_floor.sum() > 500 and on_ceiling.sum() > 500


def test_segmentation_ids_match_the_landmark_table(small_office, office_renderer, renders):
    poses, _, depth, seg = renders
    pts = _world_points(office_renderer, poses, depth)
    table = {lm["id"]: lm for lm in small_office.landmark_table()}
    ids = np.unique(seg)
    assert set(ids.tolist()) - {0} <= set(table)
    assert len(ids) > 10
    for lid in ids[ids > 0]:
        lm = table[int(lid)]
        p = pts[seg == lid]
        c, s = math.cos(lm["yaw"]), math.sin(lm["yaw"])
        rel = p - np.asarray(lm["position"])
        local = np.stack(
            [c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], -1
        )
        outside = np.abs(local) - 0.5 * np.asarray(lm["size"]) - 0.02
        assert outside.max() < 0, (
            f"landmark {lid} ({lm['category']}): a pixel {outside.max():.3f} m outside its box"
        )


def test_rendering_is_deterministic(office_scene, office_renderer, small_office):
    from astra_jax.sim import RigRenderer

    pose = _poses(small_office)[3]
    a = office_renderer.render(pose)
    b = office_renderer.render(pose)
    with RigRenderer(office_scene, (24, 32)) as other:
        c = other.render(pose)
    for x, y, z in zip(a, b, c):
        assert np.array_equal(x, y) and np.array_equal(x, z)
    rgb, depth, seg = a
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 24, 32, 3)
    assert depth.dtype == np.float32 and depth.shape == (3, 24, 32)
    assert seg.dtype == np.int32 and seg.shape == (3, 24, 32)
    assert rgb.std() > 10  # textured, not a flat colour


def test_scene_textures_are_dense_and_bounded(office_scene):
    from astra_jax.sim.textures import PX_PER_M

    assert PX_PER_M >= 140
    # a whole small office's textures stay well below one 4096 x 4096 page per world
    assert office_scene.texture_pixels <= 2 * 4096 * 4096


def test_example_warehouse_renders(warehouse_plan_path, tiny_cfg):
    from astra_jax.sim import RigRenderer, build_scene, world_from_file
    from astra_jax.sim.planning import room_anchor

    world = world_from_file(warehouse_plan_path, seed=0)
    scene = build_scene(world, tiny_cfg.rig)
    k = [r.label for r in world.plan.rooms].index("storage_aisles")
    xy = room_anchor(world.occupancy(), k)
    with RigRenderer(scene, (24, 32)) as r:
        rgb, depth, seg = r.render(np.array([xy[0], xy[1], math.pi / 2]))
    racks = {lm.id for lm in world.landmarks if lm.category == "pallet_rack"}
    assert racks & set(np.unique(seg).tolist())  # the aisles are lined with racks
    assert rgb.std() > 10 and np.isfinite(depth).all() and depth.max() < 40.0
