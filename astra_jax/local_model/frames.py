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
    return window_indices(times, current, local.past_frames, 0, local.frame_interval)


def window_indices(
    times: np.ndarray, current: int, before: int, after: int, interval: float
) -> np.ndarray:
    """(before + 1 + after,) frame indices nearest in time to ``times[current] + k * interval``
    for k = -before .. after, oldest first (the history, the current frame, then the future
    frames the 4D stage predicts).

    Raises:
        ValueError: the recording does not span the window, or ``times`` does not increase.
    """
    times = np.asarray(times, np.float64)
    if times.ndim != 1 or len(times) == 0 or not np.all(np.diff(times) > 0):
        raise ValueError(f"times: expected (T,) increasing timestamps, got shape {times.shape}")
    current = range(len(times))[current]
    span = before * interval
    if times[current] - times[0] < span - 0.5 * interval:
        raise ValueError(
            f"frame {current} at {times[current] - times[0]:.2f} s: the encoder needs "
            f"{span:.2f} s of history ({before} frames {interval} s apart)"
        )
    if times[-1] - times[current] < after * interval - 0.5 * interval:
        raise ValueError(
            f"frame {current}: {after} future frames {interval} s apart need "
            f"{after * interval:.2f} s after it; the recording ends "
            f"{times[-1] - times[current]:.2f} s later"
        )
    wanted = times[current] + interval * np.arange(-before, after + 1)
    idx = np.clip(np.searchsorted(times, wanted), 1, len(times) - 1)
    nearer_left = (wanted - times[idx - 1]) <= (times[idx] - wanted)
    return np.where(nearer_left, idx - 1, idx).astype(np.int64)
