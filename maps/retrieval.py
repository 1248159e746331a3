"""Image retrieval for loop closure: a bag of visual words learnt from the tour's own SIFT.

Sequential matching never links a revisit to the first visit, and wheel odometry drifts too
far (metres after one office) to say which keyframes are near each other. COLMAP's answer
is a vocabulary tree, but none ships with pycolmap and nothing downloads at run time; a
tour-specific vocabulary serves as well at our sizes (hundreds to a few thousand images):

1. k-means (``scipy.cluster.vq.kmeans2``, k-means++ seeding) over a sample of the tour's
   SIFT descriptors gives ``num_words`` visual words;
2. each image becomes a TF-IDF weighted, L2-normalised word histogram;
3. each image is paired with its ``top_k`` most similar images that are at least
   ``min_gap`` keyframes away (closer ones are matched sequentially anyway).

Geometric verification in pycolmap's matcher rejects the false candidates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Visual words (``centroids`` (K, 128) float32) and their ``idf`` weights (K,)."""

    centroids: np.ndarray
    idf: np.ndarray

    @classmethod
    def fit(cls, descriptors: Sequence[np.ndarray], num_words: int, seed: int) -> Vocabulary:
        """k-means (k-means++ seeding) over a sample of the images' descriptors; idf over the
        same images."""
        rng = np.random.default_rng(seed)
        nonempty = [d for d in descriptors if len(d)]
        if not nonempty:
            raise ValueError("a vocabulary needs at least one image with features")
        pool = np.concatenate(nonempty).astype(np.float32)
        sample = pool[rng.choice(len(pool), size=min(len(pool), 60_000), replace=False)]
        k = min(num_words, max(2, len(sample) // 20))
        seeds = kmeans_plus_plus(sample, k, rng)
        centroids, _ = kmeans2(sample, seeds, iter=8, minit="matrix")
        hist = _histograms(descriptors, centroids)
        df = (hist > 0).sum(0)
        return cls(centroids, np.log(len(descriptors) / np.maximum(df, 1)))

    def embed(self, descriptors: Sequence[np.ndarray]) -> np.ndarray:
        """TF-IDF word vectors (N, K), L2-normalised, of N images' descriptors."""
        v = _histograms(descriptors, self.centroids)
        v = v / np.maximum(v.sum(1, keepdims=True), 1) * self.idf
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): ``k`` rows of ``x`` (n, d), each drawn
    with probability proportional to its squared distance to the nearest row drawn before.

    The distances are updated with each new centre only, O(k n d). scipy's ``minit="++"``
    recomputes them against every centre so far, O(k^2 n d): 396 s for 512 words over 36k
    descriptors on 2 cores (beside another job), against 2.5 s here; 128 words over 6,000
    descriptors, 1.53 s against 0.07 s.
    """
    x = np.asarray(x, np.float32)
    centres = np.empty((k, x.shape[1]), np.float32)
    centres[0] = x[rng.integers(len(x))]
    d2 = ((x - centres[0]) ** 2).sum(1, dtype=np.float64)
    for i in range(1, k):
        total = d2.sum()
        j = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centres[i] = x[j]
        d2 = np.minimum(d2, ((x - centres[i]) ** 2).sum(1, dtype=np.float64))
    return centres


def _histograms(descriptors: Sequence[np.ndarray], centroids: np.ndarray) -> np.ndarray:
    c_sq = (centroids**2).sum(1)
    hist = np.zeros((len(descriptors), len(centroids)), dtype=np.float64)
    for i, d in enumerate(descriptors):
        if len(d) == 0:
            continue
        d = d.astype(np.float32)
        # nearest word by squared distance; |d|^2 is constant per row and drops out
        words = np.argmin(c_sq[None] - 2.0 * d @ centroids.T, axis=1)
        hist[i] = np.bincount(words, minlength=len(centroids))
    return hist


def bow_vectors(descriptors: Sequence[np.ndarray], num_words: int, seed: int) -> np.ndarray:
    """TF-IDF bag-of-words vectors (N, num_words), L2-normalised, of N images' descriptors,
    with a vocabulary learnt from those images."""
    return Vocabulary.fit(descriptors, num_words, seed).embed(descriptors)


def retrieval_pairs(
    names: Sequence[str],
    keyframe_of: Callable[[str], int],
    descriptors: Sequence[np.ndarray],
    *,
    top_k: int,
    min_gap: int,
    num_words: int = 256,
    seed: int = 0,
) -> list[tuple[str, str]]:
    """Pairs (a, b) with a < b of each image and its ``top_k`` most similar images at least
    ``min_gap`` keyframes away (``keyframe_of`` maps an image name to its keyframe)."""
    if len(names) < 2 or top_k <= 0:
        return []
    v = bow_vectors(descriptors, num_words, seed)
    sim = v @ v.T
    kf = np.array([keyframe_of(n) for n in names])
    sim[np.abs(kf[:, None] - kf[None]) < min_gap] = -np.inf
    pairs: set[tuple[str, str]] = set()
    k = min(top_k, len(names) - 1)
    best = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    for i, row in enumerate(best):
        for j in row:
            if np.isfinite(sim[i, j]) and sim[i, j] > 0:
                a, b = names[i], names[int(j)]
                pairs.add((a, b) if a < b else (b, a))
    return sorted(pairs)


def read_descriptors(db_path: Path) -> tuple[list[str], list[np.ndarray]]:
    """Image names and SIFT descriptors (uint8 (n_i, 128)) from a pycolmap database."""
    import pycolmap

    names, descs = [], []
    with pycolmap.Database.open(db_path) as db:
        for img in sorted(db.read_all_images(), key=lambda im: im.name):
            names.append(img.name)
            descs.append(np.asarray(db.read_descriptors(img.image_id).data))
    return names, descs
