"""Config presets and validation: bad values name the field, the value and the expectation."""

from __future__ import annotations

import dataclasses
import math

import pytest

from astra_jax.config import (
    PRESETS,
    CameraConfig,
    ConfigError,
    DepthBinsConfig,
    RigConfig,
    SensorNoiseConfig,
    ViTConfig,
    VoxelGridConfig,
    get_preset,
)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_build_and_are_frozen(name: str) -> None:
    cfg = get_preset(name)
    assert cfg.name == name
    assert cfg.rig.num_cameras == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "other"  # type: ignore[misc]


def test_preset_values_follow_the_design_table() -> None:
    tiny, small, base = (get_preset(n) for n in ("tiny", "small", "base"))
    assert tiny.rig.image_hw == (32, 32) and small.rig.image_hw == (96, 96)
    assert base.rig.image_hw == (224, 224)
    assert (small.local.voxel.nx, small.local.voxel.ny, small.local.voxel.nz) == (64, 64, 4)
    assert small.local.voxel.xy_resolution == 0.2
    assert base.local.depth_bins.num_bins == 64 and base.local.depth_bins.d_max == 12.0
    assert small.local.past_frames == 4 and tiny.local.past_frames == 2


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown preset 'huge': expected one of tiny, small, base"
    ):
        get_preset("huge")


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (
            lambda: VoxelGridConfig(0, 16, 2, 0.8),
            r"VoxelGridConfig\.nx = 0: expected a positive integer",
        ),
        (
            lambda: VoxelGridConfig(16, 16, 2, -0.1),
            r"xy_resolution = -0\.1: expected a positive number",
        ),
        (
            lambda: VoxelGridConfig(16, 16, 2, 0.1, 2.0, 1.0),
            r"z_max = 1\.0: expected a height above z_min",
        ),
        (
            lambda: VoxelGridConfig(16, 16, 2, math.nan),
            r"xy_resolution = nan: expected a finite number",
        ),
        (lambda: DepthBinsConfig(8, 5.0, 1.0), r"DepthBinsConfig\.d_max = 1\.0"),
        (
            lambda: ViTConfig(8, 30, 2, 4),
            r"ViTConfig\.num_heads = 4: expected a divisor of width = 30",
        ),
        (
            lambda: CameraConfig("", 0, 0, 1, 0),
            r"CameraConfig\.name = '': expected a non-empty string",
        ),
        (lambda: CameraConfig("c", 0, 0, 1, 0, hfov=4.0), r"CameraConfig\.hfov = 4\.0"),
        (
            lambda: RigConfig(image_hw=(96,)),
            r"RigConfig\.image_hw = \(96,\): expected \(height, width\)",
        ),
        (lambda: RigConfig(cameras=()), r"RigConfig\.cameras = \(\): expected a non-empty tuple"),
        (
            lambda: SensorNoiseConfig(imu_rate_hz=50.0),
            r"imu_rate_hz = 50\.0: expected at least 100 Hz",
        ),
        (
            lambda: SensorNoiseConfig(wheel_noise_std=-1.0),
            r"wheel_noise_std = -1\.0: expected a non-negative",
        ),
        (
            lambda: SensorNoiseConfig(gyro_bias_std=-1e-3),
            r"gyro_bias_std = -0\.001: expected a non-negative",
        ),
        (
            lambda: SensorNoiseConfig(wheel_radius_std=0.2),
            r"wheel_radius_std = 0\.2: expected below 0\.1",
        ),
        (lambda: VoxelGridConfig(True, 16, 2, 0.8), r"nx = True: expected a positive integer"),
    ],
)
def test_bad_values_name_field_value_and_expectation(build, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        build()


def test_duplicate_camera_names_rejected() -> None:
    cam = CameraConfig("front", 0.2, 0.0, 1.0, 0.0)
    with pytest.raises(ConfigError, match="distinct names"):
        RigConfig(cameras=(cam, cam))


def test_patch_size_must_divide_image() -> None:
    small = get_preset("small")
    with pytest.raises(ConfigError, match=r"patch_size = 7: expected a divisor of the image size"):
        small.replace(local=dataclasses.replace(small.local, vit=ViTConfig(7, 128, 4, 4)))


def test_single_camera_rig_is_valid() -> None:
    rig = RigConfig(cameras=(CameraConfig("front", 0.2, 0.0, 1.0, 0.0),), image_hw=(32, 32))
    assert rig.num_cameras == 1
