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

from astra_jax.maps.features import sift_features
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


def sift_descriptors(images: Sequence[np.ndarray], max_features: int) -> list[np.ndarray]:
    """SIFT descriptors (n_i, 128) float32 of uint8 RGB (H, W, 3) or grey (H, W) images."""
    out = []
    for k, image in enumerate(images):
        try:
            out.append(sift_features(image, max_features)[1])
        except ValueError as e:
            raise ValueError(f"image {k}: {e}") from None
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
        images = [m.load_image(n.id, camera) for n in m.nodes]
        descs = sift_descriptors(images, options.max_features)
        vocabulary = Vocabulary.fit(descs, options.num_words, options.seed)
        return cls(
            m.node_ids,
            m.poses2d(),
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
