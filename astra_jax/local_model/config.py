"""EncoderConfig: everything Astra-Local's 4D encoder needs, frozen, with create / inputs_spec."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from astra_jax.config import LocalModelConfig, RigConfig, check_patch_divides_image, get_preset
from astra_jax.kernels.bev_splat import IMPLEMENTATIONS, SplatPlan, plan_for_rig
from astra_jax.validation import check_choice, check_dtype_names, check_types


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Astra-Local's encoder: ViT + Lift-Splat-Shoot + temporal fusion.

    Attributes:
      local: sizes of Astra-Local (ViT, depth bins, voxel grid, context channels, collapse_z,
        past_frames).
      rig: the cameras and the image size.
      splat_impl: BEV splat implementation (``auto`` picks by backend; see
        :mod:`astra_jax.kernels.bev_splat.dispatch`).
      dtype: compute dtype of the ViT and the fusion convolutions. The depth softmax, the
        splat and the warp run in float32.
      param_dtype: dtype parameters are stored in.
    """

    local: LocalModelConfig
    rig: RigConfig
    splat_impl: str = "auto"
    dtype: str = "float32"
    param_dtype: str = "float32"

    def __post_init__(self) -> None:
        check_types(self, local=LocalModelConfig, rig=RigConfig)
        check_choice(self, "splat_impl", IMPLEMENTATIONS)
        check_dtype_names(self, "dtype", "param_dtype")
        check_patch_divides_image("EncoderConfig.", self.local, self.rig)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> EncoderConfig:
        """The encoder of preset ``name`` (tiny, small, base), with optional field overrides."""
        preset = get_preset(name)
        return cls(local=preset.local, rig=preset.rig, **overrides)

    # ------------------------------------------------------------------ derived sizes

    @property
    def num_cameras(self) -> int:
        return self.rig.num_cameras

    @property
    def num_frames(self) -> int:
        """Frames the encoder reads per sample: past frames plus the current one."""
        return self.local.past_frames + 1

    @property
    def feature_hw(self) -> tuple[int, int]:
        """ViT feature map (h, w) = image size / patch size."""
        p = self.local.vit.patch_size
        return self.rig.image_hw[0] // p, self.rig.image_hw[1] // p

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        v = self.local.voxel
        return v.nx, v.ny, v.nz

    @property
    def fused_shape(self) -> tuple[int, int, int, int]:
        """Per-sample shape of the features temporal fusion works on: (X, Y, Z', C') with
        Z' = 1, C' = Z*C when ``collapse_z`` (BEV), else Z' = Z, C' = C (voxels)."""
        x, y, z = self.grid_shape
        c = self.local.context_channels
        return (x, y, 1, z * c) if self.local.collapse_z else (x, y, z, c)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Per-sample shape of the encoder output: (X, Y, Z*C) BEV or (X, Y, Z, C) voxels."""
        x, y, zp, cp = self.fused_shape
        return (x, y, cp) if self.local.collapse_z else (x, y, zp, cp)

    @property
    def voxel_shape(self) -> tuple[int, int, int, int]:
        """Per-sample (X, Y, Z, C) of the output unfolded to voxels (BEV channel = z * C + c),
        what the rendering, occupancy and 4D stages read."""
        x, y, z = self.grid_shape
        return x, y, z, self.output_shape[-1] // (z if self.local.collapse_z else 1)

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.dtype)

    @property
    def parameter_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.param_dtype)

    def splat_plan(self) -> SplatPlan:
        """The rig's splat geometry (cached per geometry)."""
        return plan_for_rig(
            self.rig.cameras,
            self.rig.image_hw,
            self.feature_hw,
            self.local.depth_bins,
            self.local.voxel,
        )

    # ------------------------------------------------------------------ openpi-style API

    def inputs_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes of the encoder's inputs for ``batch_size`` samples.

        * ``images``: (B, T, N, H, W, 3) uint8, frames oldest first, the current frame last;
        * ``poses``: (B, T, 3) float32 odometry poses (x, y, yaw) of those frames in any fixed
          world frame (only their relative motion is used).
        """
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"inputs_spec: batch_size = {batch_size!r}: expected a positive int")
        b, t, n = batch_size, self.num_frames, self.num_cameras
        h, w = self.rig.image_hw
        return {
            "images": jax.ShapeDtypeStruct((b, t, n, h, w, 3), jnp.uint8),
            "poses": jax.ShapeDtypeStruct((b, t, 3), jnp.float32),
        }

    def module(self):
        """The flax module (:class:`~astra_jax.local_model.encoder.LocalEncoder`)."""
        from astra_jax.local_model.encoder import LocalEncoder

        return LocalEncoder(self)

    def create(self, rng: jax.Array) -> tuple[Any, Any]:
        """``(module, params)``: the encoder and parameters initialised from ``rng``. Params
        are boxed with logical axis names (``nn.LogicallyPartitioned``)."""
        module = self.module()
        spec = self.inputs_spec(1)
        dummy = {k: jnp.zeros(v.shape, v.dtype) for k, v in spec.items()}
        params = jax.jit(module.init)(rng, dummy["images"], dummy["poses"])["params"]
        return module, params
