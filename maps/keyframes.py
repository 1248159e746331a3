"""Keyframe selection: keep a frame once the robot has moved or turned enough.

A tour at 10 Hz repeats itself: at 0.5 m/s consecutive frames are 5 cm apart. SfM wants
enough parallax between neighbours and as few images as serve, the map wants nodes a fraction
of a room apart. The rule (the paper leaves it open): frame t becomes a keyframe when, since
the last keyframe, the robot has travelled ``min_distance`` along its path or turned
``min_angle`` in total. A robot standing still adds no keyframes. The first and last frames are always
kept, so the map spans the whole tour. Distances and turns are measured on the odometry, which
is locally accurate even where it has drifted globally.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from astra_jax.config import check_positive_ints, check_positive_numbers
from astra_jax.geometry import wrap_angle


@dataclasses.dataclass(frozen=True)
class KeyframeOptions:
    """Defaults: a keyframe every 0.25 m of path or 15 deg of turn.

    0.25 m keeps consecutive keyframes' views overlapping by far more than SIFT matching needs
    even at a 1 m wall distance, and turning in place still yields a keyframe every 15 deg
    (a 120 deg camera then shares 7/8 of its view with the previous keyframe). Sparser
    keyframes are cheaper but less robust: at 0.5 m the 200-frame office bench tour built in
    54 s instead of 76 s at the same ATE, but a 48-frame office tour registered one keyframe
    turned by 90 deg, and a warehouse tour (seed 1100002) registered only 93% with ATE 4.3 m
    (docs/design.md). ``stride`` is used instead when the tour has no odometry (a user's
    image folder).
    """

    min_distance: float = 0.25  # m of path since the last keyframe
    min_angle: float = math.radians(15.0)  # rad of accumulated |turn| since the last keyframe
    stride: int = 5  # frames between keyframes when there is no odometry

    def __post_init__(self) -> None:
        check_positive_numbers(self, "min_distance", "min_angle")
        check_positive_ints(self, "stride")


def select_keyframes(
    odometry: np.ndarray | None, num_frames: int, options: KeyframeOptions = KeyframeOptions()
) -> np.ndarray:
    """Indices (K,) of the keyframes, increasing, first and last frame included.

    Args:
        odometry: (T, 3) planar poses (x, y, yaw) in m and rad, or None for a fixed stride.
        num_frames: T, the number of frames in the tour.
        options: the thresholds.
    """
    if num_frames <= 0:
        raise ValueError(f"num_frames = {num_frames}: expected a tour with at least one frame")
    if odometry is None:
        idx = list(range(0, num_frames, options.stride))
    else:
        odometry = np.asarray(odometry, dtype=np.float64)
        if odometry.shape != (num_frames, 3):
            raise ValueError(f"odometry shape {odometry.shape}: expected ({num_frames}, 3)")
        step = np.linalg.norm(np.diff(odometry[:, :2], axis=0), axis=1)
        turn = np.abs(wrap_angle(np.diff(odometry[:, 2])))
        idx, dist, ang = [0], 0.0, 0.0
        for t in range(1, num_frames):
            dist += step[t - 1]
            ang += turn[t - 1]
            if dist >= options.min_distance or ang >= options.min_angle:
                idx.append(t)
                dist, ang = 0.0, 0.0
    if idx[-1] != num_frames - 1:
        idx.append(num_frames - 1)
    return np.asarray(idx, dtype=np.int64)
