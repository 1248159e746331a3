"""Which simulator episodes a task reads: families, worlds per split, episodes, frame stride.

The world set is a function of this config alone (the first seeds of each split), not of the
training seed, so runs with different seeds see the same worlds and their evaluation figures
are comparable. ``with_overrides`` parses ``"field=value,..."`` (the ``ASTRA_ENCODER_DATA``
environment variable of the older ``astra train encoder --preset`` form; named configs take
``--config.data.FIELD`` flags instead).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from astra_jax.config import AstraConfig, ConfigError
from astra_jax.data.episode_cache import EpisodeRef, EpisodeSet, ensure_episode_set
from astra_jax.sim import seeds
from astra_jax.sim.generators import GENERATORS
from astra_jax.validation import check_non_negative_numbers, check_positive_ints

DATA_ENV = "ASTRA_ENCODER_DATA"
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class EpisodeDataConfig:
    """Which simulator episodes the depth pre-training reads.

    Attributes:
        families: world families, each contributing the same number of worlds per split.
        train_worlds: worlds per family from the train seeds 0, 1, ...
        val_worlds: held-out worlds per family from the val seeds 1,000,000, ...
        test_worlds: held-out worlds per family from the test seeds 1,100,000, ...
        episodes_per_world: goal episodes per world (each ~10-30 s at 10 frames/s).
        frame_stride: keep every ``frame_stride``-th frame (consecutive frames are 0.1 s
            apart and nearly identical).
        people: walking people per 100 m^2 of free floor in the episodes (0: none;
            ``SimConfig.people.density``: a separate cache, the config's fingerprint).
    """

    families: tuple[str, ...] = ("office", "warehouse")
    train_worlds: int = 2
    val_worlds: int = 1
    test_worlds: int = 1
    episodes_per_world: int = 2
    frame_stride: int = 2
    people: float = 0.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.families, tuple)
            or not self.families
            or any(f not in GENERATORS for f in self.families)
            or len(set(self.families)) != len(self.families)
        ):
            raise ConfigError(
                f"EpisodeDataConfig.families = {self.families!r}: expected distinct names from "
                f"{', '.join(GENERATORS)}"
            )
        check_positive_ints(
            self, "train_worlds", "val_worlds", "test_worlds", "episodes_per_world", "frame_stride"
        )
        check_non_negative_numbers(self, "people")

    def sim_config(self, config: AstraConfig) -> AstraConfig:
        """``config`` with this data's people (unchanged when there are none)."""
        return config.with_people(self.people) if self.people else config

    def worlds(self, split: str) -> int:
        return {"train": self.train_worlds, "val": self.val_worlds, "test": self.test_worlds}[split]

    def episode_sets(self, config: AstraConfig, split: str) -> list[EpisodeSet]:
        """One :class:`EpisodeSet` per family: the first ``worlds(split)`` seeds of ``split``,
        rendered with ``config``."""
        if split not in SPLITS:
            raise ConfigError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
        first = seeds.SPLITS[split].start
        config = self.sim_config(config)
        return [
            EpisodeSet(config, f, split, first, self.worlds(split), self.episodes_per_world)
            for f in self.families
        ]

    def episode_refs(self, config: AstraConfig, split: str) -> list[EpisodeRef]:
        """Every episode of ``split``, family by family (each set generated on first use)."""
        return [ref for s in self.episode_sets(config, split) for ref in ensure_episode_set(s)]

    def with_overrides(self, text: str, source: str = DATA_ENV) -> EpisodeDataConfig:
        """A copy with ``"field=value,..."`` applied (``families=office/warehouse``)."""
        changes: dict[str, Any] = {}
        fields = {f.name for f in dataclasses.fields(self)}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in fields or name in changes:
                raise ConfigError(
                    f"{source} = {text!r}: expected comma-separated FIELD=VALUE with distinct "
                    f"fields from {', '.join(sorted(fields))}"
                )
            if name == "families":
                changes[name] = tuple(v.strip() for v in value.split("/"))
            elif name == "people":
                try:
                    changes[name] = float(value)
                except ValueError:
                    raise ConfigError(f"{source}: people = {value!r}: expected a number") from None
            else:
                try:
                    changes[name] = int(value)
                except ValueError:
                    raise ConfigError(
                        f"{source}: {name} = {value!r}: expected an integer"
                    ) from None
        return dataclasses.replace(self, **changes)
