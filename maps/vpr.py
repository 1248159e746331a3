"""Visual place recognition over a map's node images: the baseline Astra-Global must beat.

The paper compares against MixVPR, whose weights would have to be downloaded; nothing here
downloads anything. This baseline is image retrieval with a bag of visual words learnt from
the map's own images (:class:`~astra_jax.maps.retrieval.Vocabulary`, the same words that find
loop closures for SfM): SIFT (pycolmap) on one camera's image of every node, a TF-IDF vector
per node, and for a query image the nodes with the most similar vectors (cosine). The
estimate is the best node's pose: a query from the same camera that looks like a node was
taken from about where the node was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from PIL import Image

from astra_jax.maps.retrieval import Vocabulary
from astra_jax.maps.schema import TopoSemanticMap


@dataclasses.dataclass(frozen=True)
class VprOptions:
    """``num_words`` visual words; ``max_features`` SIFT features per image; ``camera``: whose
    images are indexed (default: the map's first camera); ``seed`` seeds k-means."""

    num_words: int = 512
    max_features: int = 2048
    camera: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_words < 2 or self.max_features < 16:
            raise ValueError(
                f"VprOptions: num_words = {self.num_words} (>= 2) and max_features = "
                f"{self.max_features} (>= 16)"
            )


@dataclasses.dataclass(frozen=True)
class PlaceMatch:
    """A retrieved node, its cosine ``score`` in [0, 1] and its planar pose (x, y, yaw)."""

    node_id: int
    score: float
    pose2d: np.ndarray


def _sift(max_features: int):  # -> pycolmap.FeatureExtractor
    import pycolmap

    options = pycolmap.FeatureExtractionOptions()
    options.sift.max_num_features = max_features
    options.num_threads = 1
    return pycolmap.FeatureExtractor.create(options, pycolmap.Device.cpu)


def sift_descriptors(images: Sequence[np.ndarray], max_features: int) -> list[np.ndarray]:
    """SIFT descriptors (n_i, 128) float32 (COLMAP's uint8 values, as SfM stores them) of
    uint8 RGB (H, W, 3) or grey (H, W) images."""
    sift = _sift(max_features)
    out = []
    for k, image in enumerate(images):
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"image {k}: expected uint8 (H, W) or (H, W, 3), got "
                             f"{image.shape} {image.dtype}")  # fmt: skip
        grey = image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
        _, desc = sift.extract_from_uint8_array(np.ascontiguousarray(grey))
        out.append(np.asarray(desc.data, np.float32))
    return out


@dataclasses.dataclass(frozen=True)
class VprIndex:
    """Word vectors of a map's node images. Build with :meth:`build`; ask with :meth:`query`."""

    node_ids: np.ndarray  # (N,) int
    poses: np.ndarray  # (N, 3) planar poses of the nodes
    vectors: np.ndarray  # (N, K)
    vocabulary: Vocabulary
    options: VprOptions

    @classmethod
    def build(cls, m: TopoSemanticMap, options: VprOptions = VprOptions()) -> VprIndex:
        """Index every node's image of ``options.camera``; errors name a missing camera."""
        if m.root is None:
            raise ValueError("VprIndex.build: the map has no root directory with node images")
        camera = options.camera or m.metadata.camera_names[0]
        if camera not in m.metadata.camera_names:
            raise ValueError(f"camera {camera!r} is not in the map {m.metadata.camera_names}")
        images = []
        for n in m.nodes:
            with Image.open(m.root / n.images[camera]) as im:
                images.append(np.asarray(im.convert("RGB")))
        descs = sift_descriptors(images, options.max_features)
        vocabulary = Vocabulary.fit(descs, options.num_words, options.seed)
        return cls(
            np.array([n.id for n in m.nodes]),
            np.array([n.pose2d for n in m.nodes]),
            vocabulary.embed(descs),
            vocabulary,
            options,
        )

    def query(self, image: np.ndarray, top_k: int = 5) -> list[PlaceMatch]:
        """The ``top_k`` nodes whose images look most like ``image``, best first."""
        (desc,) = sift_descriptors([image], self.options.max_features)
        v = self.vocabulary.embed([desc])[0]
        scores = self.vectors @ v
        best = np.argsort(-scores, kind="stable")[: max(1, top_k)]
        return [PlaceMatch(int(self.node_ids[i]), float(scores[i]), self.poses[i]) for i in best]
