"""The odometry head's sensor augmentation: a fresh robot per example, drawn from the
documented error distribution, constant over the example's window, and training-only."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax import experiments
from astra_jax.config import SensorNoiseConfig
from astra_jax.local_model.sensor_augment import perturb_sensors
from astra_jax.tasks import get_task
from astra_jax.train.precision import Precision

B, W, S_IMU, S_WHEEL = 4000, 3, 20, 10


def _samples(gyro_z: float, wl: float, wr: float) -> tuple[jax.Array, jax.Array]:
    imu = np.zeros((B, W, S_IMU, 6), np.float32)
    imu[..., 2] = gyro_z
    imu[..., 5] = 9.81  # at rest on z: a reading, not padding
    wheel = np.zeros((B, W, S_WHEEL, 2), np.float32)
    wheel[..., 0], wheel[..., 1] = wl, wr
    return jnp.asarray(imu), jnp.asarray(wheel)


def test_each_error_source_has_its_documented_spread():
    noise = SensorNoiseConfig()
    # turning in place at 1 rad/s: the wheels turn opposite ways (rates in rad/s)
    imu, wheel = _samples(1.0, -2.8, 2.8)
    g, w = perturb_sensors(imu, wheel, jax.random.key(0), noise)
    g, w = np.asarray(g), np.asarray(w)
    # gyro: (1 + ds) * 1 + db: spread sqrt(scale^2 + bias^2)
    want = np.hypot(noise.gyro_scale_std, noise.gyro_bias_std)
    assert np.std(g[:, 0, 0, 2]) == pytest.approx(want, rel=0.08)
    # the wheels' difference scales with the track width (and each radius, 5x smaller)
    ratio = (w[:, 0, 0, 1] - w[:, 0, 0, 0]) / 5.6
    want = np.hypot(noise.track_width_std, noise.wheel_radius_std / np.sqrt(2))
    assert np.std(ratio) == pytest.approx(want, rel=0.08)
    # accelerometer: (1 + da) * a + dc; at rest it reads gravity on z and nothing on x, y
    assert np.std(g[:, 0, 0, 3]) == pytest.approx(noise.accel_bias_std, rel=0.08)
    want = np.hypot(9.81 * noise.accel_scale_std, noise.accel_bias_std)
    assert np.std(g[:, 0, 0, 5]) == pytest.approx(want, rel=0.08)
    assert abs(np.corrcoef(g[:, 0, 0, 2], g[:, 0, 0, 5])[0, 1]) < 0.1  # independent draws

    # driving straight: only unequal radii bend the wheels' turn
    imu, wheel = _samples(0.0, 6.0, 6.0)
    _, w = perturb_sensors(imu, wheel, jax.random.key(1), noise)
    bend = np.asarray(w[:, 0, 0, 1] - w[:, 0, 0, 0]) / 6.0
    assert np.std(bend) == pytest.approx(np.sqrt(2) * noise.wheel_radius_std, rel=0.08)


@pytest.mark.parametrize("reference", ["scan", "accel"])
def test_a_calibrated_gyro_z_changes_scale_only_by_what_its_calibration_cannot_see(reference):
    """Against the scans' turns a new robot's calibrated z rate keeps its scale (a new bias
    only); against the centripetal force it takes the new robot's mean wheel radius and lateral
    accelerometer scale errors, (1 + mean(de))(1 + da_y), as that fit would. Each draw is read
    back from the same key: the bias at rate 0, de from straight wheels, da_y from two lateral
    readings."""
    noise, key = SensorNoiseConfig(), jax.random.key(0)

    def run(gyro_z: float, wl: float, wr: float, lateral: float = 0.0):
        imu, wheel = _samples(gyro_z, wl, wr)
        imu = imu.at[..., 0].set(1.0).at[..., 4].set(lateral)  # x turns; a lateral reading
        g, w = perturb_sensors(imu, wheel, key, noise, calibrated_against=reference)
        return np.asarray(g, np.float64)[:, 0, 0], np.asarray(w, np.float64)[:, 0, 0]

    g, w = run(1.0, -2.8, 2.8, lateral=1.0)
    bias = run(0.0, -2.8, 2.8)[0][:, 2]
    mean_de = (6.0 / run(1.0, 6.0, 6.0)[1] - 1.0).mean(-1)
    da_y = run(1.0, -2.8, 2.8, lateral=2.0)[0][:, 4] - g[:, 4] - 1.0
    scale = 1.0 if reference == "scan" else (1.0 + mean_de) * (1.0 + da_y)
    np.testing.assert_allclose(g[:, 2], scale + bias, atol=2e-6)
    assert reference == "scan" or np.std(scale) > 0.5 * noise.accel_scale_std
    # x, y, the accelerometer and the wheels are the robot drawn without a calibration
    imu, wheel = _samples(1.0, -2.8, 2.8)
    imu = imu.at[..., 0].set(1.0).at[..., 4].set(1.0)
    raw_g, raw_w = perturb_sensors(imu, wheel, key, noise)
    np.testing.assert_array_equal(
        g[:, [0, 1, 3, 4, 5]], np.asarray(raw_g)[:, 0, 0][:, [0, 1, 3, 4, 5]]
    )
    np.testing.assert_array_equal(w, np.asarray(raw_w)[:, 0, 0])
    with pytest.raises(ValueError, match="calibrated_against"):
        perturb_sensors(imu, wheel, key, noise, calibrated_against="wheels")


def test_one_robot_per_example_over_its_whole_window():
    imu, wheel = _samples(0.5, 3.0, 4.0)
    g, w = perturb_sensors(imu, wheel, jax.random.key(2), SensorNoiseConfig())
    g, w = np.asarray(g), np.asarray(w)
    np.testing.assert_array_equal(g, np.broadcast_to(g[:, :1, :1], g.shape))  # constant in W, S
    np.testing.assert_array_equal(w, np.broadcast_to(w[:, :1, :1], w.shape))
    assert len(np.unique(g[:, 0, 0, 2])) > 0.99 * B  # a new robot per example (float32 ties)


def test_no_errors_is_the_identity_and_padding_stays_zero():
    imu, wheel = _samples(0.3, 1.0, 2.0)
    imu = imu.at[:, 0].set(0.0)  # the window's first pair is padding
    wheel = wheel.at[:, 0].set(0.0)
    ideal = dataclasses.replace(SensorNoiseConfig(), gyro_scale_std=0.0, gyro_bias_std=0.0,
                                accel_scale_std=0.0, accel_bias_std=0.0,
                                wheel_radius_std=0.0, track_width_std=0.0)  # fmt: skip
    g, w = perturb_sensors(imu, wheel, jax.random.key(3), ideal)
    np.testing.assert_allclose(np.asarray(g), np.asarray(imu))
    np.testing.assert_allclose(np.asarray(w), np.asarray(wheel))
    g, w = perturb_sensors(imu, wheel, jax.random.key(3), SensorNoiseConfig())
    assert not np.any(np.asarray(g[:, 0])) and not np.any(np.asarray(w[:, 0]))
    with pytest.raises(ValueError, match=r"expected \(B, W, S, 6\)"):
        perturb_sensors(imu[0], wheel, jax.random.key(3), SensorNoiseConfig())


def test_the_task_perturbs_training_batches_only():
    config = experiments.get("local-tiny").config
    config = dataclasses.replace(config, train_planning=False)
    on = dataclasses.replace(config, sensor_augment=True)
    task_off = get_task("local").create(config, Precision("float32"))
    task_on = get_task("local").create(on, Precision("float32"))
    params = nn.unbox(task_off.init(jax.random.key(0)))
    rng = np.random.default_rng(0)
    batch = {}
    for k, s in task_off.batch_spec(2).items():
        x = rng.normal(0.0, 1.0, s.shape) if s.dtype != jnp.bool_ else np.ones(s.shape)
        batch[k] = jnp.asarray(x, s.dtype)
    key = jax.random.key(5)
    off, _ = task_off.loss_fn(params, batch, key)
    augmented, _ = task_on.loss_fn(params, batch, key)
    assert float(augmented) != pytest.approx(float(off), rel=1e-6)
    # evaluation reads the samples as recorded
    e_off, e_on = task_off.eval_fn(params, batch), task_on.eval_fn(params, batch)
    assert float(e_on["loss"]) == pytest.approx(float(e_off["loss"]), rel=1e-6)


@pytest.mark.parametrize("calibration", [False, True])
def test_the_task_tells_the_augmentation_whether_the_gyro_is_calibrated(monkeypatch, calibration):
    from astra_jax.tasks import local_heads

    config = experiments.get("local-tiny").config
    odometry = dataclasses.replace(config.odometry, gyro_calibration=calibration)
    config = dataclasses.replace(config, train_planning=False, sensor_augment=True,
                                 odometry=odometry)  # fmt: skip
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("calibrated_against"))
        return perturb_sensors(*args, **kwargs)

    monkeypatch.setattr(local_heads, "perturb_sensors", spy)
    task = get_task("local").create(config, Precision("float32"))
    params = nn.unbox(task.init(jax.random.key(0)))
    batch = {k: jnp.ones(s.shape, s.dtype) for k, s in task.batch_spec(2).items()}
    task.loss_fn(params, batch, jax.random.key(1))
    assert seen == ["accel" if calibration else None]  # the config's gyro_reference
