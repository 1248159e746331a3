"""grain input pipelines: per-process shards, seeded shuffling, batching, worker processes.

A model supplies a ``grain.MapDataset`` of examples (its share for this process); the engine
turns it into an endless stream of batches. The order is a pure function of the seed: every
epoch is a fresh seeded permutation (grain's ``shuffle`` before ``repeat`` draws one per
epoch), and batches may straddle epoch boundaries, so no example is dropped or seen twice
within an epoch. The iterator's ``get_state()`` (a small dict, saved in every checkpoint)
records how many batches were consumed; ``set_state`` resumes at exactly the next batch, also
in the middle of an epoch, and also with worker processes.
"""

from __future__ import annotations

import grain
import numpy as np
from absl import flags

from astra_jax.config import ConfigError


def shard_for_process(
    examples: grain.MapDataset, process_index: int, process_count: int
) -> grain.MapDataset:
    """Examples ``process_index, process_index + process_count, ...``: this host's share.

    Every host of a multi-host job calls this with its own index, so hosts read disjoint
    examples and together read them all.
    """
    if not 0 <= process_index < process_count:
        raise ConfigError(
            f"process_index = {process_index}: expected 0 <= index < process_count = "
            f"{process_count}"
        )
    if process_count == 1:
        return examples
    return examples[process_index::process_count]


def train_batches(
    examples: grain.MapDataset,
    *,
    seed: int,
    batch_size: int,
    num_workers: int = 0,
    read_threads: int = 2,
) -> grain.IterDataset:
    """An endless, seeded stream of batches of ``batch_size`` examples (numpy arrays).

    Args:
        examples: this process's examples.
        seed: seeds the per-epoch permutations.
        batch_size: examples per batch from this process.
        num_workers: worker processes producing batches (0: threads in this process).
        read_threads: threads reading examples in each process.
    """
    if len(examples) < batch_size:
        raise ConfigError(
            f"batch_size = {batch_size} per process: the dataset has only {len(examples)} "
            "examples for this process"
        )
    batches = examples.shuffle(seed=seed).repeat(None).batch(batch_size, drop_remainder=True)
    stream = batches.to_iter_dataset(
        grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=4 * read_threads)
    )
    if num_workers > 0:
        # grain's worker start-up reads absl flags; a program that never parsed absl flags
        # (any non-absl CLI) must mark them parsed so their defaults are used.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        stream = stream.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
    return stream


def eval_batches(
    examples: grain.MapDataset, *, batch_size: int, num_batches: int
) -> list[dict[str, np.ndarray]]:
    """The first ``num_batches`` batches of ``examples`` in their fixed order (no shuffle)."""
    available = len(examples) // batch_size
    if available < num_batches:
        raise ConfigError(
            f"eval_batches = {num_batches}: the eval split has only {available} batches of "
            f"{batch_size} for this process"
        )
    batched = examples.batch(batch_size, drop_remainder=True)
    return [batched[i] for i in range(num_batches)]
