"""The gyro's scale factor, calibrated online from the accelerometer and the wheels.

A differential-drive robot does not slide sideways, so the lateral specific force at the ego
origin (midway between the wheels, where the IMU sits) is the centripetal acceleration,
``a_y = v w``. The wheels give the speed ``v`` and the gyro reads ``(1 + s) w + b``, so with
``x = v_wheel * gyro_z``::

    a_y = x / k + c,    k = (1 + s) / ((1 + e)(1 + s_a))

``e`` the wheels' mean radius error, ``s_a`` the accelerometer's lateral scale error and ``c``
its lateral offset. Dividing the gyro by an estimate of ``k`` leaves a turn-scale error of
about ``e + s_a`` (0.2 % and 0.5 % at 1 sigma in the simulator's sensor model) instead of the
gyro's own ``s`` (1 %), the largest source of the classical fusion's heading drift. Only the
z axis is observable this way; the others are left as read.

The estimate is a running least-squares fit of the slope ``1 / k`` and the intercept ``c``
over every sample so far, with a normal prior on the slope around 1 whose weight comes from
the gyro's datasheet scale error and one sample's lateral noise (a ridge): before the robot
has turned, ``k = 1`` and the gyro is read as is. Straight driving and rest inform the
offset, turns the slope. The accelerometer is the noisy side (0.024 m/s^2 per 200 Hz sample
against a ~0.1-0.3 m/s^2 centripetal force in turns), so it is the regressand: regressing the
other way round biases the slope by the noise's variance (errors in variables; 3 % low on
the val offices).

Causal: the scale applied to a sample is fitted on the samples before it, so a robot can run
it online (:class:`GyroScaleEstimator`, chunk by chunk, gives the same numbers as
:func:`running_gyro_scale` on the whole record).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from astra_jax.validation import check_positive_numbers

# The fitted scale is kept within this many prior standard deviations of 1 (5 %: a BMI088's
# gyro is within 1 % at 1 sigma; the fits on the simulator's drives stay within 3 %).
MAX_PRIOR_STDS = 5.0


@dataclasses.dataclass(frozen=True)
class GyroCalibrationConfig:
    """Prior and noise of the online gyro-scale fit.

    Attributes:
      prior_std: 1 sigma of the gyro's relative scale error before any data (the BMI088's
        sensitivity tolerance, 1 %).
      lateral_noise: m/s^2, 1 sigma of one accelerometer sample's lateral white noise
        (noise density x sqrt(rate): 1.7e-3 x sqrt(200 Hz)).
    """

    prior_std: float = 0.01
    lateral_noise: float = 0.024

    def __post_init__(self) -> None:
        check_positive_numbers(self, "prior_std", "lateral_noise")

    @property
    def ridge(self) -> float:
        """The prior's weight on the slope, in units of x^2 ((m/s^2)^2)."""
        return (self.lateral_noise / self.prior_std) ** 2


