"""The heads' data, training and evaluation (``astra train local-*``, ``astra eval local``).

One small cache (one office world per split, one goal episode each, tiny preset) is generated
per module and shared by every test and subprocess through ``ASTRA_DATA_DIR``. The frozen
encoder is the random-init lift (``encoder_workdir`` empty): these tests check the plumbing,
the labels and the engine's guarantees, not what a depth-trained encoder buys.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax import experiments
from astra_jax.config import ConfigError
from astra_jax.data import EpisodeSet, ensure_episode_set
from astra_jax.data.head_cache import ensure_head_cache
from astra_jax.data.head_labels import (
    GYRO_SCALE_KEYS,
    TickSpec,
    poses_at,
    subgoal_points,
    tick_labels,
)
from astra_jax.data.head_samples import HeadSamples
from astra_jax.formats.episode import load_episode
from astra_jax.geometry import se2_compose, se2_relative, wrap_angle
from astra_jax.local_model.frame_features import feature_shape
from astra_jax.tasks import get_task
from astra_jax.tasks.local_heads import LocalTaskConfig
from astra_jax.train.precision import Precision
from astra_jax.train.train_config import config_from_json, config_json

REPO = pathlib.Path(__file__).resolve().parents[2]
VAL_WORLD = "office:1000000"
DATA_FLAGS = [
    "--config.data.episodes.train-worlds", "1", "--config.data.episodes.val-worlds", "1",
    "--config.data.episodes.episodes-per-world", "1",
]  # fmt: skip


def small_config() -> LocalTaskConfig:
    config = experiments.get("local-tiny").config
    episodes = dataclasses.replace(
        config.data.episodes, train_worlds=1, val_worlds=1, test_worlds=1, episodes_per_world=1
    )
    return dataclasses.replace(config, data=dataclasses.replace(config.data, episodes=episodes))


@pytest.fixture(scope="module")
def data_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("astra_data")
    config = small_config()
    for split in ("train", "val"):
        for s in config.data.episodes.episode_sets(config.render_config, split):
            ensure_episode_set(s, root)
    return {"ASTRA_DATA_DIR": str(root)}


@pytest.fixture
def task(data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in data_env.items():
        monkeypatch.setenv(k, v)
    return get_task("local").create(small_config(), Precision("float32"))


def _episode(data_env: dict[str, str]):
    config = small_config()
    spec = EpisodeSet(config.render_config, "office", "train", 0, 1, 1)
    (ref,) = ensure_episode_set(spec, pathlib.Path(data_env["ASTRA_DATA_DIR"]))
    return load_episode(ref.path)


# ----------------------------------------------------------------------------- labels


def test_tick_labels_match_the_episode(data_env) -> None:
    ep = _episode(data_env)
    spec = TickSpec(num_waypoints=4, esdf_shape=(8, 8))
    crops = []
    lab = tick_labels(ep, spec, lambda poses: crops.append(poses) or np.zeros((len(poses), 8, 8)))
    frames = lab["frame"]
    assert frames[0] == 0 and np.all(np.diff(frames) == 5)  # 0.5 s at 10 frames/s
    np.testing.assert_allclose(crops[0], ep.pose[frames])  # the ESDF is cropped at the ticks
    # the expert's j-th future pose is the true pose 0.5 j s later, seen from the tick
    k = 3
    for j in range(4):
        later = frames[k] + 5 * (j + 1)
        if later < ep.num_frames:
            want = se2_relative(ep.pose[frames[k]], ep.pose[later])
            np.testing.assert_allclose(lab["expert"][k, j], want, atol=1e-5)
    # consecutive ticks' relative poses chain back to the ground truth
    for k in range(1, len(frames)):
        np.testing.assert_allclose(se2_compose(lab["pose"][k - 1], lab["odom_target"][k]),
                                   lab["pose"][k], atol=1e-5)  # fmt: skip
    # the IMU window of a pair integrates to that pair's turn (gyro noise and bias are small)
    turn = lab["imu"][1:, :, 2].sum(1) / ep.manifest["rates_hz"]["imu"]
    err = wrap_angle(turn - lab["odom_target"][1:, 2])
    assert np.abs(err).max() < 0.02 and np.abs(lab["odom_target"][1:, 2]).max() > 0.05
    assert np.all(lab["imu"][0] == 0) and np.all(lab["wheel"][0] == 0)
    # the subgoal is 3 m along the expert's path (or its end) from the robot's projection onto
    # it; the robot drives within a few cm of the path
    assert np.all(np.linalg.norm(lab["subgoal"], axis=1) <= 3.0 + 0.1)
    assert np.linalg.norm(lab["subgoal"][0]) > 2.0


def test_kinematic_prior_dead_reckons_each_pair(data_env) -> None:
    """The odometry head's prior, from a pair's raw samples, lands near the true motion (the
    simulator's sensors drift, so not exactly), and each sensor switch uses what is left."""
    import jax.numpy as jnp

    from astra_jax.local_model.odometry_head import OdometryHeadConfig, kinematic_prior

    ep = _episode(data_env)
    lab = tick_labels(
        ep, TickSpec(num_waypoints=4, esdf_shape=(8, 8)), lambda p: np.zeros((len(p), 8, 8))
    )
    imu, wheel, target = (jnp.asarray(lab[k][1:]) for k in ("imu", "wheel", "odom_target"))
    cfg = OdometryHeadConfig.for_preset("tiny")
    k = len(target)
    both = np.asarray(kinematic_prior(cfg, imu, wheel, k))
    err = np.abs(both - np.asarray(target))
    assert err[:, :2].max() < 0.01 and err[:, 2].max() < 0.01, err.max(0)
    assert np.abs(np.asarray(target)[:, 0]).max() > 0.2  # the robot did move
    wheels = np.asarray(kinematic_prior(cfg, None, wheel, k))
    assert np.abs(wheels - np.asarray(target))[:, :2].max() < 0.02
    gyro = np.asarray(kinematic_prior(cfg, imu, None, k))
    assert np.all(gyro[:, :2] == 0) and np.abs(gyro[:, 2] - both[:, 2]).max() < 1e-5
    assert np.all(np.asarray(kinematic_prior(cfg, None, None, k)) == 0)


def test_subgoal_walks_along_the_polyline() -> None:
    path = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    got = subgoal_points(path, np.array([[0.5, 0.3], [1.9, 1.5], [-1.0, 0.0]]), 1.0)
    np.testing.assert_allclose(got, [[1.5, 0.0], [2.0, 2.0], [1.0, 0.0]], atol=1e-9)


def test_poses_at_interpolates_across_the_yaw_wrap() -> None:
    poses = np.array([[0.0, 0.0, 3.1], [1.0, 0.0, -3.1]])
    got = poses_at(np.array([0.5, 2.0]), np.array([0.0, 1.0]), poses)
    np.testing.assert_allclose(got[0, :2], [0.5, 0.0])
    assert abs(abs(got[0, 2]) - np.pi) < 1e-6  # through pi, not through 0
    np.testing.assert_allclose(got[1], poses[1])  # held after the end


def test_samples_pad_the_odometry_window_at_the_start(task) -> None:
    source = task.source("train")
    w = task.config.odometry.window
    first = source[0]  # tick 1
    assert first["odom_valid"].tolist() == [False] * (w - 1) + [True]
    assert np.all(first["bev_seq"][: w - 1] == 0) and np.any(first["bev_seq"][-1] != 0)
    np.testing.assert_array_equal(first["bev_seq"][-1], first["bev"])
    spec = task.batch_spec(1)
    for key, value in source[len(source) - 1].items():
        assert value.shape == spec[key].shape[1:] and value.dtype == spec[key].dtype, key
    # a planning-only model's examples skip the odometry window
    planner = get_task("local").create(dataclasses.replace(task.config, train_odometry=False),
                                       Precision("float32"))  # fmt: skip
    example = planner.source("train")[0]
    assert set(example) == set(planner.batch_spec(1)) == {"bev", "subgoal", "velocity",
                                                          "expert", "esdf"}  # fmt: skip
    np.testing.assert_array_equal(example["bev"], first["bev"])


def test_gyro_calibration_divides_the_gyro_by_the_drives_online_scale(task, data_env) -> None:
    """With ``gyro_calibration`` the examples' gyro z is the recorded rate over the scale fitted
    on the drive before each sample (the labels' ``gyro_scale``, equal to
    ``running_gyro_scale`` of the episode); every other channel is as recorded."""
    from astra_jax.local_model.odometry_config import GYRO_REFERENCES, OdometryHeadConfig
    from astra_jax.maps.imu_calibration import running_gyro_scale

    raw_source = task.source("train")
    cal_source = HeadSamples(raw_source.entries, raw_source.window, gyro_scale_label="gyro_scale")
    ep = _episode(data_env)
    scale = running_gyro_scale(ep.imu, ep.wheel, ep.manifest["robot"]["wheel_radius"])
    _, lab = raw_source.episode(0)
    k, rate = 3, ep.manifest["rates_hz"]["imu"]
    last = round(float(lab["time"][k]) * rate)  # the tick's window ends at IMU row `last`
    n = lab["gyro_scale"].shape[1]
    np.testing.assert_allclose(lab["gyro_scale"][k, :, 0], scale[last - n : last], rtol=1e-6)
    assert np.ptp(scale) > 1e-3  # the fit moved during the drive
    raw, cal = raw_source[k - 1], cal_source[k - 1]  # example k - 1 is tick k
    np.testing.assert_allclose(cal["imu"][-1, :, 2], raw["imu"][-1, :, 2] / scale[last - n : last],
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_array_equal(
        cal["imu"][..., [0, 1, 3, 4, 5]], raw["imu"][..., [0, 1, 3, 4, 5]]
    )
    np.testing.assert_array_equal(cal["wheel"], raw["wheel"])
    # tick 1's window is padded before the recording: padded pairs stay zeros (no scale there)
    first = cal_source[0]
    assert not first["odom_valid"][0] and np.all(first["imu"][~first["odom_valid"]] == 0)
    assert np.all(np.isfinite(first["imu"]))
    with pytest.raises(ConfigError, match="gyro_calibration"):
        OdometryHeadConfig(gyro_calibration=True, use_wheel=False)
    # against the depth scans' turns: the labels' gyro_scale_scan, read by gyro_reference "scan"
    from astra_jax.maps.scan_gyro_calibration import (
        depth_scans,
        running_scan_gyro_scale,
        scan_turn_pairs,
    )

    pairs = scan_turn_pairs(ep.imu, ep.time, depth_scans(ep.depth, ep.intrinsics, ep.extrinsics),
                            ep.odom_pose)  # fmt: skip
    scan_scale = running_scan_gyro_scale(ep.imu, pairs)
    assert pairs[:, 3].mean() > 0.8 and np.ptp(scan_scale) > 1e-3  # matched, and the fit moved
    np.testing.assert_allclose(lab["gyro_scale_scan"][k, :, 0], scan_scale[last - n : last],
                               rtol=1e-6)  # fmt: skip
    scan_cfg = OdometryHeadConfig(gyro_calibration=True, gyro_reference="scan")
    scan_source = HeadSamples(raw_source.entries, raw_source.window,
                              gyro_scale_label=scan_cfg.gyro_scale_label)  # fmt: skip
    np.testing.assert_allclose(scan_source[k - 1]["imu"][-1, :, 2],
                               raw["imu"][-1, :, 2] / scan_scale[last - n : last], rtol=1e-5)  # fmt: skip
    assert OdometryHeadConfig(gyro_calibration=True).gyro_scale_label == "gyro_scale"
    assert OdometryHeadConfig().gyro_scale_label is None
    # every reference the model offers names a label the ticks hold, and the samples accept
    labels = {OdometryHeadConfig(gyro_calibration=True, gyro_reference=r).gyro_scale_label
              for r in GYRO_REFERENCES}  # fmt: skip
    assert labels == set(GYRO_SCALE_KEYS) and labels <= set(lab)
    with pytest.raises(ConfigError, match="gyro_reference"):
        OdometryHeadConfig(gyro_reference="scan")  # without gyro_calibration
    with pytest.raises(ConfigError, match="gyro_reference"):
        OdometryHeadConfig(gyro_calibration=True, gyro_reference="lidar")
    with pytest.raises(ValueError, match="gyro_scale_label"):
        HeadSamples(raw_source.entries, raw_source.window, gyro_scale_label="gyro")


def test_samples_pickle_and_read_from_many_threads(task) -> None:
    """The source travels to grain's worker processes by pickle (without its open arrays), and
    grain's prefetch threads read it at once: every example equals the serial read. Opening an
    episode waits for the process-wide lock (np.load is not thread-safe on CPython 3.11.7)."""
    import pickle
    import threading
    from concurrent.futures import ThreadPoolExecutor

    source = task.source("train")
    serial = [source[i] for i in range(len(source))]
    copy = pickle.loads(pickle.dumps(source))
    assert not copy._open
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(copy.__getitem__, range(len(copy))))
    for a, b in zip(serial, threaded, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    from astra_jax.data.array_open import ARRAY_OPEN_LOCK

    fresh, done = pickle.loads(pickle.dumps(source)), threading.Event()
    reader = threading.Thread(target=lambda: (fresh[0], done.set()))
    with ARRAY_OPEN_LOCK:
        reader.start()
        assert not done.wait(0.5), "an episode was opened without the lock"
    reader.join(60)
    assert done.is_set()


def test_task_config_round_trips_through_json_and_checks_shapes() -> None:
    config = experiments.get("local-small").config
    assert config_from_json(LocalTaskConfig, config_json(config)) == config
    with pytest.raises(ConfigError, match="planning"):
        tiny = experiments.get("local-tiny").config
        dataclasses.replace(tiny, planning=config.planning)
    with pytest.raises(ConfigError, match="train_planning = train_odometry = False"):
        dataclasses.replace(config, train_planning=False, train_odometry=False)


def test_switched_off_parts_leave_no_parameters_or_losses(task) -> None:
    """Shapes only (``jax.eval_shape``): which parameters and loss terms each switch leaves."""
    batch = task.batch_spec(4)
    rng = jax.random.key(1)
    esdf_off = dataclasses.replace(task.config.esdf_loss, weight=0.0)
    for changes, heads, present, absent in (
        ({}, {"planning", "odometry"}, {"flow_loss", "esdf_loss", "odometry_loss"}, set()),
        ({"train_odometry": False}, {"planning"}, {"flow_loss", "esdf_loss"}, {"odometry_loss"}),
        ({"train_planning": False}, {"odometry"}, {"odometry_loss"}, {"flow_loss", "esdf_loss"}),
        ({"esdf_loss": esdf_off}, {"planning", "odometry"}, {"flow_loss"}, {"esdf_loss"}),
    ):
        model = get_task("local").create(dataclasses.replace(task.config, **changes),
                                         Precision("float32"))  # fmt: skip
        params = nn.unbox(jax.eval_shape(model.init, rng))
        assert set(params) == heads, changes
        _, metrics = jax.eval_shape(model.loss_fn, params, batch, rng)
        assert present <= set(metrics) and not (absent & set(metrics)), changes


# ----------------------------------------------------------------------------- train and resume


def _train(
    env: dict[str, str], workdir: pathlib.Path, steps: int, extra: list[str]
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "astra_jax.cli.train", "local-tiny", "--workdir", str(workdir),
           "--steps", str(steps), "--batch-size", "16", "--eval-batches", "1", "--log-every", "1",
           "--seed", "2", "--no-progress", "--json", *DATA_FLAGS, *extra]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"astra train local-tiny failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(data_env, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A straight 40-step run, and the same run stopped at 20 and resumed to 40."""
    root = tmp_path_factory.mktemp("local_runs")
    env = {**os.environ, **data_env, "JAX_PLATFORMS": "cpu",
           "JAX_COMPILATION_CACHE_DIR": str(root / "xla_cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # fmt: skip
    schedule = ["--checkpoint-every", "20", "--warmup-steps", "2", "--decay-steps", "40"]
    straight = _train(env, root / "straight", 40, schedule)
    _train(env, root / "resumed", 20, schedule)
    resumed = _train(env, root / "resumed", 40, schedule)
    return {"env": env, "root": root, "straight": straight, "resumed": resumed}


def test_training_lowers_both_heads_losses(runs) -> None:
    lines = (runs["root"] / "straight" / "metrics.jsonl").read_text().splitlines()
    train = [r for r in map(json.loads, lines) if r.get("split") == "train"]
    # Per-step losses are noisy (random flow times and noise, batch 16): compare the means of
    # the first and last five steps.
    for key, factor in (("loss", 0.85), ("flow_loss", 0.9), ("odometry_loss", 0.7)):
        first = np.mean([r[key] for r in train[:5]])
        last = np.mean([r[key] for r in train[-5:]])
        assert last < factor * first, (key, first, last)
    evals = [r for r in map(json.loads, lines) if r.get("split") == "eval"]
    assert evals and {"collision_rate", "final_dist_m"} <= set(evals[-1])


def test_resumed_run_equals_the_straight_one(runs) -> None:
    straight, resumed = runs["straight"], runs["resumed"]
    assert resumed["resumed_from"] == 20
    assert resumed["params_sha256"] == straight["params_sha256"]
    assert resumed["loss"] == straight["loss"]


def test_eval_local_reports_every_row(runs, tmp_path) -> None:
    out = tmp_path / "report"
    # the flag repeats: two runs (here of one config) each get their rows
    cmd = [sys.executable, "-m", "astra_jax.cli.eval", "local", "--checkpoint",
           str(runs["root"] / "straight"), "--checkpoint", str(runs["root"] / "resumed"),
           "--worlds", VAL_WORLD, "--episodes-per-world", "1",
           "--samples", "4", "--guidance-scale", "0.3", "--occupancy-memory", "2",
           "--out", str(out), "--json"]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=REPO, env=runs["env"], capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    stars = [f"FM* + ESDF{g} (best of 4)" for g in ("", ", guided 0.3")]
    assert set(report["planning"]) == {
        "expert (ground truth)", "straight line", "A* (run-time ESDF)",
        *(f"{row} [{run}]" for row in ("FM + ESDF", "FM + ESDF, guided 0.3", *stars,
          *(f"{star}, A* fallback" for star in stars)) for run in ("straight", "resumed")),
    }  # fmt: skip
    assert report["occupancy_memory_ticks"] == 2
    assert not any(report["depth_noise"].values())  # as the runs were trained: exact depth
    # a fallback row drives its best-of-N row's plan except where A* took over; the barely
    # trained model's best of 4 collides in the run-time map at some ticks (measured: 9 %)
    assert report["planning"][f"{stars[0]}, A* fallback [straight]"]["fallback_pct"] > 0.0
    for star in stars:
        best = report["planning"][f"{star} [straight]"]
        fell = report["planning"][f"{star}, A* fallback [straight]"]
        pct = fell.pop("fallback_pct")
        assert 0.0 <= pct <= 100.0 and "fallback_pct" not in best
        if pct == 0.0:
            assert fell == best
        else:  # A* took over somewhere: never more collisions than A* and best-of-N together
            assert fell["collision_pct"] <= best["collision_pct"] + report["planning"][
                "A* (run-time ESDF)"]["collision_pct"]  # fmt: skip
    assert set(report["odometry"]) == {"wheel only", "wheel + gyro", "wheel + calibrated gyro",
                                       "wheel + scan-calibrated gyro",
                                       "learned (visual + imu + wheel) [straight]",
                                       "learned (visual + imu + wheel) [resumed]"}  # fmt: skip
    # the expert keeps >= 0.35 m from obstacles; the 0.1 m crop reads clearances to ~5 cm
    assert report["planning"]["expert (ground truth)"]["collision_pct"] <= 5.0
    # the two runs are the same model (exact resume) and see the same noise
    assert report["planning"]["FM + ESDF [straight]"] == report["planning"]["FM + ESDF [resumed]"]
    ticks = report["ticks"]
    assert ticks > 5 and all(r["ticks"] == ticks for r in report["planning"].values())
    for row in report["planning"].values():
        assert 0 <= row["collision_pct"] <= 100 and np.isfinite(row["final_dist_m"])
    for row in report["odometry"].values():
        assert np.isfinite(row["ate_m"])
    assert (out / "report.md").read_text().count("|") > 20
    assert ", depth exact" in (out / "report.md").read_text()
    assert (out / "plans.png").stat().st_size > 10_000 and (out / "odometry.png").is_file()


def test_eval_local_names_a_bad_depth_noise(runs) -> None:
    from astra_jax.tasks.local_eval import evaluate_local

    for bad in (-0.5, float("nan")):
        with pytest.raises(ConfigError, match="--depth-noise: depth noise scale"):
            evaluate_local([str(runs["root"] / "straight")], VAL_WORLD, depth_noise=bad,
                           show_progress=False)  # fmt: skip


def test_eval_local_refuses_training_worlds() -> None:
    from astra_jax.tasks.local_eval import parse_worlds

    with pytest.raises(ConfigError, match="training world"):
        parse_worlds("office:3")
    with pytest.raises(ConfigError, match="FAMILY:SEED"):
        parse_worlds("office-1100000")
    assert parse_worlds("office:1100000, warehouse:1100001") == [
        ("office", 1100000), ("warehouse", 1100001)
    ]  # fmt: skip


def test_export_local_ships_the_run_to_the_flax_free_runtime(runs, tmp_path) -> None:
    from tick_fixtures import episode_inputs

    from astra_jax.local_model.flow_matching import sample
    from astra_jax.local_model.planning_head import PlanningHead
    from astra_jax.local_model.trajectory import rollout
    from astra_jax.serve.runtime import LocalRuntime
    from astra_jax.tasks.local_eval import load_checkpoint
    from astra_jax.tasks.local_heads import frozen_encoder

    run_dir, out = runs["root"] / "straight", tmp_path / "artifact"
    cmd = [sys.executable, "-m", "astra_jax.cli", "export", "local", "--checkpoint",
           str(run_dir), "--out", str(out), "--samples", "3", "--json"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=runs["env"], capture_output=True, text=True,
                          timeout=400)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["source"]["step"] == 40 and summary["batch"] == "b"
    runtime = LocalRuntime(out)
    run = load_checkpoint(str(run_dir))
    encoder = frozen_encoder(run.config.encoder, "", "best")
    x = episode_inputs(_tick_config(run), 1, batch=2)[0]
    _, got = runtime.tick(runtime.init_state(2), x)
    bev = encoder.feature_fn()(x["images"])
    key = jax.random.wrap_key_data(x["rng"], impl="threefry2x32")
    want = sample(PlanningHead(run.config.planning), run.params["planning"], bev, x["subgoal"],
                  x["velocity"], key, num_samples=3)  # fmt: skip
    np.testing.assert_allclose(got["trajectories"], rollout(np.asarray(want)), atol=1e-5)


def _tick_config(run: Any) -> Any:
    from astra_jax.serve.tick import TickConfig

    return TickConfig(encoder=run.config.encoder, planning=run.config.planning,
                      odometry=run.config.odometry, num_samples=3)  # fmt: skip


# ----------------------------------------------------------------------------- the 4D planner


def test_clamped_window_repeats_the_first_frame_before_the_recording() -> None:
    from astra_jax.local_model.frames import window_indices
    from astra_jax.tasks.future_features import clamped_window

    times = np.arange(50) * 0.1
    assert clamped_window(times, 0, 4, 0.5).tolist() == [0] * 5
    assert clamped_window(times, 12, 4, 0.5).tolist() == [0, 0, 2, 7, 12]
    np.testing.assert_array_equal(clamped_window(times, 40, 4, 0.5),
                                  window_indices(times, 40, 4, 0, 0.5))  # fmt: skip


def test_the_4d_planner_reads_its_extra_condition_from_the_cache(data_env, tmp_path) -> None:
    """The head cache stores the extra condition per tick, the samples carry it, and the
    planning head's loss depends on it (its extra CNN gets gradients)."""
    from astra_jax.tasks.local_heads import LocalHeadsTask, frozen_encoder

    config = small_config()
    refs = config.data.episodes.episode_refs(config.render_config, "train")
    paths = [refs[0].path]
    x, y, _ = feature_shape(config.encoder)

    def futures(ep, frames):  # a stand-in for FutureFeatures: the tick's frame, everywhere
        return np.broadcast_to(frames[:, None, None, None] / 100.0, (len(frames), x, y, 6))

    enc = frozen_encoder(config.encoder, "", "best")
    spec = config.tick_spec
    plain = ensure_head_cache(paths, spec, enc.feature_fn(), enc.key, config.sim, root=tmp_path,
                              show_progress=False)  # fmt: skip
    fourd = ensure_head_cache(paths, spec, enc.feature_fn(), enc.key, config.sim, root=tmp_path,
                              show_progress=False, extra=futures, extra_key="fake")  # fmt: skip
    assert plain != fourd and not (plain[0] / "extra.npy").exists()
    samples = HeadSamples(fourd, config.odometry.window, odometry=False)
    assert "extra" not in HeadSamples(plain, config.odometry.window, odometry=False)[0]
    frames = np.load(fourd[0] / "labels.npz")["frame"]
    e, k = samples.table[3]
    ex = samples[3]
    assert ex["extra"].shape == (x, y, 6) and ex["extra"].dtype == np.float16
    np.testing.assert_allclose(ex["extra"], frames[k] / 100.0, rtol=1e-3)
    assert e == 0
    planning = dataclasses.replace(config.planning, extra_channels=6)
    cfg = dataclasses.replace(config, planning=planning, train_odometry=False)
    task = LocalHeadsTask(cfg)
    assert task.batch_spec(4)["extra"].shape == (4, x, y, 6)
    batch = {key: jnp.asarray(np.stack([samples[i][key] for i in range(4)])) for key in ex}
    # away from the init (the velocity output starts at zero), the loss depends on the extra
    params = nn.unbox(task.init(jax.random.key(0)))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    params = tree.unflatten([p + 0.05 * jax.random.normal(k, p.shape, p.dtype)
                             for p, k in zip(leaves, keys, strict=True)])  # fmt: skip
    loss = jax.jit(lambda b: task.loss_fn(params, b, jax.random.key(1))[0])  # one compile
    assert float(loss(batch)) != float(loss({**batch, "extra": jnp.zeros_like(batch["extra"])}))
