"""Each per-episode sensor error and the floor-dependent slip drift the way the sensor model's
documentation (``astra_jax/sim/sensors.py``) predicts; the ideal preset is exact, and each
config field set to 0 turns its source off."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest

from astra_jax.config import RobotConfig, SensorNoiseConfig
from astra_jax.geometry import wrap_angle
from astra_jax.sim.control import Trajectory, integrate
from astra_jax.sim.materials import FLOOR_MATERIALS
from astra_jax.sim.sensors import (
    FLOOR_FRICTION,
    SensorErrors,
    floor_friction,
    imu_readings,
    wheel_odometry,
    wheel_readings,
)

RATE = 200.0
DT = 1.0 / RATE
ROBOT = RobotConfig()
IDEAL = SensorNoiseConfig.ideal()
RNG = np.random.default_rng


def _traj(v: np.ndarray, omega: np.ndarray) -> Trajectory:
    return Trajectory(DT, integrate(np.zeros(3), v, omega, DT), v, omega)


def _straight(seconds: float, speed: float = 0.5) -> Trajectory:
    """Constant speed from the first step (the IMU and wheels see the start as a step)."""
    n = round(seconds * RATE)
    return _traj(np.full(n, speed), np.zeros(n))


def _spin(angle: float, rate: float = 0.8) -> Trajectory:
    """A turn in place by ``angle`` rad at a constant rate."""
    n = round(abs(angle) / rate * RATE)
    return _traj(np.zeros(n), np.full(n, math.copysign(abs(angle) / (n * DT), angle)))


def _speed_up(top: float, accel: float, cruise_s: float, brake: bool) -> Trajectory:
    """From rest to ``top`` m/s at ``accel`` m/s^2 in 50 Hz control steps (as the expert
    drives), a cruise, and optionally the same braking back to rest."""
    ramp = np.repeat(np.minimum(np.arange(1, 10_000) * accel / 50.0, top), 4)
    ramp = ramp[: np.argmax(ramp >= top) + 4]
    parts = [ramp, np.full(round(cruise_s * RATE), top)]
    if brake:
        parts += [ramp[::-1][4:], np.zeros(40)]
    v = np.concatenate(parts)
    return _traj(v, np.zeros_like(v))


def _gyro_yaw(traj: Trajectory, noise: SensorNoiseConfig, errors: SensorErrors) -> float:
    imu = imu_readings(traj, noise, RNG(0), RATE, errors)
    return float(np.sum(imu[:, 3]) / noise.imu_rate_hz)


def _odom_end(traj: Trajectory, noise: SensorNoiseConfig, errors: SensorErrors,
              friction=None) -> np.ndarray:  # fmt: skip
    wheel = wheel_readings(traj, ROBOT, noise, RNG(0), RATE, errors, friction)
    return wheel_odometry(wheel, ROBOT, traj.pose[0], np.array([traj.duration]))[0]


def _errors(**changes) -> SensorErrors:
    return dataclasses.replace(SensorErrors.none(), **changes)


def test_ideal_preset_is_exact_even_with_slip_friction():
    """With SensorNoiseConfig.ideal() the gyro integrates to the yaw and the wheels
    dead-reckon the trajectory exactly, on any floor and through speed-ups and turns."""
    v = np.concatenate([np.linspace(0, 0.8, 400), np.full(600, 0.8), np.linspace(0.8, 0, 300)])
    w = 0.6 * np.sin(np.linspace(0, 9, len(v)))
    traj = _traj(v, w)
    errors = SensorErrors.draw(IDEAL, RNG(3))
    assert not np.any(errors.gyro_bias) and errors.track_width == 0.0
    imu = imu_readings(traj, IDEAL, RNG(3), RATE)
    yaw = np.cumsum(imu[:, 3]) / IDEAL.imu_rate_hz
    np.testing.assert_allclose(yaw, traj.pose[1::1, 2][: len(yaw)], atol=1e-9)
    times = np.arange(31) * 0.2  # on wheel samples: the yaw is exact there
    odom = wheel_odometry(
        wheel_readings(traj, ROBOT, IDEAL, RNG(3), RATE, friction=0.3), ROBOT, traj.pose[0], times
    )
    true = traj.pose_at(times)
    np.testing.assert_allclose(odom[:, 2], true[:, 2], atol=1e-9)
    # a wheel sample averages two physics steps of different (v, omega): ~1e-6 m of arc error
    np.testing.assert_allclose(odom[:, :2], true[:, :2], atol=1e-5)


def test_gyro_turn_on_bias_integrates_to_b_times_t():
    traj = _straight(40.0)
    b = 5.8e-4
    assert _gyro_yaw(traj, IDEAL, _errors(gyro_bias=[0.0, 0.0, b])) == pytest.approx(b * 40.0)
    # drawn per episode with the configured deviation; std 0 turns it off
    noise = dataclasses.replace(IDEAL, gyro_bias_std=1e-3)
    drift = [_gyro_yaw(traj, noise, SensorErrors.draw(noise, RNG(s))) for s in range(300)]
    assert np.std(drift) == pytest.approx(1e-3 * 40.0, rel=0.15)
    assert _gyro_yaw(traj, IDEAL, SensorErrors.draw(IDEAL, RNG(1))) == pytest.approx(0, abs=1e-12)


def test_gyro_scale_error_scales_an_in_place_turn():
    angle = 3 * math.pi
    traj = _spin(angle)
    s = 0.01
    assert _gyro_yaw(traj, IDEAL, _errors(gyro_scale=[0, 0, s])) == pytest.approx((1 + s) * angle)
    assert _gyro_yaw(traj, IDEAL, SensorErrors.none()) == pytest.approx(angle, abs=1e-12)
    # the scale multiplies the rate only: a straight drive stays straight
    assert _gyro_yaw(_straight(10.0), IDEAL, _errors(gyro_scale=[0, 0, s])) == 0.0


@pytest.mark.parametrize("wheel, sign", [(0, 1.0), (1, -1.0)])
def test_wheel_radius_error_curves_a_straight_drive(wheel, sign):
    """A wheel whose radius is e too large under-counts its distance by 1/(1+e): a straight
    drive of L m turns the odometry by +-e L / ((1+e) b) (left wheel: to the left)."""
    traj = _straight(20.0, 0.5)
    e = 0.004
    radius = np.zeros(2)
    radius[wheel] = e
    end = _odom_end(traj, IDEAL, _errors(wheel_radius=radius))
    length = 0.5 * 20.0
    assert end[2] == pytest.approx(sign * e * length / ((1 + e) * ROBOT.wheel_base), rel=1e-6)
    assert end[2] != 0.0
    assert _odom_end(traj, IDEAL, SensorErrors.none())[2] == pytest.approx(0.0, abs=1e-12)


def test_track_width_error_scales_the_wheel_odometry_turn():
    angle = 2 * math.pi
    w = 0.01
    end = _odom_end(_spin(angle), IDEAL, _errors(track_width=w))
    assert float(wrap_angle(end[2] - (1 + w) * angle)) == pytest.approx(0.0, abs=1e-9)
    assert abs(float(wrap_angle(end[2] - angle))) > 0.5 * w * angle
    np.testing.assert_allclose(end[:2], 0.0, atol=1e-12)  # turning in place, still in place
    end = _odom_end(_spin(angle), IDEAL, SensorErrors.none())
    assert float(wrap_angle(end[2] - angle)) == pytest.approx(0.0, abs=1e-9)


def _slip_excess(traj: Trajectory, noise: SensorNoiseConfig, friction) -> float:
    """Odometry distance minus the true distance (m) of a straight drive."""
    return float(_odom_end(traj, noise, SensorErrors.none(), friction)[0] - traj.pose[-1, 0])


def test_acceleration_slip_depends_on_speed_and_floor():
    """A speed-up from rest to V makes the wheels count k V^2 / (2 mu g) too much (the robot
    went less far than they say); more on smooth tiles than on carpet, none when switched off;
    braking back to rest gives it back."""
    noise = dataclasses.replace(IDEAL, slip_ratio_at_full_grip=0.1)
    top, g = 0.6, noise.gravity
    traj = _speed_up(top, 0.6, cruise_s=2.0, brake=False)
    n = traj.num_steps
    tiles = floor_friction(["floor_tiles"] * n)
    carpet = floor_friction(["carpet"] * n)
    on_tiles = _slip_excess(traj, noise, tiles)
    on_carpet = _slip_excess(traj, noise, carpet)
    mu_t, mu_c = FLOOR_FRICTION["floor_tiles"], FLOOR_FRICTION["carpet"]
    assert on_tiles == pytest.approx(0.1 * top**2 / (2 * mu_t * g), rel=0.03)
    assert on_carpet == pytest.approx(0.1 * top**2 / (2 * mu_c * g), rel=0.03)
    assert on_tiles > 1.5 * on_carpet > 0
    # in proportion to the slip ratio and to V^2
    double = dataclasses.replace(noise, slip_ratio_at_full_grip=0.2)
    assert _slip_excess(traj, double, tiles) == pytest.approx(2 * on_tiles, rel=1e-9)
    slow = _speed_up(top / 2, 0.6, cruise_s=2.0, brake=False)
    assert _slip_excess(slow, noise, tiles[: slow.num_steps]) == pytest.approx(
        on_tiles / 4, rel=0.05
    )
    # switched off; and a full stop gives the excess back
    assert _slip_excess(traj, IDEAL, tiles) == pytest.approx(0.0, abs=1e-12)
    stop = _speed_up(top, 0.6, cruise_s=2.0, brake=True)
    assert abs(_slip_excess(stop, noise, 0.5)) < 0.02 * on_tiles
    # the floor under each step counts: half the speed-up on tiles, half on carpet
    mixed = np.where(np.arange(n) < np.argmax(traj.v >= top / math.sqrt(2)), mu_t, mu_c)
    assert on_carpet < _slip_excess(traj, noise, mixed) < on_tiles


def test_draws_follow_the_config_and_each_switch_leaves_the_others_alone():
    noise = SensorNoiseConfig()
    draws = [SensorErrors.draw(noise, RNG(s)) for s in range(2000)]
    for name, std in (("gyro_bias", noise.gyro_bias_std), ("gyro_scale", noise.gyro_scale_std),
                      ("wheel_radius", noise.wheel_radius_std)):  # fmt: skip
        values = np.stack([getattr(d, name) for d in draws])
        np.testing.assert_allclose(values.std(0), std, rtol=0.1)
    assert np.std([d.track_width for d in draws]) == pytest.approx(noise.track_width_std, rel=0.1)
    full = SensorErrors.draw(noise, RNG(7))
    for field, attr in (("gyro_bias_std", "gyro_bias"), ("gyro_scale_std", "gyro_scale"),
                        ("wheel_radius_std", "wheel_radius"), ("track_width_std", "track_width")):  # fmt: skip
        off = SensorErrors.draw(dataclasses.replace(noise, **{field: 0.0}), RNG(7))
        assert not np.any(getattr(off, attr))
        for other in ("gyro_bias", "gyro_scale", "wheel_radius", "track_width"):
            if other != attr:
                np.testing.assert_array_equal(getattr(off, other), getattr(full, other))


def test_default_drift_of_a_goal_length_drive_is_what_the_defaults_predict():
    """The defaults on a 30 s, 15 m drive: the gyro heading drifts by about
    gyro_bias_std * 30 s (1 deg), the wheels' heading by about
    sqrt(2) wheel_radius_std * 15 m / b (0.5 deg); both far above the white noise."""
    traj = _straight(30.0, 0.5)
    noise = SensorNoiseConfig()
    gyro, wheel = [], []
    for s in range(200):
        errors = SensorErrors.draw(noise, RNG(s))
        gyro.append(_gyro_yaw(traj, noise, errors))
        rows = wheel_readings(traj, ROBOT, noise, RNG(s), RATE, errors)
        # the wheel odometry's final yaw (wheel_odometry's sum, without its pose loop)
        turn = ROBOT.wheel_radius * np.sum(rows[:, 2] - rows[:, 1]) / ROBOT.wheel_base
        wheel.append(turn / noise.wheel_rate_hz)
    assert np.std(gyro) == pytest.approx(noise.gyro_bias_std * 30.0, rel=0.2)
    expected = math.sqrt(2) * noise.wheel_radius_std * 15.0 / ROBOT.wheel_base
    assert np.std(wheel) == pytest.approx(expected, rel=0.2)


def test_every_floor_material_has_a_friction_and_bad_input_is_named():
    assert set(FLOOR_FRICTION) == set(FLOOR_MATERIALS)
    assert min(FLOOR_FRICTION["carpet"], FLOOR_FRICTION["carpet_tiles"]) > max(
        FLOOR_FRICTION[m] for m in ("floor_tiles", "stone_tiles", "epoxy", "wood_floor")
    )
    with pytest.raises(ValueError, match="floor materials \\['lava'\\]"):
        floor_friction(["carpet", "lava"])
    traj = _straight(1.0)
    with pytest.raises(ValueError, match="friction shape"):
        wheel_readings(traj, ROBOT, IDEAL, RNG(0), RATE, friction=np.ones(5))
    with pytest.raises(ValueError, match="positive"):
        wheel_readings(traj, ROBOT, IDEAL, RNG(0), RATE, friction=0.0)
    with pytest.raises(ValueError, match=r"SensorErrors\.gyro_bias"):
        SensorErrors(np.zeros(2), np.zeros(3), np.zeros(2), 0.0)
    for name, value in (("gyro_scale_std", 0.2), ("slip_ratio_at_full_grip", 1.0)):
        with pytest.raises(Exception, match=name):
            dataclasses.replace(IDEAL, **{name: value})


def test_episode_records_its_errors_and_floors(small_office, office_renderer, tiny_cfg):
    """A goal episode's manifest holds the drawn errors and the floor driven on, and the
    recorded gyro bias is the one in its IMU readings."""
    from astra_jax.sim import make_goal_episode
    from astra_jax.sim.building import room_finishes
    from astra_jax.sim.generate import floor_under

    ep = make_goal_episode(small_office, office_renderer, tiny_cfg, 0)
    rec = ep.manifest["sensor_errors"]
    assert len(rec["gyro_bias_rad_s"]) == 3 and len(rec["wheel_radius_error"]) == 2
    assert set(rec["floor_m"]) <= set(FLOOR_MATERIALS)
    length = ep.manifest["stats"]["path_length_m"]
    assert sum(rec["floor_m"].values()) == pytest.approx(length, abs=1e-3)
    # the integrated gyro is (1 + s) * the true turn + b * T (+ noise and the bias walk)
    imu = ep.imu
    turn = float(np.unwrap(ep.pose[:, 2])[-1] - ep.pose[0, 2])
    gyro_turn = float(np.sum(imu[:, 3]) / ep.manifest["rates_hz"]["imu"])
    bias = (gyro_turn - (1 + rec["gyro_scale_error"][2]) * turn) / imu[-1, 0]
    assert bias == pytest.approx(rec["gyro_bias_rad_s"][2], abs=1.5e-4)
    # the floor under each room's centre is that room's finish
    occ = small_office.occupancy(tiny_cfg.sim.occupancy_resolution)
    finishes = room_finishes(small_office)
    for k in range(len(small_office.plan.rooms)):
        cell = np.argwhere(occ.rooms == k)[0]
        xy = occ.grid.to_world(cell.astype(np.float64))[None]
        assert floor_under(small_office, occ, xy) == [finishes[k][0]]
    # Without renders, the same drive and sensor draws (odometry studies use this path).
    from astra_jax.sim.generate import goal_sensor_run

    run = goal_sensor_run(small_office, tiny_cfg, 0)
    for name in ("time", "pose", "odom_pose", "imu", "wheel"):
        np.testing.assert_array_equal(getattr(run, name), np.asarray(getattr(ep, name)), name)
    assert run.errors.to_json() == {k: v for k, v in rec.items() if k != "floor_m"}


def test_episode_sensors_slip_by_the_floor_of_the_room(small_office, tiny_cfg):
    """The episode's wheels use the friction of the floor of the room the robot is in."""
    from astra_jax.sim.building import room_finishes
    from astra_jax.sim.generate import episode_sensors

    sim = tiny_cfg.sim
    occ = small_office.occupancy(sim.occupancy_resolution)
    finishes = room_finishes(small_office)
    k = next(i for i, f in enumerate(finishes) if f[0] in ("floor_tiles", "stone_tiles", "epoxy"))
    esdf = np.where(occ.rooms == k, occ.esdf, -np.inf)
    xy = occ.grid.to_world(np.array(np.unravel_index(np.argmax(esdf), esdf.shape), np.float64))
    v = np.concatenate([np.linspace(0.0, 0.3, 100), np.linspace(0.3, 0.0, 100), np.zeros(40)])
    traj = Trajectory(DT, integrate(np.array([*xy, 0.0]), v, 0 * v, DT), v, 0 * v)
    errors, floors, imu, wheel = episode_sensors(small_office, occ, sim, traj, RNG(5))
    assert set(floors) == {finishes[k][0]}
    rng = RNG(5)
    again = SensorErrors.draw(sim.sensors, rng)
    np.testing.assert_array_equal(again.wheel_radius, errors.wheel_radius)
    np.testing.assert_array_equal(imu, imu_readings(traj, sim.sensors, rng, RATE, again))
    mu = FLOOR_FRICTION[finishes[k][0]]
    same_noise = copy.deepcopy(rng)
    expected = wheel_readings(traj, ROBOT, sim.sensors, rng, RATE, again, mu)
    np.testing.assert_array_equal(wheel, expected)
    # the same readings on a floor twice as grippy slip half as much
    other = wheel_readings(traj, ROBOT, sim.sensors, same_noise, RATE, again, 2 * mu)
    assert np.abs(wheel[:, 1:] - other[:, 1:]).max() > 1e-3


