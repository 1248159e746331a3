"""Astra-Global: the Qwen2.5-VL model (vision tower + Qwen2 decoder with M-RoPE) in Flax linen.

Parameter tree (Hugging Face names in brackets, see ``hf_checkpoint``)::

    visual/...                      [visual.*]            vision tower
    embed_tokens/embedding          [model.embed_tokens]  (vocab, embed)
    layers_{i}/input_layernorm, self_attn/{q,k,v,o}_proj, post_attention_layernorm,
               mlp/{gate,up,down}_proj                     [model.layers.{i}.*]
    norm/scale                      [model.norm]
    lm_head/kernel                  [lm_head]             absent with tied embeddings

With ``config.scan_layers`` the layers are one ``layers/...`` subtree (and the vision blocks
one ``visual/blocks/...``) whose leaves carry a leading ``layers`` axis, run by ``nn.scan``;
``layer_stack`` converts between the layouts.

Inputs of ``__call__`` (B rows, S tokens; build them with ``inputs.make_batch``):
    input_ids (B, S) int32, with ``image_token_id`` placeholders where image embeddings go;
    positions (3, B, S) int32 M-RoPE temporal/height/width ids (``positions.mrope_positions``);
    attention_mask (B, S) bool, False at left padding;
    pixel_values (N, patch_dim) and static grid_thw of the images in row-major prompt order.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.kv_cache import KVCache
from astra_jax.global_model.vision import VisionTower
from astra_jax.global_model.vision_layout import GridTHW
from astra_jax.nn.dense import dense
from astra_jax.nn.gqa_attention import GQAttention
from astra_jax.nn.mlp import SwiGLU
from astra_jax.nn.rmsnorm import RMSNorm
from astra_jax.nn.rope import mrope_cos_sin

Params = dict[str, Any]


class DecoderLayer(nn.Module):
    """Qwen2 decoder layer: pre-norm GQA self-attention and pre-norm SwiGLU, both residual."""

    config: GlobalModelConfig

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        cos: jax.Array,
        sin: jax.Array,
        mask: jax.Array,
        cache: tuple[jax.Array, jax.Array] | None,
        cache_index: jax.Array | int,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        cfg, t = self.config, self.config.text
        kw = dict(
            init_std=cfg.initializer_range, dtype=cfg.jnp_dtype, param_dtype=cfg.jnp_param_dtype
        )
        norm = dict(eps=t.rms_norm_eps, param_dtype=cfg.jnp_param_dtype)
        h, cache = GQAttention(
            t.num_heads,
            t.num_kv_heads,
            t.head_dim,
            qkv_bias=True,
            implementation=cfg.attention_impl,
            name="self_attn",
            **kw,
        )(RMSNorm(name="input_layernorm", **norm)(x), cos, sin, mask, cache, cache_index)
        x = x + h
        mlp = SwiGLU(t.intermediate_size, use_bias=False, name="mlp", **kw)
        return x + mlp(RMSNorm(name="post_attention_layernorm", **norm)(x)), cache


class Qwen25VL(nn.Module):
    """Qwen2.5-VL for conditional generation. See the module docstring for inputs and names."""

    config: GlobalModelConfig

    def setup(self) -> None:
        cfg, t = self.config, self.config.text
        self.visual = VisionTower(
            cfg.vision,
            init_std=cfg.initializer_range,
            dtype=cfg.jnp_dtype,
            param_dtype=cfg.jnp_param_dtype,
            implementation=cfg.attention_impl,
            scan_layers=cfg.scan_layers,
            remat_layers=cfg.remat_layers,
        )
        self.embed_tokens = nn.Embed(
            t.vocab_size,
            t.hidden_size,
            dtype=cfg.jnp_dtype,
            param_dtype=cfg.jnp_param_dtype,
            embedding_init=nn.with_logical_partitioning(
                nn.initializers.normal(cfg.initializer_range), ("vocab", "embed")
            ),
        )
        layer = DecoderLayer
        if cfg.remat_layers:  # CSE prevention is needed under jit, not inside a scan
            layer = nn.remat(DecoderLayer, prevent_cse=not cfg.scan_layers)
        if cfg.scan_layers:
            # x is the carry; cos, sin, mask and the cache index are the same for every layer,
            # each layer's (k, v) cache slice is scanned in and out
            self.layers = nn.scan(
                layer,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                in_axes=(nn.broadcast, nn.broadcast, nn.broadcast, 0, nn.broadcast),
                length=t.num_layers,
                metadata_params={nn.PARTITION_NAME: "layers"},
            )(cfg)
        else:
            self.layers = [layer(cfg, name=f"layers_{i}") for i in range(t.num_layers)]
        self.norm = RMSNorm(eps=t.rms_norm_eps, param_dtype=cfg.jnp_param_dtype)
        if not t.tie_word_embeddings:
            self.lm_head = dense(
                t.vocab_size,
                ("embed", "vocab"),
                use_bias=False,
                init_std=cfg.initializer_range,
                dtype=cfg.jnp_dtype,
                param_dtype=cfg.jnp_param_dtype,
            )

    def encode_images(self, pixel_values: jax.Array, grid_thw: GridTHW) -> jax.Array:
        """(N, patch_dim) patches -> (N / merge_unit, hidden) embeddings, in patch order."""
        return self.visual(pixel_values, grid_thw)

    def embed(
        self,
        input_ids: jax.Array,
        pixel_values: jax.Array | None = None,
        grid_thw: GridTHW = (),
        row_image_slots: int = 0,
    ) -> jax.Array:
        """Token embeddings (B, S, hidden) with image placeholders replaced by image features.

        The k-th placeholder in row-major order over the batch receives the k-th merged image
        token; the caller guarantees the counts agree (``inputs.make_batch`` checks them).
        With ``row_image_slots`` = n (packed training rows, every image of one grid), the
        images come in n slots per row, unused slots last: row r's k-th placeholder takes
        merged token k of row r's slots, so rows with fewer images leave slots unread.
        """
        x = self.embed_tokens(input_ids)
        if pixel_values is None:
            return x
        features = self.encode_images(pixel_values, grid_thw).astype(x.dtype)
        is_image = input_ids == self.config.image_token_id
        if row_image_slots:
            per_row = row_image_slots * self.config.num_image_tokens(grid_thw[0])
            offset = jnp.arange(input_ids.shape[0])[:, None] * per_row
            which = (jnp.cumsum(is_image, axis=1) - 1 + offset).reshape(-1)
        else:
            which = jnp.cumsum(is_image.reshape(-1)) - 1
        which = jnp.clip(which, 0, features.shape[0] - 1)
        flat = x.reshape(-1, x.shape[-1])
        merged = jnp.where(is_image.reshape(-1)[:, None], features[which], flat)
        return merged.reshape(x.shape)

    def logits(self, hidden: jax.Array) -> jax.Array:
        """Final hidden states (..., hidden) -> float32 logits (..., vocab)."""
        if self.config.text.tie_word_embeddings:
            out = self.embed_tokens.attend(hidden)
        else:
            out = self.lm_head(hidden)
        return out.astype(jnp.float32)

    def __call__(
        self,
        input_ids: jax.Array,
        positions: jax.Array,
        attention_mask: jax.Array,
        pixel_values: jax.Array | None = None,
        grid_thw: GridTHW = (),
        cache: KVCache | None = None,
        last_only: bool = False,
        segment_ids: jax.Array | None = None,
        row_image_slots: int = 0,
    ) -> tuple[jax.Array, KVCache | None]:
        """Logits (B, S, vocab), or (B, 1, vocab) with ``last_only``, and the updated cache.

        Without a cache the S tokens attend causally among themselves; with ``segment_ids``
        (B, S) int32 (packed training rows) only within their own segment; ``row_image_slots``
        see :meth:`embed`. With one, they are
        written at slots [cache.length, cache.length + S) and attend causally to every valid
        slot before them: a prefill (empty cache, S = prompt) or a decode step (S = 1).
        """
        t = self.config.text
        s = input_ids.shape[1]
        x = self.embed(input_ids, pixel_values, grid_thw, row_image_slots)
        attention_mask = attention_mask.astype(jnp.bool_)
        if cache is None:
            start, key_valid = 0, attention_mask
        else:
            start = cache.length
            key_valid = jax.lax.dynamic_update_slice(cache.key_valid, attention_mask, (0, start))
        query_slot = start + jnp.arange(s)
        key_slot = jnp.arange(key_valid.shape[1])
        causal = key_slot[None, :] <= query_slot[:, None]
        # A padding query attends at least to itself, so no softmax row is empty.
        allowed = key_valid[:, None, :] & causal[None]
        if segment_ids is not None:
            if cache is not None:
                raise ValueError("segment_ids are for packed training rows, not for a KV cache")
            allowed &= segment_ids[:, :, None] == segment_ids[:, None, :]
        mask = allowed | (key_slot[None, :] == query_slot[:, None])
        mask = mask[:, None]  # (B, 1, S, T)

        cos, sin = mrope_cos_sin(positions, t.head_dim, t.rope_theta, t.mrope_section)
        if self.config.scan_layers:
            stacked = None if cache is None else (cache.k, cache.v)
            x, stacked = self.layers(x, cos, sin, mask, stacked, start)
            new_k, new_v = stacked if stacked is not None else (None, None)
        else:
            new_k, new_v = [], []
            for i, layer in enumerate(self.layers):
                layer_cache = None if cache is None else (cache.k[i], cache.v[i])
                x, layer_cache = layer(x, cos, sin, mask, layer_cache, start)
                if layer_cache is not None:
                    new_k.append(layer_cache[0])
                    new_v.append(layer_cache[1])
            new_k, new_v = tuple(new_k), tuple(new_v)
        if last_only:
            x = x[:, -1:]
        logits = self.logits(self.norm(x))

        if cache is None:
            return logits, None
        last_position = jnp.max(jnp.where(attention_mask, positions.max(axis=0), -1), axis=1)
        cache = KVCache(
            k=new_k,
            v=new_v,
            key_valid=key_valid,
            length=cache.length + s,
            next_position=jnp.maximum(cache.next_position, last_position + 1).astype(jnp.int32),
        )
        return logits, cache


# ----------------------------------------------------------------------------- params


def _init_inputs(config: GlobalModelConfig) -> dict[str, Any]:
    """The smallest input that touches every parameter: one 2x2-merged-token image + 1 token."""
    m = config.vision.spatial_merge_size
    grid = ((1, 2 * m, 2 * m),)
    n_img = config.num_image_tokens(grid[0])
    ids = jnp.full((1, n_img + 1), config.image_token_id, jnp.int32).at[0, -1].set(0)
    return dict(
        input_ids=ids,
        positions=jnp.zeros((3, 1, n_img + 1), jnp.int32),
        attention_mask=jnp.ones((1, n_img + 1), jnp.bool_),
        pixel_values=jnp.zeros((4 * m * m, config.vision.patch_dim), jnp.float32),
        grid_thw=grid,
    )


def init_params(model: Qwen25VL, rng: jax.Array) -> Params:
    """Freshly initialised parameters (plain arrays, logical-axis boxes removed)."""
    return nn.meta.unbox(init_boxed_params(model, rng))


@functools.partial(jax.jit, static_argnames="model")
def init_boxed_params(model: Qwen25VL, rng: jax.Array) -> Params:
    """Freshly initialised parameters, boxed with their logical axis names."""
    inputs = _init_inputs(model.config)
    grid = inputs.pop("grid_thw")
    return model.init(rng, **inputs, grid_thw=grid)["params"]


def logical_axes(config: GlobalModelConfig) -> Params:
    """The pytree of parameter logical axis names (``PartitionSpec``s of names), no compute.

    Map it to mesh axes with ``flax.linen.logical_to_mesh_sharding`` and a rule set.
    """
    model = config.model()
    inputs = _init_inputs(config)
    grid = inputs.pop("grid_thw")
    abstract = jax.eval_shape(
        lambda k: model.init(k, **inputs, grid_thw=grid)["params"], jax.random.key(0)
    )
    return nn.get_partition_spec(abstract)


def count_params(params: Params) -> int:
    """Total number of parameter entries (works on arrays and ``ShapeDtypeStruct``s)."""
    return sum(math.prod(x.shape) for x in jax.tree.leaves(params))
