"""The model registry: how a model plugs into the one training engine.

A model registers a :class:`ModelSpec` under the name the CLI accepts (``astra train NAME``):
``register("encoder", SPEC)``.
``spec.build(preset, precision)`` returns a :class:`Trainable`: the model bound to the config
of that preset. The engine needs nothing else from a model:

* ``init(rng)`` -> parameters whose leaves are ``nn.LogicallyPartitioned`` boxes naming each
  dimension with the logical axes of :mod:`astra_jax.train.sharding`
  (``nn.with_logical_partitioning``), created in ``precision.param_dtype``;
* ``loss_fn(params, batch, rng)`` -> ``(loss, metrics)``: a float32 scalar and a dict of
  scalars, a pure function of its arguments (the engine jits, differentiates and shards it).
  A metric called ``num_tokens`` makes the engine report tokens/s;
* ``eval_fn(params, batch)`` -> metrics of a deterministic forward pass (no dropout),
  including ``loss``; evaluated on ``spec.eval_split`` at every checkpoint;
* ``dataset(split, seed, process_index, process_count)`` -> a ``grain.MapDataset`` of
  examples (dicts of numpy arrays) holding this process's share of ``split`` (see
  :func:`astra_jax.train.data.shard_for_process`); the engine shuffles, repeats and batches;
* ``batch_spec(batch_size)`` -> ``{key: jax.ShapeDtypeStruct}`` of a global batch, used for
  ``eval_shape``, ahead-of-time compilation, FLOP counting and shardings.

Built-in models are looked up lazily from :data:`BUILTIN` (``name -> "module:attribute"``),
so ``astra train`` imports only the model it trains. Other code registers at run time with
:func:`register`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import grain
import jax

from astra_jax.config import ConfigError
from astra_jax.train.precision import Precision

Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]


@runtime_checkable
class Trainable(Protocol):
    """A model bound to one config: everything the engine calls."""

    @property
    def config(self) -> Any:
        """The model's frozen dataclass config (recorded in every checkpoint)."""
        ...

    def init(self, rng: jax.Array) -> Any:
        """Boxed parameters (``nn.LogicallyPartitioned`` leaves), from a PRNG key."""
        ...

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        """``(scalar float32 loss, {name: scalar})`` for one global batch (training mode)."""
        ...

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        """Deterministic ``{name: scalar}`` for one global batch; includes ``loss``."""
        ...

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        """This process's examples of ``split`` (dicts of numpy arrays), in a fixed order."""
        ...

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes and dtypes of a global batch of ``batch_size`` examples."""
        ...


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A trainable model family.

    Attributes:
        summary: one line for ``--help`` and logs.
        presets: preset names ``build`` accepts.
        build: ``(preset, precision) -> Trainable``.
        default_batch_size: global batch size per preset when the user gives none.
        eval_split: the split evaluated at every checkpoint, or None for no evaluation.
    """

    summary: str
    presets: tuple[str, ...]
    build: Callable[[str, Precision], Trainable]
    default_batch_size: Mapping[str, int]
    eval_split: str | None = "eval"

    def __post_init__(self) -> None:
        if not self.presets:
            raise ConfigError(f"ModelSpec.presets = {self.presets!r}: expected at least one")
        missing = [p for p in self.presets if p not in self.default_batch_size]
        if missing:
            raise ConfigError(
                f"ModelSpec.default_batch_size = {dict(self.default_batch_size)!r}: missing "
                f"presets {missing}"
            )

    def create(self, preset: str, precision: Precision) -> Trainable:
        """``build(preset, precision)`` after checking the preset name."""
        if preset not in self.presets:
            raise ConfigError(
                f"preset {preset!r}: expected one of {', '.join(self.presets)} for this model"
            )
        model = self.build(preset, precision)
        if not isinstance(model, Trainable):
            raise TypeError(f"ModelSpec.build returned {type(model).__name__}, not a Trainable")
        return model


# Models that ship with astra-jax, imported on first use: name -> "module:attribute".
BUILTIN: dict[str, str] = {
    "reference": "astra_jax.train.reference_model:SPEC",
    "encoder": "astra_jax.local_model.encoder_task:SPEC",
}

_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` as ``name``; an existing name is an error unless ``replace``."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register() expects a ModelSpec, got {type(spec).__name__}")
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"model name {name!r}: expected letters, digits, '_' or '-'")
    if name in _REGISTRY and not replace and _REGISTRY[name] is not spec:
        raise ConfigError(f"a model called {name!r} is already registered")
    _REGISTRY[name] = spec
    return spec


def names() -> list[str]:
    """Every model name ``get`` accepts, built-in or registered."""
    return sorted(set(BUILTIN) | set(_REGISTRY))


def get(name: str) -> ModelSpec:
    """The spec registered as ``name``, importing a built-in model on first use."""
    if name not in _REGISTRY and name in BUILTIN:
        module_name, _, attr = BUILTIN[name].partition(":")
        register(name, getattr(importlib.import_module(module_name), attr))
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(names())}") from None
