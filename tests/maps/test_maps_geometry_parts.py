"""Keyframe selection, Umeyama Sim(3) alignment, landmark association and edge building."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from astra_jax.config import ConfigError
from astra_jax.maps import (
    AssociationOptions,
    EdgeOptions,
    KeyframeOptions,
    LandmarkDetection,
    Sim3,
    associate,
    build_edges,
    select_keyframes,
    umeyama,
)
from astra_jax.maps.association import association_purity
from astra_jax.maps.schema import CameraInfo
from astra_jax.maps.sfm import SfmOptions, candidate_pairs

# ----------------------------------------------------------------------------- keyframes


def test_keyframes_by_distance():
    x = np.arange(101) * 0.05  # 5 m straight at 5 cm per frame
    odom = np.stack([x, np.zeros_like(x), np.zeros_like(x)], 1)
    kf = select_keyframes(odom, 101, KeyframeOptions(min_distance=0.5))
    assert kf[0] == 0 and kf[-1] == 100
    np.testing.assert_array_equal(np.diff(kf), 10)


def test_keyframes_by_turn_in_place_and_standing_still():
    yaw = np.concatenate([np.zeros(20), np.linspace(0, math.pi, 61)])  # stand, then turn 180 deg
    odom = np.stack([np.zeros_like(yaw), np.zeros_like(yaw), yaw], 1)
    kf = select_keyframes(odom, len(yaw), KeyframeOptions(min_angle=math.radians(30)))
    # nothing while standing, then every 30 deg (3 deg per frame -> 10 frames)
    assert kf[0] == 0 and 0 < len(kf) - 1 <= 7
    assert np.all(kf[1:] >= 20)


def test_keyframes_without_odometry_use_stride():
    np.testing.assert_array_equal(
        select_keyframes(None, 12, KeyframeOptions(stride=5)), [0, 5, 10, 11]
    )


def test_keyframe_option_validation():
    with pytest.raises(ConfigError, match="min_distance"):
        KeyframeOptions(min_distance=0.0)
    with pytest.raises(ValueError, match=r"odometry shape \(3, 3\)"):
        select_keyframes(np.zeros((3, 3)), 4)


# ----------------------------------------------------------------------------- alignment


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.05, 20.0),
)
def test_umeyama_recovers_a_similarity(seed, scale):
    rng = np.random.default_rng(seed)
    src = rng.normal(size=(30, 3)) * [3.0, 2.0, 0.3]
    rot = Rotation.random(random_state=seed).as_matrix()
    t = rng.normal(size=3) * 5
    dst = scale * src @ rot.T + t
    sim = umeyama(src, dst)
    np.testing.assert_allclose(sim.rotation, rot, atol=1e-8)
    np.testing.assert_allclose(sim.scale, scale, rtol=1e-8)
    np.testing.assert_allclose(sim.apply(src), dst, atol=1e-7)
    back = sim.inverse().apply(dst)
    np.testing.assert_allclose(back, src, atol=1e-7)


def test_umeyama_coplanar_points_and_degenerate_line():
    # a planar loop (camera centres of a ground robot) determines the rotation fully
    th = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    src = np.stack([np.cos(th) * 3, np.sin(th) * 2, np.ones_like(th)], 1)
    rot = Rotation.from_euler("zyx", [0.4, 0.2, -0.1]).as_matrix()
    sim = umeyama(src, 0.5 * src @ rot.T)
    np.testing.assert_allclose(sim.rotation, rot, atol=1e-9)
    line = np.stack([th, 2 * th, np.zeros_like(th)], 1)
    with pytest.raises(ValueError, match="collinear"):
        umeyama(line, line)
    with pytest.raises(ValueError, match="at least 3"):
        umeyama(src[:2], src[:2])


def test_sim3_pose_transform_stays_rigid():
    sim = Sim3(Rotation.from_euler("z", 0.3).as_matrix(), np.array([1.0, 2.0, 0.0]), 2.5)
    t = np.eye(4)
    t[:3, 3] = [1.0, 0.0, 0.0]
    out = sim.apply_pose(t)
    np.testing.assert_allclose(out[:3, :3].T @ out[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(out[:3, 3], sim.apply(np.array([1.0, 0.0, 0.0])))
    assert Sim3.from_json(sim.to_json()).scale == sim.scale


# ----------------------------------------------------------------------------- association


def _det(cat, pos, cam="front", area=400, src=None):
    return LandmarkDetection(cat, ("white",), f"{cat} things", np.array(pos, float), cam,
                             (0.0, 0.0, 10.0, 10.0), area, 2.0, src)  # fmt: skip


def test_association_merges_by_category_and_distance():
    per_node = [
        (0, [_det("desk", [1.0, 0.0, 0.5], src=1), _det("chair", [1.3, 0.0, 0.4], src=2)]),
        (1, [_det("desk", [1.3, 0.2, 0.5], src=1), _det("desk", [4.0, 0.0, 0.5], src=3)]),
        (2, [_det("desk", [1.1, -0.1, 0.5], "rear_left", src=1)]),
    ]
    lms = associate(per_node, AssociationOptions(radius=1.0))
    assert [(lm.category, lm.node_ids) for lm in lms] == [
        ("desk", (0, 1, 2)),
        ("chair", (0,)),
        ("desk", (1,)),
    ]
    assert lms[0].source_ids == (1,)
    assert len(lms[0].observations) == 3
    assert association_purity(lms) == {"purity": 1.0, "fragmentation": 1.0}


def _face(x0, x1, y, z0=0.0, z1=2.0, step=0.1):
    """Surface samples of a vertical face from x0 to x1 at y (one per 0.1 m cell)."""
    xs, zs = np.arange(x0, x1, step) + step / 2, np.arange(z0, z1, step) + step / 2
    return np.stack(np.meshgrid(xs, [y], zs), -1).reshape(-1, 3)


def _seen(cat, surface, cam="front", src=None):
    det = _det(cat, surface.mean(0), cam, area=len(surface), src=src)
    return dataclasses.replace(det, surface=surface.astype(np.float32))


def test_association_joins_a_long_object_seen_piece_by_piece():
    """A 6 m rack passed along an aisle: each view shows 2 m of its face, so the centroids of
    the first and last views lie 4 m apart; their surfaces overlap view to view."""
    per_node = [(k, [_seen("pallet rack", _face(k, k + 2.0, 0.0), src=1)]) for k in range(5)]
    lms = associate(per_node)
    assert len(lms) == 1 and lms[0].node_ids == (0, 1, 2, 3, 4)
    assert association_purity(lms) == {"purity": 1.0, "fragmentation": 1.0}


def test_association_merges_the_ends_of_an_object_first_seen_apart():
    """Both ends are seen first (two landmarks), then a view of the middle joins them."""
    per_node = [
        (0, [_seen("pallet rack", _face(0.0, 1.5, 0.0), src=1)]),
        (1, [_seen("pallet rack", _face(4.5, 6.0, 0.0), src=1)]),
        (2, [_seen("pallet rack", _face(1.0, 5.0, 0.0), src=1)]),
    ]
    lms = associate(per_node)
    assert [lm.node_ids for lm in lms] == [(0, 1, 2)]
    assert [o.node_id for o in lms[0].observations] == [0, 1, 2]  # tour order kept


def test_association_keeps_touching_objects_apart():
    """Two racks back to back: their end faces touch (x = 1.1 m) but the share of touching
    cells stays below ``min_overlap``; two chairs of one image never merge."""
    end_a = _face(0.0, 1.1, 0.0)
    end_b = _face(1.1, 2.2, 0.0)
    per_node = [
        (0, [_seen("pallet rack", end_a, src=1)]),
        (1, [_seen("pallet rack", end_b, src=2)]),
    ]
    assert len(associate(per_node)) == 2
    chairs = [
        (0, [_seen("chair", _face(0, 0.5, 0), src=1), _seen("chair", _face(0.4, 0.9, 0), src=2)])
    ]
    assert len(associate(chairs)) == 2


def test_association_options_and_surfaces_are_validated():
    with pytest.raises(ValueError, match="voxel"):
        AssociationOptions(voxel=0.0)
    with pytest.raises(ValueError, match="min_overlap"):
        AssociationOptions(min_overlap=1.5)
    bad = _seen("chair", np.array([[0.0, 0.0, np.nan]]))
    with pytest.raises(ValueError, match="finite"):
        associate([(0, [bad])])


def test_association_never_merges_two_sightings_of_one_image():
    per_node = [(0, [_det("chair", [0.0, 0.0, 0.4], src=1), _det("chair", [0.5, 0.0, 0.4], src=2)])]
    lms = associate(per_node)
    assert len(lms) == 2


# ----------------------------------------------------------------------------- edges


def test_edges_sequential_proximity_and_covisibility():
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 0.4], [0.0, 2.0]])
    shared = [set(range(0, 100)), set(range(50, 150)), set(range(120, 200)),
              set(range(150, 250)), set(range(300, 310)), set(range(0, 60))]  # fmt: skip
    opts = EdgeOptions(radius=3.0, min_shared_points=40)
    edges = build_edges(range(6), xy, shared, np.zeros((0, 3)), opts)
    kinds = {(e.source, e.target): e.kind for e in edges}
    assert kinds == {(0, 1): "sequential", (1, 2): "sequential", (2, 3): "sequential",
                     (3, 4): "sequential", (4, 5): "sequential", (0, 4): "proximity",
                     (0, 5): "covisibility"}  # fmt: skip
    e05 = next(e for e in edges if (e.source, e.target) == (0, 5))
    assert e05.shared_points == 60 and e05.distance == pytest.approx(2.0)
    # a desk between nodes 0 and 5: SfM points at obstacle height on the segment block it
    desk = np.array([[0.05 * k, 1.0 + 0.02 * k, 0.7] for k in range(-3, 3)])
    blocked = build_edges(range(6), xy, shared, desk, opts)
    assert (0, 5) not in {(e.source, e.target) for e in blocked}
    floor = desk * [1, 1, 0]  # the same points on the floor do not block
    assert (0, 5) in {(e.source, e.target) for e in build_edges(range(6), xy, shared, floor, opts)}
    # beyond the radius: no co-visibility edge, however much is shared
    far = build_edges(range(6), xy * 10, shared, np.zeros((0, 3)), opts)
    assert all(e.kind == "sequential" for e in far)
    # without SfM points: sequential and proximity only
    assert {e.kind for e in build_edges(range(6), xy, None, None, opts)} == {
        "sequential", "proximity"}  # fmt: skip


# ----------------------------------------------------------------------------- pairs


def test_candidate_pairs_sequential_and_cross_camera():
    from astra_jax.config import default_rig
    from astra_jax.geometry import rig_extrinsics, rig_intrinsics

    rig = default_rig()
    cams = [CameraInfo(c.name, k, t, (24, 32)) for c, k, t in
            zip(rig, rig_intrinsics(rig, (24, 32)), rig_extrinsics(rig))]  # fmt: skip
    # straight for 5 keyframes, then turning on the spot by 40 deg per keyframe
    odom = np.array([(0.3 * i, 0.0, 0.0) for i in range(5)]
                    + [(1.2, 0.0, math.radians(40 * k)) for k in range(1, 6)])  # fmt: skip
    pairs = candidate_pairs(cams, 10, odom, SfmOptions(sequential_overlap=3, pair_radius=0.0))
    assert ("front/00000.png", "front/00001.png") in pairs
    assert ("front/00000.png", "front/00004.png") not in pairs  # beyond the overlap
    # after turning 120 deg left, the right-rear camera looks where the front one did
    assert ("front/00004.png", "rear_right/00007.png") in pairs
    assert ("front/00004.png", "rear_left/00007.png") not in pairs
    assert all(a < b for a, b in pairs) and len(set(pairs)) == len(pairs)
    # odometry proximity links the return leg of an out-and-back to the way out
    back = np.array([(0.5 * i, 0.0, 0.0) for i in range(10)]
                    + [(4.5 - 0.5 * i, 0.3, math.pi) for i in range(10)])  # fmt: skip
    loops = candidate_pairs(cams, 20, back, SfmOptions(sequential_overlap=2, pair_radius=1.0))
    assert ("front/00019.png", "rear_left/00000.png") in loops or (
        "front/00019.png", "rear_right/00000.png") in loops  # fmt: skip
    no_odom = candidate_pairs(cams[:1], 5, None, SfmOptions(sequential_overlap=1))
    assert len(no_odom) == 10  # small tour without odometry: exhaustive


def test_loop_candidates_skip_the_sequential_window_and_keep_the_nearest():
    from astra_jax.maps.sfm import loop_candidates

    cam = CameraInfo("front", np.eye(3), np.eye(4), (24, 32))
    # drive 0..4.75 m along x, then back the same way 0.1 m to the side, same heading
    # (a camera axis of +z in the ego frame is vertical here; only centres matter)
    way = np.array([(0.25 * i, 0.0, 0.0) for i in range(20)]
                   + [(4.75 - 0.25 * i, 0.1, 0.0) for i in range(20)])  # fmt: skip
    opts = SfmOptions(
        sequential_overlap=3, pair_radius=1.0, loop_pairs_per_image=2, loop_min_travel=0
    )
    pairs = loop_candidates([cam], way, opts)
    gaps = [abs(j - i) for (i, _), (j, _) in pairs]
    assert pairs and min(gaps) > 3  # nothing inside the sequential window
    # keyframe 5 (x = 1.25) meets the return leg: its nearest, keyframe 33 (x = 1.25), is kept
    assert ((5, 0), (33, 0)) in pairs
    # each image proposes at most 2 (pairs may also come from the other image's list)
    per_image: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        per_image[a] = per_image.get(a, 0) + 1
        per_image[b] = per_image.get(b, 0) + 1
    assert max(per_image.values()) <= 2 * 2
    wide = loop_candidates([cam], way, dataclasses.replace(opts, loop_pairs_per_image=8))
    assert set(pairs) < set(wide)
    # with a minimum travel only revisits remain: nothing along the same pass or the U-turn
    path = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(way[:, :2], axis=0), axis=1))])
    revisits = loop_candidates([cam], way, dataclasses.replace(opts, loop_min_travel=3.0))
    assert ((5, 0), (33, 0)) in revisits
    assert all(path[j] - path[i] >= 3.0 for (i, _), (j, _) in revisits)
    assert any(path[j] - path[i] < 3.0 for (i, _), (j, _) in pairs)  # the filter did something


def test_retrieval_pairs_find_revisits():
    from astra_jax.maps.retrieval import retrieval_pairs

    rng = np.random.default_rng(0)
    places = [rng.integers(0, 255, size=(300, 128)) for _ in range(6)]  # 6 distinct places
    # a tour visiting places 0..5 and then 0 and 1 again, with fresh noise each time
    visits = [0, 1, 2, 3, 4, 5, 0, 1]
    descs = [np.clip(places[p] + rng.normal(0, 3, places[p].shape), 0, 255) for p in visits]
    names = [f"front/{i:05d}.png" for i in range(len(visits))]
    pairs = retrieval_pairs(names, lambda n: int(n[6:11]), descs, top_k=1, min_gap=3,
                            num_words=32)  # fmt: skip
    assert ("front/00000.png", "front/00006.png") in pairs
    assert ("front/00001.png", "front/00007.png") in pairs


def test_odometry_bridges_an_aliased_registration():
    from astra_jax.geometry import se3_from_se2
    from astra_jax.maps.build import bridge_with_odometry, odometry_disagreements

    # truth: along a corridor at 0.3 m per keyframe, then a left turn and on
    truth = np.array([(0.3 * i, 0.0, 0.0) for i in range(10)]
                     + [(2.7, 0.3 * j, math.pi / 2) for j in range(1, 8)])  # fmt: skip
    odom = truth * [1.01, 1.01, 1.0]  # locally accurate odometry (1 % scale)
    sfm = truth.copy()
    sfm[5:, 0] += 1.35  # SfM registered keyframe 5 one texture period along the wall
    t = se3_from_se2(sfm)
    bad = odometry_disagreements(t, odom)
    assert bad == [4]
    fixed = bridge_with_odometry(t, odom, bad)
    np.testing.assert_allclose(fixed[:, :2, 3], truth[:, :2], atol=0.01)
    np.testing.assert_array_equal(fixed[:, :3, :3], t[:, :3, :3])  # rotations are kept
    assert odometry_disagreements(se3_from_se2(truth), odom) == []
    # a block registered 0.9 m back along the way: the step has about the right length
    # (0.6 m for 0.3 m) but points backwards; the displacement check catches it
    back = truth.copy()
    back[5:, 0] -= 0.9
    assert odometry_disagreements(se3_from_se2(back), odom) == [4]
    fixed = bridge_with_odometry(se3_from_se2(back), odom, [4])
    np.testing.assert_allclose(fixed[:, :2, 3], truth[:, :2], atol=0.01)
    # a block registered turned by 120 deg about its first node (the rig's symmetry): the
    # block is rotated back, not only shifted
    from astra_jax.geometry import se2_compose, se2_relative

    turned = truth.copy()
    for k in range(6, len(truth)):
        rel = se2_relative(truth[5], truth[k])
        rel[:2] = [rel[0] * math.cos(2.1) - rel[1] * math.sin(2.1),
                   rel[0] * math.sin(2.1) + rel[1] * math.cos(2.1)]  # fmt: skip
        turned[k] = se2_compose(truth[5], rel)
        turned[k, 2] = truth[k, 2] + 2.1
    turned[5, 2] += 2.1
    steps = odometry_disagreements(se3_from_se2(turned), odom)
    assert steps == [4]
    fixed = bridge_with_odometry(se3_from_se2(turned), odom, steps)
    np.testing.assert_allclose(fixed[:, :2, 3], truth[:, :2], atol=0.05)
    np.testing.assert_allclose(np.arctan2(fixed[:, 1, 0], fixed[:, 0, 0]), truth[:, 2], atol=1e-6)
    # a sideways shift of 0.5 m (a parallel aisle) is caught too
    side = truth.copy()
    side[5:10, 1] += 0.5
    assert 4 in odometry_disagreements(se3_from_se2(side), odom)