def _errand(seconds: float, seed: int) -> Trajectory:
    """A robot's errand: legs at 0.6 or 0.25 m/s with speed-ups and stops, and turns in
    place between them (50 Hz control steps, as the expert drives)."""
    rng = RNG(seed)
    v, w = [], []
    while len(v) * DT < seconds:
        top = 0.6 if rng.random() < 0.7 else 0.25
        ramp = np.repeat(np.linspace(0.012, top, max(1, round(top / 0.012))), 4)
        v += [*ramp, *[top] * round(rng.uniform(3, 10) * RATE), *ramp[::-1]]
        w += [0.0] * (len(v) - len(w))
        turn = rng.choice([-1, 1]) * rng.uniform(0.5, 2.0)
        n = round(abs(turn) / 0.8 * RATE)
        v += [0.0] * n
        w += [turn / (n * DT)] * n
    return _traj(np.array(v), np.array(w))


def test_tour_odometry_fits_the_gyro_bias_against_the_wheels():
    """The map build's wheel + gyro odometry (maps/odometry.py) recovers a constant gyro bias
    over a long drive, whose heading then stops drifting with time; on a short drive the fit
    is too loose and is left out."""
    from astra_jax.maps.odometry import MAX_BIAS_STD, estimate_gyro_bias, wheel_gyro_odometry

    noise = dataclasses.replace(SensorNoiseConfig(), gyro_bias_random_walk=0.0)
    errors = _errors(gyro_bias=[0, 0, 8e-4], wheel_radius=[0.003, -0.002], track_width=0.01)
    traj = _errand(400.0, seed=1)
    rng = RNG(2)
    imu = imu_readings(traj, noise, rng, RATE, errors)
    wheel = wheel_readings(traj, ROBOT, noise, rng, RATE, errors, friction=0.5)
    times = np.arange(0.0, traj.duration, 0.58)
    odom = wheel_odometry(wheel, ROBOT, traj.pose[0], times)
    bias, std = estimate_gyro_bias(odom, times, imu)
    assert std < MAX_BIAS_STD and bias == pytest.approx(8e-4, abs=max(3 * std, 1e-4))
    true_yaw = np.unwrap(traj.pose_at(times)[:, 2])
    raw = wheel_gyro_odometry(odom, times, imu, fit_bias=False)
    fitted = wheel_gyro_odometry(odom, times, imu)
    assert abs(raw[-1, 2] - true_yaw[-1]) > 0.2  # 8e-4 rad/s over 400 s
    assert abs(fitted[-1, 2] - true_yaw[-1]) < 0.3 * abs(raw[-1, 2] - true_yaw[-1])
    # a 30 s drive does not pin the bias down: the gyro heading is left as it is
    short = times <= 30.0
    _, short_std = estimate_gyro_bias(odom[short], times[short], imu)
    assert short_std > MAX_BIAS_STD
    np.testing.assert_array_equal(
        wheel_gyro_odometry(odom[short], times[short], imu),
        wheel_gyro_odometry(odom[short], times[short], imu, fit_bias=False),
    )


