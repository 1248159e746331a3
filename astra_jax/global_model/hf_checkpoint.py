"""Import Hugging Face Qwen2.5-VL weights (``*.safetensors``) into Flax params, and export back.

A Hugging Face directory holds ``config.json`` and either ``model.safetensors`` or shards
``model-0000k-of-0000n.safetensors`` listed by ``model.safetensors.index.json``. Every tensor
is matched by name and shape against the params the config implies (``name_map``) before
anything is read; a missing file, a missing or unexpected tensor, or a wrong shape raises
``HFCheckpointError`` naming the file and the tensor.

Layout conversions (Hugging Face -> Flax):
* ``nn.Linear`` weight (out, in) -> Dense kernel (in, out): transpose.
* ``visual.patch_embed.proj.weight`` Conv3d (out, C, T, P, P) -> Dense kernel
  (C*T*P*P, out): the conv's kernel equals its stride, so it is a Dense on flattened patches.
* Norm ``weight`` -> ``scale``; ``embed_tokens.weight`` -> ``embedding``: unchanged.

Checkpoints saved by transformers >= 4.52 may prefix ``model.language_model.`` and
``model.visual.``; both are read as the classic ``model.`` / ``visual.`` names.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import flax.linen as nn
import jax
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.hf_config import HFCheckpointError, config_to_hf_dict, load_hf_config
from astra_jax.global_model.layer_stack import stack_layers, unstack_layers

Params = dict[str, Any]
Layout = Literal["linear", "conv3d", "same"]
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


def name_map(config: GlobalModelConfig) -> dict[str, tuple[tuple[str, ...], Layout]]:
    """Hugging Face tensor name -> (Flax param path, layout conversion), for every tensor."""
    out: dict[str, tuple[tuple[str, ...], Layout]] = {}

    def linear(hf: str, path: tuple[str, ...], bias: bool) -> None:
        out[f"{hf}.weight"] = ((*path, "kernel"), "linear")
        if bias:
            out[f"{hf}.bias"] = ((*path, "bias"), "same")

    def norm(hf: str, path: tuple[str, ...]) -> None:
        out[f"{hf}.weight"] = ((*path, "scale"), "same")

    out["visual.patch_embed.proj.weight"] = (("visual", "patch_embed", "kernel"), "conv3d")
    for i in range(config.vision.depth):
        hf, fx = f"visual.blocks.{i}", ("visual", f"blocks_{i}")
        norm(f"{hf}.norm1", (*fx, "norm1"))
        norm(f"{hf}.norm2", (*fx, "norm2"))
        linear(f"{hf}.attn.qkv", (*fx, "attn", "qkv"), bias=True)
        linear(f"{hf}.attn.proj", (*fx, "attn", "proj"), bias=True)
        for p in ("gate_proj", "up_proj", "down_proj"):
            linear(f"{hf}.mlp.{p}", (*fx, "mlp", p), bias=True)
    norm("visual.merger.ln_q", ("visual", "merger", "ln_q"))
    linear("visual.merger.mlp.0", ("visual", "merger", "mlp_0"), bias=True)
    linear("visual.merger.mlp.2", ("visual", "merger", "mlp_2"), bias=True)

    out["model.embed_tokens.weight"] = (("embed_tokens", "embedding"), "same")
    for i in range(config.text.num_layers):
        hf, fx = f"model.layers.{i}", (f"layers_{i}",)
        norm(f"{hf}.input_layernorm", (*fx, "input_layernorm"))
        norm(f"{hf}.post_attention_layernorm", (*fx, "post_attention_layernorm"))
        for p in ("q_proj", "k_proj", "v_proj"):
            linear(f"{hf}.self_attn.{p}", (*fx, "self_attn", p), bias=True)
        linear(f"{hf}.self_attn.o_proj", (*fx, "self_attn", "o_proj"), bias=False)
        for p in ("gate_proj", "up_proj", "down_proj"):
            linear(f"{hf}.mlp.{p}", (*fx, "mlp", p), bias=False)
    norm("model.norm", ("norm",))
    if not config.text.tie_word_embeddings:
        out["lm_head.weight"] = (("lm_head", "kernel"), "linear")
    return out


def _canonical(name: str) -> str:
    """Map transformers >= 4.52 names (``model.language_model.*``, ``model.visual.*``)."""
    if name.startswith("model.language_model."):
        return "model." + name[len("model.language_model.") :]
    if name.startswith("model.visual."):
        return name[len("model.") :]
    return name


def _to_hf_shape(flax_shape: tuple[int, ...], layout: Layout, config: GlobalModelConfig) -> tuple:
    if layout == "linear":
        return tuple(reversed(flax_shape))
    if layout == "conv3d":
        v = config.vision
        return (flax_shape[1], v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size)
    return tuple(flax_shape)


def _from_hf(x: np.ndarray, layout: Layout) -> np.ndarray:
    if layout == "linear":
        return x.T
    if layout == "conv3d":
        return x.reshape(x.shape[0], -1).T
    return x


def _to_hf(x: np.ndarray, layout: Layout, config: GlobalModelConfig) -> np.ndarray:
    if layout == "linear":
        return np.ascontiguousarray(x.T)
    if layout == "conv3d":
        return np.ascontiguousarray(x.T).reshape(_to_hf_shape(x.shape, layout, config))
    return np.ascontiguousarray(x)


def expected_param_shapes(config: GlobalModelConfig) -> Params:
    """The params pytree of ``config`` as ``ShapeDtypeStruct``s (no compute, no memory)."""
    from astra_jax.global_model.model import init_params

    return jax.eval_shape(lambda k: init_params(config.model(), k), jax.random.key(0))


def _tensor_files(path: Path) -> dict[str, Path]:
    """Hugging Face tensor name -> the safetensors file holding it (canonical names)."""
    index = path / INDEX_FILE
    files: dict[str, Path] = {}
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise HFCheckpointError(f"{index}: expected JSON with a 'weight_map' ({e})") from None
        for name, shard in weight_map.items():
            shard_path = path / shard
            if not shard_path.is_file():
                raise HFCheckpointError(
                    f"{shard_path}: shard file missing (listed in {index.name} for tensor {name})"
                )
            files[_canonical(name)] = shard_path
        return files
    shards = sorted(path.glob("*.safetensors"))
    if not shards:
        raise HFCheckpointError(
            f"{path}: no {SINGLE_FILE}, no {INDEX_FILE} and no *.safetensors files"
        )
    for shard in shards:
        with safe_open(shard, "numpy") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                files[_canonical(name)] = shard
    return files


def _raw_names(file: Path) -> dict[str, str]:
    """Canonical -> stored tensor name of one safetensors file."""
    with safe_open(file, "numpy") as f:
        return {_canonical(n): n for n in f.keys()}  # noqa: SIM118


def check_hf_dir(path: str | Path, config: GlobalModelConfig | None = None) -> GlobalModelConfig:
    """Check a directory's tensor names and shapes against its config, reading no weights."""
    path = Path(path)
    config = config or load_hf_config(path)
    _plan(path, config)
    return config


