"""Qwen2.5-VL vision tower: patch embedding, window-attention ViT blocks, 2x2 patch merger.

Input is the flat patch sequence of all images (see ``vision_layout`` for the order); output is
one language-model embedding per merged 2x2 patch block, in the same order (Hugging Face's
``pooler_output``). Parameter names follow Hugging Face's ``visual.*`` tensors.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.global_model.config import VISION_NORM_EPS, VisionConfig
from astra_jax.global_model.vision_layout import AttentionGroups, GridTHW, vision_layout
from astra_jax.nn.dense import dense
from astra_jax.nn.mlp import SwiGLU
from astra_jax.nn.rmsnorm import RMSNorm
from astra_jax.nn.rope import apply_rope, axial_rope_cos_sin

DType = jnp.dtype


class VisionAttention(nn.Module):
    """Multi-head attention within disjoint groups of patches (windows or whole frames).

    ``x``: (N, C); ``cos``/``sin``: (N, head_dim) axial RoPE tables. The fused ``qkv``
    projection emits [q | k | v], each heads-major, as Hugging Face's ``attn.qkv``.
    """

    config: VisionConfig
    init_std: float
    dtype: DType
    param_dtype: DType
    implementation: str | None = None

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        groups: AttentionGroups,
        frames: AttentionGroups | None = None,
        full: jax.Array | None = None,
    ) -> jax.Array:
        """(N, C) -> (N, C). Attends within ``groups``; in a scanned tower, where a block does
        not know statically which attention it has, a traced bool ``full`` picks between
        ``groups`` (the windows) and ``frames``."""
        cfg = self.config
        n, c = x.shape
        h, d = cfg.num_heads, cfg.head_dim
        kw = dict(init_std=self.init_std, dtype=self.dtype, param_dtype=self.param_dtype)
        qkv = dense(3 * c, ("vit_embed", "vit_qkv"), use_bias=True, name="qkv", **kw)(x)
        q, k, v = jnp.moveaxis(qkv.reshape(n, 3, h, d), 1, 0)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)

        def attend(g: AttentionGroups) -> jax.Array:
            # (G, L, H, D) per group; padded slots are excluded as keys by
            # key_value_seq_lengths.
            idx = jnp.asarray(g.indices)
            out = jax.nn.dot_product_attention(
                q[idx],
                k[idx],
                v[idx],
                key_value_seq_lengths=jnp.asarray(g.lengths),
                implementation=self.implementation,
            )
            return out.reshape(-1, c)[jnp.asarray(g.inverse)]

        if full is None:
            out = attend(groups)
        else:
            if frames is None:
                raise ValueError("VisionAttention: a traced `full` flag needs the frame groups")
            out = jax.lax.cond(full, lambda: attend(frames), lambda: attend(groups))
        return dense(c, ("vit_heads", "vit_embed"), use_bias=True, name="proj", **kw)(out)


class VisionBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))`` (SwiGLU with biases)."""

    config: VisionConfig
    init_std: float
    dtype: DType
    param_dtype: DType
    implementation: str | None = None

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        groups: AttentionGroups,
        frames: AttentionGroups | None = None,
        full: jax.Array | None = None,
    ) -> jax.Array:
        """(N, C) -> (N, C); ``groups``, ``frames`` and ``full`` as in :class:`VisionAttention`."""
        kw = dict(init_std=self.init_std, dtype=self.dtype, param_dtype=self.param_dtype)
        norm = dict(eps=VISION_NORM_EPS, param_dtype=self.param_dtype, axis_name="vit_norm")
        x = x + VisionAttention(self.config, implementation=self.implementation, name="attn", **kw)(
            RMSNorm(name="norm1", **norm)(x), cos, sin, groups, frames, full
        )
        mlp = SwiGLU(
            self.config.intermediate_size,
            use_bias=True,
            embed_axis="vit_embed",
            hidden_axis="vit_mlp",
            name="mlp",
            **kw,
        )
        return x + mlp(RMSNorm(name="norm2", **norm)(x))


