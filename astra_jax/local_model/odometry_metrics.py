"""Odometry accuracy over whole episodes, with evo (the paper's Table 4 figures).

For one episode, ``est`` and ``gt`` are planar poses (T, 3) at the same tick times, both
starting at the ground-truth first pose (an odometry estimate is anchored there):

* ``rte_pct``: relative translation error: for every pair of ticks whose ground-truth path
  between them is ``segment_m`` metres long (evo's RPE with a metric delta, all pairs), the
  translation error of the relative pose, as a percentage of the segment length, averaged;
* ``rre_deg_per_10m``: the same segments' rotation error, in degrees per 10 m travelled;
* ``ate_m``: absolute trajectory error, RMSE of positions after a rigid (no scale) Umeyama
  alignment, in metres.

KITTI averages over 100-800 m segments; our goal episodes are 4-15 m long, so the default
segment is 2 m and figures are comparable between methods of one run, not with KITTI's.
:func:`pooled` averages segments over many episodes (long episodes weigh more).
"""

from __future__ import annotations

import copy

import numpy as np
from evo.core import metrics
from evo.core.trajectory import PoseTrajectory3D
from evo.core.units import Unit

from astra_jax.geometry import se3_from_se2

SEGMENT_M = 2.0


def _trajectory(poses: np.ndarray, times: np.ndarray) -> PoseTrajectory3D:
    return PoseTrajectory3D(poses_se3=list(se3_from_se2(poses)), timestamps=np.asarray(times))


def segment_errors(est: np.ndarray, gt: np.ndarray, times: np.ndarray,
                   segment_m: float = SEGMENT_M) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(translation errors (S,) m, rotation errors (S,) deg) of every ``segment_m`` segment;
    empty when the episode is shorter than one segment."""
    est, gt = np.asarray(est, np.float64), np.asarray(gt, np.float64)
    if est.shape != gt.shape or est.ndim != 2 or est.shape[1] != 3 or len(est) != len(times):
        raise ValueError(
            f"odometry: est {est.shape} and gt {gt.shape}: expected matching (T, 3) poses at "
            f"{len(times)} times"
        )
    length = float(np.linalg.norm(np.diff(gt[:, :2], axis=0), axis=1).sum())
    if length < segment_m * 1.1 or len(gt) < 3:
        return np.zeros(0), np.zeros(0)
    ref, traj = _trajectory(gt, times), _trajectory(est, times)
    out = []
    for relation in (
        metrics.PoseRelation.translation_part,
        metrics.PoseRelation.rotation_angle_deg,
    ):
        # pairs_from_reference: the segments are cut on the ground truth's path, so every
        # method of a run is scored on the same segments (evo's default cuts them on the
        # estimate's own path: a scale error changes which pairs count, and how many).
        rpe = metrics.RPE(relation, delta=segment_m, delta_unit=Unit.meters, all_pairs=True,
                          pairs_from_reference=True)  # fmt: skip
        try:
            rpe.process_data((ref, traj))
        except metrics.MetricsException:  # no pair of ticks spans the segment length
            return np.zeros(0), np.zeros(0)
        out.append(np.asarray(rpe.error, np.float64))
    return out[0], out[1]


def ate(est: np.ndarray, gt: np.ndarray, times: np.ndarray) -> float:
    """Position RMSE (m) after a rigid alignment of ``est`` to ``gt``."""
    ref, traj = _trajectory(gt, times), copy.deepcopy(_trajectory(est, times))
    traj.align(ref, correct_scale=False)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, traj))
    return float(ape.get_statistic(metrics.StatisticsType.rmse))


def pooled(episodes: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
           segment_m: float = SEGMENT_M) -> dict[str, float]:  # fmt: skip
    """``rte_pct``, ``rre_deg_per_10m`` (over all segments of all episodes), ``ate_m`` (mean of
    the episodes' ATE) and ``segments`` for ``(est, gt, times)`` triples."""
    trans, rot, ates = [], [], []
    for est, gt, times in episodes:
        t, r = segment_errors(est, gt, times, segment_m)
        trans.append(t)
        rot.append(r)
        ates.append(ate(est, gt, times))
    t, r = np.concatenate(trans), np.concatenate(rot)
    nan = float("nan")
    return {
        "rte_pct": float(100.0 * t.mean() / segment_m) if len(t) else nan,
        "rre_deg_per_10m": float(10.0 * r.mean() / segment_m) if len(r) else nan,
        "ate_m": float(np.mean(ates)) if ates else nan,
        "segments": len(t),
    }
