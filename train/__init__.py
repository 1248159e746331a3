"""astra_jax.train: one training engine for every trainable task.

A task (:mod:`astra_jax.tasks`) hands the engine a :class:`Trainable`; :func:`train` then gives
it sharded jit steps on a (data, fsdp, tensor) mesh, grain input pipelines, orbax checkpoints
with exact resume, and JSONL/TensorBoard metrics. The engine imports no model, task or data
module: ``astra train NAME`` (a named config of :mod:`astra_jax.experiments`) is the command line
over :func:`train`.
"""

from astra_jax.train.optim import OptimizerConfig
from astra_jax.train.precision import Precision
from astra_jax.train.sharding import LOGICAL_AXIS_RULES, MeshSpec
from astra_jax.train.train_config import TrainConfig
from astra_jax.train.trainable import Batch, Metrics, Trainable

# The engine pulls in orbax, grain and tensorboardX; task modules that only describe a
# Trainable should not pay for that, so `train` and `TrainResult` are imported on first use.
_LAZY = {"train": "astra_jax.train.trainer", "TrainResult": "astra_jax.train.trainer"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'astra_jax.train' has no attribute {name!r}")


__all__ = [
    "LOGICAL_AXIS_RULES",
    "Batch",
    "MeshSpec",
    "Metrics",
    "OptimizerConfig",
    "Precision",
    "TrainConfig",
    "TrainResult",
    "Trainable",
    "train",
]
