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
* **occlusion shadows**: depth is computed in the left imager's frame and matched in the right
  one, ``baseline`` metres to its right. A point at column ``u`` with disparity ``d = f B / z``
  (px) appears at ``u - d`` in the right image, where a nearer point to its right, at ``u' > u``
  with ``d' - d > u' - u``, hides it: that pixel returns nothing. This is the band of invalid
  depth a D400 shows on the left of near objects, ``f B (1/z_near - 1/z_far)`` pixels wide;
  slanted floors and walls (disparity changing by less than a pixel per pixel) keep every
  return.

A missing return is 0, as the cameras report it (every consumer treats non-finite or <= 0 as
missing: ``depth_scan``, ``depth_occupancy``, the depth pre-training targets).
"""

from __future__ import annotations

import numpy as np

from astra_jax.config import DepthNoiseConfig


def apply_depth_noise(depth: np.ndarray, config: DepthNoiseConfig, rng: np.random.Generator,
                      focal_px: np.ndarray | float | None = None) -> np.ndarray:  # fmt: skip
    """(..., H, W) float32 metres: ``depth``'s exact z-depth as the camera of ``config`` reads
    it; 0 where it returns nothing. ``focal_px``: the horizontal focal length (px at W) of
    each image, broadcastable to ``depth.shape[:-2]`` (needed for the occlusion shadows, when
    ``config.baseline`` > 0). The input is not changed; an inactive config returns a copy of
    it."""
    if np.ndim(depth) < 2:
        raise ValueError(f"depth shape {np.shape(depth)}: expected (..., H, W) metres")
    if not config.active:
        return np.array(depth, np.float32)
    if config.baseline > 0:
        if focal_px is None:
            raise ValueError("apply_depth_noise: a baseline needs focal_px (the images' fx)")
        f = np.asarray(focal_px, np.float64)
        try:
            f = np.broadcast_to(f, np.shape(depth)[:-2])
        except ValueError:
            raise ValueError(
                f"focal_px of shape {np.shape(focal_px)}: expected one per image of depth "
                f"{np.shape(depth)[:-2]}"
            ) from None
        if not np.all(np.isfinite(f) & (f > 0)):
            raise ValueError(f"focal_px {focal_px}: expected positive pixels")
    exact = np.asarray(depth, np.float64)
    valid = np.isfinite(exact) & (exact > 0)
    z = np.where(valid, exact, 0.0)
    missing = ~valid
    if config.min_range > 0:
        missing |= z < config.min_range
    if config.max_range > 0:
        missing |= z > config.max_range
    if config.baseline > 0:
        missing |= stereo_shadows(z, valid, f * config.baseline)
    noisy = z + config.rms_per_m2 * z * z * rng.standard_normal(z.shape)
    return np.where(missing | (noisy <= 0), 0.0, noisy).astype(np.float32)


def stereo_shadows(z: np.ndarray, valid: np.ndarray, focal_baseline: np.ndarray) -> np.ndarray:
    """(..., H, W) bool: the pixels of the left imager's z-depth ``z`` that the right imager
    cannot see, because a nearer point to their right hides them (module docstring).
    ``focal_baseline``: f B in px m per image, shape ``z.shape[:-2]``."""
    w = z.shape[-1]
    u = np.arange(w, dtype=np.float64)
    disparity = np.where(valid, focal_baseline[..., None, None] / np.where(valid, z, 1.0), -np.inf)
    # u is hidden when some u' > u has d' - (u' - u) > d, i.e. (d - u) at u' exceeds it at u:
    # compare each pixel's d - u with the largest one strictly to its right
    key = disparity - u
    right = np.maximum.accumulate(key[..., ::-1], axis=-1)[..., ::-1]
    beyond = np.concatenate([right[..., 1:], np.full((*z.shape[:-1], 1), -np.inf)], axis=-1)
    return valid & (beyond > key)
