"""The 4D planner's extra condition: a frozen forecast run's predicted future features.

The paper's Table 6 compares the planner on the 3D encoder's features with the planner that
also sees the 4D module's futures. :class:`FutureFeatures` restores a ``forecast-<preset>`` run
(its 4D module and the frozen encoder-3d model it was trained on) and, per planning tick, turns
the tick's window (the P + 1 frames 0.5 s apart ending at the tick, each with the encoder's own
history; odometry poses, as a robot has them) into the F predicted future voxel features in
the tick's ego frame, averaged over height: ``extra`` (X, Y, F * C) on the planner's BEV grid
(the slot :class:`~astra_jax.local_model.planning_head.PlanningHeadConfig.extra_channels`).

At an episode's start the window reaches back before the first frame: the first frame is
repeated there (the robot stood still before it moved).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.formats.episode import Episode
from astra_jax.geometry import se2_relative
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.forecast_pretrain import current_frame_features, predict_futures

BATCH = 4  # ticks per forward pass


def clamped_window(times: np.ndarray, current: int, before: int, interval: float) -> np.ndarray:
    """(before + 1,) frame indices nearest to ``times[current] - k * interval``, k = before .. 0
    (oldest first), times before the first frame reading the first frame."""
    times = np.asarray(times, np.float64)
    wanted = np.maximum(times[current] + interval * np.arange(-before, 1), times[0])
    idx = np.clip(np.searchsorted(times, wanted), 1, max(len(times) - 1, 1))
    nearer_left = (wanted - times[idx - 1]) <= (times[np.minimum(idx, len(times) - 1)] - wanted)
    return np.where(nearer_left, idx - 1, idx).clip(0, len(times) - 1).astype(np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class FutureFeatures:
    """A forecast run's futures as the planner's extra condition (see the module docstring)."""

    workdir: str
    step: int
    encoder: EncoderConfig
    frames: int  # P + 1 input frames of the 4D module
    future: int  # F
    channels: int  # C of the encoder's voxels
    _fn: Any
    key: str

    @property
    def extra_channels(self) -> int:
        return self.future * self.channels

    @staticmethod
    def load(workdir: str, step: str = "best") -> FutureFeatures:
        from astra_jax.tasks.forecast import ForecastTaskConfig
        from astra_jax.tasks.frozen_encoder import load_frozen_3d
        from astra_jax.train.evaluate import restore_params
        from astra_jax.train.train_config import config_from_json

        params, chosen, saved = restore_params(workdir, step)
        cfg = config_from_json(ForecastTaskConfig, saved["model_config"], f"{workdir} config")
        frozen, _ = load_frozen_3d(cfg.encoder, cfg.render, cfg.encoder_workdir, cfg.encoder_step)
        enc = dataclasses.replace(cfg.encoder, dtype="float32", param_dtype="float32")
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
        p1 = cfg.forecast.past + 1

        @jax.jit
        def fn(images: jax.Array, poses: jax.Array) -> jax.Array:
            inputs, _ = current_frame_features(enc, frozen["encoder"], images, poses, p1)
            futures = predict_futures(cfg.forecast, params, inputs)  # (B, F, X, Y, Z, C)
            pooled = jnp.mean(futures, axis=4)  # over height: the planner's BEV grid
            b, f, x, y, c = pooled.shape
            return jnp.moveaxis(pooled, 1, 3).reshape(b, x, y, f * c)

        h = hashlib.sha256(f"{workdir}:{chosen}".encode())
        for leaf in jax.tree.leaves(params):
            h.update(np.asarray(leaf).tobytes())
        c = enc.voxel_shape[-1]
        return FutureFeatures(workdir, chosen, enc, p1, cfg.forecast.future, c, fn,
                              h.hexdigest()[:10])  # fmt: skip

    def __call__(self, ep: Episode, frames: np.ndarray) -> np.ndarray:
        """(K, X, Y, F * C) float16 extra condition of the ticks at ``frames`` (K,) of ``ep``."""
        local = self.encoder.local
        before = local.past_frames + self.frames - 1
        times, odom = np.asarray(ep.time), np.asarray(ep.odom_pose, np.float64)
        out = []
        for i in range(0, len(frames), BATCH):
            chunk = [int(f) for f in frames[i : i + BATCH]]
            wins = [clamped_window(times, f, before, local.frame_interval) for f in chunk]
            images = np.stack([np.asarray(ep.rgb[w]) for w in wins])
            poses = np.stack([se2_relative(odom[f], odom[w]) for f, w in zip(chunk, wins)])
            while len(images) < BATCH:  # one compiled shape
                images, poses = (
                    np.concatenate([images, images[-1:]]),
                    np.concatenate([poses, poses[-1:]]),
                )
            res = self._fn(jnp.asarray(images), jnp.asarray(poses, jnp.float32))
            out.append(np.asarray(res[: len(chunk)], np.float16))
        return np.concatenate(out)
