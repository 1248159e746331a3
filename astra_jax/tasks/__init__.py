"""The task layer: one module per trained thing, each binding a model to its resolved config
and data and handing the engine a :class:`~astra_jax.train.trainable.Trainable`.

:data:`TASKS` names them (``reference``, ``encoder``: depth pre-training, ``encoder-3d``: the
rendering (3D) pre-training, ``forecast``: the 4D pre-training, ``occupancy``: occupancy fine-tuning, ``local``: the planning and odometry
heads, ``global-sft``: Astra-Global's localization SFT, ``global-grpo``: its GRPO stage).
A :class:`TaskSpec` says which config type the task takes and builds the Trainable from a
config object, never from a preset name: names are resolved once, at the top, by the named
configs of :mod:`astra_jax.experiments`. Task modules are imported on first use, so training
the reference model does not load the simulator.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from astra_jax.config import ConfigError
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Trainable


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A trainable task.

    Attributes:
        summary: one line for ``--help`` and logs.
        config_type: the frozen dataclass its config is.
        build: ``(config, precision) -> Trainable``.
    """

    summary: str
    config_type: type
    build: Callable[[Any, Precision], Trainable]

    def create(self, config: Any, precision: Precision) -> Trainable:
        """``build(config, precision)`` after checking the config's type."""
        if not isinstance(config, self.config_type):
            raise ConfigError(
                f"task config {type(config).__name__}: expected a {self.config_type.__name__}"
            )
        model = self.build(config, precision)
        if not isinstance(model, Trainable):
            raise TypeError(f"TaskSpec.build returned {type(model).__name__}, not a Trainable")
        return model


# name -> the module whose ``SPEC`` it is (imported on first use)
TASKS: dict[str, str] = {
    "reference": "astra_jax.tasks.reference",
    "encoder": "astra_jax.tasks.encoder_depth",
    "encoder-3d": "astra_jax.tasks.encoder_3d",
    "forecast": "astra_jax.tasks.forecast",
    "occupancy": "astra_jax.tasks.occupancy",
    "local": "astra_jax.tasks.local_heads",
    "global-sft": "astra_jax.tasks.global_sft",
    "global-grpo": "astra_jax.tasks.global_grpo",
}


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name``."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}: expected one of {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name]).SPEC
