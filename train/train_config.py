"""``TrainConfig``: everything one training run is a function of (besides the code)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from astra_jax.train.optim import OptimizerConfig
from astra_jax.train.precision import Precision
from astra_jax.train.sharding import MeshSpec
from astra_jax.validation import (
    ConfigError,
    check_dtype_names,
    check_non_empty_strings,
    check_non_negative_ints,
    check_positive_ints,
    check_range,
    check_types,
    fail_field,
)

# Settings a resumed run must share with the checkpoint it resumes, because the parameters,
# optimizer state or data order depend on them. Everything else (steps, mesh, intervals,
# logging) may change between restarts; the mesh may change because orbax re-shards on load.
RESUME_INVARIANT: tuple[str, ...] = (
    "model",
    "preset",
    "batch_size",
    "seed",
    "optimizer",
    "ema_decay",
    "compute_dtype",
    "num_workers",
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run.

    Attributes:
        model: registered model name (``astra_jax.train.registry``).
        workdir: checkpoints, metrics and TensorBoard logs go here; reusing it resumes.
        steps: total optimizer steps of the run (also the default cosine length).
        preset: the model's preset.
        batch_size: global examples per step; None: the model's default for the preset.
        seed: seeds parameters, dropout and the data order.
        optimizer: AdamW / schedule / clipping settings.
        ema_decay: keep an EMA of the parameters with this decay (None: no EMA).
        compute_dtype: ``bfloat16`` (mixed precision) or ``float32``; params stay float32.
        mesh: mesh axis sizes.
        fsdp_min_size: parameters with at least this many elements are split over ``fsdp``.
        checkpoint_every: save (and evaluate) every this many steps, and at the end.
        keep_checkpoints: how many recent checkpoints to keep (the best one is kept too).
        eval_batches: batches of the model's eval split per evaluation (0: no evaluation).
        log_every: write train metrics every this many steps.
        num_workers: grain worker processes (0: threads in the training process).
        progress: show a progress bar on a terminal.
    """

    model: str
    workdir: str
    steps: int
    preset: str = "tiny"
    batch_size: int | None = None
    seed: int = 0
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    ema_decay: float | None = None
    compute_dtype: str = "bfloat16"
    mesh: MeshSpec = dataclasses.field(default_factory=MeshSpec)
    fsdp_min_size: int = 1 << 18
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    eval_batches: int = 4
    log_every: int = 10
    num_workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "model", "workdir", "preset")
        check_positive_ints(
            self, "steps", "fsdp_min_size", "checkpoint_every", "keep_checkpoints", "log_every"
        )
        check_non_negative_ints(self, "seed", "eval_batches", "num_workers")
        check_positive_ints(self, "batch_size", allow_none=True)
        check_range(
            self,
            "ema_decay",
            lo=0,
            hi=1,
            lo_open=True,
            hi_open=True,
            expected="a decay in (0, 1)",
            allow_none=True,
        )
        check_dtype_names(self, "compute_dtype")
        check_types(self, optimizer=OptimizerConfig, mesh=MeshSpec)
        if self.optimizer.decay_steps is None:
            # Derived default: the cosine spans the whole run.
            if self.steps <= self.optimizer.warmup_steps:
                fail_field(self, "steps", f"more than warmup_steps = {self.optimizer.warmup_steps}")
            resolved = dataclasses.replace(self.optimizer, decay_steps=self.steps)
            object.__setattr__(self, "optimizer", resolved)

    @property
    def precision(self) -> Precision:
        return Precision(compute_dtype=self.compute_dtype)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (what checkpoints record)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def check_resumable(self, saved: dict[str, Any], workdir_hint: str) -> None:
        """Raise ``ConfigError`` unless a checkpoint saved under ``saved`` can be resumed."""
        mine = self.to_json()
        differences = []
        for name in RESUME_INVARIANT:
            theirs, ours = flatten_config(saved.get(name), name), flatten_config(mine[name], name)
            for key in sorted(set(theirs) | set(ours)):
                if theirs.get(key) != ours.get(key):
                    differences.append(f"{key} = {theirs.get(key)!r} (this run: {ours.get(key)!r})")
        if differences:
            raise ConfigError(
                f"{workdir_hint} holds a run with {'; '.join(differences)}: resume with the "
                "same settings (flags such as --warmup-steps/--decay-steps pin defaults that "
                "follow --steps) or use a new --workdir"
            )


def config_json(config: Any) -> Any:
    """A dataclass config as JSON-safe data, as checkpoints record it (tuples become lists)."""
    value = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else repr(config)
    return json.loads(json.dumps(value, default=str))


def flatten_config(value: Any, prefix: str) -> dict[str, Any]:
    """``{dotted.key: leaf}`` of a nested JSON-like config (for listing differences)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten_config(v, f"{prefix}.{k}"))
        return out
    return {prefix: value}


def config_from_json(config_type: type, value: Any, where: str = "config") -> Any:
    """Rebuild a frozen dataclass config of ``config_type`` from :func:`config_json` data (a
    checkpoint's recorded ``model_config``): nested dataclasses and tuples are restored from
    their type hints, and every class validates itself as usual.

    Raises:
        ConfigError: a field is missing or unknown, or a value has the wrong shape; the message
            names the field by its dotted path under ``where``.
    """
    import types
    import typing

    def build(tp: Any, v: Any, path: str) -> Any:
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp):
            if not isinstance(v, dict):
                raise ConfigError(f"{path} = {v!r}: expected an object for {tp.__name__}")
            hints = typing.get_type_hints(tp)
            fields = {f.name for f in dataclasses.fields(tp) if f.init}
            # a field a class retired loads while it holds the value that meant what the
            # class now does (``RETIRED_FIELDS``: name -> that value); any other is an error
            retired = getattr(tp, "RETIRED_FIELDS", {})
            for k in sorted(set(v) & set(retired) - fields):
                if v[k] != retired[k]:
                    raise ConfigError(
                        f"{path}.{k} = {v[k]!r}: {tp.__name__} retired this field; only "
                        f"{retired[k]!r} (what it does now) still loads"
                    )
                v = {key: x for key, x in v.items() if key != k}
            unknown = sorted(set(v) - fields)
            if unknown:
                raise ConfigError(f"{path}: unknown fields {unknown} for {tp.__name__}")
            kwargs = {k: build(hints[k], v[k], f"{path}.{k}") for k in fields if k in v}
            try:
                return tp(**kwargs)
            except TypeError as e:
                raise ConfigError(f"{path}: {e}") from None
        if origin is tuple:
            if not isinstance(v, list | tuple):
                raise ConfigError(f"{path} = {v!r}: expected a list")
            args = typing.get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(build(args[0], x, f"{path}[{i}]") for i, x in enumerate(v))
            if args and len(args) != len(v):
                raise ConfigError(f"{path} = {v!r}: expected {len(args)} items")
            return tuple(build(a, x, f"{path}[{i}]") for i, (a, x) in enumerate(zip(args, v)))
        if origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(tp):
                if v is None and arg is type(None):
                    return None
            real = [a for a in typing.get_args(tp) if a is not type(None)]
            return build(real[0], v, path) if v is not None else None
        return v

    if not dataclasses.is_dataclass(config_type):
        raise TypeError(f"config_from_json: {config_type!r} is not a dataclass type")
    return build(config_type, value, where)
