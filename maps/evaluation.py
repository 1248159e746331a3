"""Trajectory accuracy against ground truth, with evo (evaluation only: never used to build).

* ``ate_rmse``: absolute trajectory error (RMSE of positions, m) after a Sim(3) Umeyama
  alignment of the map's keyframe positions to ground truth: the shape error of the map.
* ``ate_rmse_map_frame``: the same without alignment: how far the map frame itself (fixed by
  odometry) sits from the world frame.
* ``rpe_trans_rmse`` (m) and ``rpe_rot_rmse`` (deg): relative pose error between consecutive
  keyframes, after the same alignment.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from evo.core import metrics
from evo.core.trajectory import PoseTrajectory3D

from astra_jax.geometry import se3_from_se2
from astra_jax.maps.alignment import Sim3


def _trajectory(poses: np.ndarray, stamps: np.ndarray) -> PoseTrajectory3D:
    return PoseTrajectory3D(poses_se3=list(np.asarray(poses)), timestamps=np.asarray(stamps))


def evaluate_trajectory(
    est_T_world_ego: np.ndarray, gt_pose2d: np.ndarray, timestamps: np.ndarray
) -> dict[str, Any]:
    """ATE/RPE of estimated ego poses (N, 4, 4) against planar ground truth (N, 3).

    Returns the metrics above plus ``gt_from_map`` (the Sim(3) alignment, as JSON) and ``n``.
    """
    est_T_world_ego = np.asarray(est_T_world_ego, dtype=np.float64)
    gt = se3_from_se2(np.asarray(gt_pose2d, dtype=np.float64))
    if len(gt) != len(est_T_world_ego) or len(gt) < 3:
        raise ValueError(
            f"evaluation needs >= 3 matching poses, got {len(est_T_world_ego)} estimated and "
            f"{len(gt)} ground-truth"
        )
    ref = _trajectory(gt, timestamps)
    est = _trajectory(est_T_world_ego, timestamps)

    raw = metrics.APE(metrics.PoseRelation.translation_part)
    raw.process_data((ref, est))

    aligned = copy.deepcopy(est)
    r, t, s = aligned.align(ref, correct_scale=True)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, aligned))
    rpe_t = metrics.RPE(metrics.PoseRelation.translation_part, delta=1, all_pairs=False)
    rpe_t.process_data((ref, aligned))
    rpe_r = metrics.RPE(metrics.PoseRelation.rotation_angle_deg, delta=1, all_pairs=False)
    rpe_r.process_data((ref, aligned))
    return {
        "n": len(gt),
        "ate_rmse": float(ape.get_statistic(metrics.StatisticsType.rmse)),
        "ate_max": float(ape.get_statistic(metrics.StatisticsType.max)),
        "ate_rmse_map_frame": float(raw.get_statistic(metrics.StatisticsType.rmse)),
        "rpe_trans_rmse": float(rpe_t.get_statistic(metrics.StatisticsType.rmse)),
        "rpe_rot_rmse_deg": float(rpe_r.get_statistic(metrics.StatisticsType.rmse)),
        "gt_from_map": Sim3(np.asarray(r), np.asarray(t), float(s)).to_json(),
    }
