"""Task ``global-sft``: supervised fine-tuning of Astra-Global on the localization tasks.

``astra train global-sft-tiny`` (or ``astra train global-sft --preset tiny``) trains it on the
engine. The model is :class:`~astra_jax.global_model.model.Qwen25VL` at the config's size;
the data are the samples of :mod:`astra_jax.data.localization_samples` (coarse and fine
localization, co-visibility, relative pose, landmark extraction) from simulator worlds and
their surveyed maps, made on first use into the cache of
:mod:`astra_jax.data.localization_worlds`, tokenized with the chat template and packed
(:mod:`astra_jax.data.localization_packing`). The loss is the mean cross-entropy over answer
tokens only. ``train`` reads the train-seed worlds; ``val`` (evaluated at every checkpoint)
the validation-seed worlds; test worlds are never read here.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import grain
import jax
import jax.numpy as jnp
import optax

from astra_jax.config import AstraConfig, ConfigError
from astra_jax.data.localization_samples import SampleOptions
from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.model import Qwen25VL, init_boxed_params
from astra_jax.tasks import TaskSpec
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import check_non_empty_strings, check_positive_ints, check_types


@dataclasses.dataclass(frozen=True)
class LocalizationDataConfig:
    """Which worlds, how many tour frames each, which samples, and the row shapes.

    Attributes:
        train_worlds: ``"NAME:SEED"`` worlds with train seeds.
        val_worlds: worlds with validation seeds (checkpoint selection).
        tour_frames: frames of each world's mapping tour (its map's nodes and the queries).
        samples: the tasks and their settings.
        seq_len: tokens per packed row.
        max_images: images per packed row.
        image_hw: every image is resized to this (H, W) px, multiples of 28.
    """

    train_worlds: tuple[str, ...]
    val_worlds: tuple[str, ...]
    tour_frames: int
    samples: SampleOptions = dataclasses.field(default_factory=SampleOptions)
    seq_len: int = 2048
    max_images: int = 12
    image_hw: tuple[int, int] = (56, 56)

    def __post_init__(self) -> None:
        from astra_jax.data.localization_worlds import check_worlds

        if not self.train_worlds or not self.val_worlds:
            raise ConfigError("LocalizationDataConfig: needs train_worlds and val_worlds")
        check_worlds(self.train_worlds, "train", "train_worlds")
        check_worlds(self.val_worlds, "val", "val_worlds")
        check_positive_ints(self, "tour_frames", "seq_len", "max_images")


@dataclasses.dataclass(frozen=True)
class GlobalSftConfig:
    """The model, the simulator and rig that render its worlds, and the data. ``name`` labels
    the config (the preset it was made from) and names the data cache directory."""

    name: str
    model: GlobalModelConfig
    render: AstraConfig
    data: LocalizationDataConfig

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name")
        check_types(self, model=GlobalModelConfig, render=AstraConfig, data=LocalizationDataConfig)


def forward_logits(
    module: Qwen25VL, params: Any, batch: Batch, grid: tuple[int, int, int], slots: int
) -> jax.Array:
    """Logits (B, S, V) of packed rows (``input_ids``, ``segment_ids``, ``positions``
    (B, 3, S), ``pixel_values`` (B, slots * patches, patch_dim)); every image has ``grid``."""
    b = batch["input_ids"].shape[0]
    pixels = batch["pixel_values"].reshape(-1, batch["pixel_values"].shape[-1])
    logits, _ = module.apply(
        {"params": params},
        batch["input_ids"],
        jnp.moveaxis(batch["positions"], 1, 0),  # (B, 3, S) -> (3, B, S)
        batch["segment_ids"] > 0,
        pixels,
        (grid,) * (b * slots),
        segment_ids=batch["segment_ids"],
        row_image_slots=slots,
    )
    return logits


@dataclasses.dataclass(frozen=True)
class GlobalSftTask:
    """SFT bound to one config: the engine's :class:`Trainable`."""

    config: GlobalSftConfig
    eval_split: str | None = "val"

    @functools.cached_property
    def module(self) -> Qwen25VL:
        return self.config.model.model()

    @property
    def grid(self) -> tuple[int, int, int]:
        from astra_jax.data.localization_packing import image_grid

        return image_grid(self.config.model, self.config.data.image_hw)

    def init(self, rng: jax.Array) -> Any:
        return init_boxed_params(self.module, rng)

    def _forward(self, params: Any, batch: Batch) -> Metrics:
        logits = forward_logits(self.module, params, batch, self.grid, self.config.data.max_images)
        w = batch["weights"].astype(jnp.float32)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"])
        n = jnp.maximum(w.sum(), 1.0)
        hit = (jnp.argmax(logits, -1) == batch["targets"]).astype(jnp.float32)
        return {
            "loss": (ce * w).sum() / n,
            "token_accuracy": (hit * w).sum() / n,
            "answer_tokens": w.sum(),
            "num_tokens": (batch["segment_ids"] > 0).sum().astype(jnp.float32),
        }

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        del rng  # no dropout in Qwen2.5-VL
        metrics = self._forward(params, batch)
        return metrics["loss"], metrics

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self._forward(params, batch)

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        from astra_jax.data.localization_packing import packed_rows
        from astra_jax.data.localization_worlds import ensure_world, load_world_samples
        from astra_jax.global_model.tokenizer import ChatTokenizer

        d = self.config.data
        worlds = {"train": d.train_worlds, "val": d.val_worlds}.get(split)
        if worlds is None:
            raise ConfigError(f"split {split!r}: global-sft reads train and val worlds only")
        tokenizer = ChatTokenizer.from_file()
        tokenizer.check_config(self.config.model)  # the model's special ids are the tokenizer's
        loaded = [
            load_world_samples(ensure_world(w, self.config.render, d.tour_frames, d.samples))
            for w in worlds
        ]
        source, _ = packed_rows(
            loaded,
            tokenizer,
            self.config.model,
            seq_len=d.seq_len,
            max_images=d.max_images,
            image_hw=d.image_hw,
            seed=seed,
        )
        return shard_for_process(grain.MapDataset.source(source), process_index, process_count)

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        d, s = self.config.data, self.config.data.seq_len
        t, h, w = self.grid
        i32 = jnp.int32
        return {
            "input_ids": jax.ShapeDtypeStruct((batch_size, s), i32),
            "segment_ids": jax.ShapeDtypeStruct((batch_size, s), i32),
            "positions": jax.ShapeDtypeStruct((batch_size, 3, s), i32),
            "targets": jax.ShapeDtypeStruct((batch_size, s), i32),
            "weights": jax.ShapeDtypeStruct((batch_size, s), jnp.float32),
            "pixel_values": jax.ShapeDtypeStruct(
                (batch_size, d.max_images * t * h * w, self.config.model.vision.patch_dim),
                jnp.float32,
            ),
        }


def build(config: GlobalSftConfig, precision: Precision) -> GlobalSftTask:
    """The task for ``config``; the model computes and stores parameters in ``precision``'s
    dtypes (its config's own dtype fields are replaced)."""
    model = dataclasses.replace(
        config.model, dtype=precision.compute_dtype, param_dtype=precision.param_dtype
    )
    return GlobalSftTask(dataclasses.replace(config, model=model))


SPEC = TaskSpec(
    summary="Astra-Global SFT on the localization tasks (coarse, fine, co-visibility, ...)",
    config_type=GlobalSftConfig,
    build=build,
)
