"""The navigator's pose filter: odometry grows the uncertainty, fixes shrink it, gating keeps
a wrong fix out, and a lost filter is re-initialized by a confident fix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astra_jax.geometry import se2_compose, se2_relative
from astra_jax.serve.ekf import FilterConfig, PoseFilter


def _drive(rng: np.random.Generator, steps: int) -> np.ndarray:
    pose, out = np.zeros(3), [np.zeros(3)]
    for _ in range(steps):
        pose = se2_compose(pose, np.array([0.3, 0.0, rng.normal(0, 0.1)]))
        out.append(pose)
    return np.array(out)


def test_odometry_alone_drifts_and_fixes_pull_it_back() -> None:
    rng = np.random.default_rng(0)
    truth = _drive(rng, 200)
    sigma = np.array([0.02, 0.01, math.radians(1.0)])
    dead, fused = PoseFilter(), PoseFilter()
    for f in (dead, fused):
        f.reset(truth[0], confidence=0.9)
    accepted = 0
    for k in range(1, len(truth)):
        motion = se2_relative(truth[k - 1], truth[k]) + rng.normal(0, sigma)
        for f in (dead, fused):
            f.predict(motion, sigma**2)
        if k % 20 == 0:  # a fix every 10 s with the localizer's typical error
            fix = truth[k] + rng.normal(0, [0.1, 0.1, math.radians(2)])
            accepted += fused.update(fix, confidence=0.9).accepted
    err = lambda f: float(np.hypot(*(f.pose[:2] - truth[-1][:2])))  # noqa: E731
    assert accepted == 10
    assert err(fused) < 0.3 < err(dead)
    assert fused.confidence > dead.confidence
    assert dead.lost and not fused.lost  # 60 m of odometry alone: the navigator is lost
    assert np.allclose(fused.cov, fused.cov.T) and np.all(np.linalg.eigvalsh(fused.cov) > 0)


def test_gating_and_relocalization() -> None:
    f = PoseFilter()
    assert f.confidence == 0.0 and f.update(None, 0.9).reason == "no pose"
    with pytest.raises(RuntimeError, match="localize first"):
        f.predict(np.zeros(3), np.zeros(3))
    f.reset(np.zeros(3), 0.9)
    assert not f.lost
    low = f.update(np.array([0.1, 0.0, 0.0]), 0.1)
    assert not low.accepted and "confidence" in low.reason
    far = f.update(np.array([5.0, 0.0, 0.0]), 0.9)  # a fix 5 m off a confident filter
    assert not far.accepted and "gated" in far.reason and np.allclose(f.pose, 0.0)
    for _ in range(100):  # long odometry only: the filter becomes lost
        f.predict(np.array([0.3, 0.0, 0.0]), np.array([0.05, 0.05, 0.01]) ** 2)
    assert f.lost
    back = f.update(np.array([5.0, 2.0, 0.5]), 0.9)  # lost: a confident fix resets it
    assert back.accepted and back.reset and np.allclose(f.pose, [5.0, 2.0, 0.5])
    assert not f.lost
    with pytest.raises(ValueError, match="finite"):
        f.update(np.array([np.nan, 0.0, 0.0]), 0.9)
    with pytest.raises(ValueError, match="min_confidence"):
        FilterConfig(min_confidence=2.0)


def test_a_delayed_fix_is_fused_at_the_time_of_its_images() -> None:
    """A fix handed back ticks after its images: fused there and predicted again through the
    odometry since, it gives what fusing it at once would have; fused as if it were current, it
    drags the estimate back toward where the robot was. A refused one changes nothing."""
    rng = np.random.default_rng(3)
    truth = _drive(rng, 30)
    sigma = np.array([0.02, 0.01, math.radians(1.0)])
    bias = np.array([0.0, 0.0, math.radians(0.5)])  # a gyro that drifts: the fix must correct it
    motions = [se2_relative(truth[k - 1], truth[k]) + bias for k in range(1, len(truth))]
    delayed, at_once, naive = PoseFilter(), PoseFilter(), PoseFilter()
    for f in (delayed, at_once, naive):
        f.reset(truth[0], confidence=0.9)
    asked, latency = 20, 3
    for k, motion in enumerate(motions, start=1):
        for f in (delayed, at_once, naive):
            f.predict(motion, sigma**2)
        if k == asked:
            then = delayed.state()
            assert at_once.update(truth[asked], confidence=0.9).accepted
        if k == asked + latency:
            since = [(m, sigma**2) for m in motions[asked : asked + latency]]
            assert delayed.update_delayed(truth[asked], 0.9, then, since).accepted
            assert naive.update(truth[asked], confidence=0.9).accepted
            break
    np.testing.assert_allclose(delayed.pose, at_once.pose, atol=1e-12)
    np.testing.assert_allclose(delayed.cov, at_once.cov, atol=1e-12)
    now = truth[asked + latency]
    err = lambda f: float(np.hypot(*(f.pose[:2] - now[:2])))  # noqa: E731
    assert err(delayed) < 0.5 * err(naive)
    # a fix 10 m off is gated: the filter stays exactly where it was
    before = delayed.state()
    outcome = delayed.update_delayed(truth[asked] + [10.0, 0.0, 0.0], 0.9, then, since)
    assert not outcome.accepted and "gated" in outcome.reason
    np.testing.assert_array_equal(delayed.pose, before.pose)
    np.testing.assert_array_equal(delayed.cov, before.cov)


def test_a_delayed_fix_re_initializes_a_filter_lost_since_its_images() -> None:
    """Lost now (odometry alone since), a confident fix of older images resets the filter at
    their time, as a current one would, although the tighter covariance then gates it; an error
    on the way leaves the filter as it was."""
    f = PoseFilter()
    f.reset(np.zeros(3), confidence=0.9)
    then = f.state()
    wide = np.array([0.5, 0.5, math.radians(20.0)]) ** 2  # a few uncertain drives: lost
    since = [(np.array([0.3, 0.0, 0.0]), wide) for _ in range(4)]
    for motion, variance in since:
        f.predict(motion, variance)
    assert f.lost
    fix = np.array([0.0, 3.0, 0.0])  # 3 m off where the filter stood: gated at `then`
    assert not PoseFilter.update(_copy(then), fix, 0.95).accepted
    outcome = f.update_delayed(fix, 0.95, then, since)
    assert outcome.accepted and outcome.reset
    want = PoseFilter()
    want.reset(fix, 0.95)
    for motion, variance in since:
        want.predict(motion, variance)
    np.testing.assert_allclose(f.pose, want.pose, atol=1e-12)
    before = f.state()
    with pytest.raises(ValueError, match="fix"):
        f.update_delayed(np.array([np.nan, 0.0, 0.0]), 0.9, then, since)
    np.testing.assert_array_equal(f.pose, before.pose)
    np.testing.assert_array_equal(f.cov, before.cov)


def _copy(state) -> PoseFilter:
    f = PoseFilter()
    f.restore(state)
    return f
