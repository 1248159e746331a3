"""Task ``reference``: a residual MLP learning a fixed random "teacher" network.

``astra train reference-tiny`` (named configs in :mod:`astra_jax.experiments`) trains it. It exists so that the engine can be tested and
benchmarked end to end (exact resume, sharding, checkpoints, metrics) without depending on
any Astra model, and it is the smallest complete example of a model plugging in.

Data: example ``i`` of a split is ``x ~ N(0, I)`` of ``input_dim`` features drawn from
``np.random.default_rng([seed, split, i])`` and ``y = W2 tanh(W1 x / sqrt(input_dim)) +
noise``, where the teacher weights ``W1, W2`` are drawn from the seed alone. Examples are made
on demand, so the dataset costs no disk and is identical on every machine.

Model: input projection, ``depth`` pre-LayerNorm residual MLP blocks with dropout, final
LayerNorm and a linear head; mean-squared error in float32.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import grain
import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.config import ConfigError
from astra_jax.tasks import TaskSpec
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import (
    check_non_negative_numbers,
    check_positive_ints,
    check_range,
    fields_annotated,
)

SPLITS: dict[str, int] = {"train": 0, "eval": 1}


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    """Sizes of the reference model and its synthetic dataset."""

    input_dim: int
    embed_dim: int
    mlp_dim: int
    depth: int
    output_dim: int
    teacher_dim: int
    dropout: float
    noise_std: float
    num_train: int
    num_eval: int

    def __post_init__(self) -> None:
        check_positive_ints(self, *fields_annotated(self, "int"))  # every int field
        check_range(self, "dropout", lo=0, hi=1, hi_open=True, expected="a rate in [0, 1)")
        check_non_negative_numbers(self, "noise_std")

    @property
    def num_params(self) -> int:
        block = 2 * self.embed_dim + 2 * self.embed_dim * self.mlp_dim + self.mlp_dim
        block += self.embed_dim
        head = (self.embed_dim + 1) * self.output_dim + 2 * self.embed_dim
        return (self.input_dim + 1) * self.embed_dim + self.depth * block + head


@dataclasses.dataclass(frozen=True)
class TeacherRegressionSource:
    """A grain random-access source: example ``index`` of ``split``, made on demand."""

    config: ReferenceConfig
    split: str
    seed: int

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"split {self.split!r}: expected one of {', '.join(SPLITS)}")

    def __len__(self) -> int:
        return self.config.num_train if self.split == "train" else self.config.num_eval

    @functools.cached_property
    def _teacher(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1_000_003])  # shared by all splits
        c = self.config
        w1 = rng.standard_normal((c.input_dim, c.teacher_dim)) / np.sqrt(c.input_dim)
        w2 = rng.standard_normal((c.teacher_dim, c.output_dim)) / np.sqrt(c.teacher_dim)
        return w1, w2

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        c = self.config
        rng = np.random.default_rng([self.seed, SPLITS[self.split], int(index)])
        x = rng.standard_normal(c.input_dim)
        w1, w2 = self._teacher
        y = np.tanh(x @ w1) @ w2 + c.noise_std * rng.standard_normal(c.output_dim)
        return {
            "x": x.astype(np.float32),
            "y": y.astype(np.float32),
            "example_id": np.int32(index),
        }


def _dense(features: int, names: tuple[str, str], precision: Precision) -> nn.Dense:
    return nn.Dense(
        features,
        dtype=precision.compute,
        param_dtype=precision.param,
        kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), names),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), names[1:]),
    )


def _layer_norm(precision: Precision) -> nn.LayerNorm:
    return nn.LayerNorm(
        dtype=precision.compute,
        param_dtype=precision.param,
        scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("embed",)),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed",)),
    )


class ResidualMLP(nn.Module):
    """``(B, input_dim) -> (B, output_dim)`` float32 predictions."""

    config: ReferenceConfig
    precision: Precision

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        c, p = self.config, self.precision
        h = _dense(c.embed_dim, ("input", "embed"), p)(x.astype(p.compute))
        h = nn.with_logical_constraint(h, ("batch", "embed"))
        for _ in range(c.depth):
            y = _layer_norm(p)(h)
            y = nn.gelu(_dense(c.mlp_dim, ("embed", "mlp"), p)(y))
            y = nn.with_logical_constraint(y, ("batch", "mlp"))
            y = nn.Dropout(c.dropout, deterministic=not train)(y)
            h = h + _dense(c.embed_dim, ("mlp", "embed"), p)(y)
            h = nn.with_logical_constraint(h, ("batch", "embed"))
        h = _layer_norm(p)(h)
        return _dense(c.output_dim, ("embed", "output"), p)(h).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class ReferenceRegressor:
    """The reference model bound to one config (a :class:`Trainable`)."""

    config: ReferenceConfig
    precision: Precision
    eval_split: str | None = "eval"

    @property
    def module(self) -> ResidualMLP:
        return ResidualMLP(self.config, self.precision)

    def init(self, rng: jax.Array) -> Any:
        x = jnp.zeros((1, self.config.input_dim), jnp.float32)
        return self.module.init(rng, x, train=False)["params"]

    def _mse(self, params: Any, batch: Batch, rng: jax.Array | None) -> jax.Array:
        train = rng is not None
        rngs = {"dropout": rng} if train else {}
        pred = self.module.apply({"params": params}, batch["x"], train=train, rngs=rngs)
        return jnp.mean(jnp.square(pred - batch["y"].astype(jnp.float32)))

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        mse = self._mse(params, batch, rng)
        return mse, {"mse": mse}

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        mse = self._mse(params, batch, None)
        return {"loss": mse, "rmse": jnp.sqrt(mse)}

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        source = TeacherRegressionSource(self.config, split, seed)
        return shard_for_process(grain.MapDataset.source(source), process_index, process_count)

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        c = self.config
        return {
            "x": jax.ShapeDtypeStruct((batch_size, c.input_dim), jnp.float32),
            "y": jax.ShapeDtypeStruct((batch_size, c.output_dim), jnp.float32),
            "example_id": jax.ShapeDtypeStruct((batch_size,), jnp.int32),
        }


def build(config: ReferenceConfig, precision: Precision) -> ReferenceRegressor:
    return ReferenceRegressor(config, precision)


SPEC = TaskSpec(
    summary="the engine's reference model: a residual MLP regressing a random teacher network",
    config_type=ReferenceConfig,
    build=build,
)
