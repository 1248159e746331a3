"""Hugging Face directory import/export: round trips and clear errors for bad directories."""

from __future__ import annotations

import json
import shutil

import flax.linen as nn
import jax
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from astra_jax.global_model.config import get_config, tiny_config
from astra_jax.global_model.hf_checkpoint import (
    HFCheckpointError,
    check_hf_dir,
    export_hf,
    import_hf_params,
    name_map,
)
from astra_jax.global_model.hf_config import load_hf_config


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    config = tiny_config()
    _, boxed = config.create(jax.random.key(0))
    params = nn.meta.unbox(boxed)  # create boxes every parameter with its logical axes
    root = tmp_path_factory.mktemp("hf")
    single = export_hf(params, config, root / "single")
    sharded = export_hf(params, config, root / "sharded", max_shard_bytes=100_000)
    return config, params, single, sharded


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_single_and_sharded(exported):
    config, params, single, sharded = exported
    assert (single / "model.safetensors").is_file()
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert set(index["weight_map"]) == set(name_map(config))
    for path in (single, sharded):
        config2, params2 = import_hf_params(path)
        assert config2.text == config.text and config2.vision == config.vision
        assert config2.image_token_id == config.image_token_id
        _assert_same(params, params2)


def test_conv3d_patch_embedding_layout(exported):
    """The Dense patch kernel is the Conv3d weight flattened over (C, T, P, P)."""
    config, params, single, _ = exported
    w = load_file(single / "model.safetensors")["visual.patch_embed.proj.weight"]
    v = config.vision
    assert w.shape == (v.hidden_size, 3, v.temporal_patch_size, v.patch_size, v.patch_size)
    patch = np.random.default_rng(0).standard_normal(v.patch_dim).astype(np.float32)
    conv = np.einsum("octhw,cthw->o", w, patch.reshape(w.shape[1:]))
    dense = patch @ np.asarray(params["visual"]["patch_embed"]["kernel"])
    np.testing.assert_allclose(conv, dense, atol=1e-5)


def test_bfloat16_checkpoint_is_read(exported, tmp_path):
    _, params, single, _ = exported
    d = _copy(single, tmp_path / "bf16")
    tensors = load_file(d / "model.safetensors")
    save_file(
        {k: v.astype(ml_dtypes.bfloat16) for k, v in tensors.items()}, d / "model.safetensors"
    )
    _, p = import_hf_params(d)
    got = p["norm"]["scale"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, params["norm"]["scale"], rtol=1e-2)


def test_missing_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        import_hf_params(tmp_path)


def test_unknown_architecture_names_file_and_value(exported, tmp_path):
    _, _, single, _ = exported
    d = _copy(single, tmp_path / "llama")
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(architectures=["Qwen2VLForConditionalGeneration"], model_type="qwen2_vl")
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(HFCheckpointError, match=r"config\.json.*Qwen2VLForConditionalGeneration"):
        import_hf_params(d)


def test_missing_shard_file_names_file_and_tensor(exported, tmp_path):
    _, _, _, sharded = exported
    d = _copy(sharded, tmp_path / "missing_shard")
    index = json.loads((d / "model.safetensors.index.json").read_text())
    _, shard = sorted(index["weight_map"].items())[-1]
    (d / shard).unlink()
    with pytest.raises(HFCheckpointError, match=rf"{shard}.*missing.*tensor "):
        import_hf_params(d)


def test_missing_tensor_names_it(exported, tmp_path):
    _, _, single, _ = exported
    d = _copy(single, tmp_path / "missing_tensor")
    tensors = load_file(d / "model.safetensors")
    del tensors["model.layers.1.self_attn.k_proj.bias"]
    save_file(tensors, d / "model.safetensors")
    with pytest.raises(
        HFCheckpointError, match=r"model\.layers\.1\.self_attn\.k_proj\.bias missing"
    ):
        import_hf_params(d)


def test_shape_mismatch_names_file_tensor_and_shapes(exported, tmp_path):
    _, _, single, _ = exported
    d = _copy(single, tmp_path / "bad_shape")
    cfg = json.loads((d / "config.json").read_text())
    cfg["text_config"]["intermediate_size"] = 96
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        HFCheckpointError,
        match=r"model\.safetensors: tensor model\.layers\.0\.mlp\.(gate|up|down)_proj\.weight has "
        r"shape \(\d+, \d+\), expected",
    ):
        check_hf_dir(d)


def test_unexpected_tensor_and_no_weights(exported, tmp_path):
    _, _, single, _ = exported
    d = _copy(single, tmp_path / "extra")
    tensors = load_file(d / "model.safetensors")
    tensors["model.layers.9.mlp.up_proj.weight"] = np.zeros((2, 2), np.float32)
    save_file(tensors, d / "model.safetensors")
    with pytest.raises(HFCheckpointError, match=r"unexpected.*model\.layers\.9\.mlp\.up_proj"):
        import_hf_params(d)
    (d / "model.safetensors").unlink()
    with pytest.raises(HFCheckpointError, match=r"no model\.safetensors"):
        import_hf_params(d)


def test_export_never_overwrites(exported):
    config, params, single, _ = exported
    with pytest.raises(FileExistsError, match="already exists"):
        export_hf(params, config, single)


def test_hub_flat_config_is_read():
    """The published 3B config.json (flat, rope_scaling, in_chans) parses to the right model."""
    from astra_jax.global_model.hf_config import PUBLISHED_CONFIGS

    c = load_hf_config(PUBLISHED_CONFIGS["qwen2.5-vl-3b"])
    assert c == get_config("qwen2.5-vl-3b").replace(name=c.name)
    assert c.text.tie_word_embeddings and c.text.mrope_section == (16, 24, 24)
    assert c.text.num_kv_heads == 2 and c.text.rms_norm_eps == 1e-6
    assert c.vision.fullatt_block_indexes == (7, 15, 23, 31) and c.vision.window_merged == 4
    assert (c.image_token_id, c.vision_start_token_id, c.eos_token_ids) == (
        151655,
        151652,
        (151645,),
    )


def test_unsupported_features_are_refused(tmp_path):
    from astra_jax.global_model.hf_config import PUBLISHED_CONFIGS

    base = json.loads(PUBLISHED_CONFIGS["qwen2.5-vl-7b"].read_text())
    for change, pattern in (
        ({"use_sliding_window": True}, "use_sliding_window"),
        ({"rope_scaling": {"type": "yarn", "factor": 4.0}}, r"rope_scaling\.type: .*got 'yarn'"),
        ({"hidden_act": "gelu"}, "hidden_act"),
    ):
        f = tmp_path / "config.json"
        f.write_text(json.dumps({**base, **change}))
        with pytest.raises(HFCheckpointError, match=pattern):
            load_hf_config(f)
