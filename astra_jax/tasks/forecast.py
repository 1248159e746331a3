"""Task ``forecast``: Astra-Local's 4D pre-training on simulator episodes (paper Eq. 8-9).

The model is :class:`~astra_jax.local_model.forecast_pretrain.ForecastPretrain`: the 4D module
trained to predict the frozen 3D encoder's future voxel features, on voxels and through the
frozen rendering head. The 3D model comes from an ``astra train encoder-3d-<preset>`` run
(``encoder_workdir``; frozen, as the paper trained its baselines); an empty ``encoder_workdir``
uses a random-init one (tests and smoke runs only; the run's log says so). Named configs:
``forecast-tiny|small|base`` (:mod:`astra_jax.experiments`).

Data: windows of simulator goal episodes (:class:`~astra_jax.data.episode_windows
.EpisodeWindows`: ``past_frames + P`` frames of history and F future frames), both families,
train / val / test from the disjoint world-seed splits; the episode cache entries are the
encoder pre-trainings' (same rig and simulator).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any

import grain
import jax

from astra_jax.config import AstraConfig, SimConfig
from astra_jax.data.episode_data import EpisodeDataConfig
from astra_jax.data.episode_windows import EpisodeWindows
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.forecast import ForecastConfig
from astra_jax.local_model.forecast_pretrain import ForecastPretrain
from astra_jax.local_model.render_head import RenderConfig
from astra_jax.tasks import TaskSpec
from astra_jax.tasks.frozen_encoder import load_frozen_3d
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import (
    check_non_empty_strings,
    check_non_negative_numbers,
    check_types,
)


@dataclasses.dataclass(frozen=True)
class ForecastTaskConfig:
    """The frozen 3D model (encoder, rendering head, the run they come from), the 4D module,
    the loss weights, the simulator and which episodes.

    Attributes:
      encoder_workdir: an ``astra train encoder-3d-<preset>`` run; empty: random-init.
      encoder_step: its checkpoint (best, latest or a number; ``build`` records the number).
      voxel_weight, render_weight: Eq. 9's voxel term and rendering terms (1 : 1).
    """

    name: str
    encoder: EncoderConfig
    render: RenderConfig
    forecast: ForecastConfig
    sim: SimConfig
    data: EpisodeDataConfig
    encoder_workdir: str = ""
    encoder_step: str = "best"
    voxel_weight: float = 1.0
    render_weight: float = 1.0

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name", "encoder_step")
        check_types(self, encoder=EncoderConfig, render=RenderConfig, forecast=ForecastConfig,
                    sim=SimConfig, data=EpisodeDataConfig)  # fmt: skip
        check_non_negative_numbers(self, "voxel_weight", "render_weight")
        if self.forecast.interval != self.encoder.local.frame_interval:
            raise ValueError(
                f"ForecastTaskConfig: forecast.interval {self.forecast.interval} s differs from "
                f"the encoder's frame_interval {self.encoder.local.frame_interval} s (one "
                "window spacing serves both)"
            )

    @property
    def render_config(self) -> AstraConfig:
        enc = self.encoder
        return AstraConfig(name=self.name, rig=enc.rig, local=enc.local, sim=self.sim)


@functools.cache
def _frozen(encoder: EncoderConfig, render: RenderConfig, workdir: str, step: str) -> Any:
    params, source = load_frozen_3d(encoder, render, workdir, step)
    print(f"forecast: frozen 3D model = {source}", file=sys.stderr)
    return params


@dataclasses.dataclass(frozen=True)
class ForecastTask:
    """The 4D pre-training bound to one config: the engine's :class:`Trainable`."""

    config: ForecastTaskConfig
    frozen: Any = dataclasses.field(default=None, compare=False, repr=False)
    eval_split: str | None = "val"

    @property
    def task(self) -> ForecastPretrain:
        cfg = self.config
        return ForecastPretrain(cfg.encoder, cfg.render, cfg.forecast, self.frozen,
                                cfg.voxel_weight, cfg.render_weight)  # fmt: skip

    def init(self, rng: jax.Array) -> Any:
        return self.task.init(rng)

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        return self.task.loss_fn(params, batch, rng)

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self.task.eval_fn(params, batch)

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return self.task.batch_spec(batch_size)

    def source(self, split: str) -> EpisodeWindows:
        cfg = self.config
        refs = cfg.data.episode_refs(cfg.render_config, split)
        return EpisodeWindows(
            [r.path for r in refs], cfg.encoder.local, cfg.data.frame_stride,
            before=cfg.encoder.local.past_frames + cfg.forecast.past, after=cfg.forecast.future,
            interleave=split != "train",
        )  # fmt: skip

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        del seed
        source = grain.MapDataset.source(self.source(split))
        return shard_for_process(source, process_index, process_count)


def build(config: ForecastTaskConfig, precision: Precision) -> ForecastTask:
    """The task for ``config`` (the frozen 3D model runs in float32; the 4D module too: its
    outputs are compared with the encoder's float32 features)."""
    del precision
    if config.encoder_workdir and not config.encoder_step.isdigit():
        from astra_jax.train.evaluate import resolve_step

        step = resolve_step(config.encoder_workdir, config.encoder_step)
        config = dataclasses.replace(config, encoder_step=str(step))
    # restored here, eagerly: the engine traces init and the loss
    frozen = _frozen(config.encoder, config.render, config.encoder_workdir, config.encoder_step)
    return ForecastTask(config, frozen)


SPEC = TaskSpec(
    summary="Astra-Local 4D pre-training: predict the frozen 3D encoder's future features",
    config_type=ForecastTaskConfig,
    build=build,
)
