"""Task ``occupancy``: Astra-Local's encoder fine-tuned with an occupancy head (the paper's
Table 5 protocol), from a 3D pre-trained encoder or from scratch.

The whole encoder (lift, splat, fusion) and :class:`~astra_jax.local_model.occupancy_head
.OccupancyHead` train on the simulator's occupancy of the current frame
(:class:`~astra_jax.data.episode_windows.EpisodeWindows` with occupancy labels). ``init_workdir``
names an ``astra train encoder-3d-<preset>`` run whose encoder starts the run (checked to be the
same encoder); empty: random init, the "without pre-training" row. Named configs
``occupancy-tiny|small|base``; ``astra eval occupancy`` compares runs on held-out worlds.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any

import flax.linen as nn
import grain
import jax
import jax.numpy as jnp

from astra_jax.config import AstraConfig, SimConfig
from astra_jax.data.episode_data import EpisodeDataConfig
from astra_jax.data.episode_windows import EpisodeWindows
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.occupancy_head import OccupancyHead, OccupancyHeadConfig, occupancy_loss
from astra_jax.local_model.render_head import RenderConfig, voxels_from_features
from astra_jax.tasks import TaskSpec
from astra_jax.tasks.frozen_encoder import load_frozen_3d
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import check_non_empty_strings, check_types


@dataclasses.dataclass(frozen=True)
class OccupancyTaskConfig:
    """The encoder, its occupancy head, where the encoder starts, the simulator and episodes.

    Attributes:
      init_workdir: an ``encoder-3d-<preset>`` run whose encoder starts training; empty: random.
      init_step: its checkpoint (best, latest or a number; ``build`` records the number).
      render: that run's rendering config (checked with its encoder; not trained here).
    """

    name: str
    encoder: EncoderConfig
    head: OccupancyHeadConfig
    render: RenderConfig
    sim: SimConfig
    data: EpisodeDataConfig
    init_workdir: str = ""
    init_step: str = "best"

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name", "init_step")
        check_types(self, encoder=EncoderConfig, head=OccupancyHeadConfig, render=RenderConfig,
                    sim=SimConfig, data=EpisodeDataConfig)  # fmt: skip

    @property
    def render_config(self) -> AstraConfig:
        enc = self.encoder
        return AstraConfig(name=self.name, rig=enc.rig, local=enc.local, sim=self.sim)


@functools.cache
def _pretrained(encoder: EncoderConfig, render: RenderConfig, workdir: str, step: str) -> Any:
    params, source = load_frozen_3d(encoder, render, workdir, step)
    print(f"occupancy: encoder starts from {source}", file=sys.stderr)
    return params["encoder"]


def occupancy_forward(config: OccupancyTaskConfig, params: Any, batch: Batch) -> jax.Array:
    """Occupancy logits (B, X, Y, Z) of the current frames."""
    enc = config.encoder
    out = enc.module().apply({"params": params["encoder"]}, batch["images"], batch["poses"])
    voxels = voxels_from_features(out.features, enc.local.voxel)
    return OccupancyHead(config.head).apply({"params": params["occupancy"]}, voxels)


@dataclasses.dataclass(frozen=True)
class OccupancyTask:
    """Occupancy fine-tuning bound to one config: the engine's :class:`Trainable`."""

    config: OccupancyTaskConfig
    start: Any = dataclasses.field(default=None, compare=False, repr=False)  # encoder params
    eval_split: str | None = "val"

    def init(self, rng: jax.Array) -> Any:
        """``{"encoder", "occupancy"}`` boxed; the encoder from ``start`` when given."""
        enc_rng, head_rng = jax.random.split(rng)
        _, encoder = self.config.encoder.create(enc_rng)
        if self.start is not None:
            is_box = lambda x: isinstance(x, nn.LogicallyPartitioned)  # noqa: E731
            values = jax.tree.leaves(self.start)
            boxes, tree = jax.tree.flatten(encoder, is_leaf=is_box)
            if len(values) != len(boxes):
                raise ValueError("occupancy: the pre-trained encoder's parameters do not match")
            encoder = jax.tree.unflatten(tree, [b.replace_boxed(jnp.asarray(v, b.value.dtype))
                                                for b, v in zip(boxes, values)])  # fmt: skip
        voxels = jnp.zeros((1, *self.config.encoder.voxel_shape))
        head = OccupancyHead(self.config.head).init(head_rng, voxels)
        return {"encoder": encoder, "occupancy": head["params"]}

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        del rng
        logits = occupancy_forward(self.config, params, batch)
        loss, metrics = occupancy_loss(logits, batch["occupancy"], batch["occupancy_valid"],
                                       self.config.head.pos_weight)  # fmt: skip
        return loss, {"loss": loss, **metrics}

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self.loss_fn(params, batch, jax.random.key(0))[1]

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        enc = self.config.encoder
        x, y, z = enc.grid_shape
        return {
            **enc.inputs_spec(batch_size),
            "occupancy": jax.ShapeDtypeStruct((batch_size, x, y, z), jnp.uint8),
            "occupancy_valid": jax.ShapeDtypeStruct((batch_size, x, y), jnp.bool_),
        }

    def source(self, split: str) -> EpisodeWindows:
        cfg = self.config
        refs = cfg.data.episode_refs(cfg.render_config, split)
        return EpisodeWindows(
            [r.path for r in refs], cfg.encoder.local, cfg.data.frame_stride,
            depth=False, occupancy=cfg.encoder.local.voxel, sim=cfg.sim,
            interleave=split != "train",
        )  # fmt: skip

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        del seed
        source = grain.MapDataset.source(self.source(split))
        return shard_for_process(source, process_index, process_count)


def build(config: OccupancyTaskConfig, precision: Precision) -> OccupancyTask:
    """The task for ``config``, its encoder computing in ``precision``'s dtypes."""
    start = None
    if config.init_workdir:
        if not config.init_step.isdigit():
            from astra_jax.train.evaluate import resolve_step

            step = resolve_step(config.init_workdir, config.init_step)
            config = dataclasses.replace(config, init_step=str(step))
        start = _pretrained(config.encoder, config.render, config.init_workdir, config.init_step)
    encoder = dataclasses.replace(
        config.encoder, dtype=precision.compute_dtype, param_dtype=precision.param_dtype
    )
    return OccupancyTask(dataclasses.replace(config, encoder=encoder), start)


SPEC = TaskSpec(
    summary="Astra-Local occupancy fine-tuning (encoder + occupancy head; Table 5)",
    config_type=OccupancyTaskConfig,
    build=build,
)
