"""SIFT keypoints and descriptors of single images (pycolmap), for retrieval and refinement.

One extractor per feature budget is created and kept (creating one per image costs more
than extracting from a small image). Descriptors are COLMAP's uint8 values as float32, the
same values SfM stores in its database.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image


@functools.cache
def _extractor(max_features: int):  # -> pycolmap.FeatureExtractor
    import pycolmap

    options = pycolmap.FeatureExtractionOptions()
    options.sift.max_num_features = max_features
    options.num_threads = 1
    return pycolmap.FeatureExtractor.create(options, pycolmap.Device.cpu)


def sift_features(image: np.ndarray, max_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions (n, 2) px and descriptors (n, 128) float32 of a uint8 RGB (H, W, 3)
    or grey (H, W) image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"expected a uint8 (H, W) or (H, W, 3) image, got {image.shape} {image.dtype}"
        )
    grey = image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
    kps, desc = _extractor(max_features).extract_from_uint8_array(np.ascontiguousarray(grey))
    xy = np.array([[k.x, k.y] for k in kps], dtype=np.float64).reshape(-1, 2)
    return xy, np.asarray(desc.data, np.float32)
