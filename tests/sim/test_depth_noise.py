"""A stereo depth camera's errors on the rendered depth (astra_jax.sim.depth_noise)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from astra_jax.config import ConfigError, DepthNoiseConfig
from astra_jax.sim import seeds
from astra_jax.sim.batch import sim_config_fingerprint
from astra_jax.sim.depth_noise import apply_depth_noise
from astra_jax.sim.generate import make_goal_episode


def test_the_range_error_grows_with_the_square_of_the_range() -> None:
    """1 sigma k z^2 per pixel, unbiased: at 1, 2 and 4 m the spread is 3.6, 14 and 58 mm for
    a D435's k, each within 3 %."""
    noise = DepthNoiseConfig(rms_per_m2=0.0036)
    rng = np.random.default_rng(0)
    for z in (1.0, 2.0, 4.0):
        read = apply_depth_noise(np.full((4, 100, 100), z, np.float32), noise, rng)
        error = read.astype(np.float64) - z
        assert abs(error.std() / (0.0036 * z * z) - 1) < 0.03
        assert abs(error.mean()) < 0.1 * 0.0036 * z * z


def test_range_limits_and_missing_returns() -> None:
    depth = np.array([[0.1, 0.5, 5.0], [12.0, np.nan, 0.0]], np.float32)
    read = apply_depth_noise(depth, DepthNoiseConfig(min_range=0.28, max_range=10.0),
                             np.random.default_rng(0))  # fmt: skip
    np.testing.assert_array_equal(read, [[0.0, 0.5, 5.0], [0.0, 0.0, 0.0]])


