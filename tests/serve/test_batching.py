"""Micro-batching: concurrent callers share batches, padded to power-of-two buckets, each gets
its own answer, and a failing batch fails its callers only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from astra_jax.serve.batching import BatchedAnswerer, MicroBatcher, batch_bucket


def test_batch_bucket() -> None:
    assert [batch_bucket(n, 8) for n in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]
    with pytest.raises(ValueError, match="power of two"):
        BatchedAnswerer(lambda r: [], max_batch=6)


def test_concurrent_requests_share_padded_batches() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def answer(requests):
        gate.wait(5)  # hold the first batch so that the others queue up behind it
        calls.append([text for text, _ in requests])
        return [f"answer to {text} with {len(images)} images" for text, images in requests]

    batched = BatchedAnswerer(answer, max_batch=4, max_wait_s=0.05)
    image = np.zeros((4, 4, 3), np.uint8)
    requests = [(f"q{i}", [image] * (1 + i % 2)) for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(batched, [r]) for r in requests]
        gate.set()
        results = [f.result(timeout=30) for f in futures]
    for (text, images), (got,) in zip(requests, results, strict=True):
        assert got == f"answer to {text} with {len(images)} images"
    sizes = batched.batch_sizes
    assert set(sizes) == {1, 2} and sum(map(sum, sizes.values())) == 10
    assert max(max(s) for s in sizes.values()) > 1  # concurrent requests were merged
    assert all(len(c) in (1, 2, 4) for c in calls)  # every model batch is a compiled bucket


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on() -> None:
    def run(items):
        if "bad" in items:
            raise RuntimeError("model failed")
        return [x.upper() for x in items]

    batcher = MicroBatcher(run, max_batch=4, max_wait_s=0.0)
    with pytest.raises(RuntimeError, match="model failed"):
        batcher("bad")
    assert batcher("good") == "GOOD"
