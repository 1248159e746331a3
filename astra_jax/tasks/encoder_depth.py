"""Task ``encoder``: depth pre-training of Astra-Local's encoder on simulator episodes.

The model is :class:`~astra_jax.local_model.depth_pretrain.DepthPretrain` (the encoder's lift:
ViT + camera embedding + depth/context head, trained with the binned-depth cross-entropy); this
module binds it to a resolved :class:`EncoderTaskConfig` and its data, and hands the training
engine a :class:`~astra_jax.train.trainable.Trainable`. Named configs (``encoder-tiny``,
``encoder-small``, ``encoder-base``) live in :mod:`astra_jax.experiments`.

Data: per-frame examples ``{"rgb": (N, H, W, 3) uint8, "depth": (N, H, W) float32 m}`` of
simulator goal episodes in both families (office, warehouse). The ``train`` split comes from
train world seeds (0, 1, ...), ``val`` (evaluated at every checkpoint) and ``test`` from the
held-out val / test world seeds (1,000,000, ... and 1,100,000, ...), so no evaluated world is
ever trained on. The episodes are rendered with the config's own simulator and rig (overrides
included) on first use into the cache of :mod:`astra_jax.data.episode_cache`
(``$ASTRA_DATA_DIR``) and reused afterwards. The task config is recorded in every checkpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import grain
import jax

from astra_jax.config import AstraConfig, SimConfig
from astra_jax.data.episode_data import EpisodeDataConfig
from astra_jax.data.episode_frames import EpisodeFrames
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.depth_pretrain import DepthPretrain
from astra_jax.tasks import TaskSpec
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import check_non_empty_strings, check_types


@dataclasses.dataclass(frozen=True)
class EncoderTaskConfig:
    """The encoder, the simulator that renders its episodes (with the encoder's rig), and
    which episodes. ``name`` labels the config (the preset it was made from): it names the
    episode cache directory and the run, nothing else."""

    name: str
    encoder: EncoderConfig
    sim: SimConfig
    data: EpisodeDataConfig

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name")
        check_types(self, encoder=EncoderConfig, sim=SimConfig, data=EpisodeDataConfig)

    @property
    def render_config(self) -> AstraConfig:
        """What the simulator renders the episodes with: this config's rig, sizes and sim."""
        enc = self.encoder
        return AstraConfig(name=self.name, rig=enc.rig, local=enc.local, sim=self.sim)


@dataclasses.dataclass(frozen=True)
class EncoderDepthTask:
    """Depth pre-training bound to one config: the engine's :class:`Trainable`."""

    config: EncoderTaskConfig
    eval_split: str | None = "val"

    @property
    def task(self) -> DepthPretrain:
        return DepthPretrain(self.config.encoder)

    def init(self, rng: jax.Array) -> Any:
        """``{"lift": params}``: the encoder's ``params["lift"]`` subtree, boxed."""
        return self.task.init(rng)

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        return self.task.loss_fn(params, batch, rng)

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self.task.eval_fn(params, batch)

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return self.task.batch_spec(batch_size)

    def source(self, split: str) -> EpisodeFrames:
        """All examples of ``split`` (generating its episodes on first use).

        Training examples are ordered episode by episode (the engine shuffles them); held-out
        examples round-robin over the episodes, so the engine's first ``eval_batches``
        batches sample every held-out world rather than the first episode.
        """
        cfg = self.config
        refs = cfg.data.episode_refs(cfg.render_config, split)
        return EpisodeFrames(
            [(r.path, r.num_frames) for r in refs],
            cfg.data.frame_stride,
            interleave=split != "train",
        )

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        """This process's examples of ``split``; independent of ``seed`` (see module doc)."""
        del seed
        source = grain.MapDataset.source(self.source(split))
        return shard_for_process(source, process_index, process_count)


def build(config: EncoderTaskConfig, precision: Precision) -> EncoderDepthTask:
    """The task for ``config``, its encoder computing in ``precision``'s dtypes."""
    encoder = dataclasses.replace(
        config.encoder, dtype=precision.compute_dtype, param_dtype=precision.param_dtype
    )
    return EncoderDepthTask(dataclasses.replace(config, encoder=encoder))


SPEC = TaskSpec(
    summary="Astra-Local encoder depth pre-training (lift vs simulator depth, binned CE)",
    config_type=EncoderTaskConfig,
    build=build,
)
