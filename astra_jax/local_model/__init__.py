"""Astra-Local: the 4D encoder (multi-camera ViT, Lift-Splat-Shoot, temporal fusion) and its
depth pre-training; the planning head (flow matching, masked ESDF loss) and the odometry head;
and their run-time parts (depth occupancy, classical planners, plan and odometry metrics).

The names below load on first use (PEP 562), so that importing a run-time part (e.g.
``astra_jax.local_model.classical_planners`` in the navigation loop) does not import Flax.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``depth_loss`` is also a submodule's name: bound here, eagerly (the module is plain JAX), so
# that the package attribute is the function even after the submodule is imported elsewhere.
from astra_jax.local_model.depth_loss import depth_loss as depth_loss
from astra_jax.local_model.depth_loss import depth_targets as depth_targets

_EXPORTS = {
    "EncoderConfig": "config",
    "depth_loss": "depth_loss",
    "depth_targets": "depth_loss",
    "DepthPretrain": "depth_pretrain",
    "depth_pretrain_loss": "depth_pretrain",
    "examples_from_episode": "depth_pretrain",
    "EncoderOutput": "encoder",
    "LocalEncoder": "encoder",
    "ImageLift": "lift",
    "normalize_images": "lift",
    "OdometryHead": "odometry_head",
    "OdometryHeadConfig": "odometry_config",
    "PlanningHead": "planning_head",
    "PlanningHeadConfig": "planning_head",
    "TemporalFusion": "temporal",
    "warp_to_current": "temporal",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'astra_jax.local_model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"astra_jax.local_model.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