def test_the_right_imager_cannot_see_beside_the_left_of_near_objects() -> None:
    """A box at 1 m on the right of a wall at 3 m: with f B = 5 px m the disparities are 5 and
    1.67 px, so the 3 wall columns left of the box (5 (1 - 1/3) = 3.33 px) return nothing; the
    box and the rest stay. The mirror image (the box on the left) casts no shadow, nor do
    slanted surfaces, whose disparity changes by less than a pixel per pixel."""
    step = np.full((6, 12), 3.0, np.float32)
    step[:, 6:] = 1.0
    noise = DepthNoiseConfig(baseline=0.05)
    read = apply_depth_noise(step, noise, np.random.default_rng(0), focal_px=100.0)
    expected = step.copy()
    expected[:, 3:6] = 0.0
    np.testing.assert_array_equal(read, expected)
    mirror = step[:, ::-1].copy()
    np.testing.assert_array_equal(
        apply_depth_noise(mirror, noise, np.random.default_rng(0), focal_px=100.0), mirror
    )
    # a floor seen at a grazing angle, and a wall turning away: every return stays
    ramp = np.tile(1.5 + 0.25 * np.arange(12, dtype=np.float32), (6, 1))  # d: 3.3 -> 1.1 px
    for surface in (ramp, ramp[:, ::-1].copy()):
        np.testing.assert_array_equal(
            apply_depth_noise(surface, noise, np.random.default_rng(0), focal_px=100.0), surface
        )
    # per image focal lengths: (T, N, H, W) depth with (N,) fx; twice the focal, twice the band
    frames = np.broadcast_to(step, (2, 2, 6, 12)).copy()
    read = apply_depth_noise(frames, noise, np.random.default_rng(0), focal_px=[100.0, 200.0])
    assert (read[:, 0] == 0).sum(-1).tolist() == [[3] * 6] * 2
    assert (read[:, 1] == 0).sum(-1).tolist() == [[6] * 6] * 2
    with pytest.raises(ValueError, match="needs focal_px"):
        apply_depth_noise(step, noise, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one per image"):
        apply_depth_noise(frames, noise, np.random.default_rng(0), focal_px=[1.0, 2.0, 3.0])


def test_off_is_exact_and_bad_input_is_named() -> None:
    depth = np.random.default_rng(1).uniform(0.5, 6.0, (3, 5, 7)).astype(np.float32)
    assert not DepthNoiseConfig().active and DepthNoiseConfig.d435().active
    out = apply_depth_noise(depth, DepthNoiseConfig(), np.random.default_rng(0))
    np.testing.assert_array_equal(out, depth)
    assert out is not depth
    a = apply_depth_noise(depth, DepthNoiseConfig.d435(), np.random.default_rng(5), 50.0)
    b = apply_depth_noise(depth, DepthNoiseConfig.d435(), np.random.default_rng(5), 50.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, depth)
    with pytest.raises(ValueError, match="depth shape"):
        apply_depth_noise(np.ones(4), DepthNoiseConfig.d435(), np.random.default_rng(0), 50.0)
    with pytest.raises(ConfigError, match="rms_per_m2"):
        DepthNoiseConfig(rms_per_m2=-0.01)
    with pytest.raises(ConfigError, match="max_range"):
        DepthNoiseConfig(min_range=1.0, max_range=0.5)


def test_episodes_read_depth_through_the_camera_when_asked(small_office, office_renderer,
                                                           tiny_cfg) -> None:  # fmt: skip
    """A goal episode with the D435's errors holds the exact episode's depth as that camera
    reads it (its own seeded stream; every other array unchanged), records the camera in its
    manifest, and caches under another fingerprint; exact depth keeps the old fingerprint."""
    noisy_cfg = tiny_cfg.replace(
        sim=dataclasses.replace(tiny_cfg.sim, depth_noise=DepthNoiseConfig.d435())
    )
    exact = make_goal_episode(small_office, office_renderer, tiny_cfg, 0)
    noisy = make_goal_episode(small_office, office_renderer, noisy_cfg, 0)
    rng = seeds.rng_for(small_office.key, small_office.seed, seeds.STREAM_DEPTH, 0)
    np.testing.assert_array_equal(
        noisy.depth,
        apply_depth_noise(
            exact.depth, DepthNoiseConfig.d435(), rng, office_renderer.intrinsics[:, 0, 0]
        ),
    )
    np.testing.assert_array_equal(noisy.rgb, exact.rgb)
    np.testing.assert_array_equal(noisy.imu, exact.imu)
    assert (noisy.depth == 0).mean() > (exact.depth == 0).mean()
    assert noisy.manifest["depth_noise"] == dataclasses.asdict(DepthNoiseConfig.d435())
    assert "depth_noise" not in exact.manifest
    base = sim_config_fingerprint(tiny_cfg.sim, tiny_cfg.rig)
    assert sim_config_fingerprint(noisy_cfg.sim, tiny_cfg.rig) != base
    off = dataclasses.replace(tiny_cfg.sim, depth_noise=DepthNoiseConfig())
    assert sim_config_fingerprint(off, tiny_cfg.rig) == base


def test_with_depth_noise_scales_a_d435s_range_noise() -> None:
    from astra_jax.config import get_preset

    cfg = get_preset("tiny")
    d435 = DepthNoiseConfig.d435()
    assert cfg.with_depth_noise(1).sim.depth_noise == d435
    tripled = cfg.with_depth_noise(3.0).sim.depth_noise
    assert tripled.rms_per_m2 == pytest.approx(3 * d435.rms_per_m2)
    assert (tripled.min_range, tripled.max_range, tripled.baseline) == (
        d435.min_range, d435.max_range, d435.baseline)  # fmt: skip
    assert not cfg.with_depth_noise(1).with_depth_noise(0).sim.depth_noise.active
    for bad in (-1.0, float("nan"), "1"):
        with pytest.raises(ConfigError, match="depth noise scale"):
            cfg.with_depth_noise(bad)


def test_records_of_the_retired_edge_step_load_only_when_it_was_off() -> None:
    from astra_jax.train.train_config import config_from_json, config_json

    record = json.loads(json.dumps(config_json(DepthNoiseConfig.d435())))
    assert config_from_json(DepthNoiseConfig, record) == DepthNoiseConfig.d435()
    old = {"rms_per_m2": 0.0, "min_range": 0.0, "max_range": 0.0, "edge_jump": 0.0}
    assert config_from_json(DepthNoiseConfig, old) == DepthNoiseConfig()  # session 26, off
    with pytest.raises(ConfigError, match=r"config\.edge_jump = 0\.05: DepthNoiseConfig retired"):
        config_from_json(DepthNoiseConfig, {**old, "edge_jump": 0.05})
    with pytest.raises(ConfigError, match="unknown fields"):
        config_from_json(DepthNoiseConfig, {**old, "edge_jmp": 0.0})
