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

import dataclasses
from pathlib import Path
from typing import Any

from astra_jax.global_model.config import GlobalModelConfig, TextConfig, VisionConfig
from astra_jax.validation import ConfigError, JsonChecker, JsonObject, read_json

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


def config_from_hf_dict(
    d: dict[str, Any], source: str = "config.json", name: str | None = None, **overrides: Any
) -> GlobalModelConfig:
    """Parse a Qwen2.5-VL ``config.json`` dict. ``source`` names the file in errors.

    ``overrides`` set ``GlobalModelConfig`` fields such as ``dtype``, ``param_dtype``,
    ``attention_impl``.
    """
    c = JsonChecker(source, HFCheckpointError)
    root = c.at(d)
    archs = root.value("architectures", [])
    if d.get("model_type") != MODEL_TYPE and ARCHITECTURE not in archs:
        c.fail(
            "architectures",
            f"[{ARCHITECTURE!r}] (model_type {MODEL_TYPE!r}); other architectures are not "
            "supported",
            archs,
        )
    text = c.at(root.object("text_config", default={}), "text_config")
    vis = root.at("vision_config")

    def holder(key: str) -> JsonObject:
        """Where a text-model field is: ``text_config`` first, then the root (Hub layout)."""
        return text if text.value(key, None) is not None else root

    def text_int(key: str, default: Any = dataclasses.MISSING) -> int:
        return holder(key).integer(key, default=default)

    def text_number(key: str, default: float) -> float:
        return holder(key).number(key, default=default)

    for key, allowed, expected in (
        ("hidden_act", ("silu",), "'silu'"),
        ("use_sliding_window", (False, None), "false (or no such field)"),
    ):
        if holder(key).value(key, None) not in allowed:
            holder(key).fail(key, expected, holder(key).value(key, None))
    if vis.value("hidden_act", "silu") != "silu":
        vis.fail("hidden_act", "'silu'", vis.value("hidden_act"))

    rope_key = (
        "rope_parameters"
        if holder("rope_parameters").value("rope_parameters", None)
        else "rope_scaling"
    )
    rope = c.at(holder(rope_key).object(rope_key, default={}), holder(rope_key).field(rope_key))
    type_key = "rope_type" if rope.has("rope_type") else "type"
    if rope.value(type_key, "default") not in ("default", "mrope"):
        rope.fail(type_key, "'default' or 'mrope' (no RoPE scaling)", rope.value(type_key))
    eos = holder("eos_token_id")
    if isinstance(eos.value("eos_token_id", None), list):
        eos_ids = eos.integers("eos_token_id")
    else:
        eos_ids = (eos.integer("eos_token_id", default=151645),)
    pad = text_int("pad_token_id", default=None)
    vrope = c.at(vis.object("rope_parameters", default={}), vis.field("rope_parameters"))

    vision = dict(
        depth=vis.integer("depth"),
        hidden_size=vis.integer("hidden_size"),
        intermediate_size=vis.integer("intermediate_size"),
        num_heads=vis.integer("num_heads"),
        out_hidden_size=vis.integer("out_hidden_size"),
        patch_size=vis.integer("patch_size", default=14),
        temporal_patch_size=vis.integer("temporal_patch_size", default=2),
        spatial_merge_size=vis.integer("spatial_merge_size", default=2),
        in_channels=vis.integer("in_channels", default=vis.integer("in_chans", default=3)),
        window_size=vis.integer("window_size", default=112),
        fullatt_block_indexes=vis.integers("fullatt_block_indexes", default=()),
        rope_theta=vrope.number("rope_theta", default=10000.0),
        tokens_per_second=vis.integer("tokens_per_second", default=2),
    )
    textcfg = dict(
        vocab_size=text_int("vocab_size"),
        hidden_size=text_int("hidden_size"),
        intermediate_size=text_int("intermediate_size"),
        num_layers=text_int("num_hidden_layers"),
        num_heads=text_int("num_attention_heads"),
        num_kv_heads=text_int("num_key_value_heads", default=None)
        or text_int("num_attention_heads"),
        rms_norm_eps=text_number("rms_norm_eps", 1e-6),
        rope_theta=rope.number("rope_theta", default=text_number("rope_theta", 1_000_000.0)),
        mrope_section=rope.integers("mrope_section", default=(16, 24, 24)),
        tie_word_embeddings=bool(
            d.get("tie_word_embeddings", False) or text.obj.get("tie_word_embeddings", False)
        ),
        max_position_embeddings=text_int("max_position_embeddings", default=32768),
    )
    try:
        fields = dict(
            name=name or str(d.get("_name_or_path") or "hf"),
            vision=VisionConfig(**vision),
            text=TextConfig(**textcfg),
            image_token_id=root.integer("image_token_id", default=151655),
            video_token_id=root.integer("video_token_id", default=151656),
            vision_start_token_id=root.integer("vision_start_token_id", default=151652),
            vision_end_token_id=root.integer("vision_end_token_id", default=151653),
            eos_token_ids=tuple(eos_ids),
            pad_token_id=text_int("bos_token_id", default=0) if pad is None else pad,
            initializer_range=text_number("initializer_range", 0.02),
        )
        fields.update(overrides)
        return GlobalModelConfig(**fields)
    except (ConfigError, TypeError) as e:  # the checks of the configs, or a bad override
        raise HFCheckpointError(f"{source}: {e}") from None


def load_hf_config(path: str | Path, **overrides: Any) -> GlobalModelConfig:
    """Read ``config.json`` from a Hugging Face model directory (or the file itself)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file or directory (expected a Hugging Face model directory)"
        )
    file = path / "config.json" if path.is_dir() else path
    d = read_json(
        file, HFCheckpointError, missing="no such file (expected a Hugging Face config.json)"
    )
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
