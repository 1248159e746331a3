"""Task ``local``: Astra-Local's planning and odometry heads on frozen-encoder features.

The model is two heads trained together on the same ticks:

* the planning head (:mod:`astra_jax.local_model.planning_head`): conditional flow matching
  (Eq. 11) on the expert's next n waypoints, plus the masked ESDF loss (Eq. 12-15) on the
  one-step estimate;
* the odometry head (:mod:`astra_jax.local_model.odometry_head`): the latest frame pair's
  relative pose from a window of BEV correlations, IMU and wheel tokens; L1 + an uncertainty
  term.

Each head and each loss term can be switched off (``train_planning``, ``train_odometry``,
``esdf_loss.weight = 0``, the odometry modalities), for the ablations. The heads read the
cached per-tick features of a frozen encoder (:mod:`astra_jax.tasks.frozen_encoder`; an
``encoder-<preset>`` run's lift, or a random lift when ``encoder_workdir`` is empty) and the
labels of :mod:`astra_jax.data.head_labels`; training end to end through the encoder is left
to accelerators. Splits: train / val / test world seeds of the configured families (offices by
default: the out-of-distribution evaluation uses warehouses and cluttered offices).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any

import grain
import jax
import jax.numpy as jnp

from astra_jax.config import AstraConfig, ConfigError, SimConfig
from astra_jax.data.episode_data import EpisodeDataConfig
from astra_jax.data.head_cache import ensure_head_cache
from astra_jax.data.head_labels import TickSpec
from astra_jax.data.head_samples import HeadSamples
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.esdf_loss import EsdfLossConfig, esdf_loss, path_clearance
from astra_jax.local_model.flow_matching import TIME_SAMPLINGS, cfm_loss, sample
from astra_jax.local_model.frame_features import feature_shape
from astra_jax.local_model.odometry_head import OdometryHead, OdometryHeadConfig, odometry_loss
from astra_jax.local_model.planning_head import PlanningHead, PlanningHeadConfig
from astra_jax.local_model.sensor_augment import perturb_sensors
from astra_jax.local_model.trajectory import deltas_from_poses, rollout
from astra_jax.tasks import TaskSpec
from astra_jax.tasks.frozen_encoder import FrozenEncoder, load_frozen_encoder
from astra_jax.tasks.future_features import FutureFeatures
from astra_jax.train.data import shard_for_process
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import (
    check_bools,
    check_choice,
    check_non_empty_strings,
    check_non_negative_numbers,
    check_positive_numbers,
    check_types,
    fail_field,
)

# fold_in index of the sensor augmentation's key (the planning head uses the step key itself)
SENSOR_AUGMENT_STREAM = 1


@dataclasses.dataclass(frozen=True)
class HeadDataConfig:
    """Which episodes, and how ticks are labelled.

    Attributes:
      episodes: worlds and episodes per split (``frame_stride`` is unused: ticks follow the
        encoder's frame interval).
      subgoal_distance: metres along the expert's path from the robot's projection onto it.
      esdf_shape, esdf_resolution: the ground-truth ESDF crop (cells, m per cell) around the
        robot; it must hold the whole horizon (n waypoints at up to 1 m/s).
    """

    episodes: EpisodeDataConfig = dataclasses.field(
        default_factory=lambda: EpisodeDataConfig(families=("office",))
    )
    subgoal_distance: float = 3.0
    esdf_shape: tuple[int, int] = (96, 96)
    esdf_resolution: float = 0.1

    def __post_init__(self) -> None:
        check_types(self, episodes=EpisodeDataConfig)
        check_positive_numbers(self, "subgoal_distance", "esdf_resolution")
        s = self.esdf_shape
        if not (
            isinstance(s, tuple) and len(s) == 2 and all(isinstance(v, int) and v >= 2 for v in s)
        ):
            fail_field(self, "esdf_shape", "(nx, ny), two ints >= 2")


@dataclasses.dataclass(frozen=True)
class LocalTaskConfig:
    """The heads, their losses, the frozen encoder and the data.

    Attributes:
      name: the preset label (names the run and the episode cache).
      encoder: the frozen encoder (its output shape is the heads' BEV shape).
      planning, odometry: the heads.
      esdf_loss: the masked ESDF loss (``weight`` 0 switches it off).
      sim: the simulator rendering the episodes.
      data: which episodes, and the tick labels.
      encoder_workdir: an ``astra train encoder-<preset>`` run whose lift is frozen; empty: a
        random lift (smoke runs and tests only).
      encoder_step: its checkpoint: best, latest or a step number (``build`` records the
        number that best / latest name when the run starts).
      train_planning, train_odometry: which heads train.
      flow_weight, odometry_weight: loss weights; ``uncertainty_weight``: the odometry
        uncertainty term's.
      time_sampling: how the flow time is drawn (``flow_matching.TIME_SAMPLINGS``).
      forecast_workdir: an ``astra train forecast-<preset>`` run whose predicted futures join
        the planning condition (the paper's 4D planner, Table 6; ``build`` sets
        ``planning.extra_channels`` to match); empty: the 3D planner.
      forecast_step: its checkpoint (``build`` records the number).
      sensor_augment: train the odometry head on a new robot per example: re-draw the
        per-robot sensor errors on its raw IMU and wheel samples from ``sim.sensors``
        (:mod:`astra_jax.local_model.sensor_augment`); evaluation reads the samples as
        recorded.
    """

    name: str
    encoder: EncoderConfig
    planning: PlanningHeadConfig
    odometry: OdometryHeadConfig
    esdf_loss: EsdfLossConfig
    sim: SimConfig
    data: HeadDataConfig
    encoder_workdir: str = ""
    encoder_step: str = "best"
    train_planning: bool = True
    train_odometry: bool = True
    flow_weight: float = 1.0
    odometry_weight: float = 1.0
    uncertainty_weight: float = 0.1
    time_sampling: str = "uniform"
    forecast_workdir: str = ""
    forecast_step: str = "best"
    sensor_augment: bool = False

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name", "encoder_step", "forecast_step")
        check_types(self, encoder=EncoderConfig, planning=PlanningHeadConfig,
                    odometry=OdometryHeadConfig, esdf_loss=EsdfLossConfig, sim=SimConfig,
                    data=HeadDataConfig)  # fmt: skip
        check_bools(self, "train_planning", "train_odometry", "sensor_augment")
        check_non_negative_numbers(self, "flow_weight", "odometry_weight", "uncertainty_weight")
        check_choice(self, "time_sampling", TIME_SAMPLINGS)
        if not (self.train_planning or self.train_odometry):
            raise ConfigError(
                "LocalTaskConfig.train_planning = train_odometry = False: expected a head to train"
            )
        bev = feature_shape(self.encoder)
        for head in ("planning", "odometry"):
            if getattr(self, head).bev_shape != bev:
                fail_field(self, head, f"a head reading the encoder's features, bev_shape {bev}")
        if self.odometry.pair_interval != self.encoder.local.frame_interval:
            fail_field(self, "odometry", f"pair_interval = the encoder's frame_interval "
                       f"{self.encoder.local.frame_interval} s (one tick)")  # fmt: skip
        self.tick_spec  # noqa: B018 (validates the tick fields together)

    @property
    def tick_spec(self) -> TickSpec:
        return TickSpec(
            tick_interval=self.encoder.local.frame_interval,
            num_waypoints=self.planning.num_waypoints,
            waypoint_interval=self.planning.waypoint_interval,
            subgoal_distance=self.data.subgoal_distance,
            esdf_shape=self.data.esdf_shape,
            esdf_resolution=self.data.esdf_resolution,
        )

    @property
    def render_config(self) -> AstraConfig:
        enc = self.encoder
        return AstraConfig(name=self.name, rig=enc.rig, local=enc.local, sim=self.sim)


@functools.cache
def frozen_encoder(config: EncoderConfig, workdir: str, step: str) -> FrozenEncoder:
    """The frozen encoder (restored once per process)."""
    enc = load_frozen_encoder(config, workdir, step)
    if not workdir:
        print("local heads: frozen encoder = random-init lift (no --config.encoder-workdir)",
              file=sys.stderr)  # fmt: skip
    return enc


@functools.cache
def future_features(workdir: str, step: str) -> FutureFeatures:
    """The forecast run's futures as the planner's extra condition (restored once)."""
    return FutureFeatures.load(workdir, step)


@dataclasses.dataclass(frozen=True)
class LocalHeadsTask:
    """The heads bound to one config: the engine's :class:`Trainable`."""

    config: LocalTaskConfig
    eval_split: str | None = "val"

    @property
    def planning_head(self) -> PlanningHead:
        return PlanningHead(self.config.planning)

    @property
    def odometry_head(self) -> OdometryHead:
        return OdometryHead(self.config.odometry)

    def init(self, rng: jax.Array) -> Any:
        """``{"planning": ..., "odometry": ...}`` (the heads that train), boxed."""
        rp, ro = jax.random.split(rng)
        cfg = self.config
        params = {}
        if cfg.train_planning:
            params["planning"] = cfg.planning.create(rp)[1]
        if cfg.train_odometry:
            params["odometry"] = cfg.odometry.create(ro)[1]
        return params

    def _losses(self, params: Any, batch: Batch, rng: jax.Array,
                train: bool = False) -> tuple[jax.Array, Metrics]:  # fmt: skip
        cfg = self.config
        total = jnp.zeros((), jnp.float32)
        metrics: Metrics = {}
        if cfg.train_planning:
            bev = batch["bev"].astype(jnp.float32)
            expert = batch["expert"].astype(jnp.float32)
            out = cfm_loss(self.planning_head, params["planning"], bev, batch["subgoal"],
                           batch["velocity"], deltas_from_poses(expert), rng,
                           time_sampling=cfg.time_sampling, extra=extra_condition(batch))  # fmt: skip
            total = total + cfg.flow_weight * out.loss
            metrics["flow_loss"] = out.loss
            if cfg.esdf_loss.weight > 0:
                e = esdf_loss(out.x1_hat, batch["esdf"], cfg.data.esdf_resolution, expert, out.t,
                              cfg.esdf_loss)  # fmt: skip
                total = total + e.loss
                metrics["esdf_loss"] = e.loss
                metrics["esdf_cost_m"] = jnp.mean(e.cost)
        if cfg.train_odometry:
            imu, wheel = batch["imu"], batch["wheel"]
            if train and cfg.sensor_augment:
                # its own stream: the planning head's draws stay what they were
                key = jax.random.fold_in(rng, SENSOR_AUGMENT_STREAM)
                imu, wheel = perturb_sensors(
                    imu, wheel, key, cfg.sim.sensors,
                    calibrated_against=(cfg.odometry.gyro_reference
                                        if cfg.odometry.gyro_calibration else None),
                )  # fmt: skip
            o = self.odometry_head.apply(
                {"params": params["odometry"]},
                bev=batch["bev_seq"].astype(jnp.float32),
                imu=imu,
                wheel=wheel,
                valid=batch["odom_valid"],
            )
            loss, m = odometry_loss(o.pose, o.log_scale, batch["odom_target"],
                                    cfg.uncertainty_weight, pose_scale=cfg.odometry.output_scale)  # fmt: skip
            total = total + cfg.odometry_weight * loss
            metrics["odometry_loss"] = loss
            metrics.update({f"odom_{k}": v for k, v in m.items() if k.startswith("mae")})
        metrics["loss"] = total
        return total, metrics

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        return self._losses(params, batch, rng, train=True)

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        """The training losses at a fixed key, plus one sampled plan per example scored on the
        ground-truth ESDF: ``collision_rate`` (a path point within the robot radius of an
        obstacle) and ``final_dist_m`` to the subgoal."""
        key = jax.random.key(0)
        _, metrics = self._losses(params, batch, key)
        cfg = self.config
        if cfg.train_planning:
            plans = sample(self.planning_head, params["planning"],
                           batch["bev"].astype(jnp.float32), batch["subgoal"], batch["velocity"],
                           key, extra=extra_condition(batch))[:, 0]  # fmt: skip
            clear = path_clearance(plans, batch["esdf"], cfg.data.esdf_resolution)
            metrics["collision_rate"] = jnp.mean(clear < cfg.esdf_loss.robot_radius)
            end = rollout(plans)[:, -1, :2]
            metrics["final_dist_m"] = jnp.mean(jnp.linalg.norm(end - batch["subgoal"], axis=-1))
        return metrics

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        cfg, b = self.config, batch_size
        x, y, c = feature_shape(cfg.encoder)
        w, od = cfg.odometry.window, cfg.odometry
        f16, f32 = jnp.float16, jnp.float32
        s = jax.ShapeDtypeStruct
        spec = {
            "bev": s((b, x, y, c), f16),
            "subgoal": s((b, 2), f32),
            "velocity": s((b, 2), f32),
            "expert": s((b, cfg.planning.num_waypoints, 3), f32),
            "esdf": s((b, *cfg.data.esdf_shape), f16),
        }
        if cfg.train_planning and cfg.planning.extra_channels:
            spec["extra"] = s((b, x, y, cfg.planning.extra_channels), f16)
        if cfg.train_odometry:  # the window is read only for the odometry head
            spec |= {
                "bev_seq": s((b, w + 1, x, y, c), f16),
                "odom_valid": s((b, w), jnp.bool_),
                "imu": s((b, w, od.imu_samples, 6), f32),
                "wheel": s((b, w, od.wheel_samples, 2), f32),
                "odom_target": s((b, 3), f32),
            }
        return spec

    def source(self, split: str) -> HeadSamples:
        """The cached ticks of ``split`` (episodes and features made on first use)."""
        cfg = self.config
        refs = cfg.data.episodes.episode_refs(cfg.render_config, split)
        entries = head_cache(cfg, [r.path for r in refs])
        return HeadSamples(entries, cfg.odometry.window, interleave=split != "train",
                           odometry=cfg.train_odometry,
                           gyro_scale_label=cfg.odometry.gyro_scale_label)  # fmt: skip

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        del seed
        source = grain.MapDataset.source(self.source(split))
        return shard_for_process(source, process_index, process_count)


def extra_condition(batch: Batch) -> jax.Array | None:
    """The planner's extra condition (the 4D planner's futures) of a batch, or None."""
    return batch["extra"].astype(jnp.float32) if "extra" in batch else None


def head_cache(cfg: LocalTaskConfig, episodes: list, show_progress: bool = True) -> list:
    """The head-cache entries of ``episodes`` for ``cfg``'s frozen encoder (and forecast run)."""
    enc = frozen_encoder(cfg.encoder, cfg.encoder_workdir, cfg.encoder_step)
    extra, extra_key = None, ""
    if cfg.forecast_workdir:
        extra = future_features(cfg.forecast_workdir, cfg.forecast_step)
        extra_key = f"4d{extra.key}"
    return ensure_head_cache(episodes, cfg.tick_spec, enc.feature_fn(), enc.key, cfg.sim,
                             show_progress=show_progress, extra=extra, extra_key=extra_key)  # fmt: skip


def build(config: LocalTaskConfig, precision: Precision) -> LocalHeadsTask:
    """The task for ``config``, its heads computing in ``precision``'s dtypes."""
    dt = {"dtype": precision.compute_dtype, "param_dtype": precision.param_dtype}
    if config.encoder_workdir and not config.encoder_step.isdigit():
        # Record the encoder checkpoint itself, not "best": the run's features must not change
        # when the encoder run later gains checkpoints (a resume would then be refused).
        from astra_jax.train.evaluate import resolve_step

        step = resolve_step(config.encoder_workdir, config.encoder_step)
        config = dataclasses.replace(config, encoder_step=str(step))
    if config.forecast_workdir:
        from astra_jax.train.evaluate import resolve_step

        step = str(resolve_step(config.forecast_workdir, config.forecast_step))
        extra = future_features(config.forecast_workdir, step).extra_channels
        planning = dataclasses.replace(config.planning, extra_channels=extra)
        config = dataclasses.replace(config, forecast_step=step, planning=planning)
    return LocalHeadsTask(
        dataclasses.replace(
            config,
            planning=dataclasses.replace(config.planning, **dt),
            odometry=dataclasses.replace(config.odometry, **dt),
        )
    )


SPEC = TaskSpec(
    summary="Astra-Local planning (flow matching + masked ESDF) and odometry heads",
    config_type=LocalTaskConfig,
    build=build,
)
