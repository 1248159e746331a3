"""Micro-batching: requests that arrive together from many threads run as one batch.

:class:`MicroBatcher` gathers items submitted from any thread: a worker takes the first waiting
item, waits at most ``max_wait_s`` for more (up to ``max_batch``), runs them with one call of
``run(items) -> results`` and hands each caller its own result (or the exception raised for
the batch). :class:`BatchedAnswerer` puts one in front of an Astra-Global answerer, so that the
concurrent requests of a service share the model's forward passes: one batcher per number of
images in a prompt (prompts with different image counts have different shapes), batches
padded to a power of two so that only a few programs are ever compiled.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Run ``run`` over batches of submitted items on one worker thread (module docstring)."""

    def __init__(self, run: Callable[[list[T]], list[R]], max_batch: int = 8,
                 max_wait_s: float = 0.005, name: str = "batcher") -> None:  # fmt: skip
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"MicroBatcher: max_batch {max_batch} >= 1, max_wait_s "
                             f"{max_wait_s} >= 0 expected")  # fmt: skip
        self.run, self.max_batch, self.max_wait_s = run, max_batch, max_wait_s
        self.batch_sizes: list[int] = []  # every batch run, for tests and stats
        self._queue: queue.Queue[tuple[T, Future]] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name=name, daemon=True)
        self._worker.start()

    def submit(self, item: T) -> Future:
        future: Future = Future()
        self._queue.put((item, future))
        return future

    def __call__(self, item: T) -> R:
        """Submit and wait for the result (raises what the batch raised)."""
        return self.submit(item).result()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get(timeout=self.max_wait_s))
                except queue.Empty:
                    break
            items = [item for item, _ in batch]
            self.batch_sizes.append(len(items))
            try:
                results = self.run(items)
                if len(results) != len(items):
                    raise RuntimeError(f"batch of {len(items)} gave {len(results)} results")
            except Exception as e:  # (every caller of the batch gets the error)
                for _, future in batch:
                    future.set_exception(e)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)


def batch_bucket(n: int, max_batch: int) -> int:
    """The compiled batch size that holds ``n`` requests: the next power of two (<= max)."""
    size = 1
    while size < n:
        size *= 2
    return min(size, max_batch) if n <= max_batch else n


class BatchedAnswerer:
    """An answerer (``answer(requests) -> texts``) whose concurrent calls share batches.

    Each request goes to the batcher of its image count; a batch of k requests is padded to
    :func:`batch_bucket` (k) with copies of its first request, whose answers are dropped.
    ``warm_up(requests_by_images)`` compiles every bucket of every image count up front.
    """

    def __init__(self, answer: Callable[[Sequence[Any]], list[str]], max_batch: int = 8,
                 max_wait_s: float = 0.005) -> None:  # fmt: skip
        if max_batch < 1 or max_batch & (max_batch - 1):
            raise ValueError(f"BatchedAnswerer: max_batch = {max_batch}: expected a power of two")
        self.answer, self.max_batch, self.max_wait_s = answer, max_batch, max_wait_s
        self._batchers: dict[int, MicroBatcher] = {}
        self._lock = threading.Lock()

    def _run(self, requests: list[Any]) -> list[str]:
        size = batch_bucket(len(requests), self.max_batch)
        padded = list(requests) + [requests[0]] * (size - len(requests))
        return self.answer(padded)[: len(requests)]

    def _batcher(self, num_images: int) -> MicroBatcher:
        with self._lock:
            if num_images not in self._batchers:
                self._batchers[num_images] = MicroBatcher(
                    self._run, self.max_batch, self.max_wait_s, name=f"answer-{num_images}img"
                )
            return self._batchers[num_images]

    @property
    def batch_sizes(self) -> dict[int, list[int]]:
        return {n: b.batch_sizes for n, b in self._batchers.items()}

    def __call__(self, requests: Sequence[Any]) -> list[str]:
        futures = [self._batcher(len(images)).submit((text, images)) for text, images in requests]
        return [f.result() for f in futures]

    def warm_up(self, examples: Sequence[Any]) -> int:
        """Run every bucket size once for each example request's image count (compiles the
        shapes a service will meet); returns how many batches ran."""
        runs = 0
        for example in examples:
            size = 1
            while size <= self.max_batch:
                self.answer([example] * size)
                runs += 1
                size *= 2
        return runs
