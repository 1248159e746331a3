"""Named experiments: one frozen config tree per name (task, model, rig, data, training), the
one place where the presets tiny / small / base become concrete configs.

``astra train NAME`` trains one (``astra train --help`` lists them); any field of its task
config is overridden from the command line with tyro, e.g.
``astra train encoder-tiny --config.data.train-worlds 1 --config.encoder.splat-impl xla``.
A preset name is resolved here, once; the task, the data cache and the simulator receive the
resolved config objects (an override reaches data generation, and the episode cache is keyed by
the configs in use).

====================  =========  ==============================================================
name                  task       what
====================  =========  ==============================================================
reference-tiny/...    reference  the engine's reference MLP on synthetic teacher data
encoder-tiny/...      encoder    Astra-Local encoder depth pre-training on simulator episodes
encoder-3d-tiny/...   encoder-3d Astra-Local encoder 3D pre-training: render depth and colour
forecast-tiny/...     forecast   Astra-Local 4D pre-training: future voxel features (frozen 3D)
occupancy-tiny/...    occupancy  Astra-Local encoder + occupancy head fine-tuning (Table 5)
local-tiny/...        local      Astra-Local planning + odometry heads on frozen-encoder features
global-sft-tiny/...   global-sft Astra-Global SFT on localization tasks of simulator worlds
global-grpo-tiny/...  global-grpo Astra-Global GRPO after SFT: rule rewards, KL to the SFT model
====================  =========  ==============================================================
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from astra_jax.config import ConfigError, get_preset
from astra_jax.tasks import get_task

PRESET_NAMES: tuple[str, ...] = ("tiny", "small", "base")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment.

    Attributes:
        name: what ``astra train`` calls it, ``<task>-<preset>``.
        summary: one line for ``--help``.
        task: the task (:data:`astra_jax.tasks.TASKS`) it trains.
        preset: the preset its config was made from (a label recorded with the run).
        config: the task's config, resolved (the task's ``config_type``).
        steps: default optimizer steps.
        batch_size: default global batch size.
        learning_rate: default peak learning rate.
    """

    name: str
    summary: str
    task: str
    preset: str
    config: Any
    steps: int
    batch_size: int
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        spec = get_task(self.task)
        if not isinstance(self.config, spec.config_type):
            raise ConfigError(
                f"Experiment {self.name!r}: config is a {type(self.config).__name__}, expected "
                f"a {spec.config_type.__name__} for task {self.task!r}"
            )


# Reference model sizes: (input, embed, mlp, depth, output, teacher, dropout, noise, train, eval)
_REFERENCE_SIZES: dict[str, tuple[Any, ...]] = {
    "tiny": (16, 64, 256, 2, 4, 32, 0.1, 0.01, 4096, 512),
    "small": (32, 256, 1024, 4, 8, 64, 0.1, 0.01, 65536, 4096),
    "base": (64, 1024, 4096, 8, 16, 128, 0.1, 0.01, 1 << 20, 16384),
}
_REFERENCE_BATCH = {"tiny": 32, "small": 128, "base": 512}

_ENCODER_BATCH = {"tiny": 16, "small": 32, "base": 64}


def _reference(preset: str) -> Experiment:
    from astra_jax.tasks.reference import ReferenceConfig

    return Experiment(
        name=f"reference-{preset}",
        summary=f"the engine's reference MLP ({preset}) regressing a random teacher network",
        task="reference",
        preset=preset,
        config=ReferenceConfig(*_REFERENCE_SIZES[preset]),
        steps=200,
        batch_size=_REFERENCE_BATCH[preset],
    )


