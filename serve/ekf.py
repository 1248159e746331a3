"""The navigator's pose filter: a planar EKF that integrates odometry and fuses global fixes.

State: the robot's pose (x m, y m, yaw rad) in the map frame and its 3x3 covariance.

* :meth:`PoseFilter.predict` composes an odometry motion (dx, dy, dyaw in the previous body
  frame) with variances per axis: the odometry head's Laplace scales b give ``2 b^2``.
* :meth:`PoseFilter.update` fuses a localization fix (Astra-Global or VPR) of confidence c:
  fixes below ``min_confidence`` are ignored; the others count as Gaussian measurements with
  standard deviations ``fix_sigma / c``, and are rejected when their innovation's squared
  Mahalanobis distance exceeds ``gate`` (chi-square with 3 degrees of freedom at 0.999),
  unless the filter is lost, when a confident fix re-initializes it.
* :meth:`PoseFilter.update_delayed` fuses a fix that arrives ticks after its images were taken
  (localization runs beside the control loop): the filter goes back to its state at the
  capture, fuses the fix there, and predicts again with the odometry recorded since (the
  out-of-sequence measurement, exact for one fix in flight).
* :attr:`PoseFilter.confidence`: the probability that the true position is within 1 m of the
  estimate, for the covariance's largest axis, ``1 - exp(-1 / (2 sigma^2))``; the navigator is
  *lost* below ``lost_below``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from astra_jax.geometry import se2_compose, wrap_angle

CHI2_3DOF_999 = 16.27


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Noise and thresholds (m, rad). ``odometry_floor``: smallest per-axis standard deviation of
    one odometry step (the head's scales are learned and can be overconfident)."""

    fix_sigma: tuple[float, float] = (0.25, math.radians(5.0))
    min_confidence: float = 0.3
    gate: float = CHI2_3DOF_999
    lost_below: float = 0.5
    reset_confidence: float = 0.7
    odometry_floor: tuple[float, float, float] = (0.005, 0.005, math.radians(0.3))

    def __post_init__(self) -> None:
        for name in ("min_confidence", "lost_below", "reset_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"FilterConfig.{name} = {getattr(self, name)}: expected [0, 1]")
        if self.gate <= 0 or min(self.fix_sigma) <= 0 or min(self.odometry_floor) < 0:
            raise ValueError("FilterConfig: gate and fix_sigma must be > 0, odometry_floor >= 0")


@dataclasses.dataclass(frozen=True)
class FixOutcome:
    """What :meth:`PoseFilter.update` did with a fix: ``accepted``, ``reset`` (it re-initialized
    a lost filter), ``reason`` when ignored, and the squared Mahalanobis distance."""

    accepted: bool
    reset: bool = False
    reason: str = ""
    mahalanobis2: float = float("nan")


@dataclasses.dataclass(frozen=True)
class FilterState:
    """A copy of the filter's estimate: pose (3,) (m, m, rad) and covariance (3, 3)."""

    pose: np.ndarray
    cov: np.ndarray


class PoseFilter:
    """The EKF (module docstring). Start with :meth:`reset` from a first fix."""

    def __init__(self, config: FilterConfig = FilterConfig()) -> None:
        self.config = config
        self.pose: np.ndarray | None = None
        self.cov = np.full((3, 3), np.nan)

    @property
    def initialized(self) -> bool:
        return self.pose is not None

    def _fix_cov(self, confidence: float) -> np.ndarray:
        s_xy, s_yaw = self.config.fix_sigma
        c = max(confidence, 1e-3)
        return np.diag([(s_xy / c) ** 2, (s_xy / c) ** 2, (s_yaw / c) ** 2])

    def reset(self, fix: np.ndarray, confidence: float) -> None:
        """Start (or restart) at ``fix`` with the fix's covariance."""
        fix = _check_pose("fix", fix)
        self.pose = fix.copy()
        self.cov = self._fix_cov(confidence)

    def predict(self, motion: np.ndarray, variance: np.ndarray) -> None:
        """Compose ``motion`` (dx, dy, dyaw) in the previous body frame, per-axis ``variance``."""
        if self.pose is None:
            raise RuntimeError("PoseFilter.predict before reset: localize first")
        d = _check_pose("motion", motion)
        var = np.maximum(np.asarray(variance, np.float64), np.square(self.config.odometry_floor))
        if var.shape != (3,) or not np.all(np.isfinite(var)):
            raise ValueError(f"variance {variance!r}: expected 3 finite values")
        c, s = math.cos(self.pose[2]), math.sin(self.pose[2])
        f = np.array([[1.0, 0.0, -s * d[0] - c * d[1]], [0.0, 1.0, c * d[0] - s * d[1]],
                      [0.0, 0.0, 1.0]])  # fmt: skip
        g = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        self.pose = se2_compose(self.pose, d)
        self.cov = f @ self.cov @ f.T + g @ np.diag(var) @ g.T

    def state(self) -> FilterState | None:
        """A copy of the estimate (None before the first fix)."""
        return None if self.pose is None else FilterState(self.pose.copy(), self.cov.copy())

    def restore(self, state: FilterState | None) -> None:
        """Go back to ``state`` (from :meth:`state`)."""
        self.pose = None if state is None else state.pose.copy()
        self.cov = np.full((3, 3), np.nan) if state is None else state.cov.copy()

    def update_delayed(self, fix: np.ndarray | None, confidence: float,
                       then: FilterState | None,
                       motions: Sequence[tuple[np.ndarray, np.ndarray]]) -> FixOutcome:  # fmt: skip
        """Fuse a fix of images taken when the filter stood at ``then``; ``motions`` are the
        (motion, variance) predictions made since, in order. Accepted: the filter is ``then``
        updated with the fix and predicted again through ``motions``. Otherwise (or on an
        error) it is left as it was. A filter that is lost *now* is re-initialized at ``then``
        by a confident fix, as :meth:`update` would now (the gate at ``then`` would judge it
        with the older, tighter covariance)."""
        now, lost_now = self.state(), self.lost
        try:
            self.restore(then)
            outcome = self._update(fix, confidence, lost=lost_now or self.lost)
            if not outcome.accepted:
                self.restore(now)
                return outcome
            for motion, variance in motions:
                self.predict(motion, variance)
        except Exception:
            self.restore(now)
            raise
        return outcome

    def update(self, fix: np.ndarray | None, confidence: float) -> FixOutcome:
        """Fuse a fix (module docstring); a lost filter is re-initialized by a confident one."""
        return self._update(fix, confidence, lost=self.lost)

    def _update(self, fix: np.ndarray | None, confidence: float, lost: bool) -> FixOutcome:
        """:meth:`update`, the filter taken as ``lost`` or not."""
        cfg = self.config
        if fix is None:
            return FixOutcome(False, reason="no pose")
        if confidence < cfg.min_confidence:
            return FixOutcome(False, reason=f"confidence {confidence:.2f} < {cfg.min_confidence}")
        fix = _check_pose("fix", fix)
        if self.pose is None or (lost and confidence >= cfg.reset_confidence):
            self.reset(fix, confidence)
            return FixOutcome(True, reset=True)
        r = self._fix_cov(confidence)
        nu = fix - self.pose
        nu[2] = wrap_angle(nu[2])
        s = self.cov + r
        d2 = float(nu @ np.linalg.solve(s, nu))
        if d2 > cfg.gate:
            return FixOutcome(False, reason=f"gated: Mahalanobis^2 {d2:.1f} > {cfg.gate}",
                              mahalanobis2=d2)  # fmt: skip
        k = self.cov @ np.linalg.inv(s)
        self.pose = self.pose + k @ nu
        self.pose[2] = wrap_angle(self.pose[2])
        i_k = np.eye(3) - k
        self.cov = i_k @ self.cov @ i_k.T + k @ r @ k.T  # Joseph form: stays symmetric PSD
        return FixOutcome(True, mahalanobis2=d2)

    @property
    def confidence(self) -> float:
        """P(position error <= 1 m) for the covariance's largest horizontal axis; 0 before
        the first fix."""
        if self.pose is None:
            return 0.0
        var = float(np.linalg.eigvalsh(self.cov[:2, :2])[-1])
        return float(1.0 - math.exp(-1.0 / (2.0 * max(var, 1e-12))))

    @property
    def lost(self) -> bool:
        return self.confidence < self.config.lost_below


def _check_pose(name: str, pose: np.ndarray) -> np.ndarray:
    p = np.asarray(pose, np.float64)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} {pose!r}: expected finite (x, y, yaw)")
    return p
