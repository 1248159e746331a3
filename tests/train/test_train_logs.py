"""Metrics: metrics.jsonl and TensorBoard event files are written with the expected scalars."""

from __future__ import annotations

import struct

import pytest
from tensorboardX.proto import event_pb2

from astra_jax.train.metrics_log import JSONL_NAME, MetricsLogger, read_jsonl


def _tensorboard_scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    """Scalars of every event file under ``logdir``, read as TFRecords (no tensorboard needed)."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            record = data[offset + 12 : offset + 12 + length]  # skip length + its crc
            offset += 12 + length + 4  # record + its crc
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_jsonl_has_train_eval_and_event_records(straight_run):
    workdir, result = straight_run
    records = read_jsonl(workdir)
    (start,) = [r for r in records if r["split"] == "event"]
    assert start["event"] == "start" and start["num_params"] == result.num_params
    assert start["flops_per_step"] > 0 and start["compiled_memory_bytes_per_device"] > 0
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == [5, 10, 15, 20, 25, 30]
    for r in train:
        for key in ("loss", "mse", "grad_norm", "learning_rate", "steps_per_s", "samples_per_s"):
            assert isinstance(r[key], float) and r[key] >= 0, (key, r)
        assert 0 < r["mfu"] < 1
        assert r["samples_per_s"] == r["steps_per_s"] * 16
    assert train[-1]["loss"] == result.loss
    assert train[-1]["loss"] < train[0]["loss"]  # it learns
    evals = [r for r in records if r["split"] == "eval"]
    assert [r["step"] for r in evals] == [10, 20, 30]
    assert evals[-1]["loss"] == result.eval["loss"]


def test_tensorboard_has_the_same_scalars(straight_run):
    workdir, _ = straight_run
    scalars = _tensorboard_scalars(workdir / "tensorboard")
    jsonl = {r["step"]: r["loss"] for r in read_jsonl(workdir) if r["split"] == "train"}
    assert [s for s, _ in scalars["train/loss"]] == sorted(jsonl)
    for step, value in scalars["train/loss"]:
        assert abs(value - jsonl[step]) <= 1e-6 * abs(jsonl[step])
    assert [s for s, _ in scalars["eval/loss"]] == [10, 20, 30]
    assert "train/steps_per_s" in scalars and "train/mfu" in scalars


def test_a_torn_last_record_is_skipped_then_cut_on_resume(tmp_path):
    """A reader of a live run may see a record half-written, and a run killed mid-record
    leaves one: readers skip it, and the resumed run's logger cuts it before appending."""
    with MetricsLogger(tmp_path) as log:
        log.write(1, "train", {"loss": 2.0})
        log.write(2, "train", {"loss": 1.5})
    path = tmp_path / JSONL_NAME
    complete = path.read_text()
    path.write_text(complete + '{"loss": 1.2, "split": "tra')  # killed mid-record at step 3
    assert [r["step"] for r in read_jsonl(tmp_path)] == [1, 2]
    with MetricsLogger(tmp_path) as log:  # the resume
        log.write(3, "train", {"loss": 1.25})
    text = path.read_text()
    assert text.startswith(complete) and text.endswith("\n") and '"tra\n' not in text
    assert [(r["step"], r["loss"]) for r in read_jsonl(tmp_path)] == [(1, 2.0), (2, 1.5), (3, 1.25)]


def test_a_corrupt_complete_line_names_the_file_and_line(tmp_path):
    (tmp_path / JSONL_NAME).write_text('{"step": 1, "split": "train"}\nnot json\n')
    with pytest.raises(ValueError, match=rf"{JSONL_NAME}: line 2 is not a JSON record"):
        read_jsonl(tmp_path)
