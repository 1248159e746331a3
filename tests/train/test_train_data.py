"""grain pipeline: deterministic for a seed, every epoch a permutation, exact mid-epoch resume
(also with worker processes), disjoint per-process shards."""

from __future__ import annotations

import dataclasses

import grain
import numpy as np
import pytest

from astra_jax import experiments
from astra_jax.config import ConfigError
from astra_jax.tasks.reference import TeacherRegressionSource
from astra_jax.train.data import eval_batches, shard_for_process, train_batches

NUM_EXAMPLES = 50
BATCH = 8


def _examples(seed: int = 0, n: int = NUM_EXAMPLES) -> grain.MapDataset:
    config = dataclasses.replace(experiments.get("reference-tiny").config, num_train=n)
    return grain.MapDataset.source(TeacherRegressionSource(config, "train", seed))


def _ids(iterator, num_batches: int) -> list[np.ndarray]:
    return [next(iterator)["example_id"] for _ in range(num_batches)]


def test_same_seed_same_stream_other_seed_other_order():
    a = _ids(iter(train_batches(_examples(), seed=7, batch_size=BATCH)), 12)
    b = _ids(iter(train_batches(_examples(), seed=7, batch_size=BATCH)), 12)
    c = _ids(iter(train_batches(_examples(), seed=8, batch_size=BATCH)), 12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    batch = next(iter(train_batches(_examples(), seed=7, batch_size=BATCH)))
    assert batch["x"].shape == (BATCH, experiments.get("reference-tiny").config.input_dim)
    assert batch["x"].dtype == np.float32


def test_each_epoch_is_a_fresh_permutation():
    stream = np.concatenate(_ids(iter(train_batches(_examples(), seed=1, batch_size=BATCH)), 25))
    epochs = [stream[i * NUM_EXAMPLES : (i + 1) * NUM_EXAMPLES] for i in range(4)]
    for epoch in epochs:  # nothing repeated or skipped within an epoch
        assert sorted(epoch.tolist()) == list(range(NUM_EXAMPLES))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled per epoch


@pytest.mark.parametrize("num_workers", [0, 2])
def test_mid_epoch_resume_continues_exactly(num_workers):
    # 9 batches of 8 = 72 examples: stopped 22 examples into the second epoch.
    straight = _ids(iter(train_batches(_examples(), seed=3, batch_size=BATCH)), 16)
    first = iter(train_batches(_examples(), seed=3, batch_size=BATCH, num_workers=num_workers))
    head = _ids(first, 9)
    state = first.get_state()
    first.close()
    second = iter(train_batches(_examples(), seed=3, batch_size=BATCH, num_workers=num_workers))
    second.set_state(state)
    tail = _ids(second, 7)
    second.close()
    resumed = head + tail
    assert all(np.array_equal(x, y) for x, y in zip(resumed, straight, strict=True))


def test_process_shards_are_disjoint_and_complete():
    shards = [shard_for_process(_examples(), i, 3) for i in range(3)]
    ids = [[int(s[j]["example_id"]) for j in range(len(s))] for s in shards]
    assert sorted(i for shard in ids for i in shard) == list(range(NUM_EXAMPLES))
    assert all(set(a).isdisjoint(b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    with pytest.raises(ConfigError, match="process_index"):
        shard_for_process(_examples(), 3, 3)


def test_examples_are_a_function_of_seed_and_index():
    a, b = _examples(seed=5), _examples(seed=5)
    np.testing.assert_array_equal(a[17]["x"], b[17]["x"])
    np.testing.assert_array_equal(a[17]["y"], b[17]["y"])
    assert not np.array_equal(a[17]["x"], _examples(seed=6)[17]["x"])


def test_eval_batches_fixed_order_and_too_few_examples():
    batches = eval_batches(_examples(), batch_size=BATCH, num_batches=2)
    np.testing.assert_array_equal(batches[1]["example_id"], np.arange(8, 16))
    with pytest.raises(ConfigError, match="eval_batches"):
        eval_batches(_examples(), batch_size=BATCH, num_batches=7)
    with pytest.raises(ConfigError, match="batch_size"):
        train_batches(_examples(n=4), seed=0, batch_size=BATCH)
