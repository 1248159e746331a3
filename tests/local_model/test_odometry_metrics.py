"""RTE / RRE / ATE with evo: segments cut on the ground truth, known errors recovered."""

from __future__ import annotations

import numpy as np

from astra_jax.local_model.odometry_metrics import pooled, segment_errors
from astra_jax.local_model.trajectory import rollout


def _track(steps: np.ndarray) -> np.ndarray:
    """Poses (T, 3) chained from the origin through relative steps (T - 1, 3)."""
    return np.concatenate([np.zeros((1, 3)), rollout(steps)])


def _episode(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A 0.2 m-per-tick drive with a gentle turn: 11.8 m over 60 ticks at 0.5 s."""
    steps = np.tile([0.2, 0.0, 0.0], (n - 1, 1))
    steps[20:40, 2] = 0.05
    return steps, np.arange(n) * 0.5


def test_segments_are_cut_on_the_ground_truth_path() -> None:
    """An estimate 20 % short is scored on the same segments as the exact one (evo's default
    cut them on the estimate's path: fewer and other pairs)."""
    steps, times = _episode()
    gt = _track(steps)
    short = _track(steps * np.array([0.8, 1.0, 1.0]))
    t_exact, _ = segment_errors(gt, gt, times)
    t_short, r_short = segment_errors(short, gt, times)
    assert len(t_exact) > 40 and len(t_short) == len(t_exact)
    # each 2 m segment of the truth (evo accepts 1.8-2.2 m) is 20 % shorter in the estimate
    np.testing.assert_allclose(t_short, 0.4, atol=0.05)
    np.testing.assert_allclose(r_short, 0.0, atol=1e-6)


def test_pooled_figures_of_known_errors() -> None:
    """The exact track scores 0; a 1 % scale error reads RTE 1 %; a yaw-rate bias of 1 mrad per
    0.2 m tick reads 10 mrad per 2 m segment, i.e. 2.86 deg / 10 m."""
    steps, times = _episode()
    gt = _track(steps)
    exact = pooled([(gt, gt, times)])
    assert exact["rte_pct"] < 1e-9 and exact["rre_deg_per_10m"] < 1e-9 and exact["ate_m"] < 1e-9
    scaled = pooled([(_track(steps * np.array([1.01, 1.0, 1.0])), gt, times)])
    assert abs(scaled["rte_pct"] - 1.0) < 0.05
    assert scaled["segments"] == exact["segments"]
    biased = pooled([(_track(steps + np.array([0.0, 0.0, 1e-3])), gt, times)])
    assert abs(biased["rre_deg_per_10m"] - np.degrees(0.01) * 5.0) < 0.05
