"""Shared by the scan-matching tests: a 2-D room outline and what a robot sees of it."""

from __future__ import annotations

import numpy as np


def room_points(step: float = 0.02) -> np.ndarray:
    """(M, 2) the outline of an 8 x 6 m room with a 1 x 0.6 m box and an L of shelves, m."""

    def segment(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        n = int(np.linalg.norm(b - a) / step)
        return a + np.linspace(0.0, 1.0, n, endpoint=False)[:, None] * (b - a)

    corners = [(-3, -2), (5, -2), (5, 4), (-3, 4)]
    walls = [segment(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    box = [segment((1, 1), (2, 1)), segment((2, 1), (2, 1.6)), segment((2, 1.6), (1, 1.6)),
           segment((1, 1.6), (1, 1))]  # fmt: skip
    shelf = [segment((-2, -1), (-2, 2)), segment((-2, 2), (0, 2))]
    return np.concatenate(walls + box + shelf)


def seen_from(points: np.ndarray, pose: np.ndarray, max_range: float = 6.0) -> np.ndarray:
    """The world points in the ego frame of ``pose`` (x, y, theta), within ``max_range``."""
    c, s = np.cos(pose[2]), np.sin(pose[2])
    d = points - pose[:2]
    ego = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], 1)
    return ego[np.linalg.norm(ego, axis=1) <= max_range]