def _plan(path: Path, config: GlobalModelConfig) -> list[tuple[str, Path, tuple, Layout]]:
    """Validate names and shapes; yields (hf name, file, flax path, layout) for each tensor."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such directory (expected a Hugging Face model dir)")
    expected = name_map(config)
    shapes = expected_param_shapes(config)
    files = _tensor_files(path)
    tied = config.text.tie_word_embeddings
    unexpected = sorted(
        n for n in files if n not in expected and not (tied and n == "lm_head.weight")
    )
    if unexpected:
        shown = ", ".join(f"{n} (in {files[n].name})" for n in unexpected[:5])
        raise HFCheckpointError(
            f"{path}: {len(unexpected)} unexpected tensor(s) for this config.json: {shown}"
        )
    plan = []
    raw: dict[Path, dict[str, str]] = {}
    for hf_name, (fx_path, layout) in expected.items():
        if hf_name not in files:
            where = INDEX_FILE if (path / INDEX_FILE).is_file() else "*.safetensors"
            raise HFCheckpointError(f"{path / where}: tensor {hf_name} missing")
        file = files[hf_name]
        raw.setdefault(file, _raw_names(file))
        stored = raw[file].get(hf_name)
        if stored is None:
            raise HFCheckpointError(f"{file}: tensor {hf_name} missing (the index lists it here)")
        with safe_open(file, "numpy") as f:
            got = tuple(f.get_slice(stored).get_shape())
        leaf = shapes
        for k in fx_path:
            leaf = leaf[k]
        want = _to_hf_shape(tuple(leaf.shape), layout, config)
        if got != want:
            raise HFCheckpointError(
                f"{file}: tensor {hf_name} has shape {got}, expected {want} from config.json"
            )
        plan.append((stored, file, fx_path, layout))
    return plan


def import_hf_params(
    path: str | Path, config: GlobalModelConfig | None = None
) -> tuple[GlobalModelConfig, Params]:
    """Read a Hugging Face Qwen2.5-VL directory into ``(config, params)``.

    ``config`` defaults to the directory's ``config.json``. Params are numpy arrays in
    ``config.param_dtype``; put them on devices with ``jax.device_put`` and a sharding.
    """
    path = Path(path)
    config = config or load_hf_config(path)
    dtype = np.dtype(config.jnp_param_dtype)
    params: Params = {}
    by_file: dict[Path, list[tuple[str, tuple, Layout]]] = {}
    # the checkpoint's names are per layer: read the unrolled layout, stack after
    for stored, file, fx_path, layout in _plan(path, config.replace(scan_layers=False)):
        by_file.setdefault(file, []).append((stored, fx_path, layout))
    for file, entries in by_file.items():
        with safe_open(file, "numpy") as f:
            for stored, fx_path, layout in entries:
                value = _from_hf(f.get_tensor(stored), layout).astype(dtype)
                node = params
                for k in fx_path[:-1]:
                    node = node.setdefault(k, {})
                node[fx_path[-1]] = np.ascontiguousarray(value)
    return config, (stack_layers(params, config) if config.scan_layers else params)


def export_hf(
    params: Params,
    config: GlobalModelConfig,
    out_dir: str | Path,
    max_shard_bytes: int = 4 * 1024**3,
    extra_files: dict[str, str | Path] | None = None,
) -> Path:
    """Write ``config.json`` and safetensors (sharded with an index above ``max_shard_bytes``).

    The directory is built under a temporary name next to ``out_dir`` and renamed at the end;
    an existing ``out_dir`` is never overwritten. ``extra_files`` copies files in (e.g.
    ``{"tokenizer.json": path}``). ``params`` may be boxed (``config.create``) or plain.
    Returns ``out_dir``.
    """
    params = nn.meta.unbox(params)
    if config.scan_layers:
        params = unstack_layers(params, config)
        config = config.replace(scan_layers=False)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir}: already exists; choose a new output directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, np.ndarray] = {}
    for hf_name, (fx_path, layout) in name_map(config).items():
        node = params
        for k in fx_path:
            if k not in node:
                raise KeyError(f"params: {'/'.join(fx_path)} missing (needed for {hf_name})")
            node = node[k]
        tensors[hf_name] = _to_hf(np.asarray(node), layout, config)

    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for name in sorted(tensors):
        nbytes = tensors[name].nbytes
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensors[name]
        size += nbytes

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "config.json").write_text(json.dumps(config_to_hf_dict(config), indent=2) + "\n")
        if len(shards) == 1:
            save_file(shards[0], tmp / SINGLE_FILE, metadata={"format": "pt"})
        else:
            weight_map = {}
            for k, shard in enumerate(shards, 1):
                fname = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
                save_file(shard, tmp / fname, metadata={"format": "pt"})
                weight_map.update({n: fname for n in shard})
            index = {
                "metadata": {"total_size": int(sum(t.nbytes for t in tensors.values()))},
                "weight_map": dict(sorted(weight_map.items())),
            }
            (tmp / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
        for fname, src in (extra_files or {}).items():
            shutil.copyfile(src, tmp / fname)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
