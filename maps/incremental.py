"""Incremental SfM driven step by step over pycolmap's ``IncrementalMapper``.

COLMAP's ``IncrementalPipeline`` builds its global bundle adjustment options internally, and
they hand any problem of more than 1,000 images to Ceres' iterative Schur solver (a rig of
three cameras gets there at 334 keyframes). On our tours that solver is the wall: on the
first 600 keyframes of a validation office tour (on a machine shared with other jobs) the
pipeline's global bundle adjustments took 191 s of its 260 s of mapping, 35-109 s each once
past 1,000 images against 3.4 s at 651 images. The direct sparse Schur solver stays cheap at
these sizes because the reduced camera system of a tour is nearly banded: each frame shares
points with its few neighbours along the path and a few revisits.

:func:`map_incremental` runs the steps of COLMAP's pipeline (``ReconstructSubModel``: find
the initial pair, register the next image, triangulate, local refinement, global refinement
whenever the model has grown by ``ba_global_frames_ratio``, new models while frames are left),
each a pycolmap C++ call, with the global bundle adjustment's direct-solver limit raised. The
rig-scale guard and the progress bar are called directly instead of through pipeline
callbacks, and the time of each kind of step is counted. Registration tries COLMAP's
structure-less fallback and then, beyond COLMAP, absolute pose with a relaxed inlier minimum
before it gives up on a model (``_Steps._register_next``). Multi-threaded runs are not
bit-reproducible (as with COLMAP's pipeline); with one thread they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Ceres' direct sparse Schur solver up to this many images (COLMAP: 1,000, then iterative).
DIRECT_SPARSE_MAX_IMAGES = 100_000
# COLMAP: a model that still has fewer than min_model_size frames after this many failed
# registrations is abandoned (its initial pair was poor).
MIN_INITIAL_TRIALS = 30

ModelCallback = Callable[[Any], None]  # called with a pycolmap.Reconstruction


@dataclasses.dataclass
class MappingStats:
    """Seconds spent per kind of step (``seconds``) and how often global refinement ran."""

    seconds: dict[str, float] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(
            ("initialize", "register", "triangulate", "local_ba", "global_ba"), 0.0
        )
    )
    global_refinements: int = 0
    relaxed_registrations: int = 0  # frames registered only with the relaxed inlier minimum

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] += time.perf_counter() - t0


def map_incremental(
    db_path: Path,
    pipeline_options: Any,  # pycolmap.IncrementalPipelineOptions
    *,
    on_initial_pair: ModelCallback | None = None,
    on_next_frame: ModelCallback | None = None,
    stats: MappingStats | None = None,
    relaxed_abs_pose_inliers: int = 0,
) -> list:
    """Reconstruct the database's images; returns the models (``pycolmap.Reconstruction``),
    the largest first.

    Args:
        db_path: a COLMAP database with features and verified matches (and rig frames).
        pipeline_options: the incremental pipeline's settings (mapper, triangulation, local
            and global bundle adjustment, growth ratios, ``min_model_size``,
            ``init_num_trials``, ``max_num_models``, ``max_runtime_seconds``); the global bundle adjustment keeps
            the direct sparse solver up to :data:`DIRECT_SPARSE_MAX_IMAGES` images.
        on_initial_pair: called with the model after its initial pair is registered and
            adjusted (the rig-scale guard may correct it there).
        on_next_frame: called with the model after each further frame is registered.
        stats: filled with the time per kind of step.
        relaxed_abs_pose_inliers: when no frame registers with the options' inlier minimum,
            try once more with this one (0: never); see ``_Steps._register_next``.
    """
    import pycolmap

    o = pipeline_options
    stats = stats if stats is not None else MappingStats()
    with pycolmap.Database.open(db_path) as db:
        cache_options = pycolmap.DatabaseCacheOptions()
        cache_options.min_num_matches = o.min_num_matches
        cache_options.ignore_watermarks = o.ignore_watermarks
        cache = pycolmap.DatabaseCache.create(db, cache_options)
    mapper = pycolmap.IncrementalMapper(cache)
    steps = _Steps(mapper, o, stats, relaxed_abs_pose_inliers)
    models: list = []
    _reconstruct(steps, cache, models, on_initial_pair, on_next_frame)
    # COLMAP's relaxations when images are left: halve the initial pair's inlier count,
    # then its triangulation angle, twice
    for _ in range(2):
        for relax in ("init_min_num_inliers", "init_min_tri_angle"):
            if mapper.num_total_reg_images() >= cache.num_images() or steps.out_of_time():
                break
            value = getattr(steps.mapper_options, relax)
            setattr(steps.mapper_options, relax, type(value)(value / 2))
            mapper.reset_initialization_stats()
            _reconstruct(steps, cache, models, on_initial_pair, on_next_frame)
    return sorted(models, key=lambda r: -r.num_reg_images())


def _reconstruct(
    steps: _Steps,
    cache: Any,  # pycolmap.DatabaseCache
    models: list,
    on_initial_pair: ModelCallback | None,
    on_next_frame: ModelCallback | None,
) -> None:
    """Start models until the images are used up or starts keep failing; append the kept
    ones to ``models`` (COLMAP's ``IncrementalPipeline::Reconstruct``)."""
    import pycolmap

    mapper, o = steps.mapper, steps.o
    num_images = cache.num_images()
    min_size = min(o.min_model_size, 0.8 * num_images)
    for _ in range(o.init_num_trials):
        if len(models) >= o.max_num_models or steps.out_of_time():
            return
        rec = pycolmap.Reconstruction()
        mapper.begin_reconstruction(rec)
        status = steps.initialize(rec)
        if status != "ok":
            mapper.end_reconstruction(True)
            if status == "no pair":  # none left to try
                return
            continue  # a bad pair: the mapper will not offer it again
        if on_initial_pair is not None:
            on_initial_pair(rec)
        steps.grow(rec, on_next_frame)
        keep = rec.num_reg_frames() > 0 and (rec.num_reg_frames() >= min_size or not models)
        total = mapper.num_total_reg_images()
        mapper.end_reconstruction(not keep)
        if keep:
            # as COLMAP's pipeline: scale the model so that its rig's lever arms are the
            # database's (metric) ones again
            pycolmap.align_reconstruction_to_orig_rig_scales(cache.rigs, rec)
            models.append(rec)
        if total >= num_images - 1:
            return


class _Steps:
    """The mapper with the options of each step, timed into ``stats``."""

    def __init__(self, mapper: Any, o: Any, stats: MappingStats, relaxed_inliers: int = 0) -> None:
        self.mapper = mapper
        self.relaxed_inliers = relaxed_inliers
        self.o = o
        self.stats = stats
        self.mapper_options = o.get_mapper()
        self.tri = o.get_triangulation()
        self.local_ba = o.get_local_bundle_adjustment()
        self.global_ba = o.get_global_bundle_adjustment()
        self.global_ba.ceres.max_num_images_direct_sparse_cpu_solver = DIRECT_SPARSE_MAX_IMAGES
        # COLMAP's fallback when no frame can be registered by absolute pose (PnP) against the
        # model's points: register one by its 2D-2D correspondences with registered images
        # ("structure-less" resection), as COLMAP's own pipeline does by default.
        if o.structure_less_registration_only:
            self.structure_less_flags: tuple[bool, ...] = (True,)
        elif o.structure_less_registration_fallback:
            self.structure_less_flags = (False, True)
        else:
            self.structure_less_flags = (False,)
        seconds = o.max_runtime_seconds
        self.deadline = time.monotonic() + seconds if seconds > 0 else None

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def _triangulate_frame(self, rec: Any, image_id: int, tri: Any) -> None:
        import pycolmap

        with self.stats.timed("triangulate"):
            for data_id in rec.images[image_id].frame.data_ids:
                if data_id.sensor_id.type == pycolmap.SensorType.CAMERA:
                    self.mapper.triangulate_image(tri, data_id.id)

    def initialize(self, rec: Any) -> str:
        """Register, triangulate and adjust the best initial pair: "ok", "no pair" (none
        left) or "bad pair" (too few points survived)."""
        import pycolmap

        m, mo = self.mapper, self.mapper_options
        with self.stats.timed("initialize"):
            found = m.find_initial_image_pair(mo, -1, -1)
            if found is None:
                return "no pair"
            (id1, id2), cam2_from_cam1 = found
            m.register_initial_image_pair(mo, id1, id2, cam2_from_cam1)
        # Only well-conditioned points seed a model: COLMAP's initial triangulation angle (16
        # deg, halved by a relaxation) with default triangulation settings otherwise.
        init_tri = pycolmap.IncrementalTriangulatorOptions()
        init_tri.min_angle = mo.init_min_tri_angle
        for image_id in (id1, id2):
            self._triangulate_frame(rec, image_id, init_tri)
        with self.stats.timed("global_ba"):
            m.adjust_global_bundle(mo, self.global_ba)
            rec.normalize()
            m.filter_points(mo)
            m.filter_frames(mo)
        enough = rec.num_points3D() >= max(1, mo.abs_pose_min_num_inliers)
        return "ok" if rec.num_reg_frames() > 0 and enough else "bad pair"

    def global_refinement(self) -> None:
        with self.stats.timed("global_ba"):
            self.mapper.iterative_global_refinement(
                self.o.ba_global_max_refinements,
                self.o.ba_global_max_refinement_change,
                self.mapper_options,
                self.global_ba,
                self.tri,
            )
            self.mapper.filter_frames(self.mapper_options)
        self.stats.global_refinements += 1

    def _register_next(self, rec: Any) -> int | None:
        """Register the best next frame: its image id, -1 when none registered, None when
        no candidate is left.

        Passes, each only when the ones before registered nothing: absolute pose (PnP)
        against the model's points; COLMAP's structure-less fallback; then, when
        ``relaxed_inliers`` is set, PnP again with ``abs_pose_min_num_inliers`` lowered to
        it. COLMAP offers a frame only when one of its images sees at least that many of the
        model's points, so where the robot swerves between two sparse keyframes (e.g.
        0.5 m apart) the next one can see 22 + 5 + 18 points in its three cameras, none
        offered, and the model ends there although the rig's pose is well constrained.
        """
        mo = self.mapper_options
        passes: list[tuple[bool, int | None]] = [(s, None) for s in self.structure_less_flags]
        if 0 < self.relaxed_inliers < mo.abs_pose_min_num_inliers:
            passes.append((False, self.relaxed_inliers))
        any_candidate = False
        with self.stats.timed("register"):
            for structure_less, min_inliers in passes:
                strict = mo.abs_pose_min_num_inliers
                if min_inliers is not None:
                    mo.abs_pose_min_num_inliers = min_inliers
                try:
                    image_id = self._try_candidates(rec, structure_less)
                finally:
                    mo.abs_pose_min_num_inliers = strict
                if image_id is None:
                    continue
                any_candidate = True
                if image_id >= 0:
                    if min_inliers is not None:
                        self.stats.relaxed_registrations += 1
                    return image_id
        return -1 if any_candidate else None

    def _try_candidates(self, rec: Any, structure_less: bool) -> int | None:
        """One pass over the mapper's next-frame candidates: the registered image id, -1
        when none registered, None when there was no candidate."""
        m, mo = self.mapper, self.mapper_options
        candidates = m.find_next_images(mo, structure_less)
        if not candidates:
            return None
        for trial, image_id in enumerate(candidates):
            if structure_less:
                ok = m.register_next_structure_less_image(mo, image_id)
            else:
                ok = m.register_next_image(mo, image_id)
            if ok:
                return image_id
            if trial >= MIN_INITIAL_TRIALS and rec.num_reg_frames() < self.o.min_model_size:
                break
        return -1

    def _needs_global(self, rec: Any, frames: int, points: int) -> bool:
        o = self.o
        return (
            rec.num_reg_frames() >= o.ba_global_frames_ratio * frames
            or rec.num_reg_frames() >= o.ba_global_frames_freq + frames
            or rec.num_points3D() >= o.ba_global_points_ratio * points
            or rec.num_points3D() >= o.ba_global_points_freq + points
        )

    def grow(self, rec: Any, on_next_frame: ModelCallback | None) -> None:
        """Register frames until none more fits (COLMAP's ``ReconstructSubModel`` loop)."""
        ba_frames, ba_points = rec.num_reg_frames(), rec.num_points3D()
        success = prev_success = True
        while (success or prev_success) and not self.out_of_time():
            prev_success = success
            image_id = self._register_next(rec)
            if image_id is None:
                break
            success = image_id >= 0
            if success:
                self._triangulate_frame(rec, image_id, self.tri)
                with self.stats.timed("local_ba"):
                    self.mapper.iterative_local_refinement(
                        self.o.ba_local_max_refinements,
                        self.o.ba_local_max_refinement_change,
                        self.mapper_options,
                        self.local_ba,
                        self.tri,
                        image_id,
                    )
                if self._needs_global(rec, ba_frames, ba_points):
                    self.global_refinement()
                    ba_frames, ba_points = rec.num_reg_frames(), rec.num_points3D()
                if on_next_frame is not None:
                    on_next_frame(rec)
            if self.mapper.num_shared_reg_images() >= self.o.max_model_overlap:
                break
            if not success and prev_success:  # one more chance after a global refinement
                self.global_refinement()
        if rec.num_reg_frames() >= 2 and (
            rec.num_reg_frames() != ba_frames or rec.num_points3D() != ba_points
        ):
            self.global_refinement()
