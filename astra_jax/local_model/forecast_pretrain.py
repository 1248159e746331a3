"""Astra-Local's 4D pre-training (paper Eq. 9): the 4D module learns to predict the frozen 3D
encoder's features of future frames, on voxels and through rendering.

Per example, a window of K = past_frames + P + 1 + F frames ``interval`` s apart (the current
frame at index ``past_frames + P``; poses relative to it). The frozen 3D encoder gives voxel
features of P + 1 input times and F future times (each from its own ``past_frames`` + 1 frames,
in its own ego frame); all are warped into the current ego frame (``warp_to_current``; cells a
frame does not cover are zeros there and are left out of the loss). The
:class:`~astra_jax.local_model.forecast.ForecastModule` reads the inputs and the future times
and predicts the futures. Loss:

* voxels: L1 between predicted and true future features over the covered cells (mean over
  channels), the paper's first term;
* pixels: each predicted future, warped into that future's ego frame, goes through the frozen
  rendering head (SDF and colour MLPs) and the rig's ray plan; L1 of depth and colour against
  the future frame's depth and images, over the rays whose surface lies in the grid (as in the
  3D stage).

Metrics also give the copy-forward baseline's voxel L1 (the current features as every future)
on the same cells, so a run shows at every step whether the module beats it.

Batch: ``{"images": (B, K, N, H, W, 3) uint8, "poses": (B, K, 3) float32, "depth": (B, F, N,
H, W) float32}`` (:class:`~astra_jax.data.episode_windows.EpisodeWindows` with ``before =
past_frames + P``, ``after = F``). Trainable params: the 4D module's only.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from astra_jax.geometry import se2_inverse
from astra_jax.kernels.ray_render import render_planned
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.forecast import ForecastConfig, ForecastModule
from astra_jax.local_model.render_head import RenderConfig, RenderHead, voxels_from_features
from astra_jax.local_model.render_pretrain import ray_plan, ray_targets
from astra_jax.local_model.temporal import warp_frames

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def window_frames(encoder: EncoderConfig, forecast: ForecastConfig) -> int:
    """K, the frames of one example."""
    return encoder.local.past_frames + forecast.past + 1 + forecast.future


def encoder_features(
    encoder: EncoderConfig, params: Any, images: jax.Array, poses: jax.Array, times: int
) -> jax.Array:
    """The frozen encoder's voxels (B, J, X, Y, Z, C) of the window's last ``times`` frames,
    each in its own ego frame from its own ``past_frames`` + 1 frames."""
    t = encoder.num_frames
    k = images.shape[1]
    starts = range(k - times - t + 1, k - t + 1)
    win_images = jnp.stack([images[:, s : s + t] for s in starts], axis=1)  # (B, J, T, ...)
    win_poses = jnp.stack([poses[:, s : s + t] for s in starts], axis=1)
    b, j = win_images.shape[:2]
    out = encoder.module().apply(
        {"params": params}, win_images.reshape(b * j, *win_images.shape[2:]),
        win_poses.reshape(b * j, *win_poses.shape[2:]),
    )  # fmt: skip
    voxels = voxels_from_features(out.features, encoder.local.voxel)
    return voxels.reshape(b, j, *voxels.shape[1:]).astype(jnp.float32)


def current_frame_features(
    encoder: EncoderConfig, params: Any, images: jax.Array, poses: jax.Array, times: int
) -> tuple[jax.Array, jax.Array]:
    """The frozen encoder's voxels of the window's last ``times`` frames warped into the
    current ego frame (B, J, X, Y, Z, C), and which cells each frame covers there (B, J, X, Y,
    Z, 1) bool (outside, the warp reads zeros)."""
    features = jax.lax.stop_gradient(encoder_features(encoder, params, images, poses, times))
    frame_poses = poses[:, -times:]  # each frame's pose in the current frame
    grid = encoder.local.voxel
    covered = warp_frames(jnp.ones_like(features[..., :1]), frame_poses, grid) > 0.999
    return warp_frames(features, frame_poses, grid), covered


def predict_futures(forecast: ForecastConfig, params: Any, inputs: jax.Array) -> jax.Array:
    """The 4D module's futures (B, F, X, Y, Z, C) at the config's future times."""
    b, f = inputs.shape[0], forecast.future
    times = jnp.broadcast_to(jnp.asarray(forecast.future_times(), jnp.float32), (b, f))
    return ForecastModule(forecast).apply({"params": params}, inputs, times)


def to_futures(features: jax.Array, future_poses: jax.Array, grid) -> jax.Array:
    """Current-frame features (B, F, X, Y, Z, C) warped into each future's ego frame, given the
    futures' poses (B, F, 3) in the current frame."""
    return warp_frames(features, se2_inverse(future_poses), grid)


