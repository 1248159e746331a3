"""astra_jax.train: one training engine for every model.

A model plugs in by registering a :class:`ModelSpec` (``registry.register(name, spec)``); the
engine (:func:`train`) then gives it sharded jit steps on a (data, fsdp, tensor) mesh, grain
input pipelines, orbax checkpoints with exact resume, and JSONL/TensorBoard metrics.
``astra train MODEL ...`` is the command line over :func:`train`.
"""

from astra_jax.train.optim import OptimizerConfig
from astra_jax.train.precision import Precision
from astra_jax.train.registry import ModelSpec, Trainable, register
from astra_jax.train.sharding import LOGICAL_AXIS_RULES, MeshSpec
from astra_jax.train.train_config import TrainConfig

# The engine pulls in orbax, grain and tensorboardX; model modules that only register a spec
# should not pay for that, so `train` and `TrainResult` are imported on first use.
_LAZY = {"train": "astra_jax.train.trainer", "TrainResult": "astra_jax.train.trainer"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'astra_jax.train' has no attribute {name!r}")


__all__ = [
    "LOGICAL_AXIS_RULES",
    "MeshSpec",
    "ModelSpec",
    "OptimizerConfig",
    "Precision",
    "TrainConfig",
    "TrainResult",
    "Trainable",
    "register",
    "train",
]
