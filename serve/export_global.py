"""``astra export global``: Astra-Global's prefill and decode steps as ``jax.export`` artifacts.

The artifact (:mod:`astra_jax.serve.artifact` layout) holds one function per prompt shape
family and the decode step, all taking the parameters (``params.npz``) as their first argument:

* ``prefill_<n>img.jax``: ``(params, input_ids (B, s) int32, positions (3, B, s) int32,
  attention_mask (B, s) bool[, pixel_values (P_n, patch_dim) float32]) -> (logits (B, V), cache)``
  for prompts with n images of the model's trained image size (the vision tower's grid is
  static). The prompt length ``s`` is symbolic (1 <= s < ``max_len``), so one function serves
  every prompt length; ``B`` is fixed (``batch``);
* ``decode.jax``: ``(params, tokens (B,) int32, cache) -> (logits (B, V), cache)``, one token
  per row at its next M-RoPE position.

``cache`` is a plain dict of arrays (``k``, ``v``: one (B, max_len, kv_heads, head_dim) per
layer; ``key_valid``, ``length``, ``next_position``), so a runtime needs no Flax struct.
:class:`~astra_jax.serve.runtime.GlobalRuntime` runs greedy generation with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import export

from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.kv_cache import KVCache
from astra_jax.serve import artifact as af
from astra_jax.serve.export import check_platforms, tree_specs, write_artifact
from astra_jax.train.train_config import config_json

GLOBAL_MODEL = "astra-global-decoder"


def cache_to_dict(cache: KVCache) -> dict[str, Any]:
    return {"k": list(cache.k), "v": list(cache.v), "key_valid": cache.key_valid,
            "length": cache.length, "next_position": cache.next_position}  # fmt: skip


def cache_from_dict(d: dict[str, Any]) -> KVCache:
    return KVCache(tuple(d["k"]), tuple(d["v"]), d["key_valid"], d["length"], d["next_position"])


def _grid(config: GlobalModelConfig, image_hw: tuple[int, int]) -> tuple[int, int, int]:
    p = config.vision.patch_size
    return (1, image_hw[0] // p, image_hw[1] // p)


def export_global(
    config: GlobalModelConfig,
    params: dict[str, Any],
    out_dir: Path,
    *,
    image_hw: tuple[int, int],
    image_counts: tuple[int, ...] = (0, 1, 2, 4),
    batch: int = 1,
    max_len: int = 2048,
    platforms: tuple[str, ...] = ("cpu",),
    source: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export the prefill of every image count and the decode step; returns the manifest."""
    platforms = check_platforms(tuple(platforms))
    if batch < 1 or max_len < 2 or not image_counts or min(image_counts) < 0:
        raise ValueError(f"batch {batch} >= 1, max_len {max_len} >= 2 and image counts "
                         f"{image_counts} >= 0 expected")  # fmt: skip
    p = config.vision.patch_size
    if image_hw[0] % (2 * p) or image_hw[1] % (2 * p):
        raise ValueError(f"image_hw {image_hw}: expected multiples of {2 * p} (patch x merge)")
    model = config.model()
    params = jax.tree.map(np.asarray, nn.unbox(params))  # logical-axis boxes off
    pspec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
    grid = _grid(config, image_hw)
    patch_dim = 3 * config.vision.temporal_patch_size * p * p
    (s,) = export.symbolic_shape("s", constraints=[f"s <= {max_len - 1}", "s >= 1"])
    b = batch
    i32 = jnp.int32
    functions, blobs = {}, {}
    for n in image_counts:
        grids = (grid,) * (n * b)

        def prefill(params, ids, positions, mask, pixels=None, grids=grids):
            cache = KVCache.zeros(config.text, ids.shape[0], max_len, config.jnp_dtype)
            logits, cache = model.apply({"params": params}, ids, positions, mask, pixels, grids,
                                        cache=cache, last_only=True)  # fmt: skip
            return logits[:, 0].astype(jnp.float32), cache_to_dict(cache)

        inputs = {
            "input_ids": jax.ShapeDtypeStruct((b, s), i32),
            "positions": jax.ShapeDtypeStruct((3, b, s), i32),
            "attention_mask": jax.ShapeDtypeStruct((b, s), jnp.bool_),
        }
        if n:
            patches = n * b * grid[1] * grid[2]
            inputs["pixel_values"] = jax.ShapeDtypeStruct((patches, patch_dim), jnp.float32)
        exported = export.export(jax.jit(prefill), platforms=platforms)(pspec, *inputs.values())
        name = f"prefill_{n}img"
        blobs[f"{name}.jax"] = exported.serialize()
        functions[name] = {"file": f"{name}.jax", "images": n, "inputs": tree_specs(inputs)}
        cache_spec = jax.tree.unflatten(exported.out_tree, exported.out_avals)[1]

    def decode(params, tokens, cache):
        c = cache_from_dict(cache)
        positions = jnp.broadcast_to(c.next_position[None, :, None], (3, tokens.shape[0], 1))
        logits, c = model.apply({"params": params}, tokens[:, None], positions,
                                jnp.ones((tokens.shape[0], 1), jnp.bool_), cache=c)  # fmt: skip
        return logits[:, 0].astype(jnp.float32), cache_to_dict(c)

    exported = export.export(jax.jit(decode), platforms=platforms)(
        pspec, jax.ShapeDtypeStruct((b,), i32), cache_spec
    )
    blobs["decode.jax"] = exported.serialize()
    functions["decode"] = {"file": "decode.jax", "inputs": {"tokens": af.spec_json((b,), i32)}}
    manifest = {
        "model": GLOBAL_MODEL, "preset": config.name, "platforms": list(platforms), "batch": b,
        "inputs": {k: v["inputs"] for k, v in functions.items()},
        "state": tree_specs(cache_spec),
        "outputs": {"logits": af.spec_json((b, config.text.vocab_size), jnp.float32)},
        "rig": {"image_hw": list(image_hw)},
        "normalization": {"note": "images as the model's processor patchifies them at image_hw "
                                  "(global_model.image_processing.preprocess_image_at)"},
        "config": config_json(config), "functions": functions, "max_len": max_len,
        "tokens": {"pad": config.pad_token_id, "image": config.image_token_id},
        "source": source or {},
    }  # fmt: skip
    return write_artifact(out_dir, manifest, blobs, params, overwrite=overwrite)
