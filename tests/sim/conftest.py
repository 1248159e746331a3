"""Shared, session-scoped simulator fixtures: the example floor plans built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

FLOORPLANS = Path(__file__).resolve().parents[2] / "astra_jax" / "sim" / "floorplans"


@pytest.fixture(scope="session")
def office_plan_path() -> Path:
    return FLOORPLANS / "small_office.json"


@pytest.fixture(scope="session")
def warehouse_plan_path() -> Path:
    return FLOORPLANS / "small_warehouse.json"


@pytest.fixture(scope="session")
def small_office(office_plan_path):
    from astra_jax.sim import world_from_file

    return world_from_file(office_plan_path, seed=0)


@pytest.fixture(scope="session")
def tiny_cfg():
    from astra_jax.config import get_preset

    return get_preset("tiny")


@pytest.fixture(scope="session")
def office_scene(small_office, tiny_cfg):
    from astra_jax.sim import build_scene

    return build_scene(small_office, tiny_cfg.rig)


@pytest.fixture(scope="session")
def office_renderer(office_scene):
    from astra_jax.sim import RigRenderer

    r = RigRenderer(office_scene, (24, 32))
    yield r
    r.close()
