"""Astra-Global's SFT data: samples from a simulator world and its surveyed map, their
answers, the packed rows, and the packed forward pass of the model."""

from __future__ import annotations

import dataclasses
import math
import re

import jax
import numpy as np
import pytest

from astra_jax.config import ConfigError, get_preset
from astra_jax.data.localization_packing import encode_sample, image_grid, pack, packed_rows
from astra_jax.data.localization_samples import SampleOptions
from astra_jax.data.localization_worlds import ensure_world, load_world_samples, parse_world
from astra_jax.global_model import formats as F
from astra_jax.global_model.config import get_config
from astra_jax.global_model.model import init_params
from astra_jax.global_model.tokenizer import ChatTokenizer
from astra_jax.tasks.global_sft import LocalizationDataConfig

WORLD = "small_office:0"
FRAMES = 24


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("astra_data")
    path = ensure_world(WORLD, get_preset("small"), FRAMES, SampleOptions(), root=root)
    return path, load_world_samples(path)


def test_world_is_cached_and_reused(world):
    path, ws = world
    stamp = (path / "samples.json").stat().st_mtime_ns
    again = ensure_world(WORLD, get_preset("small"), FRAMES, SampleOptions(), root=path.parents[3])
    assert again == path and (path / "samples.json").stat().st_mtime_ns == stamp
    assert ws.images.dtype == np.uint8 and ws.images.shape[1:] == (240, 320, 3)
    counts = {t: sum(s.task == t for s in ws.samples) for t in SampleOptions().tasks}
    assert counts["coarse"] == counts["fine"] == counts["landmarks"] == FRAMES


def test_every_answer_parses_and_is_consistent(world):
    _, ws = world
    coarse = next(s for s in ws.samples if s.task == "coarse")
    ids = {int(m) for m in re.findall(r"^L(\d+): ", coarse.prompt, flags=re.MULTILINE)}
    assert ids and ids == set(ws.landmark_xy)
    matched_any = False
    for s in ws.samples:
        if s.task == "coarse":
            ans = F.parse_coarse(s.answer, ids)
            assert len(ans.seen) >= len(ans.matched) or not ans.seen
            matched_any |= bool(ans.matched)
        elif s.task == "fine":
            # the cache keeps each query's true pose and every landmark's position (rewards)
            pose = F.parse_pose(s.answer, ws.bounds)
            x, y, _ = ws.frame_poses[s.frame]
            assert (pose.x, pose.y) == pytest.approx((x, y), abs=0.006)
            assert len(s.image_ids) == 1 + SampleOptions().num_references
            # the query's own frame is never a reference
            assert s.image_ids[0] not in s.image_ids[1:]
        elif s.task == "covisibility":
            F.parse_covisibility(s.answer)
        elif s.task == "relative_pose":
            pose = F.parse_pose(s.answer, None, "relative_pose")
            assert math.hypot(pose.x, pose.y) < 10.0
        elif s.task == "landmarks":
            F.parse_landmarks(s.answer)
    assert matched_any


def test_world_names_and_splits_are_checked():
    assert parse_world("office:12") == ("office", 12)
    with pytest.raises(ConfigError, match="NAME:SEED"):
        parse_world("castle:3")
    with pytest.raises(ConfigError, match="train seeds"):
        LocalizationDataConfig(train_worlds=("office:1000000",), val_worlds=("office:1000001",),
                               tour_frames=10)  # fmt: skip
    with pytest.raises(ConfigError, match="val seeds"):
        LocalizationDataConfig(train_worlds=("office:0",), val_worlds=("office:1100000",),
                               tour_frames=10)  # fmt: skip