def _check_rows(imu: np.ndarray, wheel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    imu = np.asarray(imu, np.float64)
    wheel = np.asarray(wheel, np.float64)
    if imu.ndim != 2 or imu.shape[1] != 7:
        raise ValueError(f"imu shape {imu.shape}: expected (K, 7) rows (t, gyro xyz, accel xyz)")
    if wheel.ndim != 2 or wheel.shape[1] != 3 or len(wheel) < 1:
        raise ValueError(f"wheel shape {wheel.shape}: expected (K >= 1, 3) rows (t, left, right)")
    if not (np.all(np.isfinite(imu)) and np.all(np.isfinite(wheel))):
        raise ValueError("imu / wheel rows: expected finite numbers (found NaN or inf)")
    return imu, wheel


def _speed_at(imu_t: np.ndarray, wheel: np.ndarray, wheel_radius: float) -> np.ndarray:
    """(K,) wheel speed (m/s) of the wheel row whose interval holds each IMU time (each row
    is the mean over the interval ending at its t), the last row past the end."""
    i = np.minimum(np.searchsorted(wheel[:, 0], imu_t, side="left"), len(wheel) - 1)
    return wheel_radius * 0.5 * (wheel[i, 1] + wheel[i, 2])


def _terms(imu: np.ndarray, wheel: np.ndarray, wheel_radius: float) -> np.ndarray:
    """(K, 5) per-sample sums' terms: 1, x, a_y, x^2, x a_y."""
    x = _speed_at(imu[:, 0], wheel, wheel_radius) * imu[:, 3]
    ay = imu[:, 5]
    return np.stack([np.ones_like(x), x, ay, x * x, x * ay], 1)


def _sums_before(start: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """(K, 5) the fit's sums before each row: ``start`` (5,) plus the terms (K, 5) of the rows
    above it (causal: a row's own sample is not in its fit)."""
    return start + np.concatenate([np.zeros((1, 5)), np.cumsum(terms, 0)[:-1]], 0)


def _scale(sums: np.ndarray, config: GyroCalibrationConfig) -> np.ndarray:
    """k = 1 / slope from sums (..., 5) of :func:`_terms`: least squares with an intercept and
    a ridge pulling the slope to 1."""
    return scale_from_sums(sums, config.ridge, config.prior_std)


def scale_from_sums(sums: np.ndarray, ridge: float, prior_std: float) -> np.ndarray:
    """The gyro scale ``k`` (...,) from the sums (..., 5) of ``1, x, y, x^2, x y`` over the
    samples so far, where ``x`` is what the gyro measures and ``y`` the same quantity from an
    independent sensor, ``y = x / k + c``: ridge least squares of the slope (pulled to 1 with
    weight ``ridge``, in units of x^2) with a free intercept, kept within
    ``MAX_PRIOR_STDS * prior_std`` of 1."""
    n, sx, sy, sxx, sxy = np.moveaxis(sums, -1, 0)
    n = np.maximum(n, 1.0)
    cxx = sxx - sx * sx / n  # centred: the intercept is fitted, not shrunk
    cxy = sxy - sx * sy / n
    k = (cxx + ridge) / (cxy + ridge)
    if not np.all(k > 0):  # a slope fitted <= 0 means the accelerometer is not where we think
        raise ValueError(
            "gyro scale fit: the reference runs against the turns (fitted slope <= 0): is the "
            "accelerometer's y axis the robot's left and the IMU between the wheels, or the "
            "cameras' extrinsics right?"
        )
    # a fit beyond MAX_PRIOR_STDS of the prior is a drive the model does not hold (side slip,
    # an IMU off the axle): keep the correction to what a gyro's scale error can be
    bound = MAX_PRIOR_STDS * prior_std
    return np.clip(k, 1.0 - bound, 1.0 + bound)


def running_gyro_scale(
    imu: np.ndarray,
    wheel: np.ndarray,
    wheel_radius: float,
    config: GyroCalibrationConfig = GyroCalibrationConfig(),
) -> np.ndarray:
    """(K,) the gyro-z scale ``k`` to divide each IMU row's gyro by, fitted on the rows
    before it (1 for the first).

    Args:
      imu: (K, 7) rows (t s, gyro xyz rad/s, specific force xyz m/s^2), each the mean over
        the interval ending at t (the episode format's convention).
      wheel: (K', 3) rows (t s, left, right wheel rate rad/s), the same convention.
      wheel_radius: the nominal wheel radius (m), as the robot's odometry uses it.
      config: the fit's prior and noise.
    """
    imu, wheel = _check_rows(imu, wheel)
    return _scale(_sums_before(np.zeros(5), _terms(imu, wheel, wheel_radius)), config)


def calibrate_gyro(
    imu: np.ndarray,
    wheel: np.ndarray,
    wheel_radius: float,
    config: GyroCalibrationConfig = GyroCalibrationConfig(),
) -> np.ndarray:
    """(K, 7) the IMU rows with the gyro's z rate divided by :func:`running_gyro_scale`."""
    out = np.array(imu, np.float64)
    out[:, 3] = out[:, 3] / running_gyro_scale(imu, wheel, wheel_radius, config)
    return out


class GyroScaleEstimator:
    """:func:`calibrate_gyro` online, chunk by chunk (a robot's sensor ticks).

    Each chunk's IMU rows read the speed of the wheel rows of the same chunk (the row whose
    interval holds the IMU time; the last one of the chunk past its end), so chunks that cover
    the same time span for both sensors give the numbers of the whole record (to rounding: the
    sums are accumulated per chunk).
    """

    def __init__(
        self, wheel_radius: float, config: GyroCalibrationConfig = GyroCalibrationConfig()
    ) -> None:
        if not wheel_radius > 0:
            raise ValueError(f"wheel_radius = {wheel_radius}: expected > 0 m")
        self.wheel_radius, self.config = float(wheel_radius), config
        self._sums = np.zeros(5)

    @property
    def scale(self) -> float:
        """The current estimate of ``k`` (1 before any data)."""
        return float(_scale(self._sums, self.config))

    def calibrate(self, imu: np.ndarray, wheel: np.ndarray) -> np.ndarray:
        """(K, 7) ``imu`` with its gyro z divided by the scale fitted on every earlier row;
        then folds the chunk into the fit."""
        imu, wheel = _check_rows(imu, wheel)
        terms = _terms(imu, wheel, self.wheel_radius)
        out = imu.copy()
        out[:, 3] = out[:, 3] / _scale(_sums_before(self._sums, terms), self.config)
        self._sums = self._sums + terms.sum(0)
        return out
