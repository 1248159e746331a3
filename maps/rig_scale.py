"""Keep an incremental rig model at the scale of the rig's metric lever arms.

COLMAP's incremental mapper starts a model from two images with a unit baseline and, after
each global bundle adjustment, normalizes the model (extent 10) by a similarity that scales the
rig's ``sensor_from_rig`` translations with it. The rig's lever arms (0.2-0.35 m between our
cameras) only pin the scale while the robot turns; a model started on a straight stretch keeps
whatever ratio the first images gave. On the procedural office 1100002 tour the lever arms sat
at 1/360 of their true length from the first pair on (1/2,400 at the end): the rig was in
effect a single central camera, so the model's scale drifted freely along the tour (12%
spread over 2 m windows) and the 411 m tour came out with 0.57 m of ATE.

:class:`RigScaleGuard` runs after each model's initial pair: the step-wise mapper
(:mod:`astra_jax.maps.incremental`) calls :meth:`RigScaleGuard.check`, COLMAP's own pipeline
(``mapper="colmap"``) :meth:`RigScaleGuard.on_initial_pair` as a callback. When the ratio of the model's
lever arms to the model's scale (odometry metres per model unit, the median over consecutive
registered keyframes) is off by more than a factor ``max_ratio`` after a model's initial
pair, it rescales the model to metres, puts the metric lever arms back and bundle-adjusts once
with them. COLMAP's later normalizations scale model and rig together, and its global bundle
adjustments settle the ratio as turns constrain it (bench tour: 0.76 at 4 frames, 0.95 at 111,
1.01 at 181).

Only a collapsed rig is corrected, and only after the initial pair. Within an order of
magnitude the lever arms show in the images and bundle adjustment brings the ratio to 1 on its
own; correcting such a model disturbs it: a version correcting past 10% split the procedural
warehouse 1100002 (initial ratio 0.41) into 15 models with 44% registered in the largest, where
one model held 100% without the guard. Once a model has grown, its structure is fitted to the
lever arms it had, and restoring metric ones leaves the points off by up to the arms' length;
a version that also corrected every 25 frames did no better there.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np

from astra_jax.geometry import se3_from_se2, se3_inverse
from astra_jax.maps.schema import CameraInfo

MIN_STEP_M = 0.1  # odometry steps shorter than this (turning in place) say little of scale


def metric_cam_from_ref(cameras: Sequence[CameraInfo]) -> dict[str, np.ndarray]:
    """Camera name -> metric ``sensor_from_rig`` (4x4) with the first camera as the rig's
    reference: ``T_cam_ego @ T_ego_ref`` (what ``apply_rig_config`` is given)."""
    ref = cameras[0].T_ego_cam
    return {c.name: se3_inverse(c.T_ego_cam) @ ref for c in cameras}


class RigScaleGuard:
    """Callback state: the pipeline's reconstruction manager, the rig and the odometry.

    Args:
        manager: the ``pycolmap.ReconstructionManager`` the pipeline fills (for
            :meth:`on_initial_pair`); None when the caller passes the model to :meth:`check`.
        cameras: the rig, reference (first) camera first; ``T_ego_cam`` in metres.
        odometry: (K, 3) keyframe poses (x, y, yaw) in metres and radians.
        keyframe_of: image name -> keyframe index.
        max_ratio: the factor by which lever arm and scale may disagree before the rig counts
            as collapsed and is corrected.
        ba_options: ``pycolmap.BundleAdjustmentOptions`` of the bundle adjustment that follows
            a correction.
    """

    def __init__(
        self,
        manager,  # pycolmap.ReconstructionManager
        cameras: Sequence[CameraInfo],
        odometry: np.ndarray,
        keyframe_of: dict[str, int],
        ba_options,  # pycolmap.BundleAdjustmentOptions
        *,
        max_ratio: float = 10.0,
    ) -> None:
        self.manager = manager
        self.ref_prefix = f"{cameras[0].name}/"
        self.keyframe_of = keyframe_of
        self.cam_from_ref = metric_cam_from_ref(cameras)
        self.ba_options = ba_options
        self.max_ratio = max_ratio
        # odometry-placed reference camera centres (K, 2): the SfM rig origin is that camera
        ref = se3_from_se2(np.asarray(odometry, np.float64)) @ cameras[0].T_ego_cam
        self.ref_xy = ref[:, :2, 3]
        self.corrections: list[dict[str, float]] = []

    def on_initial_pair(self) -> None:
        """Callback after a (sub-)model's initial pair is registered and adjusted."""
        self.check(self.manager.get(self.manager.size() - 1), self.max_ratio)

    def check(self, rec, max_ratio: float) -> None:  # rec: pycolmap.Reconstruction
        """Correct ``rec`` in place if its lever arms and its scale disagree by more than the
        factor ``max_ratio``."""
        scale = self.metres_per_unit(rec)
        if scale is None:
            return
        arms = self._metric_arms(rec)
        model = [float(np.linalg.norm(rig.sensor_from_rig(s).translation))
                 for rig in rec.rigs.values() for s in rig.non_ref_sensors if s.id in arms]  # fmt: skip
        metric = [float(np.linalg.norm(arms[s.id][:3, 3]))
                  for rig in rec.rigs.values() for s in rig.non_ref_sensors if s.id in arms]  # fmt: skip
        if not metric or max(metric) <= 0.0:
            return
        i = int(np.argmax(metric))
        ratio = scale * model[i] / metric[i]  # 1 when the rig pins the model's scale
        if abs(math.log(max(ratio, 1e-12))) > math.log(max_ratio):
            self._correct(rec, scale, ratio, arms)

    def _metric_arms(self, rec) -> dict[int, np.ndarray]:
        """Camera id -> metric sensor_from_rig (4x4), from the images' name prefixes."""
        out: dict[int, np.ndarray] = {}
        for image in rec.images.values():
            name = image.name.split("/", 1)[0]
            if image.camera_id not in out and name in self.cam_from_ref:
                out[image.camera_id] = self.cam_from_ref[name]
        return out

    def metres_per_unit(self, rec) -> float | None:
        """Median odometry / model distance between consecutive registered keyframes' reference
        cameras; None with fewer than one usable step."""
        ks, centres = [], []
        for frame in rec.frames.values():
            if not frame.has_pose():
                continue
            for data in frame.data_ids:
                name = rec.images[data.id].name
                if name.startswith(self.ref_prefix) and name in self.keyframe_of:
                    ks.append(self.keyframe_of[name])
                    centres.append(rec.images[data.id].projection_center())
        if len(ks) < 2:
            return None
        order = np.argsort(ks)
        k = np.asarray(ks)[order]
        c = np.asarray(centres)[order]
        d_odom = np.linalg.norm(np.diff(self.ref_xy[k], axis=0), axis=1)
        d_model = np.linalg.norm(np.diff(c, axis=0), axis=1)
        ok = (d_odom > MIN_STEP_M) & (d_model > 0)
        if not ok.any():
            return None
        return float(np.median(d_odom[ok] / d_model[ok]))

    def _correct(self, rec, scale: float, ratio: float, arms: dict[int, np.ndarray]) -> None:
        import pycolmap

        # the similarity scales the lever arms too; they are set back to metres below
        rec.transform(pycolmap.Sim3d(scale, pycolmap.Rotation3d(), np.zeros(3)))
        # Each frame's best-observed image keeps its pose (the initial pair's two images, whose
        # two-view geometry made the points): new lever arms move the frame's other cameras,
        # not those. Keeping the frame pose instead would move a rear camera of the pair
        # against the other image and leave its points wrong.
        anchors = []
        for frame in rec.frames.values():
            if frame.has_pose():
                images = [rec.images[d.id] for d in frame.data_ids]
                best = max(images, key=lambda im: im.num_points3D)
                anchors.append((frame, best.camera_id, best.cam_from_world()))
        for rig in rec.rigs.values():
            for sensor in list(rig.non_ref_sensors):
                if sensor.id in arms:
                    rig.set_sensor_from_rig(sensor, pycolmap.Rigid3d(arms[sensor.id][:3, :4]))
        for frame, camera_id, cam_from_world in anchors:
            frame.set_cam_from_world(camera_id, cam_from_world)
        pycolmap.bundle_adjustment(rec, self.ba_options)
        self.corrections.append(
            {"frames": float(rec.num_reg_frames()), "scale": scale, "lever_arm_ratio": ratio}
        )
        print(
            f"astra rig-scale guard: {rec.num_reg_frames()} frames, lever arms at {ratio:.4g} "
            f"of the model's scale; rescaled by {scale:.4g} and restored the metric rig",
            file=sys.stderr,
            flush=True,
        )
