"""Hugging Face ``config.json`` <-> ``GlobalModelConfig`` for Qwen2.5-VL.

Two layouts are read:

* transformers 5 (what ``save_pretrained`` writes): text fields in ``text_config`` with
  ``rope_parameters = {rope_type, rope_theta, mrope_section}``;
* the Hub's flat layout (the published Qwen2.5-VL checkpoints): text fields at the root,
  ``rope_theta`` at the root and ``rope_scaling = {type: "mrope", mrope_section}``.

Only the Qwen2.5-VL architecture is accepted (Qwen2-VL has a different vision tower). Features
this port does not implement (sliding-window attention, scaled RoPE variants, activations other
than SiLU) are refused with an error rather than silently ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from astra_jax.config import ConfigError
from astra_jax.global_model.config import GlobalModelConfig, TextConfig, VisionConfig

ARCHITECTURE = "Qwen2_5_VLForConditionalGeneration"
MODEL_TYPE = "qwen2_5_vl"
_HERE = Path(__file__).parent
# The published config.json files, typed from the Hub (architecture only; no weights).
PUBLISHED_CONFIGS: dict[str, Path] = {
    "qwen2.5-vl-3b": _HERE / "qwen2_5_vl_3b.config.json",
    "qwen2.5-vl-7b": _HERE / "qwen2_5_vl_7b.config.json",
}


class HFCheckpointError(ValueError):
    """A Hugging Face directory is unusable; the message names the file and the tensor/field."""


def _get(d: dict[str, Any], text: dict[str, Any], key: str, default: Any = None) -> Any:
    """A text-model field: from ``text_config`` first, then the root (flat Hub layout)."""
    if key in text and text[key] is not None:
        return text[key]
    return d.get(key, default)


def config_from_hf_dict(
    d: dict[str, Any], source: str = "config.json", name: str | None = None, **overrides: Any
) -> GlobalModelConfig:
    """Parse a Qwen2.5-VL ``config.json`` dict. ``source`` names the file in errors.

    ``overrides`` set ``GlobalModelConfig`` fields such as ``dtype``, ``param_dtype``,
    ``attention_impl``.
    """
    archs = d.get("architectures") or []
    if d.get("model_type") != MODEL_TYPE and ARCHITECTURE not in archs:
        raise HFCheckpointError(
            f"{source}: architectures = {archs}, model_type = {d.get('model_type')!r}: expected "
            f"{ARCHITECTURE} (model_type {MODEL_TYPE!r}); other architectures are not supported"
        )
    text = d.get("text_config") or {}
    vis = d.get("vision_config")
    if not isinstance(vis, dict):
        raise HFCheckpointError(f"{source}: vision_config missing: expected a dict")

    def need(key: str) -> Any:
        v = _get(d, text, key)
        if v is None:
            raise HFCheckpointError(f"{source}: text field {key!r} missing")
        return v

    for key, allowed in (("hidden_act", ("silu",)), ("use_sliding_window", (False, None))):
        if _get(d, text, key) not in allowed:
            raise HFCheckpointError(
                f"{source}: {key} = {_get(d, text, key)!r}: expected one of {allowed}"
            )
    if vis.get("hidden_act", "silu") != "silu":
        raise HFCheckpointError(
            f"{source}: vision_config.hidden_act = {vis.get('hidden_act')!r}: expected 'silu'"
        )

    rope = _get(d, text, "rope_parameters") or _get(d, text, "rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "mrope"):
        raise HFCheckpointError(
            f"{source}: rope type {rope_type!r}: expected 'default' or 'mrope' (no RoPE scaling)"
        )
    theta = rope.get("rope_theta", _get(d, text, "rope_theta", 1_000_000.0))
    section = tuple(int(s) for s in rope.get("mrope_section", (16, 24, 24)))
    tie = bool(d.get("tie_word_embeddings", False) or text.get("tie_word_embeddings", False))
    eos = _get(d, text, "eos_token_id", 151645)
    eos_ids = tuple(int(e) for e in (eos if isinstance(eos, list | tuple) else [eos]))
    pad = _get(d, text, "pad_token_id")
    vrope = vis.get("rope_parameters") or {}

    try:
        vision = VisionConfig(
            depth=int(vis["depth"]),
            hidden_size=int(vis["hidden_size"]),
            intermediate_size=int(vis["intermediate_size"]),
            num_heads=int(vis["num_heads"]),
            out_hidden_size=int(vis["out_hidden_size"]),
            patch_size=int(vis.get("patch_size", 14)),
            temporal_patch_size=int(vis.get("temporal_patch_size", 2)),
            spatial_merge_size=int(vis.get("spatial_merge_size", 2)),
            in_channels=int(vis.get("in_channels", vis.get("in_chans", 3))),
            window_size=int(vis.get("window_size", 112)),
            fullatt_block_indexes=tuple(int(i) for i in vis.get("fullatt_block_indexes", ())),
            rope_theta=float(vrope.get("rope_theta", 10000.0)),
            tokens_per_second=int(vis.get("tokens_per_second", 2)),
        )
        textcfg = TextConfig(
            vocab_size=int(need("vocab_size")),
            hidden_size=int(need("hidden_size")),
            intermediate_size=int(need("intermediate_size")),
            num_layers=int(need("num_hidden_layers")),
            num_heads=int(need("num_attention_heads")),
            num_kv_heads=int(_get(d, text, "num_key_value_heads") or need("num_attention_heads")),
            rms_norm_eps=float(_get(d, text, "rms_norm_eps", 1e-6)),
            rope_theta=float(theta),
            mrope_section=section,  # type: ignore[arg-type]
            tie_word_embeddings=tie,
            max_position_embeddings=int(_get(d, text, "max_position_embeddings", 32768)),
        )
        fields = dict(
            name=name or str(d.get("_name_or_path") or "hf"),
            vision=vision,
            text=textcfg,
            image_token_id=int(d.get("image_token_id", 151655)),
            video_token_id=int(d.get("video_token_id", 151656)),
            vision_start_token_id=int(d.get("vision_start_token_id", 151652)),
            vision_end_token_id=int(d.get("vision_end_token_id", 151653)),
            eos_token_ids=eos_ids,
            pad_token_id=int(pad) if pad is not None else int(_get(d, text, "bos_token_id", 0)),
            initializer_range=float(_get(d, text, "initializer_range", 0.02)),
        )
        fields.update(overrides)
        return GlobalModelConfig(**fields)
    except KeyError as e:
        raise HFCheckpointError(f"{source}: vision_config field {e.args[0]!r} missing") from None
    except (ConfigError, TypeError, ValueError) as e:
        raise HFCheckpointError(f"{source}: {e}") from None


def load_hf_config(path: str | Path, **overrides: Any) -> GlobalModelConfig:
    """Read ``config.json`` from a Hugging Face model directory (or the file itself)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or directory (expected a Hugging Face model directory)"
        )
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file (expected a Hugging Face config.json)")
    try:
        d = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise HFCheckpointError(f"{file}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise HFCheckpointError(f"{file}: expected a JSON object")
    overrides.setdefault("name", path.name if path.is_dir() else path.stem)
    return config_from_hf_dict(d, source=str(file), **overrides)


def load_published_config(name: str, **overrides: Any) -> GlobalModelConfig:
    """``qwen2.5-vl-3b`` or ``qwen2.5-vl-7b``: the architecture of the published checkpoint."""
    return load_hf_config(PUBLISHED_CONFIGS[name], name=name, **overrides)


def config_to_hf_dict(config: GlobalModelConfig) -> dict[str, Any]:
    """The transformers-5 ``config.json`` dict for ``config`` (nested text/vision configs)."""
    v, t = config.vision, config.text
    return {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "dtype": config.param_dtype,
        "image_token_id": config.image_token_id,
        "video_token_id": config.video_token_id,
        "vision_start_token_id": config.vision_start_token_id,
        "vision_end_token_id": config.vision_end_token_id,
        "tie_word_embeddings": t.tie_word_embeddings,
        "text_config": {
            "model_type": "qwen2_5_vl_text",
            "vocab_size": t.vocab_size,
            "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size,
            "num_hidden_layers": t.num_layers,
            "num_attention_heads": t.num_heads,
            "num_key_value_heads": t.num_kv_heads,
            "hidden_act": "silu",
            "rms_norm_eps": t.rms_norm_eps,
            "max_position_embeddings": t.max_position_embeddings,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": t.rope_theta,
                "mrope_section": list(t.mrope_section),
            },
            "use_sliding_window": False,
            "initializer_range": config.initializer_range,
            "bos_token_id": config.pad_token_id,
            "eos_token_id": list(config.eos_token_ids),
            "pad_token_id": config.pad_token_id,
            "tie_word_embeddings": t.tie_word_embeddings,
        },
        "vision_config": {
            "model_type": "qwen2_5_vl_vision",
            "depth": v.depth,
            "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size,
            "num_heads": v.num_heads,
            "out_hidden_size": v.out_hidden_size,
            "hidden_act": "silu",
            "in_channels": v.in_channels,
            "patch_size": v.patch_size,
            "temporal_patch_size": v.temporal_patch_size,
            "spatial_merge_size": v.spatial_merge_size,
            "window_size": v.window_size,
            "fullatt_block_indexes": list(v.fullatt_block_indexes),
            "tokens_per_second": v.tokens_per_second,
            "rope_parameters": {"rope_type": "axial", "rope_theta": v.rope_theta},
            "initializer_range": config.initializer_range,
        },
    }
