"""Structure from motion over the keyframes with pycolmap (SIFT, imported pairs, incremental
mapping with fixed intrinsics and, for multi-camera tours, a rigid camera rig).

Mapping (``SfmOptions.mapper``): ``"incremental"`` (default) runs COLMAP's incremental steps
one by one (:mod:`astra_jax.maps.incremental`) so that every global bundle adjustment keeps the
direct sparse solver; ``"colmap"`` is COLMAP's own ``IncrementalPipeline``, which turns to an
iterative solver past 1,000 images and maps a 381 m office in twice the time
(``SfmOptions.colmap_pipeline()`` gives its settings from before issue 20).

Settings that matter on simulator renders (``shared/notes/sfm-on-sim.md``):

* the intrinsics are known exactly and are held fixed (``ba_refine_focal_length``,
  ``ba_refine_extra_params`` and ``mapper.abs_pose_refine_*`` off); refining them split models
  and slowed mapping tenfold;
* the rig's ``cam_from_rig`` transforms are known and held fixed too (pycolmap's rig support:
  the three images of a keyframe form one frame with one pose);
* a camera mask drops the view above 20 deg elevation: near tiled ceilings match themselves
  one tile over;
* pairs to match are chosen here and imported (``match_image_pairs``): keyframes within
  ``sequential_overlap`` (same camera, or cameras whose axes odometry says now overlap), plus
  any two images whose cameras (placed by odometry) are near each other and look the same way,
  for loop closure without a vocabulary tree. Optional bag-of-words retrieval
  (:mod:`astra_jax.maps.retrieval`) is off by default: in the simulator's offices repeated
  furniture and textures made it propose false loops that bent the model. Without odometry,
  small tours are matched exhaustively.

pycolmap logs thousands of lines to stderr; they go to ``logs/colmap.log`` instead. On a
terminal each stage shows a progress bar (:mod:`astra_jax.progress`) on the original stderr:
extraction and matching follow pycolmap's log lines ("Processed file [i/n]", "Processing block
[i/n]"), mapping counts registrations through the incremental pipeline's callbacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from astra_jax import progress
from astra_jax.config import ConfigError, check_non_negative_ints, check_positive_ints
from astra_jax.geometry import se3_from_se2, se3_inverse
from astra_jax.maps.incremental import MappingStats, map_incremental
from astra_jax.maps.retrieval import read_descriptors, retrieval_pairs
from astra_jax.maps.rig_scale import RigScaleGuard, metric_cam_from_ref
from astra_jax.maps.schema import CameraInfo


@dataclasses.dataclass(frozen=True)
class SfmOptions:
    """pycolmap settings of a map build.

    ``sequential_overlap``: keyframes after each keyframe that its image is matched with
    (same camera; other cameras too when odometry says their optical axes are within
    ``pair_max_angle`` rad). ``pair_radius``: odometry-proximity loop candidates.
    ``retrieval_top_k``: loop-closure candidates per image from the tour's bag of words
    (:mod:`astra_jax.maps.retrieval`), at least ``retrieval_min_gap`` keyframes away; 0 (the
    default) turns retrieval off. ``exhaustive_max_images``: without odometry, match all
    pairs up to this many images. ``max_num_features`` / ``sift_peak_threshold``: SIFT
    features per image and detection threshold. ``min_registered_fraction``: below this share
    of keyframes registered, the build fails.
    """

    sequential_overlap: int = 4
    pair_max_angle: float = math.radians(60.0)
    retrieval_top_k: int = 0
    retrieval_min_gap: int = 10
    retrieval_words: int = 256
    exhaustive_max_images: int = 250
    max_num_features: int = 4096
    # COLMAP's default (0.0067) finds ~300 keypoints in a 320x240 render of walls and
    # furniture; 0.004 finds ~700 at 1.1x the extraction time.
    sift_peak_threshold: float = 0.004
    # -1 (COLMAP's default) first doubles the image: 4x the pyramid work for the finest scale.
    sift_first_octave: int = -1
    # The rig's cameras never roll (fixed to a ground robot, level up to the mounting pitch):
    # upright SIFT skips the orientation search and its duplicate keypoints.
    sift_upright: bool = True
    # Ignore pixels whose ray rises more than this above the horizon (ego frame): near
    # ceilings are tiled grids that match themselves one tile over (aliasing). None: no mask.
    mask_above_deg: float | None = 20.0
    min_num_inliers: int = 15  # two-view geometry inliers for a verified pair
    # Odometry-proximity loop candidates: camera centres (placed by odometry) within this
    # distance (m) whose axes differ by <= pair_max_angle. 0 disables them.
    pair_radius: float = 2.5
    loop_pairs_per_image: int = 1  # nearest odometry-proximity candidates kept per image
    # A loop candidate must be at least this far (m, odometry path length) along the tour from
    # its partner: only a revisit closes a loop. Pairs along the same pass are already chained
    # by the sequential pairs; matching them again only lengthens tracks and slows BA.
    loop_min_travel: float = 5.0
    ransac_max_trials: int = 2000  # non-overlapping candidate pairs otherwise cost 10,000
    num_threads: int = -1  # -1: all cores
    # pycolmap wants an int; a 600 m procedural-office tour (1,158 keyframes) maps in ~15 min
    max_runtime_seconds: int = 3600
    min_registered_fraction: float = 0.8
    # Incremental mapping runs a global bundle adjustment each time the model has grown by
    # this factor (COLMAP: 1.1, ~55 global BAs for 200 keyframes; 1.6: ~11). Local BAs keep
    # the model consistent in between; on a 200-frame office tour 1.4 cut mapping from 161 s
    # to 29 s at the same ATE, 1.6 with 10 local iterations to 20 s (docs/design.md).
    ba_global_ratio: float = 1.6
    ba_global_max_iterations: int = 25  # COLMAP: 50
    ba_local_max_iterations: int = 10  # COLMAP: 25
    # COLMAP's global BA runs all its iterations (function tolerance 0) and repeats "BA,
    # retriangulate, filter" up to 5 times. By the time a model has grown by the ratio above
    # it is nearly converged: stop at a relative cost change of 1e-6 and refine once. Beyond
    # 1,000 images Ceres switches to an iterative Schur solver whose iterations cost ~6x a
    # direct one's (a 348-frame rig model: 72 s vs 11 s for 25 iterations), so on long tours
    # these two settings decide the mapping time.
    ba_global_function_tolerance: float = 1e-6
    ba_global_max_refinements: int = 1  # COLMAP: 5
    use_rig: bool = True
    seed: int = 0
    # "incremental": COLMAP's incremental steps driven from astra_jax.maps.incremental, with
    # the direct sparse solver for every global BA; "colmap": COLMAP's own IncrementalPipeline
    # (iterative Schur beyond 1,000 images), the default before issue 20.
    mapper: str = "incremental"
    # Local BA rounds per registered frame (COLMAP: 2). The second round changed nothing
    # measurable (ATE 15.1 vs 15.3 mm on 600 keyframes of office 1000004) for 25% of the time.
    ba_local_max_refinements: int = 1
    # Residuals from which a BA runs on all threads (COLMAP: 50,000, so local BAs, ~10-30
    # thousand residuals here, ran on one core): local BA time 52 -> 42 s on those keyframes.
    ba_min_residuals_multithreading: int = 1000
    # When no frame can be registered (COLMAP offers a frame only once one of its images sees
    # abs_pose_min_num_inliers = 30 of the model's points), the step-wise mapper tries once
    # more with this minimum before it gives up on the model (0: never). The rig's absolute
    # pose uses all three cameras' points at once, and the odometry check after SfM catches a
    # wrong one. Without it, a validation office tour at keyframes 0.5 m apart split into
    # three models where the robot swerved (docs/design.md, "Mapping at scale").
    abs_pose_min_inliers_relaxed: int = 15

    def __post_init__(self) -> None:
        check_positive_ints(
            self,
            "sequential_overlap",
            "exhaustive_max_images",
            "max_num_features",
            "loop_pairs_per_image",
            "ba_global_max_iterations",
            "ba_local_max_iterations",
            "ba_global_max_refinements",
            "ba_local_max_refinements",
            "ba_min_residuals_multithreading",
        )
        if self.mapper not in MAPPERS:
            raise ConfigError(
                f"SfmOptions.mapper = {self.mapper!r}: expected one of {', '.join(MAPPERS)}"
            )
        if not isinstance(self.max_runtime_seconds, int) or self.max_runtime_seconds <= 0:
            raise ConfigError(
                f"SfmOptions.max_runtime_seconds = {self.max_runtime_seconds!r}: expected a "
                "positive integer (pycolmap takes whole seconds)"
            )
        if not self.ba_global_ratio > 1.0:
            raise ConfigError(
                f"SfmOptions.ba_global_ratio = {self.ba_global_ratio!r}: expected a growth "
                "factor > 1"
            )
        check_non_negative_ints(
            self, "retrieval_top_k", "retrieval_min_gap", "abs_pose_min_inliers_relaxed"
        )
        if not 0.0 <= self.ba_global_function_tolerance < 1.0:
            raise ConfigError(
                f"SfmOptions.ba_global_function_tolerance = {self.ba_global_function_tolerance!r}"
                ": expected a relative cost change in [0, 1)"
            )
        if not self.loop_min_travel >= 0.0:
            raise ConfigError(
                f"SfmOptions.loop_min_travel = {self.loop_min_travel!r}: expected metres >= 0"
            )
        if not 0 <= self.pair_max_angle <= math.pi:
            raise ConfigError(
                f"SfmOptions.pair_max_angle = {self.pair_max_angle!r}: expected [0, pi] rad"
            )
        if not 0.0 < self.min_registered_fraction <= 1.0:
            raise ConfigError(
                f"SfmOptions.min_registered_fraction = {self.min_registered_fraction!r}: "
                "expected a fraction in (0, 1]"
            )

    @classmethod
    def colmap_pipeline(cls, **changes: Any) -> SfmOptions:
        """The mapping of the default before issue 20: COLMAP's IncrementalPipeline with two
        local refinement rounds and single-threaded local BAs (the baseline of
        ``bench/map_build.py --whole-building``); ``changes`` override any field."""
        base = {"mapper": "colmap", "ba_local_max_refinements": 2,
                "ba_min_residuals_multithreading": 50_000, "abs_pose_min_inliers_relaxed": 0}  # fmt: skip
        return cls(**{**base, **changes})


MAPPERS = ("incremental", "colmap")


@dataclasses.dataclass
class SfmResult:
    """What SfM recovered, in its own (arbitrary similarity) frame.

    ``T_sfm_ego`` (K, 4, 4) per keyframe, NaN where the keyframe is not registered;
    ``registered`` (K,) bool; ``cam_centres`` maps (keyframe, camera) to the SfM camera centre
    (3,) of every registered image; ``node_points`` the SfM point ids each keyframe observes.
    """

    reconstruction: object  # pycolmap.Reconstruction
    T_sfm_ego: np.ndarray
    registered: np.ndarray
    cam_centres: dict[tuple[int, str], np.ndarray]
    node_points: list[set[int]]
    num_models: int
    num_pairs: int
    mean_reprojection_error: float
    num_points3d: int
    timings: dict[str, float]
    num_retrieval_pairs: int = 0
    rig_scale_corrections: list[dict[str, float]] = dataclasses.field(default_factory=list)
    # the step-wise mapper's seconds per kind of step (and its count of global refinements)
    mapping_steps: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def registered_fraction(self) -> float:
        return float(self.registered.mean()) if len(self.registered) else 0.0


class SfmError(ValueError):
    """The tour does not support a map: SfM registered too few keyframes (or none). The
    message gives the registered fraction."""


def image_name(camera: str, keyframe: int) -> str:
    """Relative image path of a keyframe's camera image (the same under ``images/``)."""
    return f"{camera}/{keyframe:05d}.png"


