"""Episodes on disk: the format lives in :mod:`astra_jax.formats.episode` (schema version,
manifest fields, arrays, reader and writer), where readers such as ``astra_jax.maps`` import it
without the simulator; this module re-exports it for the simulator's callers."""

from astra_jax.formats.episode import (
    ARRAYS,
    DTYPES,
    OPTIONAL_ARRAYS,
    SCHEMA_VERSION,
    Episode,
    EpisodeError,
    is_episode_dir,
    load_episode,
    save_episode,
)

__all__ = [
    "ARRAYS",
    "DTYPES",
    "OPTIONAL_ARRAYS",
    "SCHEMA_VERSION",
    "Episode",
    "EpisodeError",
    "is_episode_dir",
    "load_episode",
    "save_episode",
]
