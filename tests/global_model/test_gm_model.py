"""Configs, parameter shapes and counts (3B/7B via eval_shape), logical axes, inputs_spec."""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np
import pytest

from astra_jax.config import ConfigError
from astra_jax.global_model.config import (
    TextConfig,
    VisionConfig,
    get_config,
    small_config,
    tiny_config,
)
from astra_jax.global_model.hf_checkpoint import expected_param_shapes
from astra_jax.global_model.model import count_params, logical_axes

# Parameter counts of the published checkpoints (safetensors totals on the Hugging Face Hub:
# Qwen2.5-VL-3B-Instruct "3.75B", Qwen2.5-VL-7B-Instruct "8.29B").
PUBLISHED = {"qwen2.5-vl-3b": 3.75e9, "qwen2.5-vl-7b": 8.29e9}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_architectures_match_parameter_counts(name):
    config = get_config(name)
    shapes = expected_param_shapes(config)  # jax.eval_shape: no weights are materialised
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(shapes))
    n = count_params(shapes)
    assert abs(n - PUBLISHED[name]) / PUBLISHED[name] < 0.01, n
    # Spot-check the architecture: GQA widths, tied head, vision merger into the LM width.
    t = config.text
    layer = shapes["layers_0"]["self_attn"]
    assert layer["k_proj"]["kernel"].shape == (t.hidden_size, t.num_kv_heads * t.head_dim)
    assert ("lm_head" in shapes) == (not t.tie_word_embeddings)
    assert shapes["visual"]["merger"]["mlp_2"]["kernel"].shape == (5120, t.hidden_size)


def test_presets_sizes_and_names():
    assert 0.1e6 < count_params(expected_param_shapes(tiny_config())) < 1.5e6
    n_small = count_params(expected_param_shapes(small_config()))
    assert abs(n_small - 20e6) / 20e6 < 0.1, n_small
    for name in ("tiny", "small", "qwen2.5-vl-3b", "qwen2.5-vl-7b"):
        assert get_config(name).text.vocab_size > 0
    with pytest.raises(ConfigError, match="unknown Astra-Global config"):
        get_config("qwen9")


def test_every_parameter_has_logical_axis_names():
    config = tiny_config().replace(
        text=dataclasses.replace(tiny_config().text, tie_word_embeddings=False)
    )
    axes = logical_axes(config)
    shapes = expected_param_shapes(config)
    flat_axes = jax.tree.leaves(axes, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
    flat_shapes = jax.tree.leaves(shapes)
    assert len(flat_axes) == len(flat_shapes)
    for spec, shape in zip(flat_axes, flat_shapes):
        assert len(spec) == len(shape.shape) and all(isinstance(a, str) for a in spec)
    assert axes["embed_tokens"]["embedding"] == jax.sharding.PartitionSpec("vocab", "embed")
    assert axes["lm_head"]["kernel"] == jax.sharding.PartitionSpec("embed", "vocab")


def test_inputs_spec_drives_the_model():
    config = tiny_config()
    model, params = config.create(jax.random.key(0))
    spec = config.inputs_spec(2)
    grids = config.spec_grid_thw(2)
    logits, _ = jax.eval_shape(
        lambda p, **kw: model.apply({"params": p}, **kw, grid_thw=grids), params, **spec
    )
    b, s = spec["input_ids"].shape
    assert logits.shape == (b, s, config.text.vocab_size)
    assert spec["positions"].shape == (3, b, s)
    assert spec["pixel_values"].shape[0] == sum(math.prod(g) for g in grids)


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="mrope_section"):
        TextConfig(100, 64, 128, 2, 4, 2, mrope_section=(2, 2, 2))
    with pytest.raises(ConfigError, match="num_kv_heads"):
        TextConfig(100, 64, 128, 2, 4, 3, mrope_section=(2, 3, 3))
    with pytest.raises(ConfigError, match="fullatt_block_indexes"):
        VisionConfig(2, 32, 64, 2, 64, fullatt_block_indexes=(2,))
    with pytest.raises(ConfigError, match="window_size"):
        VisionConfig(2, 32, 64, 2, 64, window_size=14, fullatt_block_indexes=())
    with pytest.raises(ConfigError, match="out_hidden_size"):
        tiny_config().replace(vision=dataclasses.replace(tiny_config().vision, out_hidden_size=32))
    with pytest.raises(ConfigError, match="image_token_id"):
        tiny_config().replace(image_token_id=10**6)
    with pytest.raises(ValueError, match="multiples of 28"):
        tiny_config().image_grid(30, 56)


def test_random_init_is_seeded():
    config = tiny_config()
    _, a = config.create(jax.random.key(3))
    _, b = config.create(jax.random.key(3))
    _, c = config.create(jax.random.key(4))
    kernel = a["layers_0"]["self_attn"]["q_proj"]["kernel"]
    # create boxes every parameter with its logical axes, as every model's create does
    assert isinstance(kernel, nn.LogicallyPartitioned) and kernel.names == ("embed", "q_heads")
    leaf = ("layers_0", "self_attn", "q_proj", "kernel")
    get = lambda p: np.asarray(nn.meta.unbox(p)[leaf[0]][leaf[1]][leaf[2]][leaf[3]])  # noqa: E731
    np.testing.assert_array_equal(get(a), get(b))
    assert not np.array_equal(get(a), get(c))
