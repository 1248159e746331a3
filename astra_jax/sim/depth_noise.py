"""A stereo depth camera's errors on the renderer's exact z-depth.

The simulator renders exact depth; an RGB-D robot's stereo camera does not. Three errors of an
active-stereo camera (Intel RealSense D400 class) are modelled, each off at 0
(:class:`astra_jax.config.DepthNoiseConfig`, the sources of its ``d435`` values there):

* **range noise** growing with the square of the range: a stereo camera measures disparity to a
  sub-pixel error ``s`` (px), and ``z = f B / d`` turns it into ``z^2 s / (f B)`` metres (Intel's
  D400 "depth RMS error" formula). 1 sigma per pixel is ``rms_per_m2 * z^2``, drawn white per
  pixel (at our 96 x 96, each pixel spans several of the sensor's, so white noise here is a
  pessimistic reading of the sensor's spatially correlated error);
* **range limits**: nearer than ``min_range`` (the stereo pair's minimum depth) or farther
  than ``max_range`` (where the projector's pattern fades) returns nothing;
* **occlusion shadows** at depth edges: where two neighbouring pixels' depths differ by more
  than ``edge_jump`` of the nearer one, the far pixel is seen by one imager only and returns
  nothing.

A missing return is 0, as the cameras report it (every consumer treats non-finite or <= 0 as
missing: ``depth_scan``, ``depth_occupancy``, the depth pre-training targets).
"""

from __future__ import annotations

import numpy as np

from astra_jax.config import DepthNoiseConfig


def apply_depth_noise(depth: np.ndarray, config: DepthNoiseConfig,
                      rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """(..., H, W) float32 metres: ``depth``'s exact z-depth as the camera of ``config`` reads
    it; 0 where it returns nothing. The input is not changed; an inactive config returns a
    copy of it."""
    if np.ndim(depth) < 2:
        raise ValueError(f"depth shape {np.shape(depth)}: expected (..., H, W) metres")
    if not config.active:
        return np.array(depth, np.float32)
    exact = np.asarray(depth, np.float64)
    valid = np.isfinite(exact) & (exact > 0)
    z = np.where(valid, exact, 0.0)
    missing = ~valid
    if config.min_range > 0:
        missing |= z < config.min_range
    if config.max_range > 0:
        missing |= z > config.max_range
    if config.edge_jump > 0:
        missing |= _occlusion_shadows(z, valid, config.edge_jump)
    noisy = z + config.rms_per_m2 * z * z * rng.standard_normal(z.shape)
    return np.where(missing | (noisy <= 0), 0.0, noisy).astype(np.float32)


def _occlusion_shadows(z: np.ndarray, valid: np.ndarray, jump: float) -> np.ndarray:
    """(..., H, W) bool: the farther pixel of every horizontal or vertical neighbour pair whose
    depths differ by more than ``jump`` times the nearer one."""
    shadow = np.zeros(z.shape, bool)
    for axis in (-1, -2):
        a = np.moveaxis(z, axis, -1)
        ok = np.moveaxis(valid, axis, -1)
        near, far = a[..., :-1], a[..., 1:]
        both = ok[..., :-1] & ok[..., 1:]
        step = both & (np.abs(far - near) > jump * np.minimum(near, far))
        out = np.moveaxis(shadow, axis, -1)  # a view: writes land in shadow
        out[..., 1:] |= step & (far > near)
        out[..., :-1] |= step & (near > far)
    return shadow