# ----------------------------------------------------------------------------- logging


@contextlib.contextmanager
def redirect_stderr_fd(log_path: Path) -> Iterator[IO[str]]:
    """Send file descriptor 2 (where pycolmap's C++ logging writes) to ``log_path``.

    Yields a stream that still reaches the original stderr, for progress bars: a copy of
    descriptor 2 taken before the redirect, or ``sys.stderr`` itself when that does not write
    to descriptor 2 (a test's capture, which the redirect does not touch).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_path, "ab") as log, _original_stderr(saved) as terminal:
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _original_stderr(saved_fd: int) -> contextlib.AbstractContextManager[IO[str]]:
    try:
        on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both
        on_fd2 = False
    if not on_fd2:
        return contextlib.nullcontext(sys.stderr)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    return os.fdopen(os.dup(saved_fd), "w", encoding=encoding, errors="replace")


# pycolmap log lines that mark progress: one per image extracted, one per block of pairs
# matched (the line announces block i, so i - 1 blocks are done).
_EXTRACTED = re.compile(r"Processed file \[(\d+)/(\d+)\]")
_MATCHING_BLOCK = re.compile(r"Processing block \[(\d+)/(\d+)\]")


@contextlib.contextmanager
def _follow_log(
    log_path: Path,
    pattern: re.Pattern[str],
    on_match: Callable[[re.Match[str]], None],
    enabled: bool = True,
    interval: float = 0.25,
) -> Iterator[None]:
    """While inside, call ``on_match`` (from a thread) for each line appended to ``log_path``
    that ``pattern`` matches; the lines written before the block are skipped, and the last
    ones are read when it ends. Does nothing unless ``enabled`` (a bar is shown)."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    with open(log_path, "rb") as f:
        f.seek(0, os.SEEK_END)

        def follow() -> None:
            pending = b""
            while True:
                last = stop.wait(interval)
                *lines, pending = (pending + f.read()).split(b"\n")
                for line in lines:
                    m = pattern.search(line.decode("utf-8", "replace"))
                    if m is not None:
                        on_match(m)
                if last:
                    return

        thread = threading.Thread(target=follow, name="astra-sfm-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@contextlib.contextmanager
def _logged_stage(
    bar: Any, log_path: Path, pattern: re.Pattern[str], on_match: Callable[[re.Match[str]], None]
) -> Iterator[None]:
    """Run a stage under ``bar``, moved by the stage's log lines (:func:`_follow_log`) and
    filled when the stage ends well (the lines may be coarser than the bar); then close it."""
    with bar:
        with _follow_log(log_path, pattern, on_match, enabled=not bar.disable):
            yield
        if bar.total is not None and bar.n < bar.total:
            bar.update(bar.total - bar.n)


class _MappingProgress:
    """Counts registered frames for the mapping bar from the incremental pipeline's callbacks:
    the initial pair registers two, each later step one. A frame is a keyframe's rig, or one
    image without a rig. Frames of models that are later discarded count too, so the count
    is capped at the total, and :meth:`finish` shows the largest model's."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.count = 0

    def on_initial_pair(self) -> None:
        self._show(self.count + 2)

    def on_next_image(self) -> None:
        self._show(self.count + 1)

    def show_frames(self, count: int) -> None:
        """Show ``count`` registered frames in the current model (the step-wise mapper)."""
        self._show(max(count, self.count))

    def _show(self, count: int) -> None:
        self.count = count
        n = min(count, self.bar.total)
        if n != self.bar.n:
            self.bar.update(n - self.bar.n)

    def finish(self, registered_frames: int) -> None:
        self.bar.n = registered_frames
        self.bar.set_postfix_str("largest model", refresh=False)
        self.bar.refresh()


# ----------------------------------------------------------------------------- pairs


def candidate_pairs(
    cameras: Sequence[CameraInfo],
    num_keyframes: int,
    odometry: np.ndarray | None,
    options: SfmOptions,
) -> list[tuple[str, str]]:
    """Sequential image pairs to match, as (name, name) with the first name sorting lower.

    * same camera, keyframes at most ``sequential_overlap`` apart;
    * with odometry (K, 3): different cameras of keyframes at most ``sequential_overlap``
      apart whose optical axes differ by at most ``pair_max_angle`` (the robot turned, so the
      side camera now sees what the front one saw). Odometry is trusted only over such short
      stretches; long-range pairs come from :mod:`astra_jax.maps.retrieval`;
    * without odometry, and at most ``exhaustive_max_images`` images: every pair.
    """
    pairs: set[tuple[str, str]] = set()

    def add(i: int, a: str, j: int, b: str) -> None:
        x, y = image_name(a, i), image_name(b, j)
        if x != y:
            pairs.add((x, y) if x < y else (y, x))

    w = options.sequential_overlap
    for c in cameras:
        for i in range(num_keyframes):
            for j in range(i + 1, min(num_keyframes, i + w + 1)):
                add(i, c.name, j, c.name)
    if odometry is not None and len(cameras) > 1:
        _, axes = _camera_placement(cameras, np.asarray(odometry, dtype=np.float64))
        cos_max = math.cos(options.pair_max_angle)
        for i in range(num_keyframes):
            for j in range(i + 1, min(num_keyframes, i + w + 1)):
                cos = axes[i] @ axes[j].T  # (C, C)
                for a, b in zip(*np.nonzero(cos >= cos_max)):
                    if a != b:
                        add(i, cameras[a].name, j, cameras[b].name)
    if odometry is not None and options.pair_radius > 0:
        for (i, a), (j, b) in loop_candidates(cameras, np.asarray(odometry, np.float64), options):
            add(i, cameras[a].name, j, cameras[b].name)
    if odometry is None and num_keyframes * len(cameras) <= options.exhaustive_max_images:
        names = [(i, c.name) for i in range(num_keyframes) for c in cameras]
        for p in range(len(names)):
            for q in range(p + 1, len(names)):
                if names[p][0] != names[q][0]:
                    add(*names[p], *names[q])
    return sorted(pairs)


def loop_candidates(
    cameras: Sequence[CameraInfo], odometry: np.ndarray, options: SfmOptions
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Odometry-proximity loop-closure candidates as ((keyframe, camera), (keyframe, camera)).

    Two images qualify when their camera centres (placed by odometry) are within
    ``pair_radius`` of each other, their axes differ by at most ``pair_max_angle``, their
    keyframes are more than ``sequential_overlap`` apart (closer ones are sequential pairs
    already) and at least ``loop_min_travel`` m of odometry path apart (a revisit, not the
    same pass). Each image keeps only its ``loop_pairs_per_image`` nearest candidates: a revisit
    needs a few verified pairs to close the loop, not every pair along the stretch, and the
    nearest are the likeliest to overlap (odometry has drifted by then).
    """
    from scipy.spatial import cKDTree

    centres, axes = _camera_placement(cameras, odometry)
    ncam = len(cameras)
    flat_c, flat_a = centres.reshape(-1, 3), axes.reshape(-1, 3)  # keyframe-major
    kf = np.arange(len(flat_c)) // ncam
    step = np.linalg.norm(np.diff(odometry[:, :2], axis=0), axis=-1)
    travel = np.concatenate([[0.0], np.cumsum(step)])[kf]  # odometry path length (m)
    # Pairs within the radius from a KD-tree (p < q): memory linear in the pairs, where a
    # dense distance matrix over a 2,000-keyframe rig tour would take ~300 MB per array.
    pq = cKDTree(flat_c).query_pairs(options.pair_radius, output_type="ndarray")
    p, q = pq[:, 0], pq[:, 1]
    ok = np.einsum("ij,ij->i", flat_a[p], flat_a[q]) >= math.cos(options.pair_max_angle)
    ok &= np.abs(kf[p] - kf[q]) > options.sequential_overlap
    ok &= np.abs(travel[p] - travel[q]) >= options.loop_min_travel
    p, q = p[ok], q[ok]
    d = np.linalg.norm(flat_c[p] - flat_c[q], axis=-1)
    # Each image keeps its k nearest partners (ties: the lower partner index first).
    src, dst, dist = np.concatenate([p, q]), np.concatenate([q, p]), np.concatenate([d, d])
    order = np.lexsort((dst, dist, src))
    src, dst = src[order], dst[order]
    rank = np.arange(len(src)) - np.searchsorted(src, src, side="left")
    keep = rank < options.loop_pairs_per_image
    lo, hi = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    out = sorted(set(zip(lo.tolist(), hi.tolist(), strict=True)))
    return [(divmod(a, ncam), divmod(b, ncam)) for a, b in out]


def _camera_placement(
    cameras: Sequence[CameraInfo], odometry: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Camera centres and optical axes (K, C, 3) in the odometry frame (z up)."""
    t_world_ego = se3_from_se2(odometry)  # (K, 4, 4)
    t_ego_cam = np.stack([c.T_ego_cam for c in cameras])  # (C, 4, 4)
    t_world_cam = t_world_ego[:, None] @ t_ego_cam[None]  # (K, C, 4, 4)
    return t_world_cam[..., :3, 3], t_world_cam[..., :3, 2]


# ----------------------------------------------------------------------------- pipeline


def elevation_mask(camera: CameraInfo, max_elevation: float) -> np.ndarray:
    """(H, W) uint8 mask, 255 where the pixel's ray (in the ego frame, z up) rises at most
    ``max_elevation`` rad above the horizon, else 0 (COLMAP ignores features there)."""
    from astra_jax.geometry import pixel_centers, unproject

    h, w = camera.image_hw
    rays = unproject(camera.intrinsics, pixel_centers(h, w), np.ones((h, w)))
    d = rays @ camera.T_ego_cam[:3, :3].T
    elev = np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1]))
    return np.where(elev <= max_elevation, 255, 0).astype(np.uint8)


def write_elevation_mask(camera: CameraInfo, max_elevation: float, path: Path) -> None:
    from PIL import Image

    Image.fromarray(elevation_mask(camera, max_elevation)).save(path)


def _pinhole_params(k: np.ndarray) -> str:
    return ",".join(repr(float(v)) for v in (k[0, 0], k[1, 1], k[0, 2], k[1, 2]))


def _rigid3d(t: np.ndarray):  # -> pycolmap.Rigid3d
    import pycolmap

    return pycolmap.Rigid3d(np.asarray(t, dtype=np.float64)[:3, :4])


def mapping_options(options: SfmOptions, num_images: int):  # -> IncrementalPipelineOptions
    """pycolmap's incremental pipeline options with fixed intrinsics and rig."""
    import pycolmap

    o = pycolmap.IncrementalPipelineOptions()
    o.ba_refine_focal_length = False
    o.ba_refine_principal_point = False
    o.ba_refine_extra_params = False
    o.ba_refine_sensor_from_rig = False
    o.mapper.abs_pose_refine_focal_length = False
    o.mapper.abs_pose_refine_extra_params = False
    o.num_threads = options.num_threads
    o.random_seed = options.seed
    o.max_runtime_seconds = int(options.max_runtime_seconds)
    o.min_model_size = max(3, min(10, num_images // 10))
    o.ba_global_frames_ratio = options.ba_global_ratio
    o.ba_global_points_ratio = options.ba_global_ratio
    o.ba_global_max_num_iterations = options.ba_global_max_iterations
    o.ba_local_max_num_iterations = options.ba_local_max_iterations
    o.ba_global_function_tolerance = options.ba_global_function_tolerance
    o.ba_global_max_refinements = options.ba_global_max_refinements
    o.ba_local_max_refinements = options.ba_local_max_refinements
    o.ba_min_num_residuals_for_cpu_multi_threading = options.ba_min_residuals_multithreading
    # Global BA over points seen from many nearly identical viewpoints (a robot creeping along
    # a corridor) adds cost, not constraints: let COLMAP drop the redundant ones.
    o.mapper.ba_global_ignore_redundant_points3D = True
    return o


def run_sfm(
    image_dir: Path,
    cameras: Sequence[CameraInfo],
    num_keyframes: int,
    odometry: np.ndarray | None,
    options: SfmOptions,
    log_path: Path,
    *,
    database: Path | None = None,
    keep_database: Path | None = None,
) -> SfmResult:
    """Run SIFT extraction, matching of the candidate pairs and mapping (``options.mapper``).

    Args:
        image_dir: holds ``<camera>/<keyframe:05d>.png`` for every camera and keyframe.
        cameras: the rig; the first camera is the rig's reference sensor.
        num_keyframes: K.
        odometry: (K, 3) keyframe poses from odometry for pair selection, or None.
        options: the settings.
        log_path: pycolmap's log file (appended to).
        database: a COLMAP database that already holds these images' features and verified
            matches (written by ``keep_database`` of an earlier run with the same images and
            options): extraction and matching are skipped and it is mapped (a copy; the file
            is not changed). Used to compare mappers on the same matches.
        keep_database: copy the database here once matching is done.

    Raises:
        SfmError: no model was reconstructed.
        FileNotFoundError: ``database`` does not exist.
    """
    import pycolmap

    timings: dict[str, float] = {}
    names = {c.name: [image_name(c.name, i) for i in range(num_keyframes)] for c in cameras}
    n_images = num_keyframes * len(cameras)
    use_rig = options.use_rig and len(cameras) > 1
    if database is not None and not Path(database).is_file():
        raise FileNotFoundError(f"run_sfm: database {database} does not exist")
    with (
        tempfile.TemporaryDirectory(prefix="astra-sfm-") as work,
        redirect_stderr_fd(log_path) as terminal,
    ):
        work = Path(work)
        db_path = work / "database.db"
        pycolmap.set_random_seed(options.seed)
        if database is not None:
            shutil.copyfile(database, db_path)
            with pycolmap.Database.open(db_path) as db:
                num_pairs = db.num_matched_image_pairs()
            num_retrieval = 0
        else:
            t0 = time.perf_counter()
            _extract(db_path, image_dir, cameras, names, options, use_rig, work, log_path, terminal)
            timings["features"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            num_pairs, num_retrieval = _match(
                db_path, cameras, num_keyframes, odometry, options, work, log_path, terminal
            )
            timings["matching"] = time.perf_counter() - t0
            if keep_database is not None:
                shutil.copyfile(db_path, keep_database)

        t0 = time.perf_counter()
        # a frame: a keyframe's images with a rig, one image without
        bar = progress.bar(
            "mapping",
            num_keyframes if use_rig else n_images,
            unit="keyframe" if use_rig else "image",
            file=terminal,
            # time left from the stage's average rate: global BAs make the recent rate jump
            # (a frame every 30 ms, then a 2 s pause), and the step-wise mapper's cost is
            # near-linear in frames, so elapsed * left / done is the better estimate
            smoothing=0.0,
        )
        with bar:
            mapped = None if bar.disable else _MappingProgress(bar)
            steps = MappingStats()
            if options.mapper == "incremental":
                models, guard = _map_stepwise(
                    db_path, cameras, odometry, names, options, use_rig, mapped, steps
                )
            else:
                models, guard = _map_colmap_pipeline(
                    db_path, image_dir, cameras, odometry, names, options, use_rig, work, mapped
                )
            if mapped is not None and models:
                largest = max(models.values(), key=lambda r: r.num_reg_images())
                mapped.finish(largest.num_reg_frames())
        timings["mapping"] = time.perf_counter() - t0
    if not models:
        raise SfmError(
            f"SfM reconstructed no model: registered 0 of {num_keyframes} keyframes (registered "
            f"fraction 0.00 < {options.min_registered_fraction:.2f} required)"
        )
    rec = max(models.values(), key=lambda r: r.num_reg_images())
    result = _collect(rec, cameras, num_keyframes, len(models), num_pairs, timings)
    result.num_retrieval_pairs = num_retrieval
    result.rig_scale_corrections = [] if guard is None else guard.corrections
    if options.mapper == "incremental":
        result.mapping_steps = {k: round(v, 3) for k, v in steps.seconds.items()}
        result.mapping_steps["global_refinements"] = steps.global_refinements
        result.mapping_steps["relaxed_registrations"] = steps.relaxed_registrations
    return result


def _extract(
    db_path: Path,
    image_dir: Path,
    cameras: Sequence[CameraInfo],
    names: dict[str, list[str]],
    options: SfmOptions,
    use_rig: bool,
    work: Path,
    log_path: Path,
    terminal: IO[str],
) -> None:
    """SIFT features of every image into ``db_path``, per camera with its exact intrinsics
    and elevation mask; with a rig, each keyframe's images become one frame."""
    import pycolmap

    bar = progress.bar("features", sum(map(len, names.values())), unit="image", file=terminal)
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = options.num_threads
    extraction.sift.max_num_features = options.max_num_features
    extraction.sift.peak_threshold = options.sift_peak_threshold
    extraction.sift.first_octave = options.sift_first_octave
    extraction.sift.upright = options.sift_upright
    with _logged_stage(bar, log_path, _EXTRACTED, lambda m: bar.update(1)):
        for c in cameras:
            reader = pycolmap.ImageReaderOptions()
            reader.camera_model = "PINHOLE"
            reader.camera_params = _pinhole_params(c.intrinsics)
            if options.mask_above_deg is not None:
                mask_file = work / f"mask_{c.name}.png"
                write_elevation_mask(c, math.radians(options.mask_above_deg), mask_file)
                reader.camera_mask_path = mask_file
            pycolmap.extract_features(
                db_path,
                image_dir,
                image_names=names[c.name],
                camera_mode=pycolmap.CameraMode.SINGLE,
                reader_options=reader,
                extraction_options=extraction,
            )
        if use_rig:
            with pycolmap.Database.open(db_path) as db:
                pycolmap.apply_rig_config([_rig_config(cameras)], db)


def _match(
    db_path: Path,
    cameras: Sequence[CameraInfo],
    num_keyframes: int,
    odometry: np.ndarray | None,
    options: SfmOptions,
    work: Path,
    log_path: Path,
    terminal: IO[str],
) -> tuple[int, int]:
    """Match and verify the candidate pairs (plus retrieval pairs when on); returns the
    number of pairs and how many of them only retrieval proposed."""
    import pycolmap

    pairs = candidate_pairs(cameras, num_keyframes, odometry, options)
    n_sequential = len(pairs)
    if options.retrieval_top_k > 0:
        names_db, descs = read_descriptors(db_path)
        pairs = sorted(
            set(pairs)
            | set(
                retrieval_pairs(
                    names_db,
                    lambda n: int(n.rsplit("/", 1)[1].split(".")[0]),
                    descs,
                    top_k=options.retrieval_top_k,
                    min_gap=options.retrieval_min_gap,
                    num_words=options.retrieval_words,
                    seed=options.seed,
                )
            )
        )
    pair_file = work / "pairs.txt"
    pair_file.write_text("".join(f"{a} {b}\n" for a, b in pairs))
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = options.num_threads
    verification = pycolmap.TwoViewGeometryOptions()
    verification.min_num_inliers = options.min_num_inliers
    verification.ransac.max_num_trials = options.ransac_max_trials
    pairing = pycolmap.ImportedPairingOptions(match_list_path=pair_file)
    bar = progress.bar("matching", len(pairs), unit="pair", file=terminal)

    def matched_blocks(m: re.Match[str]) -> None:  # "Processing block [i/n]": i - 1 done
        done = min((int(m.group(1)) - 1) * pairing.block_size, len(pairs))
        if done > bar.n:
            bar.update(done - bar.n)

    with _logged_stage(bar, log_path, _MATCHING_BLOCK, matched_blocks):
        pycolmap.match_image_pairs(
            db_path,
            matching_options=matching,
            pairing_options=pairing,
            verification_options=verification,
        )
    return len(pairs), len(pairs) - n_sequential


def _map_colmap_pipeline(
    db_path: Path,
    image_dir: Path,
    cameras: Sequence[CameraInfo],
    odometry: np.ndarray | None,
    names: dict[str, list[str]],
    options: SfmOptions,
    use_rig: bool,
    work: Path,
    mapped: _MappingProgress | None,
) -> tuple[dict, RigScaleGuard | None]:
    """COLMAP's incremental pipeline; with a rig and odometry under :class:`RigScaleGuard`."""
    import pycolmap

    pipeline_options = mapping_options(options, sum(map(len, names.values())))
    if use_rig and odometry is not None:
        return _mapping_with_rig_scale_guard(
            db_path, image_dir, pipeline_options, cameras, odometry, names, mapped
        )
    models = pycolmap.incremental_mapping(
        db_path,
        image_dir,
        work / "sparse",
        options=pipeline_options,
        initial_image_pair_callback=None if mapped is None else mapped.on_initial_pair,
        next_image_callback=None if mapped is None else mapped.on_next_image,
    )
    return models, None


def _map_stepwise(
    db_path: Path,
    cameras: Sequence[CameraInfo],
    odometry: np.ndarray | None,
    names: dict[str, list[str]],
    options: SfmOptions,
    use_rig: bool,
    mapped: _MappingProgress | None,
    stats: MappingStats,
) -> tuple[dict, RigScaleGuard | None]:
    """:func:`astra_jax.maps.incremental.map_incremental`, with the rig-scale guard (rig and
    odometry) and the progress bar."""

    pipeline_options = mapping_options(options, sum(map(len, names.values())))
    guard = None
    if use_rig and odometry is not None:
        guard = _rig_scale_guard(None, pipeline_options, cameras, odometry, names)

    def initial(rec) -> None:
        if guard is not None:
            guard.check(rec, guard.max_ratio)
        if mapped is not None:
            mapped.show_frames(rec.num_reg_frames())

    def next_frame(rec) -> None:
        if mapped is not None:
            mapped.show_frames(rec.num_reg_frames())

    models = map_incremental(
        db_path,
        pipeline_options,
        on_initial_pair=initial,
        on_next_frame=next_frame,
        stats=stats,
        relaxed_abs_pose_inliers=options.abs_pose_min_inliers_relaxed,
    )
    return dict(enumerate(models)), guard


def _rig_scale_guard(
    manager,  # pycolmap.ReconstructionManager | None
    pipeline_options,  # pycolmap.IncrementalPipelineOptions
    cameras: Sequence[CameraInfo],
    odometry: np.ndarray,
    names: dict[str, list[str]],
) -> RigScaleGuard:
    """The guard, with the bundle adjustment that follows a correction: the global one with
    a Cauchy loss (the lever arms just moved) and up to 50 iterations."""
    import pycolmap

    ba = pipeline_options.get_global_bundle_adjustment()
    ba.ceres.loss_function_type = pycolmap.LossFunctionType.CAUCHY
    ba.ceres.solver_options.max_num_iterations = 50
    ba.print_summary = False
    keyframe_of = {n: k for per_camera in names.values() for k, n in enumerate(per_camera)}
    return RigScaleGuard(manager, cameras, odometry, keyframe_of, ba)


def _mapping_with_rig_scale_guard(
    db_path: Path,
    image_dir: Path,
    pipeline_options,  # pycolmap.IncrementalPipelineOptions
    cameras: Sequence[CameraInfo],
    odometry: np.ndarray,
    names: dict[str, list[str]],
    mapped: _MappingProgress | None = None,
) -> tuple[dict, RigScaleGuard]:
    """``pycolmap.incremental_mapping`` with :class:`RigScaleGuard` as its callback (and
    ``mapped``'s, for the progress bar)."""
    import pycolmap

    pipeline_options.image_path = str(image_dir)
    manager = pycolmap.ReconstructionManager()
    guard = _rig_scale_guard(manager, pipeline_options, cameras, odometry, names)
    with pycolmap.Database.open(db_path) as db:
        pipeline = pycolmap.IncrementalPipeline(pipeline_options, db, manager)
        pipeline.add_callback(
            pycolmap.IncrementalPipelineCallback.INITIAL_IMAGE_PAIR_REG_CALLBACK,
            guard.on_initial_pair,
        )
        if mapped is not None:  # after the guard's: it may still correct the initial pair
            pipeline.add_callback(
                pycolmap.IncrementalPipelineCallback.INITIAL_IMAGE_PAIR_REG_CALLBACK,
                mapped.on_initial_pair,
            )
            pipeline.add_callback(
                pycolmap.IncrementalPipelineCallback.NEXT_IMAGE_REG_CALLBACK,
                mapped.on_next_image,
            )
        pipeline.run()
    return {i: manager.get(i) for i in range(manager.size())}, guard


def _rig_config(cameras: Sequence[CameraInfo]):  # -> pycolmap.RigConfig
    """Rig with the first camera as reference; ``cam_from_rig = T_cam_ego @ T_ego_ref``."""
    import pycolmap

    cam_from_ref = metric_cam_from_ref(cameras)
    rig_cams = []
    for i, c in enumerate(cameras):
        rc = pycolmap.RigConfigCamera()
        rc.image_prefix = f"{c.name}/"
        rc.ref_sensor = i == 0
        if i > 0:
            rc.cam_from_rig = _rigid3d(cam_from_ref[c.name])
        rig_cams.append(rc)
    cfg = pycolmap.RigConfig()
    cfg.cameras = rig_cams
    return cfg


def _collect(
    rec,
    cameras: Sequence[CameraInfo],
    num_keyframes: int,
    num_models: int,
    num_pairs: int,
    timings: dict[str, float],
) -> SfmResult:
    """Per-keyframe ego poses, camera centres and observed points from a reconstruction."""
    by_name = {img.name: img for img in rec.images.values() if img.has_pose}
    t_sfm_ego = np.full((num_keyframes, 4, 4), np.nan)
    centres: dict[tuple[int, str], np.ndarray] = {}
    node_points: list[set[int]] = [set() for _ in range(num_keyframes)]
    for k in range(num_keyframes):
        for c in cameras:
            img = by_name.get(image_name(c.name, k))
            if img is None:
                continue
            t_cam_sfm = np.eye(4)
            t_cam_sfm[:3, :4] = img.cam_from_world().matrix()
            t_sfm_cam = se3_inverse(t_cam_sfm)
            centres[(k, c.name)] = t_sfm_cam[:3, 3]
            if np.isnan(t_sfm_ego[k, 0, 0]):  # the first (reference) camera that registered
                t_sfm_ego[k] = t_sfm_cam @ se3_inverse(c.T_ego_cam)
            node_points[k].update(p.point3D_id for p in img.points2D if p.has_point3D())
    registered = ~np.isnan(t_sfm_ego[:, 0, 0])
    return SfmResult(
        reconstruction=rec,
        T_sfm_ego=t_sfm_ego,
        registered=registered,
        cam_centres=centres,
        node_points=node_points,
        num_models=num_models,
        num_pairs=num_pairs,
        mean_reprojection_error=float(rec.compute_mean_reprojection_error()),
        num_points3d=int(rec.num_points3D()),
        timings=timings,
    )
