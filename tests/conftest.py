"""Test configuration: markers `slow`, `accelerator` and `parity` (see pyproject.toml).

* ``slow``: skipped unless ``--runslow`` is given or ``ASTRA_RUN_SLOW=1``.
* ``accelerator``: skipped unless jax sees a GPU or TPU (the reason is shown with ``-ra``).
* ``parity``: skipped when torch or transformers is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def _accelerator_platform() -> str | None:
    import jax

    try:
        platforms = {d.platform for d in jax.devices()}
    except RuntimeError:
        return None
    for p in ("gpu", "cuda", "rocm", "tpu"):
        if p in platforms:
            return p
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--runslow") or os.environ.get("ASTRA_RUN_SLOW") == "1"
    has_parity = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
    needs_accel = any("accelerator" in item.keywords for item in items)
    accel = _accelerator_platform() if needs_accel else None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow or ASTRA_RUN_SLOW=1"))
        if "accelerator" in item.keywords and accel is None:
            item.add_marker(pytest.mark.skip(reason="accelerator: jax sees no GPU or TPU here"))
        if "parity" in item.keywords and not has_parity:
            item.add_marker(
                pytest.mark.skip(reason="parity: install the parity extra (torch + transformers)")
            )


# ----------------------------------------------------------------------------- a simulator map
# Session-wide, shared by the map tests and the service tests (built once per run).

# The test tour's gyro bias random walk (rad/s^2/sqrt(Hz)): 250 times the simulator's default
# (a BMI088-class 2e-5), so that its wheel + gyro odometry drifts. With the default the
# odometry is nearly exact on this short tour (0.001 m ATE after a Sim(3) fit, better than
# the map's 0.002-0.003 m), and the map test could not tell SfM from odometry. With 5e-3 the
# heading wanders by 0.3 deg per keyframe step on average (about the pose graph's own
# odometry sigma) and ends 3.2 deg off: odometry alone gives 0.056 m ATE at the map's nodes,
# the fused map 0.002 m. (Four times this, 2e-2, the pose graph follows the drifting gyro:
# 0.14 m.) The draws are seeded, so the drift is the same on every run; the wheels and their
# odometry (``odom_pose``) are the default ones.
DRIFTING_GYRO_BIAS_RANDOM_WALK = 5e-3


@pytest.fixture(scope="session")
def sim_tour_dir(tmp_path_factory) -> Path:
    """A short simulator tour: the first ~13 m (34 s) of the small office's tour, 48 frames at
    the mapping resolution (rendered once per test session, a few seconds), with a drifting
    gyro (:data:`DRIFTING_GYRO_BIAS_RANDOM_WALK`; the manifest's ``noise`` records it)."""
    import dataclasses

    import numpy as np

    import astra_jax.sim
    from astra_jax.config import get_preset
    from astra_jax.sim import RigRenderer, build_scene, load_world, save_episode
    from astra_jax.sim.generate import TOUR_INDEX, build_episode, tour_trajectory

    cfg = get_preset("small")
    sensors = dataclasses.replace(
        cfg.sim.sensors, gyro_bias_random_walk=DRIFTING_GYRO_BIAS_RANDOM_WALK
    )
    cfg = dataclasses.replace(cfg, sim=dataclasses.replace(cfg.sim, sensors=sensors))
    plan = Path(astra_jax.sim.__file__).parent / "floorplans" / "small_office.json"
    world = load_world(None, 0, plan, cfg.sim)
    traj, _ = tour_trajectory(world, cfg)
    times = np.linspace(0.0, min(34.0, traj.duration), 48)
    with RigRenderer(build_scene(world, cfg.rig), cfg.rig.mapping_hw) as r:
        ep = build_episode(world, r, cfg, "tour", traj, times, TOUR_INDEX)
    return save_episode(ep, tmp_path_factory.mktemp("tour") / "small_office_48")


@pytest.fixture(scope="session")
def sim_map(sim_tour_dir, tmp_path_factory) -> Path:
    """The map of :func:`sim_tour_dir`, built by ``astra map build`` with the defaults and one
    pycolmap thread: the build is then the same bit for bit on every run (multi-threaded
    mapping is not), so a failure here reproduces. Tests must not modify it."""
    from astra_jax.cli import map as map_cli

    out = tmp_path_factory.mktemp("maps") / "office"
    args = ["build", str(sim_tour_dir), "--out", str(out), "--threads", "1", "--json"]
    assert map_cli.main(args) == 0
    return out


# ----------------------------------------------------------------------------- encoder episodes
# Session-wide, shared by the depth and the 3D pre-training tests (same rig and simulator, so
# the same cache entries): one world per family for train and val, one episode each.

from encoder_data import ENCODER_SMALL_DATA  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture(scope="session")
def encoder_data_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a tiny encoder run on the small cache (``ASTRA_DATA_DIR`` and the
    data override); its train and val sets already exist."""
    import dataclasses
    import multiprocessing

    from astra_jax import experiments
    from astra_jax.data import ensure_episode_set
    from astra_jax.data.episode_data import DATA_ENV

    root = tmp_path_factory.mktemp("astra_data")
    config = experiments.get("encoder-tiny").config
    config = dataclasses.replace(config, data=config.data.with_overrides(ENCODER_SMALL_DATA))
    sets = [
        s
        for split in ("train", "val")
        for s in config.data.episode_sets(config.render_config, split)
    ]
    # One world per set: generate the four sets side by side, one process per core.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.starmap(ensure_episode_set, [(s, root) for s in sets])
    return {"ASTRA_DATA_DIR": str(root), DATA_ENV: ENCODER_SMALL_DATA}