def render_voxels(
    encoder: EncoderConfig, render: RenderConfig, render_params: Any, features: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Features (B, F, X, Y, Z, C) through the frozen rendering head and the rig's rays:
    ``(depth (B, F, R) m, colour (B, F, R, 3), sdf (B, F, X, Y, Z))``."""
    b, f = features.shape[:2]
    sdf, colour, beta = RenderHead(render).apply(
        {"params": render_params}, features.reshape(b * f, *features.shape[2:])
    )
    render_one = functools.partial(render_planned, beta=beta, plan=ray_plan(encoder, render))
    depth, rgb, _ = jax.vmap(render_one)(sdf, colour)
    return (depth.reshape(b, f, -1), rgb.reshape(b, f, -1, 3),
            sdf.reshape(b, f, *sdf.shape[1:]))  # fmt: skip


def future_targets(
    encoder: EncoderConfig, render: RenderConfig, images: jax.Array, depth: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The future frames' true ``(depth (B, F, R), colour (B, F, R, 3), valid (B, F, R))`` on
    the rig's rays; ``images`` (B, K, ...) end with the F future frames, ``depth`` (B, F, ...)."""
    b, f = depth.shape[:2]
    future_images = images[:, -f:].reshape(b * f, 1, *images.shape[2:])  # last = the frame
    d, c, v = ray_targets(ray_plan(encoder, render), future_images,
                          depth.reshape(b * f, *depth.shape[2:]))  # fmt: skip
    return d.reshape(b, f, -1), c.reshape(b, f, -1, 3), v.reshape(b, f, -1)


def forecast_loss(
    encoder: EncoderConfig,
    render: RenderConfig,
    forecast: ForecastConfig,
    frozen: Any,
    params: Any,
    batch: Batch,
    voxel_weight: float = 1.0,
    render_weight: float = 1.0,
) -> tuple[jax.Array, Metrics]:
    """``(loss, metrics)`` of one batch; ``frozen`` = ``{"encoder", "render"}`` (not trained),
    ``params`` the 4D module's."""
    p1, f = forecast.past + 1, forecast.future
    images, poses = batch["images"], batch["poses"]
    warped, covered = current_frame_features(encoder, frozen["encoder"], images, poses, p1 + f)
    inputs, targets, mask = warped[:, :p1], warped[:, p1:], covered[:, p1:]
    pred = predict_futures(forecast, params, inputs)
    cells = jnp.maximum(jnp.sum(mask) * warped.shape[-1], 1)
    voxel_l1 = jnp.sum(jnp.where(mask, jnp.abs(pred - targets), 0.0)) / cells
    copy_l1 = jnp.sum(jnp.where(mask, jnp.abs(inputs[:, -1:] - targets), 0.0)) / cells

    # render each predicted future from that future's ego frame
    in_future = to_futures(pred, poses[:, -f:], encoder.local.voxel)
    depth, rgb, _ = render_voxels(encoder, render, frozen["render"], in_future)
    true_depth, true_rgb, valid = future_targets(encoder, render, images, batch["depth"])
    count = jnp.maximum(jnp.sum(valid), 1)
    depth_l1 = jnp.sum(jnp.where(valid, jnp.abs(depth - true_depth), 0.0)) / count
    colour_l1 = jnp.sum(jnp.where(valid[..., None], jnp.abs(rgb - true_rgb), 0.0)) / (3 * count)
    loss = voxel_weight * voxel_l1 + render_weight * (depth_l1 + colour_l1)
    return loss, {
        "loss": loss,
        "voxel_l1": voxel_l1,
        "copy_voxel_l1": copy_l1,
        "depth_l1": depth_l1,
        "colour_l1": colour_l1,
        "covered_fraction": jnp.mean(mask.astype(jnp.float32)),
    }


@dataclasses.dataclass(frozen=True)
class ForecastPretrain:
    """The 4D pre-training bound to its configs and the frozen 3D model (init / loss_fn /
    eval_fn / batch_spec of the engine's Trainable)."""

    encoder: EncoderConfig
    render: RenderConfig
    forecast: ForecastConfig
    frozen: Any
    voxel_weight: float = 1.0
    render_weight: float = 1.0

    def init(self, rng: jax.Array) -> Any:
        past = jnp.zeros((1, self.forecast.past + 1, *self.encoder.voxel_shape), jnp.float32)
        times = jnp.zeros((1, self.forecast.future), jnp.float32)
        return jax.jit(ForecastModule(self.forecast).init)(rng, past, times)["params"]

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        del rng
        return forecast_loss(self.encoder, self.render, self.forecast, self.frozen, params,
                             batch, self.voxel_weight, self.render_weight)  # fmt: skip

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self.loss_fn(params, batch, jax.random.key(0))[1]

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        n, (h, w) = self.encoder.num_cameras, self.encoder.rig.image_hw
        k, f = window_frames(self.encoder, self.forecast), self.forecast.future
        return {
            "images": jax.ShapeDtypeStruct((batch_size, k, n, h, w, 3), jnp.uint8),
            "poses": jax.ShapeDtypeStruct((batch_size, k, 3), jnp.float32),
            "depth": jax.ShapeDtypeStruct((batch_size, f, n, h, w), jnp.float32),
        }
