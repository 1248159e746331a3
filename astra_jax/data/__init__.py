"""The data layer: simulator episode caches keyed by resolved configs, and grain sources.

:mod:`~astra_jax.data.episode_cache` (generate on first use, validate, reuse),
:mod:`~astra_jax.data.episode_data` (which episodes a task reads) and
:mod:`~astra_jax.data.episode_frames` (a random-access grain source of rig frames). Tasks import
this layer; models never do.
"""

from astra_jax.data.episode_cache import (
    EpisodeCacheError,
    EpisodeRef,
    EpisodeSet,
    data_root,
    ensure_episode_set,
    validate_episode_set,
)
from astra_jax.data.episode_data import EpisodeDataConfig
from astra_jax.data.episode_frames import EpisodeFrames

__all__ = [
    "EpisodeCacheError",
    "EpisodeDataConfig",
    "EpisodeFrames",
    "EpisodeRef",
    "EpisodeSet",
    "data_root",
    "ensure_episode_set",
    "validate_episode_set",
]
