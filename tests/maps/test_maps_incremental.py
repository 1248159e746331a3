"""The step-wise incremental mapper (``astra_jax.maps.incremental``, the default since issue 20)
against COLMAP's own pipeline on the tests' short tour: reproducible with one thread, as
accurate, and its global bundle adjustment keeps the direct solver at every size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from evo.core.geometry import umeyama_alignment

from astra_jax.config import ConfigError
from astra_jax.maps import SfmOptions, load_map, load_tour
from astra_jax.maps.incremental import DIRECT_SPARSE_MAX_IMAGES, MappingStats, _Steps
from astra_jax.maps.sfm import SfmError, mapping_options, run_sfm


def _ate(t_sfm_ego: np.ndarray, truth_xy: np.ndarray) -> float:
    """Planar RMSE (m) of the registered ego positions after a Sim(3) fit to the truth."""
    reg = ~np.isnan(t_sfm_ego[:, 0, 0])
    x = t_sfm_ego[reg, :3, 3].T
    y = np.c_[truth_xy[reg], np.zeros(reg.sum())].T
    r, t, c = umeyama_alignment(x, y, True)
    err = (c * r @ x + t[:, None] - y)[:2]
    return float(np.sqrt((err**2).sum(axis=0).mean()))


def test_stepwise_mapper_reproducible_and_as_accurate_as_colmaps(sim_map, sim_tour_dir, tmp_path):
    m = load_map(sim_map)
    tour = load_tour(sim_tour_dir)
    kf = np.array(m.metadata.build["keyframe_frames"])
    assert len(m.nodes) == len(kf)  # every keyframe registered: all images are in the map
    odometry, truth = tour.odometry[kf], tour.ground_truth[kf, :2]
    options = SfmOptions(num_threads=1)
    db = tmp_path / "database.db"

    def sfm(opts: SfmOptions, **kwargs):
        return run_sfm(m.root / "images", tour.cameras, len(kf), odometry, opts,
                       tmp_path / "colmap.log", **kwargs)  # fmt: skip

    first = sfm(options, keep_database=db)
    again = sfm(options, database=db)  # mapping only, on the same matches
    colmap = sfm(SfmOptions.colmap_pipeline(num_threads=1), database=db)

    assert first.registered.all() and again.registered.all() and colmap.registered.all()
    # one thread: the same model bit for bit
    np.testing.assert_array_equal(first.T_sfm_ego, again.T_sfm_ego)
    assert set(again.timings) == {"mapping"}  # features and matching came from the database
    # as accurate as COLMAP's pipeline on these matches (measured, one thread: ours 0.0029 m,
    # COLMAP's 0.0021 m; odometry alone 0.41 m)
    ours, theirs = _ate(first.T_sfm_ego, truth), _ate(colmap.T_sfm_ego, truth)
    assert ours <= max(0.01, 1.5 * theirs), (ours, theirs)
    steps = first.mapping_steps
    assert steps["global_refinements"] >= 1 and steps["global_ba"] > 0 and steps["local_ba"] > 0
    assert colmap.mapping_steps == {}  # COLMAP's pipeline is not step-wise


def test_global_bundle_adjustment_keeps_the_direct_solver():
    """COLMAP's pipeline hands global BAs of more than 1,000 images to the iterative Schur
    solver (6-10x slower per iteration on our tours); the step-wise mapper's does not."""
    o = mapping_options(SfmOptions(), 3_600)  # a 1,200-keyframe tour of 3 cameras
    assert o.get_global_bundle_adjustment().ceres.max_num_images_direct_sparse_cpu_solver < 3_600
    steps = _Steps(mapper=None, o=o, stats=MappingStats())
    direct = steps.global_ba.ceres.max_num_images_direct_sparse_cpu_solver
    assert direct == DIRECT_SPARSE_MAX_IMAGES >= 3_600
    # the rest of the global BA is COLMAP's, with our settings
    assert steps.global_ba.ceres.solver_options.max_num_iterations == 25
    assert not steps.global_ba.refine_focal_length and not steps.global_ba.refine_sensor_from_rig


def test_sfm_options_and_database_errors(tmp_path):
    with pytest.raises(ConfigError, match="mapper = 'glomap'"):
        SfmOptions(mapper="glomap")
    with pytest.raises(ConfigError, match="ba_local_max_refinements"):
        SfmOptions(ba_local_max_refinements=0)
    base = SfmOptions.colmap_pipeline(seed=3)
    assert (base.mapper, base.ba_local_max_refinements, base.seed) == ("colmap", 2, 3)
    assert dataclasses.replace(base, mapper="incremental").mapper == "incremental"
    with pytest.raises(FileNotFoundError, match=r"missing\.db"):
        run_sfm(tmp_path, [], 0, None, SfmOptions(), tmp_path / "log",
                database=tmp_path / "missing.db")  # fmt: skip
    assert issubclass(SfmError, ValueError)


class _FakeMapper:
    """Offers frame 7 only to a PnP pass whose inlier minimum is at most 15 (as COLMAP's
    ``find_next_images`` skips frames whose images see fewer points than the minimum), and
    records every pass it was asked for."""

    def __init__(self) -> None:
        self.passes: list[tuple[bool, int]] = []

    def find_next_images(self, options, structure_less: bool) -> list[int]:
        self.passes.append((structure_less, options.abs_pose_min_num_inliers))
        return [] if structure_less or options.abs_pose_min_num_inliers > 15 else [7]

    def register_next_image(self, options, image_id: int) -> bool:
        return options.abs_pose_min_num_inliers <= 15

    def register_next_structure_less_image(self, options, image_id: int) -> bool:
        raise AssertionError("no structure-less candidate was offered")


class _Model:
    def num_reg_frames(self) -> int:
        return 50


def test_a_stuck_model_registers_its_next_frame_with_the_relaxed_inlier_minimum():
    o = mapping_options(SfmOptions(), 300)
    strict = o.mapper.abs_pose_min_num_inliers
    assert strict == 30 and SfmOptions().abs_pose_min_inliers_relaxed == 15
    stats = MappingStats()
    steps = _Steps(mapper=None, o=o, stats=stats, relaxed_inliers=15)
    steps.mapper = _FakeMapper()
    assert steps._register_next(_Model()) == 7
    # PnP, COLMAP's structure-less fallback, then PnP with the relaxed minimum
    assert steps.mapper.passes == [(False, 30), (True, 30), (False, 15)]
    assert steps.mapper_options.abs_pose_min_num_inliers == strict  # restored afterwards
    assert stats.relaxed_registrations == 1
    # without the relaxation the model stops there (COLMAP's behaviour)
    off = _Steps(mapper=None, o=o, stats=MappingStats(), relaxed_inliers=0)
    off.mapper = _FakeMapper()
    assert off._register_next(_Model()) is None
    assert off.mapper.passes == [(False, 30), (True, 30)]
    assert SfmOptions.colmap_pipeline().abs_pose_min_inliers_relaxed == 0
