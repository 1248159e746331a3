"""People in the simulator's scene, renders, episodes and labels (issue 18)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from astra_jax.config import PeopleConfig, VoxelGridConfig
from astra_jax.sim import RigRenderer, build_scene
from astra_jax.sim.batch import sim_config_fingerprint
from astra_jax.sim.episode import load_episode, save_episode
from astra_jax.sim.generate import make_goal_episode
from astra_jax.sim.people import PERSON_ID_BASE, walker_count
from astra_jax.sim.voxel_occupancy import OBSTACLE, ego_voxel_labels, layered_occupancy

DENSITY = 4.0  # per 100 m^2: a crowded small office, so that episodes meet people


@pytest.fixture(scope="module")
def crowded_cfg(tiny_cfg):
    sim = dataclasses.replace(tiny_cfg.sim, people=PeopleConfig(density=DENSITY))
    return tiny_cfg.replace(sim=sim)


@pytest.fixture(scope="module")
def crowded_renderer(small_office, crowded_cfg):
    r = RigRenderer(build_scene(small_office, crowded_cfg.rig, crowded_cfg.sim), (24, 32))
    yield r
    r.close()


@pytest.fixture(scope="module")
def crowded_episode(small_office, crowded_renderer, crowded_cfg):
    return make_goal_episode(small_office, crowded_renderer, crowded_cfg, 0)


def test_a_person_in_front_of_the_camera_is_rendered_with_its_seg_id(small_office, crowded_cfg):
    scene = build_scene(small_office, crowded_cfg.rig, crowded_cfg.sim)
    occ = small_office.occupancy(crowded_cfg.sim.occupancy_resolution)
    assert len(scene.person_mocap_ids) == walker_count(occ, crowded_cfg.sim.people) >= 2
    front = crowded_cfg.rig.cameras[0]
    assert front.yaw == 0.0
    x, y = np.argwhere(occ.esdf > 1.0)[0] * occ.grid.resolution + np.asarray(occ.grid.origin)
    pose = np.array([x, y, 0.0])
    person = np.array([[x + 1.5, y, np.pi]])  # 1.5 m straight ahead, facing the robot
    with RigRenderer(scene, (48, 64)) as r:
        _, depth_with, seg_with = r.render(pose, people=person)
        _, depth_without, seg_without = r.render(pose)
        with pytest.raises(ValueError, match="person bodies"):
            r.render(pose, people=np.zeros((len(scene.person_mocap_ids) + 1, 3)))
    centre = (0, 24, 32)
    assert seg_with[centre] == PERSON_ID_BASE and PERSON_ID_BASE not in seg_without
    assert 1.1 < depth_with[centre] < 1.5 < depth_without[centre]
    # only the front camera sees them
    assert not (seg_with[1:] >= PERSON_ID_BASE).any()


def test_goal_episodes_record_people_and_the_expert_keeps_clear(
    tmp_path, small_office, crowded_renderer, crowded_cfg, crowded_episode
):
    ep = crowded_episode
    n = len(crowded_renderer.scene.person_mocap_ids)
    assert ep.people.shape == (ep.num_frames, n, 3)
    info = ep.manifest["people"]
    assert info["count"] == n and info["density"] == DENSITY
    assert info["min_gap_m"] > 0.0  # never touching anybody
    gap = np.linalg.norm(ep.people[..., :2] - ep.pose[:, None, :2], axis=-1).min()
    assert gap - 0.25 - crowded_cfg.sim.robot.radius == pytest.approx(info["min_gap_m"], abs=0.1)
    assert ep.goal["reached_m"] < 0.1
    # the people move between frames and are seen (segmentation ids 10000 + k)
    assert np.abs(np.diff(ep.people[..., :2], axis=0)).max() > 0.02
    assert (ep.seg >= PERSON_ID_BASE).any()
    # same episode again: the same people (deterministic)
    again = make_goal_episode(small_office, crowded_renderer, crowded_cfg, 0)
    np.testing.assert_array_equal(again.people, ep.people)
    np.testing.assert_array_equal(again.pose, ep.pose)
    # saved and loaded with them
    loaded = load_episode(save_episode(ep, tmp_path / "ep"))
    np.testing.assert_array_equal(loaded.people, ep.people)
    assert loaded.manifest["people"] == info


def test_people_change_the_episode_cache_fingerprint_only_when_present(tiny_cfg, crowded_cfg):
    none = dataclasses.replace(tiny_cfg.sim, people=PeopleConfig(density=0.0, radius=0.3))
    base = sim_config_fingerprint(tiny_cfg.sim, tiny_cfg.rig)
    assert sim_config_fingerprint(none, tiny_cfg.rig) == base
    assert sim_config_fingerprint(crowded_cfg.sim, tiny_cfg.rig) != base


def test_people_are_obstacles_in_the_voxel_labels(small_office):
    voxel = VoxelGridConfig(nx=20, ny=20, nz=7, xy_resolution=0.2, z_min=-0.2, z_max=2.6)
    layers = layered_occupancy(small_office, voxel)
    occ = small_office.occupancy()
    x, y = np.argwhere(occ.esdf > 1.5)[0] * occ.grid.resolution + np.asarray(occ.grid.origin)
    pose = np.array([x, y, 0.0])
    plain, _ = ego_voxel_labels(layers, pose, voxel)
    person = np.array([[x + 1.0, y, 0.0]])
    labels, _ = ego_voxel_labels(layers, pose, voxel, people=person, person=(0.25, 1.75))
    changed = labels != plain
    assert (labels[changed] == OBSTACLE).all()
    cols = np.argwhere(changed.any(-1))  # voxel columns (i, j) the person fills
    centres = -2.0 + (cols + 0.5) * 0.2
    assert len(cols) >= 4 and np.abs(centres - [1.0, 0.0]).max() < 0.4
    # from the floor up to 1.75 m: the layers [-0.2, 0.2) .. [1.4, 1.8); none above
    layer_hit = changed.any(axis=(0, 1))
    assert layer_hit.tolist() == [True] * 5 + [False] * 2


def test_the_oracle_landmark_extractor_ignores_people():
    from maps.landmarks import KeyframeView, LandmarkInfo, OracleLandmarkExtractor

    seg = np.full((1, 40, 40), PERSON_ID_BASE, np.int32)
    seg[0, :20] = 7
    depth = np.full((1, 40, 40), 2.0, np.float32)
    table = {7: LandmarkInfo("desk", (), "work")}
    ex = OracleLandmarkExtractor(table, lambda t: seg, lambda t: depth, ["front"], min_pixels=10)

    k = np.array([[20.0, 0, 20], [0, 20.0, 20], [0, 0, 1]])
    view = KeyframeView(0, 0, {}, {"front": np.eye(4)}, {"front": k})
    found = ex.extract(view)
    assert [d.source_id for d in found] == [7]


def test_planning_labels_hold_people_as_disc_obstacles(small_office):
    from astra_jax.data.head_labels import people_in_crop
    from astra_jax.sim.people import with_people

    occ = small_office.occupancy()
    x, y = np.argwhere(occ.esdf > 1.5)[0] * occ.grid.resolution + np.asarray(occ.grid.origin)
    poses = np.array([[x, y, 0.3], [x, y, -2.0]])
    people = np.array([[[x + 1.0, y + 0.2, 0.0]], [[x - 0.5, y - 0.8, 1.0]]])
    plain = occ.local_crop(poses, (40, 40), 0.1)
    got = people_in_crop(plain, poses, people, 0.25, 0.1)
    for k in range(2):  # the same as cropping the world with the person in it
        want = with_people(occ, people[k, :, :2], 0.25).local_crop(poses[k], (40, 40), 0.1)
        np.testing.assert_allclose(got[k], want, atol=0.05)
        assert (got[k] < plain[k] - 0.5).any()  # the person is in the crop
    assert people_in_crop(plain, poses, np.zeros((2, 0, 3)), 0.25, 0.1) is plain
