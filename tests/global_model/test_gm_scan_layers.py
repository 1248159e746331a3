"""``scan_layers``: the scanned model computes what the unrolled one does, generates the same
tokens, round-trips through Hugging Face files, and names its stacked axis ``layers``;
``remat_layers`` checkpoints every layer without changing the gradients."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gm_testing import image_prompt

from astra_jax.global_model.config import tiny_config
from astra_jax.global_model.generate import generate
from astra_jax.global_model.hf_checkpoint import export_hf, import_hf_params
from astra_jax.global_model.inputs import make_batch
from astra_jax.global_model.layer_stack import stack_layers, unstack_layers
from astra_jax.global_model.model import init_params, logical_axes
from astra_jax.global_model.sampling import SamplingConfig


@pytest.fixture(scope="module")
def setup():
    # tiny has a window-attention block and a full-attention block, so the scanned tower's
    # traced switch takes both branches; images larger than one window make them differ
    config = tiny_config().replace(initializer_range=0.3)
    scanned = config.replace(scan_layers=True)
    params = init_params(config.model(), jax.random.key(3))
    rng = np.random.default_rng(0)
    prompts = [
        image_prompt(config, rng, [(1, 8, 12)], [40, 41, 42]),
        image_prompt(config, rng, [(1, 4, 4), (1, 8, 8)], list(range(50, 60))),
    ]
    return config, scanned, params, make_batch(prompts, config)


def _logits(config, params, batch):
    logits, _ = config.model().apply(
        {"params": params},
        batch.input_ids,
        batch.positions,
        batch.attention_mask,
        batch.pixel_values,
        batch.grid_thw,
    )
    return np.asarray(logits)


def test_windows_and_frames_differ_in_the_test_images(setup):
    """Guards the next test: with one group layout for both, a wrong switch would pass."""
    config, _, _, batch = setup
    from astra_jax.global_model.vision_layout import vision_layout

    v = config.vision
    layout = vision_layout(tuple(batch.grid_thw), v.spatial_merge_size, v.window_merged)
    assert layout.windows.num_groups > layout.frames.num_groups
    assert v.depth > len(v.fullatt_block_indexes) > 0


def test_scanned_logits_equal_unrolled(setup):
    config, scanned, params, batch = setup
    want = _logits(config, params, batch)
    got = _logits(scanned, stack_layers(params, config), batch)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # a model whose blocks all took the window branch computes something else
    wrong = config.replace(vision=dataclasses.replace(config.vision, fullatt_block_indexes=()))
    assert np.abs(_logits(wrong, params, batch) - want).max() > 1e-2


def test_scanned_generation_equals_unrolled(setup):
    config, scanned, params, batch = setup
    sampling = SamplingConfig(max_new_tokens=8)
    a = generate(config.model(), params, batch, jax.random.key(0), sampling)
    b = generate(scanned.model(), stack_layers(params, config), batch, jax.random.key(0), sampling)
    np.testing.assert_array_equal(np.asarray(b.tokens), np.asarray(a.tokens))
    assert len(set(np.asarray(a.tokens)[0].tolist())) > 1


def test_stack_unstack_round_trip_and_shapes(setup):
    config, scanned, params, _ = setup
    stacked = stack_layers(params, config)
    want = jax.eval_shape(lambda k: init_params(scanned.model(), k), jax.random.key(0))
    assert jax.tree.map(jnp.shape, stacked) == jax.tree.map(lambda x: x.shape, want)
    back = unstack_layers(stacked, config)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_layout_errors_name_what_is_missing(setup):
    config, _, params, _ = setup
    broken = {k: v for k, v in params.items() if k != "layers_1"}
    with pytest.raises(ValueError, match=r"layers_1 missing.*unrolled layout with 2 layers"):
        stack_layers(broken, config)
    with pytest.raises(ValueError, match=r"'layers' missing: expected the scanned layout"):
        unstack_layers(params, config)


def test_scanned_axes_are_named_layers(setup):
    _, scanned, _, _ = setup
    axes = logical_axes(scanned)
    assert tuple(axes["layers"]["self_attn"]["q_proj"]["kernel"]) == ("layers", "embed", "q_heads")
    want = ("layers", "vit_embed", "vit_qkv")
    assert tuple(axes["visual"]["blocks"]["attn"]["qkv"]["kernel"]) == want


def test_hf_round_trip_of_a_scanned_model(setup, tmp_path):
    """Export writes per-layer Hugging Face tensors; reading them with a scanned config
    stacks them back."""
    config, scanned, params, batch = setup
    out = export_hf(stack_layers(params, config), scanned, tmp_path / "hf")
    _, unrolled = import_hf_params(out)  # config.json describes the plain architecture
    assert "layers_0" in unrolled
    got_config, got = import_hf_params(out, scanned)
    assert got_config.scan_layers and "layers" in got
    np.testing.assert_allclose(_logits(scanned, got, batch), _logits(config, params, batch),
                               rtol=1e-4, atol=1e-4)  # fmt: skip


@pytest.mark.parametrize("scan", [False, True])
def test_remat_keeps_the_gradients_and_wraps_every_layer(setup, scan):
    """``remat_layers`` puts each layer (or each scanned stack) under a checkpoint and leaves
    the gradients as they were."""
    config, _, params, batch = setup
    remat = config.replace(remat_layers=True, scan_layers=scan)

    def loss(c, p):
        logits, _ = c.model().apply({"params": p}, batch.input_ids, batch.positions,
                                    batch.attention_mask, batch.pixel_values, batch.grid_thw)  # fmt: skip
        return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[..., 5])

    want = jax.grad(lambda p: loss(config, p))(params)
    p = stack_layers(params, config) if scan else params
    got = jax.grad(lambda p: loss(remat, p))(p)
    if scan:
        want = stack_layers(want, config)
    for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-4)
    jaxpr = str(jax.make_jaxpr(lambda p: loss(remat, p))(p))
    wrapped = 2 if scan else config.text.num_layers + config.vision.depth
    assert jaxpr.count("remat") == wrapped