def _encoder(preset: str) -> Experiment:
    from astra_jax.data.episode_data import EpisodeDataConfig
    from astra_jax.local_model.config import EncoderConfig
    from astra_jax.tasks.encoder_depth import EncoderTaskConfig

    # Episodes per preset (measured on 2 CPU cores; details in docs/design.md):
    # tiny: 4 train worlds x 2 episodes (1,802 frames, 64 MB) + 2 val worlds (1,011 frames,
    #   36 MB), generated in ~40 s; small: 16 x 3 (11,062 frames, 3.4 GB) + 4 val worlds
    #   (2,873 frames, 0.9 GB), ~3.5 min; base: the same at 224x224, 1.66 MB a frame: ~18 + 5 GB.
    data = {
        "tiny": EpisodeDataConfig(
            train_worlds=2, val_worlds=1, test_worlds=1, episodes_per_world=2
        ),
        "small": EpisodeDataConfig(
            train_worlds=8, val_worlds=2, test_worlds=2, episodes_per_world=3
        ),
        "base": EpisodeDataConfig(
            train_worlds=8, val_worlds=2, test_worlds=2, episodes_per_world=3
        ),
    }[preset]

    astra = get_preset(preset)
    return Experiment(
        name=f"encoder-{preset}",
        summary=f"Astra-Local encoder ({preset}) depth pre-training on simulator episodes",
        task="encoder",
        preset=preset,
        config=EncoderTaskConfig(
            name=preset,
            encoder=EncoderConfig(local=astra.local, rig=astra.rig),
            sim=astra.sim,
            data=data,
        ),
        steps=2000,
        batch_size=_ENCODER_BATCH[preset],
    )


_ENCODER_3D = {"tiny": (1500, 16), "small": (6000, 16), "base": (50000, 32)}  # steps, batch


def _encoder_3d(preset: str) -> Experiment:
    from astra_jax.local_model.render_head import RenderConfig
    from astra_jax.tasks.encoder_3d import Encoder3dTaskConfig

    depth = _encoder(preset).config  # the same episodes (one cache entry) as depth pre-training
    steps, batch = _ENCODER_3D[preset]
    return Experiment(
        name=f"encoder-3d-{preset}",
        summary=f"Astra-Local encoder ({preset}) 3D pre-training: render depth and colour",
        task="encoder-3d",
        preset=preset,
        config=Encoder3dTaskConfig(
            name=preset,
            encoder=depth.encoder,
            render=RenderConfig.for_preset(preset),
            sim=depth.sim,
            data=depth.data,
        ),
        steps=steps,
        batch_size=batch,
    )


_FORECAST = {"tiny": (1000, 8), "small": (6000, 8), "base": (50000, 16)}  # steps, batch


def _forecast(preset: str) -> Experiment:
    from astra_jax.local_model.forecast import ForecastConfig
    from astra_jax.tasks.forecast import ForecastTaskConfig

    three_d = _encoder_3d(preset).config  # the frozen model's configs and the same episodes
    steps, batch = _FORECAST[preset]
    return Experiment(
        name=f"forecast-{preset}",
        summary=f"Astra-Local 4D pre-training ({preset}; --config.encoder-workdir an "
        f"encoder-3d-{preset} run)",
        task="forecast",
        preset=preset,
        config=ForecastTaskConfig(
            name=preset,
            encoder=three_d.encoder,
            render=three_d.render,
            forecast=ForecastConfig.for_preset(preset),
            sim=three_d.sim,
            data=three_d.data,
        ),
        steps=steps,
        batch_size=batch,
    )


def _occupancy(preset: str) -> Experiment:
    from astra_jax.local_model.occupancy_head import OccupancyHeadConfig
    from astra_jax.tasks.occupancy import OccupancyTaskConfig

    three_d = _encoder_3d(preset).config  # the encoder it may start from, the same episodes
    return Experiment(
        name=f"occupancy-{preset}",
        summary=f"Astra-Local occupancy fine-tuning ({preset}; --config.init-workdir an "
        f"encoder-3d-{preset} run, or none: from scratch)",
        task="occupancy",
        preset=preset,
        config=OccupancyTaskConfig(
            name=preset,
            encoder=three_d.encoder,
            head=OccupancyHeadConfig(hidden=three_d.render.hidden),
            render=three_d.render,
            sim=three_d.sim,
            data=three_d.data,
        ),
        steps={"tiny": 600, "small": 3000, "base": 20000}[preset],
        batch_size=_ENCODER_3D[preset][1],
    )


