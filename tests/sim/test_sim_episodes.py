"""Episodes: byte-identical for a seed, atomic and never overwritten, loadable; the format
module shared with readers (doors in the manifest); tours visit every room; batch generation
and the CLI."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from astra_jax.sim import EpisodeError, load_episode, make_goal_episode, make_tour, save_episode


@pytest.fixture(scope="module")
def goal_episode(small_office, office_renderer, tiny_cfg):
    return make_goal_episode(small_office, office_renderer, tiny_cfg, 0)


def test_same_seed_gives_byte_identical_episodes(
    tmp_path, small_office, office_renderer, tiny_cfg, goal_episode
):
    save_episode(goal_episode, tmp_path / "a")
    again = make_goal_episode(small_office, office_renderer, tiny_cfg, 0)
    save_episode(again, tmp_path / "b")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "rgb.npy" in files and "manifest.json" in files
    _match, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "a", tmp_path / "b", files, shallow=False
    )
    assert not mismatch and not errors
    other = make_goal_episode(small_office, office_renderer, tiny_cfg, 1)
    assert not np.array_equal(other.pose[:5], goal_episode.pose[:5])


def test_episode_round_trip_and_contents(tmp_path, goal_episode, small_office):
    path = save_episode(goal_episode, tmp_path / "ep")
    ep = load_episode(path)
    t, c = ep.num_frames, 3
    assert ep.rgb.shape == (t, c, 24, 32, 3) and ep.rgb.dtype == np.uint8
    assert ep.depth.shape == (t, c, 24, 32) and ep.seg.shape == (t, c, 24, 32)
    for name, arr in goal_episode.arrays().items():
        np.testing.assert_array_equal(getattr(ep, name), arr)
    assert ep.camera_names == ("front", "rear_left", "rear_right")
    assert ep.world == {
        "family": "office",
        "seed": 0,
        "file": small_office.source,
        "name": "small_office",
    }
    np.testing.assert_allclose(ep.odom_pose[0], ep.pose[0])  # odometry starts at the true pose
    np.testing.assert_allclose(np.diff(ep.time), 1.0 / 10.0)
    goal = ep.goal
    assert goal is not None and goal["reached_m"] < 0.15
    lm = ep.landmark(goal["landmark_id"])
    assert lm["category"] == goal["category"] and lm["function"] == goal["function"]
    assert ep.expert_path is not None and ep.expert_path.shape[1] == 2
    assert ep.imu[-1, 0] == pytest.approx(ep.wheel[-1, 0]) and ep.imu[-1, 0] >= ep.time[-1] - 1e-9
    mm = load_episode(path, mmap=True)
    assert isinstance(mm.depth, np.memmap)


def test_existing_output_is_never_overwritten(tmp_path, goal_episode):
    dest = tmp_path / "ep"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="ep"):
        save_episode(goal_episode, dest)
    assert (dest / "keep.txt").read_text() == "mine"
    assert not any(p.name.startswith(".ep.tmp") for p in tmp_path.iterdir())


def test_bad_episode_directory_names_the_file(tmp_path, goal_episode):
    path = save_episode(goal_episode, tmp_path / "ep")
    (path / "seg.npy").unlink()
    with pytest.raises(EpisodeError, match=r"seg\.npy"):
        load_episode(path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EpisodeError, match="schema_version"):
        load_episode(path)


def test_manifest_lists_each_door_opening(tmp_path, goal_episode, small_office):
    path = save_episode(goal_episode, tmp_path / "ep")
    ep = load_episode(path)
    doors = ep.doors
    assert len(doors) == len(small_office.plan.doors)
    walls = np.array([w[:4] for w in ep.manifest["walls"]])
    for (x0, y0, x1, y1), door in zip(doors, small_office.plan.doors, strict=True):
        a, b = np.array([x0, y0]), np.array([x1, y1])
        np.testing.assert_allclose((a + b) / 2, door.position, atol=1e-9)
        assert np.linalg.norm(b - a) == pytest.approx(door.width)
        # both ends on one wall's centre line
        p, q = walls[:, :2], walls[:, 2:]
        d = q - p
        cross = [d[:, 0] * (e - p)[:, 1] - d[:, 1] * (e - p)[:, 0] for e in (a, b)]
        on = [np.abs(c) / np.linalg.norm(d, axis=1) < 1e-6 for c in cross]
        assert np.any(on[0] & on[1])


def test_optional_doors_field_is_checked_and_may_be_missing(tmp_path, goal_episode):
    path = save_episode(goal_episode, tmp_path / "ep")
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["doors"]  # an episode written before the field: still version 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert load_episode(path).doors == []
    manifest["doors"] = [[0.0, 1.0, 2.0]]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EpisodeError, match=r"doors\[0\]"):
        load_episode(path)


def test_sim_episode_module_re_exports_the_format():
    import astra_jax.formats.episode as fmt
    import astra_jax.sim.episode as sim_episode

    for name in sim_episode.__all__:
        assert getattr(sim_episode, name) is getattr(fmt, name)
    assert load_episode is fmt.load_episode and EpisodeError is fmt.EpisodeError


def test_tour_visits_every_room(small_office, office_renderer, tiny_cfg):
    ep = make_tour(small_office, office_renderer, tiny_cfg, frames=6)
    assert ep.kind == "tour" and ep.num_frames == 6
    assert set(ep.manifest["stats"]["rooms_visited"]) == {r.name for r in small_office.plan.rooms}
    assert ep.manifest["stats"]["min_clearance_m"] > tiny_cfg.sim.robot.radius - 0.03
    assert ep.time[0] == 0.0 and ep.time[-1] == pytest.approx(ep.manifest["stats"]["duration_s"])


def _cli(args: list[str]) -> int:
    from astra_jax.cli import sim

    return sim.main(args)


def test_cli_tour_at_mapping_resolution(tmp_path, office_plan_path, capsys):
    out = tmp_path / "tour"
    assert _cli(["tour", "--world", str(office_plan_path), "--frames", "3", "--preset", "tiny",
                 "--out", str(out), "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rooms_visited"] == summary["rooms"] == 8
    ep = load_episode(out)
    assert ep.image_hw == (240, 320) and ep.rgb.shape[:2] == (3, 3)
    # a second run refuses the existing directory: one line, exit status 2
    assert _cli(["tour", "--world", str(office_plan_path), "--frames", "3", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_batch_generation_on_two_workers(tmp_path, office_plan_path):
    from astra_jax.config import get_preset
    from astra_jax.sim import generate_episodes

    out = tmp_path / "batch"
    tiny = get_preset("tiny")
    index = generate_episodes(out, range(0, 2), file=str(office_plan_path), config=tiny, per_world=1,
                              workers=2, progress=False)  # fmt: skip
    assert [e["world_seed"] for e in index["episodes"]] == [0, 1]
    for e in index["episodes"]:
        ep = load_episode(out / e["dir"])
        assert ep.world["seed"] == e["world_seed"] and ep.rgb.shape[2:4] == (32, 32)
    assert json.loads((out / "index.json").read_text())["split"] == "train"
    with pytest.raises(FileExistsError):
        generate_episodes(
            out, range(0, 1), file=str(office_plan_path), config=tiny, per_world=1, workers=1
        )
    with pytest.raises(ValueError, match="split"):
        generate_episodes(
            tmp_path / "eval", range(0, 1), family="office", split="test", per_world=1
        )
    assert not Path(tmp_path / "eval").exists()


def test_is_episode_dir(tmp_path, goal_episode):
    from astra_jax.sim import is_episode_dir

    path = save_episode(goal_episode, tmp_path / "ep")
    assert is_episode_dir(path)
    assert not is_episode_dir(tmp_path)
    assert len(load_episode(path).manifest["walls"]) >= 3
