"""The rig's rays in the ego frame, and the sample depths along them (numpy, static).

A ray is ``origin + z * direction`` with ``direction`` scaled so that its camera-z component is
1: ``z`` is the OpenCV z-depth of the point (what the simulator's depth images hold), and the
metric length of a step ``dz`` along the ray is ``dz * |direction|``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from astra_jax import geometry
from astra_jax.config import CameraConfig


@dataclasses.dataclass(frozen=True, eq=False)
class RigRays:
    """Rays through a regular subset of the rig's pixels.

    Attributes:
      origins: (R, 3) float64 camera centres in the ego frame (m).
      directions: (R, 3) float64 ego-frame directions with unit camera z.
      pixels: (R,) int64 flat pixel ids into (N, H, W) (camera, row, column).
    """

    origins: np.ndarray
    directions: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.pixels)


def ray_pixels(image_hw: tuple[int, int], stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns (pixel indices) a ray goes through: ``stride // 2 + i * stride``."""
    h, w = image_hw
    if not isinstance(stride, int) or stride <= 0 or stride > min(h, w):
        raise ValueError(f"ray stride = {stride!r}: expected an int in [1, {min(h, w)}]")
    return np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride)


def rig_rays(cameras: tuple[CameraConfig, ...], image_hw: tuple[int, int], stride: int) -> RigRays:
    """Rays through pixels ``(stride // 2 + i * stride, stride // 2 + j * stride)`` of every
    camera (pixel centres), cameras in config order, rows then columns."""
    h, w = image_hw
    rows, cols = ray_pixels(image_hw, stride)
    uv = np.stack(np.meshgrid(cols + 0.5, rows + 0.5, indexing="xy"), axis=-1).reshape(-1, 2)
    k = geometry.rig_intrinsics(cameras, image_hw)
    t = geometry.rig_extrinsics(cameras)
    origins, directions, pixels = [], [], []
    flat = (rows[:, None] * w + cols[None, :]).reshape(-1)
    for n in range(len(cameras)):
        d_cam = geometry.unproject(k[n], uv, np.ones(len(uv)))  # (P, 3), camera z = 1
        directions.append(d_cam @ t[n, :3, :3].T)
        origins.append(np.broadcast_to(t[n, :3, 3], d_cam.shape))
        pixels.append(n * h * w + flat)
    return RigRays(np.concatenate(origins), np.concatenate(directions), np.concatenate(pixels))


def sample_depths(near: float, far: float, num_samples: int) -> np.ndarray:
    """(S,) z-depths (m) spaced evenly from ``near`` to ``far``, both included."""
    if not 0.0 < near < far or not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(
            f"samples: near = {near}, far = {far}, num_samples = {num_samples!r}: expected "
            "0 < near < far and an int >= 2"
        )
    return np.linspace(near, far, num_samples)


def sample_steps(sample_z: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(R, S) metric length of the segment each sample stands for: the spacing to the next
    sample (the last repeats the one before), times the ray's length per unit z."""
    dz = np.diff(sample_z)
    dz = np.concatenate([dz, dz[-1:]])
    return dz[None, :] * np.linalg.norm(directions, axis=-1)[:, None]