_LOCAL_BATCH = {"tiny": 32, "small": 16, "base": 64}


def _local(preset: str) -> Experiment:
    from astra_jax.data.episode_data import EpisodeDataConfig
    from astra_jax.local_model.config import EncoderConfig
    from astra_jax.local_model.esdf_loss import EsdfLossConfig
    from astra_jax.local_model.odometry_head import OdometryHeadConfig
    from astra_jax.local_model.planning_head import PlanningHeadConfig
    from astra_jax.tasks.local_heads import HeadDataConfig, LocalTaskConfig

    # Plain offices only: warehouses and cluttered offices are the out-of-distribution tests.
    worlds = {"tiny": (2, 2, 2, 2), "small": (12, 2, 3, 3), "base": (12, 2, 3, 3)}[preset]
    episodes = EpisodeDataConfig(
        families=("office",), train_worlds=worlds[0], val_worlds=worlds[1],
        test_worlds=worlds[2], episodes_per_world=worlds[3],
    )  # fmt: skip
    # The crop holds the horizon: 4 waypoints (tiny) or 8 at 0.5 s, up to 1 m/s.
    esdf_shape = (48, 48) if preset == "tiny" else (96, 96)
    # lambda of the masked ESDF loss. At 1 the term is ~1 % of the small planner's loss and
    # changed nothing measurable; 20 lowered the val-world collision rate of one sample from 31 %
    # to 23 % after 800 steps (session 16, chosen on val seeds; docs/design.md section 13).
    # tiny keeps 1 (its shipped demo heads were trained so; not re-tuned).
    esdf_weight = 1.0 if preset == "tiny" else 20.0
    astra = get_preset(preset)
    return Experiment(
        name=f"local-{preset}",
        summary=f"Astra-Local planning + odometry heads ({preset}) on frozen-encoder features",
        task="local",
        preset=preset,
        config=LocalTaskConfig(
            name=preset,
            encoder=EncoderConfig(local=astra.local, rig=astra.rig),
            planning=PlanningHeadConfig.for_preset(preset),
            odometry=OdometryHeadConfig.for_preset(preset),
            esdf_loss=EsdfLossConfig(robot_radius=astra.sim.robot.radius, weight=esdf_weight),
            sim=astra.sim,
            data=HeadDataConfig(episodes=episodes, esdf_shape=esdf_shape),
        ),
        steps={"tiny": 600, "small": 3000, "base": 20000}[preset],
        batch_size=_LOCAL_BATCH[preset],
    )


REWARDED = ("coarse", "fine", "covisibility", "relative_pose", "landmarks")

_GLOBAL_SFT = {
    # preset: (train worlds, val worlds, tour frames, seq_len, max images, image_hw, steps, batch)
    "tiny": (("small_office:0",), ("small_office:1000000",), 120, 1280, 12, (56, 56), 300, 4),
    "small": (
        tuple(f"{n}:{s}" for n in ("small_office", "small_warehouse") for s in range(8)),
        ("small_office:1000000", "small_warehouse:1000000"),
        300, 4096, 16, (112, 112), 4000, 8,
    ),
    "base": (
        tuple(f"{n}:{s}" for n in ("office", "warehouse") for s in range(32)),
        ("office:1000000", "warehouse:1000000"),
        1500, 16384, 32, (224, 224), 20000, 32,
    ),
}  # fmt: skip


