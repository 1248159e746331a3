"""A new robot for every training example: re-draw the per-robot sensor errors on raw samples.

Each simulator episode draws one robot's constant sensor errors (gyro bias and scale factor,
each wheel's radius, the effective track width; ``sim/sensors.py``), so a head trained on N
episodes has seen N robots, and the rest of an example (its world, its route, its BEV
features) tells which one. The odometry head can then learn a training robot's errors from
*where* it is rather than from what its sensors show, a correction that is noise on a robot it
has not met. This transform adds a second draw from the same documented distribution
(``SensorNoiseConfig``), fresh for every example and constant over its window: every window is
read by a robot the training set never had, so only what the samples themselves show (the
disagreement of the gyro's and the wheels' turns, slip) can predict the correction.

Per example (the same draw for its W pairs), with the ground-truth motion unchanged:

* gyro (rad/s, all three axes): ``(1 + ds) * gyro + db``, ds ~ N(0, gyro_scale_std),
  db ~ N(0, gyro_bias_std). When the samples' z rate is already divided by the drive's
  calibrated scale (``calibrated_against``: the head reads a calibrated gyro), the calibration
  would have fitted the new robot's scale as it fitted the recorded one's, so z's scale
  changes only by what that calibration cannot see: against the depth scans' turns
  (``"scan"``) nothing; against the centripetal force (``"accel"``) the new robot's mean wheel
  radius and lateral accelerometer scale errors, whose product its fit absorbs
  (:mod:`astra_jax.maps.imu_calibration`: the calibrated rate is ``(1 + e)(1 + s_a) w``),
  ``(1 + mean(de))(1 + da_y)``. z's bias is re-drawn either way;
* accelerometer (m/s^2, all three axes, gravity included): ``(1 + da) * accel + dc``,
  da ~ N(0, accel_scale_std), dc ~ N(0, accel_bias_std);
* wheels (rad/s): the half sum m = (wl + wr) / 2 and half difference d = (wr - wl) / 2 of the
  rates; ``d' = (1 + dw) d`` (a track width off by dw turns every turn's wheel difference by as
  much), then each wheel's radius: ``wl' = (m - d') / (1 + de_l)``, ``wr' = (m + d') / (1 +
  de_r)``, dw ~ N(0, track_width_std), de ~ N(0, wheel_radius_std).

The errors compose with the recorded ones to first order (``(1 + s)(1 + ds) ~ 1 + s + ds``),
so the training fleet's spread is sqrt(2) times the simulator's; the fusion weights the head
needs depend on the ratios of these errors, which the draw keeps. Padded (invalid) pairs are
zeros and stay zeros.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from astra_jax.config import SensorNoiseConfig
from astra_jax.local_model.odometry_config import GYRO_REFERENCES

CALIBRATION_REFERENCES = (None, *GYRO_REFERENCES)  # None: the gyro as read
_ACCEL_STREAM = 1024


def perturb_sensors(
    imu: jax.Array,
    wheel: jax.Array,
    rng: jax.Array,
    noise: SensorNoiseConfig,
    *,
    calibrated_against: str | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``imu`` (B, W, S_imu, 6: gyro rad/s, then accelerometer m/s^2) and ``wheel`` (B, W,
    S_wheel, 2, rad/s) raw samples, as a fresh robot of ``noise``'s error distribution would
    have read the same motion (float32). ``calibrated_against``: None, the z rate as read;
    ``"scan"`` or ``"accel"``, divided by the drive's gyro scale calibrated against that
    reference (module docstring)."""
    if calibrated_against not in CALIBRATION_REFERENCES:
        raise ValueError(
            f"calibrated_against = {calibrated_against!r}: expected one of {CALIBRATION_REFERENCES}"
        )
    if imu.ndim != 4 or imu.shape[-1] != 6 or wheel.ndim != 4 or wheel.shape[-1] != 2:
        raise ValueError(
            f"perturb_sensors: imu {imu.shape} and wheel {wheel.shape}: expected "
            "(B, W, S, 6) and (B, W, S, 2)"
        )
    b = imu.shape[0]
    k_scale, k_bias, k_track, k_radius = jax.random.split(rng, 4)
    # (B, 1, 1, k): one draw per example, shared by its pairs and samples
    ds = noise.gyro_scale_std * jax.random.normal(k_scale, (b, 1, 1, 3))
    db = noise.gyro_bias_std * jax.random.normal(k_bias, (b, 1, 1, 3))
    dw = noise.track_width_std * jax.random.normal(k_track, (b, 1, 1))
    de = noise.wheel_radius_std * jax.random.normal(k_radius, (b, 1, 1, 2))

    # the accelerometer's draws from a key of their own (the gyro's and wheels' stay as they
    # were; fold_in(rng, i) equals split(rng, n)[i] for i < n, hence a stream number past 3)
    k_accel = jax.random.fold_in(rng, _ACCEL_STREAM)
    k_accel_scale, k_accel_bias = jax.random.split(k_accel, 2)
    da = noise.accel_scale_std * jax.random.normal(k_accel_scale, (b, 1, 1, 3))
    dc = noise.accel_bias_std * jax.random.normal(k_accel_bias, (b, 1, 1, 3))
    if calibrated_against == "scan":
        ds = ds.at[..., 2].set(0.0)
    elif calibrated_against == "accel":
        ds = ds.at[..., 2].set((1.0 + de.mean(-1)) * (1.0 + da[..., 1]) - 1.0)

    imu = imu.astype(jnp.float32)
    # a padded pair is all zeros: leave it so (a bias would make it look like a reading)
    read = jnp.any(imu != 0, axis=(-2, -1), keepdims=True)
    gyro = (1.0 + ds) * imu[..., :3] + db
    accel = (1.0 + da) * imu[..., 3:] + dc
    imu = jnp.where(read, jnp.concatenate([gyro, accel], axis=-1), imu)

    wheel = wheel.astype(jnp.float32)
    m = 0.5 * (wheel[..., 0] + wheel[..., 1])
    d = (1.0 + dw) * 0.5 * (wheel[..., 1] - wheel[..., 0])
    wheel = jnp.stack([m - d, m + d], axis=-1) / (1.0 + de)
    return imu, wheel
