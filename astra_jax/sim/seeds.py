"""Seed conventions: how world seeds split into train / val / test, and how every random
stream of the simulator is derived from one seed.

World seeds are non-negative integers. The split is a fixed function of the seed, so a world
can never be in two splits:

==========  ==================================
split       world seeds
==========  ==================================
train       0 <= seed < 1_000_000
val         1_000_000 <= seed < 1_100_000
test        1_100_000 <= seed < 1_200_000
==========  ==================================

Evaluation (``val``/``test``) therefore always runs on worlds no model was trained on.
Every random stream (layout, furniture, textures, episodes, sensor noise, clutter) is drawn from a
``numpy.random.Generator`` seeded with ``SeedSequence([family_code, world_seed, stream, *extra])``,
so streams are independent of each other and of the order in which they are used.
"""

from __future__ import annotations

import zlib

import numpy as np

SPLITS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_100_000),
    "test": range(1_100_000, 1_200_000),
}

# Stream identifiers: never renumber (that would change every world).
STREAM_LAYOUT = 1
STREAM_FURNITURE = 2
STREAM_ATTRIBUTES = 3
STREAM_TEXTURES = 4
STREAM_EPISODE = 5
STREAM_SENSORS = 6
STREAM_CLUTTER = 7  # out-of-distribution clutter (astra_jax.sim.clutter)
STREAM_CHANGES = 8  # query-day changes: lights, moved objects (astra_jax.sim.changes)
STREAM_PEOPLE = 9  # pedestrians (astra_jax.sim.people)
STREAM_DEPTH = 10  # the depth cameras' errors (astra_jax.sim.depth_noise)


def split_of_seed(seed: int) -> str:
    """The split ("train", "val" or "test") a world seed belongs to."""
    check_seed(seed)
    for name, r in SPLITS.items():
        if seed in r:
            return name
    raise ValueError(
        f"world seed {seed}: expected a seed below {SPLITS['test'].stop} (train/val/test ranges)"
    )


def check_seed(seed: int, field: str = "world seed") -> int:
    """Raise ValueError unless ``seed`` is a non-negative int; return it."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{field} = {seed!r}: expected a non-negative integer")
    return int(seed)


def check_split(seeds: range | list[int], split: str) -> None:
    """Raise ValueError if any seed lies outside ``split``'s range (names the first one)."""
    if split not in SPLITS:
        raise ValueError(f"split = {split!r}: expected one of {', '.join(SPLITS)}")
    for s in seeds:
        if split_of_seed(s) != split:
            r = SPLITS[split]
            raise ValueError(
                f"world seed {s} belongs to split {split_of_seed(s)!r}, not {split!r} "
                f"(expected {r.start} <= seed < {r.stop})"
            )


def family_code(family: str) -> int:
    """A stable 32-bit code for a family or file name (crc32, not Python's salted hash)."""
    return zlib.crc32(family.encode("utf-8"))


def rng_for(family: str, seed: int, stream: int, *extra: int) -> np.random.Generator:
    """The independent random generator of one stream of one world."""
    return np.random.default_rng(
        np.random.SeedSequence([family_code(family), check_seed(seed), stream, *extra])
    )


def parse_seed_range(text: str) -> range:
    """Parse ``"A:B"`` (A inclusive, B exclusive) or a single ``"A"`` into a range of seeds."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            r = range(int(a), int(b))
        else:
            r = range(int(text), int(text) + 1)
    except ValueError:
        raise ValueError(
            f"seeds = {text!r}: expected A:B with integers A < B, or one integer"
        ) from None
    if r.start < 0 or len(r) == 0:
        raise ValueError(f"seeds = {text!r}: expected 0 <= A < B")
    return r