def test_packing_respects_lengths_images_and_the_answer_mask(world):
    _, ws = world
    config, tok = get_config("tiny"), ChatTokenizer.from_file()
    source, dropped = packed_rows(
        [ws], tok, config, seq_len=1280, max_images=8, image_hw=(56, 56), seed=0
    )
    assert dropped == 0 and len(source) < len(ws.samples)
    packed = sorted(i for row in source.rows for i in row)
    assert packed == list(range(len(ws.samples)))  # every sample exactly once
    for r in range(len(source)):
        row = source[r]
        seg, w = row["segment_ids"], row["weights"]
        n_images = sum(len(source.encoded[i].images) for i in source.rows[r])
        assert n_images <= 8
        # answers only: a weighted target is an answer token of the same segment
        e_first = source.encoded[source.rows[r][0]]
        n = len(e_first.ids)
        np.testing.assert_array_equal(w[: n - 1] > 0, e_first.answer[1:n])
        assert w[seg == 0].sum() == 0
        last = np.flatnonzero(seg > 0)[-1]
        assert row["targets"][last - 1] == tok.token_id("<|im_end|>")
    assert tok.decode(source[0]["targets"][source[0]["weights"] > 0]).startswith("{")
    rows, dropped = pack(source.encoded, seq_len=64, max_images=8, seed=0)
    assert dropped == len(source.encoded) and rows == []
    with pytest.raises(ValueError, match="raise seq_len"):
        packed_rows([ws], tok, config, seq_len=64, max_images=8, image_hw=(56, 56), seed=0)


def test_packed_rows_equal_separate_samples(world):
    """Segment masks, per-sample M-RoPE ids and per-row image slots: a packed row's logits at
    every token equal those of each sample run alone."""
    _, ws = world
    config = dataclasses.replace(get_config("tiny"), dtype="float32")
    tok = ChatTokenizer.from_file()
    grid = image_grid(config, (56, 56))
    picks = [ws.samples[1], ws.samples[2], ws.samples[3]]  # fine (4 images), covis, relative
    enc = [encode_sample(s, 0, tok, config, grid) for s in picks]
    from astra_jax.data.localization_packing import PackedRows

    slots = 8
    source = PackedRows((ws,), tuple(enc), ((0, 1), (2,)), config, 512, slots, (56, 56))
    rows = [source[0], source[1]]
    batch = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    model = config.model()
    params = init_params(model, jax.random.key(0))
    # jitted: op by op, the tiny model's forward over 512 tokens takes ~10 s per call here
    apply = jax.jit(model.apply, static_argnums=(5,), static_argnames=("row_image_slots",))
    logits, _ = apply(
        {"params": params},
        batch["input_ids"],
        np.moveaxis(batch["positions"], 1, 0),
        batch["segment_ids"] > 0,
        batch["pixel_values"].reshape(-1, config.vision.patch_dim),
        (grid,) * (2 * slots),
        segment_ids=batch["segment_ids"],
        row_image_slots=slots,
    )
    starts = {0: 0, 1: len(enc[0].ids), 2: 0}
    row_of = {0: 0, 1: 0, 2: 1}
    for k, e in enumerate(enc):
        n = len(e.ids)
        pix = np.concatenate([source._patches(0, i) for _, i in e.images])
        alone, _ = apply(
            {"params": params}, e.ids[None], e.positions[:, None], np.ones((1, n), bool), pix,
            (grid,) * len(e.images),
        )  # fmt: skip
        got = logits[row_of[k], starts[k] : starts[k] + n]
        np.testing.assert_allclose(got, alone[0], atol=2e-5, rtol=1e-5)


def test_every_sft_preset_speaks_the_shipped_tokenizer():
    from astra_jax import experiments
    from astra_jax.global_model.config import with_own_tokenizer

    tok = ChatTokenizer.from_file()
    for preset in ("tiny", "small", "base"):
        tok.check_config(experiments.get(f"global-sft-{preset}").config.model)
    big = get_config("qwen2.5-vl-3b")
    with pytest.raises(ValueError, match="image_pad"):
        tok.check_config(big)
    own = with_own_tokenizer(big)
    assert own.text.hidden_size == big.text.hidden_size and own.name == "qwen2.5-vl-3b-own-vocab"
