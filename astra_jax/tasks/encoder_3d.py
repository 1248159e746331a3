"""Task ``encoder-3d``: Astra-Local's self-supervised 3D pre-training on simulator episodes.

The model is :class:`~astra_jax.local_model.render_pretrain.RenderPretrain`: the whole encoder
(lift, splat, temporal fusion) and the rendering head, trained to render the current frame's
depth and colour through SDF and colour volumes (paper Eq. 4-7). This module binds it to a
resolved :class:`Encoder3dTaskConfig` and its data and hands the engine a
:class:`~astra_jax.train.trainable.Trainable`. Named configs: ``encoder-3d-tiny|small|base``
(:mod:`astra_jax.experiments`).

Data: the encoder's input windows of simulator goal episodes
(:class:`~astra_jax.data.episode_windows.EpisodeWindows`), both families; the ``train`` split
from train world seeds, ``val`` (evaluated at every checkpoint) and ``test`` from the held-out
seeds. Episodes are the same cache entries as the depth pre-training's for the same rig and
simulator (:mod:`astra_jax.data.episode_cache`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import grain
import jax

from astra_jax.config import AstraConfig, SimConfig
from astra_jax.data.episode_data import EpisodeDataConfig
from astra_jax.data.episode_windows import EpisodeWindows
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.render_head import RenderConfig
from astra_jax.local_model.render_pretrain import RenderPretrain
from astra_jax.tasks import TaskSpec
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import check_non_empty_strings, check_types


@dataclasses.dataclass(frozen=True)
class Encoder3dTaskConfig:
    """The encoder, its rendering head, the simulator that renders the episodes (with the
    encoder's rig) and which episodes. ``name`` labels the config (its preset)."""

    name: str
    encoder: EncoderConfig
    render: RenderConfig
    sim: SimConfig
    data: EpisodeDataConfig

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name")
        check_types(self, encoder=EncoderConfig, render=RenderConfig, sim=SimConfig,
                    data=EpisodeDataConfig)  # fmt: skip

    @property
    def render_config(self) -> AstraConfig:
        """What the simulator renders the episodes with: this config's rig, sizes and sim."""
        enc = self.encoder
        return AstraConfig(name=self.name, rig=enc.rig, local=enc.local, sim=self.sim)


@dataclasses.dataclass(frozen=True)
class Encoder3dTask:
    """3D pre-training bound to one config: the engine's :class:`Trainable`."""

    config: Encoder3dTaskConfig
    eval_split: str | None = "val"

    @property
    def task(self) -> RenderPretrain:
        return RenderPretrain(self.config.encoder, self.config.render)

    def init(self, rng: jax.Array) -> Any:
        """``{"encoder": ..., "render": ...}``, boxed."""
        return self.task.init(rng)

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        return self.task.loss_fn(params, batch, rng)

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self.task.eval_fn(params, batch)

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return self.task.batch_spec(batch_size)

    def source(self, split: str) -> EpisodeWindows:
        """All windows of ``split`` (generating its episodes on first use); held-out examples
        round-robin over the episodes."""
        cfg = self.config
        refs = cfg.data.episode_refs(cfg.render_config, split)
        return EpisodeWindows(
            [r.path for r in refs], cfg.encoder.local, cfg.data.frame_stride,
            interleave=split != "train",
        )  # fmt: skip

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        """This process's examples of ``split``; independent of ``seed`` (the engine shuffles)."""
        del seed
        source = grain.MapDataset.source(self.source(split))
        return shard_for_process(source, process_index, process_count)


def build(config: Encoder3dTaskConfig, precision: Precision) -> Encoder3dTask:
    """The task for ``config``, its encoder computing in ``precision``'s dtypes (the rendering
    runs in float32)."""
    encoder = dataclasses.replace(
        config.encoder, dtype=precision.compute_dtype, param_dtype=precision.param_dtype
    )
    return Encoder3dTask(dataclasses.replace(config, encoder=encoder))


SPEC = TaskSpec(
    summary="Astra-Local encoder 3D pre-training (render depth and colour from SDF volumes)",
    config_type=Encoder3dTaskConfig,
    build=build,
)