def test_accelerometer_scale_and_offset_act_on_the_specific_force():
    """At rest the accelerometer reads ((1 + s) * (0, 0, g)) + b; in a turn its y axis reads
    (1 + s_y) v w + b_y (the centripetal force the gyro calibration relies on)."""
    errors = SensorErrors(
        np.zeros(3), np.zeros(3), np.zeros(2), 0.0,
        accel_bias=np.array([0.01, -0.02, 0.03]), accel_scale=np.array([0.0, 0.005, -0.004]),
    )  # fmt: skip
    rest = _traj(np.zeros(400), np.zeros(400))
    imu = imu_readings(rest, IDEAL, RNG(0), RATE, errors)
    np.testing.assert_allclose(imu[:, 4:], [[0.01, -0.02, 0.996 * 9.81 + 0.03]] * len(imu))
    turn = _traj(np.full(400, 0.5), np.full(400, 0.6))
    imu = imu_readings(turn, IDEAL, RNG(0), RATE, errors)
    np.testing.assert_allclose(imu[1:, 5], 1.005 * 0.3 - 0.02)


def test_accelerometer_errors_leave_every_earlier_draw_unchanged():
    """The accelerometer's errors come from a child generator: the gyro's and wheels' errors
    and every later draw of the episode's generator are those the model drew before the
    accelerometer had errors (nine normals, in order)."""
    noise = SensorNoiseConfig()
    rng, before = RNG(7), RNG(7)
    a = SensorErrors.draw(noise, rng)
    z = before.standard_normal(9)  # the draw as it was
    np.testing.assert_array_equal(a.gyro_bias, z[0:3] * noise.gyro_bias_std)
    np.testing.assert_array_equal(a.gyro_scale, z[3:6] * noise.gyro_scale_std)
    np.testing.assert_array_equal(a.wheel_radius, z[6:8] * noise.wheel_radius_std)
    assert a.track_width == z[8] * noise.track_width_std
    assert rng.standard_normal() == before.standard_normal()
    assert np.all(a.accel_scale != 0) and np.all(a.accel_bias != 0)
    off = dataclasses.replace(noise, accel_bias_std=0.0, accel_scale_std=0.0)
    b = SensorErrors.draw(off, RNG(7))
    assert np.all(b.accel_scale == 0) and np.all(b.accel_bias == 0)
    assert set(a.to_json()) >= {"accel_bias_m_s2", "accel_scale_error"}
