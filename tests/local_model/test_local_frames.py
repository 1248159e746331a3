"""The encoder's history frames come from the recording's timestamps, not an assumed rate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from astra_jax.config import get_preset
from astra_jax.local_model.frames import history_indices

LOCAL = get_preset("small").local  # 4 past frames 0.5 s apart


def test_ten_hz_reads_every_fifth_frame_ending_at_the_current_one():
    times = np.arange(40) * 0.1
    np.testing.assert_array_equal(history_indices(times, LOCAL), [19, 24, 29, 34, 39])
    np.testing.assert_array_equal(history_indices(times, LOCAL, current=22), [2, 7, 12, 17, 22])


def test_another_rate_with_jitter_picks_the_nearest_frames():
    rng = np.random.default_rng(0)
    times = np.arange(60) / 15.0 + rng.uniform(-0.01, 0.01, 60)
    idx = history_indices(times, LOCAL)
    assert idx[-1] == 59
    np.testing.assert_allclose(np.diff(times[idx]), 0.5, atol=1 / 30 + 0.02)


def test_too_short_or_unordered_recordings_are_named():
    with pytest.raises(ValueError, match=r"needs 2\.00 s of history"):
        history_indices(np.arange(10) * 0.1, LOCAL)
    with pytest.raises(ValueError, match="increasing timestamps"):
        history_indices(np.array([0.0, 0.2, 0.1]), dataclasses.replace(LOCAL, past_frames=0))