def _global_sft(preset: str) -> Experiment:
    from astra_jax.global_model.config import get_config, with_own_tokenizer
    from astra_jax.tasks.global_sft import GlobalSftConfig, LocalizationDataConfig

    train, val, frames, seq_len, images, hw, steps, batch = _GLOBAL_SFT[preset]
    model = {"tiny": "tiny", "small": "small", "base": "qwen2.5-vl-3b"}[preset]
    # base: the 3B architecture from scratch with the shipped tokenizer (Qwen's is not shipped),
    # its 36 + 32 layers scanned (unrolled, its train step did not compile in 225 s on an H200)
    # and rematerialised (16384-token rows)
    model_config = get_config(model)
    if preset == "base":
        model_config = with_own_tokenizer(model_config).replace(scan_layers=True, remat_layers=True)
    return Experiment(
        name=f"global-sft-{preset}",
        summary=f"Astra-Global ({model}) SFT on the localization tasks of simulator worlds",
        task="global-sft",
        preset=preset,
        config=GlobalSftConfig(
            name=preset,
            model=model_config,
            render=get_preset("small"),  # tours at the mapping resolution of the small rig
            data=LocalizationDataConfig(
                train_worlds=train,
                val_worlds=val,
                tour_frames=frames,
                seq_len=seq_len,
                max_images=images,
                image_hw=hw,
            ),
        ),
        steps=steps,
        batch_size=batch,
        learning_rate=3e-3 if preset == "tiny" else 1e-3,
    )


_GLOBAL_GRPO = {
    # preset: (tasks, group size, max new tokens, seq_len, steps, prompts per step, lr)
    # tiny leaves out coarse: its answers (every landmark seen) outgrow the tiny model
    "tiny": (("fine", "covisibility", "relative_pose", "landmarks"), 4, 64, 1280, 100, 4, 3e-4),
    "small": (REWARDED, 8, 256, 4096, 1000, 8, 5e-5),
    "base": (REWARDED, 8, 256, 16384, 2000, 32, 1e-6),
}


def _global_grpo(preset: str) -> Experiment:
    from astra_jax.tasks.global_grpo import GlobalGrpoConfig, GrpoOptions

    tasks, group, new_tokens, seq_len, steps, prompts, lr = _GLOBAL_GRPO[preset]
    sft = _global_sft(preset).config
    return Experiment(
        name=f"global-grpo-{preset}",
        summary=f"Astra-Global GRPO after global-sft-{preset} (--config.sft-workdir RUN)",
        task="global-grpo",
        preset=preset,
        config=GlobalGrpoConfig(
            name=preset,
            sft=sft,
            grpo=GrpoOptions(
                tasks=tasks,
                group_size=group,
                max_new_tokens=new_tokens,
                seq_len=seq_len,
                max_images=min(4, sft.data.max_images),
            ),
        ),
        steps=steps,
        batch_size=prompts,
        learning_rate=lr,
    )


_FACTORIES = {
    "reference": _reference,
    "encoder": _encoder,
    "encoder-3d": _encoder_3d,
    "forecast": _forecast,
    "occupancy": _occupancy,
    "local": _local,
    "global-sft": _global_sft,
    "global-grpo": _global_grpo,
}


def names() -> list[str]:
    """Every experiment name, ``<task>-<preset>``."""
    return [f"{task}-{preset}" for task in _FACTORIES for preset in PRESET_NAMES]


@functools.cache
def get(name: str) -> Experiment:
    """The experiment called ``name`` (its config built on first use)."""
    task, _, preset = name.rpartition("-")
    if task not in _FACTORIES or preset not in PRESET_NAMES:
        raise ConfigError(f"unknown experiment {name!r}: expected one of {', '.join(names())}")
    return _FACTORIES[task](preset)


def for_task(task: str, preset: str) -> Experiment:
    """The experiment of ``task`` at ``preset`` (the older ``astra train TASK --preset P``)."""
    if preset not in PRESET_NAMES:
        raise ConfigError(f"preset {preset!r}: expected one of {', '.join(PRESET_NAMES)}")
    return get(f"{task}-{preset}")


def trainable(name: str, precision: Any = None) -> Any:
    """The Trainable of experiment ``name`` with its default config (``precision``: an
    :class:`astra_jax.train.Precision`, default bfloat16 compute)."""
    from astra_jax.train.precision import Precision

    exp = get(name)
    return get_task(exp.task).create(exp.config, precision or Precision())
