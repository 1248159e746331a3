"""Astra-Local's 4D encoder: multi-camera ViT -> Lift-Splat-Shoot -> temporal fusion.

Per frame (the T = past_frames + 1 frames share all weights):

1. :class:`~astra_jax.local_model.lift.ImageLift`: ViT tokens -> depth logits (N, D, h, w) and
   context features (N, h, w, C);
2. splat: ``softmax(depth) ⊗ context`` summed into the ego-centred voxel grid (X, Y, Z, C) by
   :func:`astra_jax.kernels.bev_splat.bev_splat` with the rig's static plan;
3. Z collapsed into channels (BEV, (X, Y, 1, Z*C)) when the preset says ``collapse_z``.

Then every past frame is warped into the current ego frame with the relative SE(2) odometry
pose (:func:`~astra_jax.local_model.temporal.warp_to_current`) and
:class:`~astra_jax.local_model.temporal.TemporalFusion` fuses them with the current frame.

Output shapes per preset (batch B):

=======  ======================  ==========================  =======================
preset   ``features``            ``frame_features``           ``depth_logits``
=======  ======================  ==========================  =======================
tiny     (B, 16, 16, 32) BEV     (B, 3, 16, 16, 1, 32)       (B, 3, 3, 8, 4, 4)
small    (B, 64, 64, 256) BEV    (B, 5, 64, 64, 1, 256)      (B, 5, 3, 32, 12, 12)
base     (B, 128, 128, 8, 128)   (B, 5, 128, 128, 8, 128)    (B, 5, 3, 64, 16, 16)
=======  ======================  ==========================  =======================
"""

from __future__ import annotations

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from astra_jax.kernels.bev_splat import bev_splat
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.lift import ImageLift
from astra_jax.local_model.temporal import TemporalFusion, warp_history


@flax.struct.dataclass
class EncoderOutput:
    """What the encoder returns.

    Attributes:
      features: fused current-frame features, (B, X, Y, Z*C) for BEV presets and
        (B, X, Y, Z, C) for voxel presets (``EncoderConfig.output_shape``).
      frame_features: (B, T, X, Y, Z', C') each frame's own splatted features before
        warping and fusion (``EncoderConfig.fused_shape``), oldest first; targets for 4D
        prediction and inputs an online runner can cache.
      depth_logits: (B, T, N, D, h, w) float32 depth logits of every frame and camera.
    """

    features: jax.Array
    frame_features: jax.Array
    depth_logits: jax.Array


class LocalEncoder(nn.Module):
    """The encoder of ``config``.

    Call with ``images`` (B, T, N, H, W, 3) uint8 (frames oldest first, the current frame
    last) and ``poses`` (B, T, 3) odometry poses (x, y, yaw) of those frames; returns an
    :class:`EncoderOutput`. See ``EncoderConfig.inputs_spec``.
    """

    config: EncoderConfig

    def splat_frames(self, depth_logits: jax.Array, context: jax.Array) -> jax.Array:
        """(F, N, D, h, w) logits and (F, N, h, w, C) context -> (F, X, Y, Z', C')."""
        cfg = self.config
        depth_prob = jax.nn.softmax(depth_logits, axis=2)
        voxels = bev_splat(depth_prob, context, cfg.splat_plan(), impl=cfg.splat_impl)
        return voxels.reshape(voxels.shape[0], *cfg.fused_shape)

    @nn.compact
    def __call__(self, images: jax.Array, poses: jax.Array) -> EncoderOutput:
        cfg = self.config
        b, t = images.shape[:2]
        if images.shape[1:] != (cfg.num_frames, cfg.num_cameras, *cfg.rig.image_hw, 3):
            raise ValueError(
                f"LocalEncoder: images shape {images.shape}: expected (batch, "
                f"{cfg.num_frames}, {cfg.num_cameras}, {cfg.rig.image_hw[0]}, "
                f"{cfg.rig.image_hw[1]}, 3)"
            )
        if poses.shape != (b, t, 3):
            raise ValueError(f"LocalEncoder: poses shape {poses.shape}: expected ({b}, {t}, 3)")
        # Every frame of every sample goes through the same lift and splat.
        depth_logits, context = ImageLift(cfg, name="lift")(
            images.reshape(b * t, *images.shape[2:])
        )
        frames = self.splat_frames(depth_logits, context)  # (B*T, X, Y, Z', C')
        frames = frames.reshape(b, t, *cfg.fused_shape)
        warped = warp_history(frames, poses, cfg.local.voxel)
        fused = TemporalFusion(cfg.compute_dtype, cfg.parameter_dtype, name="fusion")(
            frames[:, -1], warped
        ).astype(jnp.float32)
        return EncoderOutput(
            features=fused.reshape(b, *cfg.output_shape),
            frame_features=frames,
            depth_logits=depth_logits.reshape(b, t, *depth_logits.shape[1:]),
        )