class PatchMerger(nn.Module):
    """RMSNorm each patch, concatenate each 2x2 block, then Linear -> exact GELU -> Linear.

    (N, C) -> (N / merge_unit, out_hidden_size). The GELU is the erf form (torch ``nn.GELU()``),
    not ``jax.nn.gelu``'s default tanh approximation.
    """

    config: VisionConfig
    init_std: float
    dtype: DType
    param_dtype: DType

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        kw = dict(init_std=self.init_std, dtype=self.dtype, param_dtype=self.param_dtype)
        x = RMSNorm(
            eps=VISION_NORM_EPS, param_dtype=self.param_dtype, axis_name="vit_norm", name="ln_q"
        )(x)
        width = cfg.hidden_size * cfg.merge_unit
        x = x.reshape(-1, width)
        x = dense(width, ("vit_merge", "vit_merge_hidden"), use_bias=True, name="mlp_0", **kw)(x)
        x = jax.nn.gelu(x, approximate=False)
        return dense(
            cfg.out_hidden_size, ("vit_merge_hidden", "embed"), use_bias=True, name="mlp_2", **kw
        )(x)


class VisionTower(nn.Module):
    """Patches of every image -> language-model embeddings of their merged 2x2 blocks.

    ``pixel_values``: (N, patch_dim) normalised patches (see ``image_processing``);
    ``grid_thw``: static ``(t, h, w)`` patch grid of each image, with N = sum of t*h*w.
    Returns (N / merge_unit, out_hidden_size). Unless ``scan_layers`` (see
    ``GlobalModelConfig``), each block's output (N, C) is sown into the
    ``intermediates`` collection as ``blocks`` (for per-block parity checks).
    """

    config: VisionConfig
    init_std: float = 0.02
    dtype: DType = jnp.float32
    param_dtype: DType = jnp.float32
    implementation: str | None = None
    scan_layers: bool = False
    remat_layers: bool = False

    @nn.compact
    def __call__(self, pixel_values: jax.Array, grid_thw: GridTHW) -> jax.Array:
        cfg = self.config
        layout = vision_layout(tuple(grid_thw), cfg.spatial_merge_size, cfg.window_merged)
        if pixel_values.shape != (layout.num_patches, cfg.patch_dim):
            raise ValueError(
                f"pixel_values shape {pixel_values.shape}: expected "
                f"({layout.num_patches}, {cfg.patch_dim}) for image grids {tuple(grid_thw)}"
            )
        kw = dict(init_std=self.init_std, dtype=self.dtype, param_dtype=self.param_dtype)
        # Hugging Face's bias-free Conv3d with kernel = stride = patch is a Dense on the patch.
        x = dense(
            cfg.hidden_size, ("vit_patch", "vit_embed"), use_bias=False, name="patch_embed", **kw
        )(pixel_values.astype(self.dtype))
        cos, sin = axial_rope_cos_sin(
            jnp.asarray(layout.hw_positions), cfg.head_dim, cfg.rope_theta
        )
        if self.scan_layers:
            x = self._scanned_blocks(x, cos, sin, layout.windows, layout.frames, kw)
        else:
            for i in range(cfg.depth):
                groups = layout.frames if i in cfg.fullatt_block_indexes else layout.windows
                block = VisionBlock(
                    cfg, implementation=self.implementation, name=f"blocks_{i}", **kw
                )
                if self.remat_layers:  # the groups are static: closed over, not an argument
                    x = nn.remat(lambda b, x, g=groups: b(x, cos, sin, g))(block, x)
                else:
                    x = block(x, cos, sin, groups)
                self.sow("intermediates", "blocks", x)
        return PatchMerger(cfg, name="merger", **kw)(x)

    def _scanned_blocks(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        windows: AttentionGroups,
        frames: AttentionGroups,
        kw: dict,
    ) -> jax.Array:
        """Every block in one ``nn.scan`` over parameters stacked as ``blocks/...`` (leading
        ``layers`` axis); each block's full-attention flag is scanned beside them. Nothing is
        sown (the per-block parity checks use the unrolled layout)."""
        cfg = self.config

        def body(block: VisionBlock, x: jax.Array, full: jax.Array) -> tuple[jax.Array, None]:
            return block(x, cos, sin, windows, frames, full), None

        if self.remat_layers:
            body = nn.remat(body, prevent_cse=False)
        scanned = nn.scan(
            body,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            length=cfg.depth,
            metadata_params={nn.PARTITION_NAME: "layers"},
        )
        full = jnp.asarray([i in cfg.fullatt_block_indexes for i in range(cfg.depth)])
        block = VisionBlock(cfg, implementation=self.implementation, name="blocks", **kw)
        x, _ = scanned(block, x, full)
        return x
