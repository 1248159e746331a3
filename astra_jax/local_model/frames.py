"""Which recorded frames the encoder reads: ``past_frames`` + 1 frames ``frame_interval``
seconds apart, the newest last, chosen from the recording's own timestamps (no camera rate is
assumed, so a 15 Hz robot log and a 10 Hz simulator episode are read the same way)."""

from __future__ import annotations

import numpy as np

from astra_jax.config import LocalModelConfig


def history_indices(times: np.ndarray, local: LocalModelConfig, current: int = -1) -> np.ndarray:
    """(past_frames + 1,) frame indices, oldest first, ending at ``current``.

    Frame ``k`` of the history is the recorded frame nearest in time to
    ``times[current] - (past_frames - k) * frame_interval``.

    Args:
        times: (T,) increasing frame timestamps in seconds.
        local: Astra-Local's config (``past_frames``, ``frame_interval``).
        current: index of the current frame (negative counts from the end).

    Raises:
        ValueError: the recording is shorter than the history needs, or ``times`` does not
            increase.
    """
    times = np.asarray(times, np.float64)
    if times.ndim != 1 or len(times) == 0 or not np.all(np.diff(times) > 0):
        raise ValueError(f"times: expected (T,) increasing timestamps, got shape {times.shape}")
    current = range(len(times))[current]
    span = local.past_frames * local.frame_interval
    if times[current] - times[0] < span - 0.5 * local.frame_interval:
        raise ValueError(
            f"frame {current} at {times[current] - times[0]:.2f} s: the encoder needs "
            f"{span:.2f} s of history ({local.past_frames} frames {local.frame_interval} s apart)"
        )
    wanted = times[current] - local.frame_interval * np.arange(local.past_frames, -1, -1)
    idx = np.clip(np.searchsorted(times, wanted), 1, len(times) - 1)
    nearer_left = (wanted - times[idx - 1]) <= (times[idx] - wanted)
    return np.where(nearer_left, idx - 1, idx).astype(np.int64)
