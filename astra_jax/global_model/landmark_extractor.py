"""Astra-Global as the map's landmark extractor, and the comparison of two maps' landmarks.

:class:`ModelLandmarkExtractor` implements :class:`~astra_jax.maps.landmarks.LandmarkExtractor`
with the model's landmark-extraction task: each keyframe camera image is one
``landmarks_prompt`` request (the whole keyframe in one batch), and every landmark of a
well-formed answer (category, attributes, function) becomes a detection. The model names
objects but does not place them, so a detection stands ``range_m`` ahead of its camera on the
optical axis (in the map frame) with no surface: the association then merges sightings of a
category by the centroid rule, with the wider :data:`ModelLandmarkExtractor.ASSOCIATION_RADIUS`
(3 m: one object seen from several keyframes lands at several points), and a landmark ends
up near the middle of the places it was seen from. A malformed answer gives no detections for
that image (counted in ``malformed``). On the tests' 39-node office map, with answers that
name exactly the oracle's sightings: precision 0.52 and recall 0.67 against the oracle's 18
landmarks at (2 m, 3 m); (2 m, 1 m) gave 0.15 / 0.78 (95 fragments), (1.5 m, 3 m) 0.53 / 0.56.
Boxes in the answer would let the SfM points inside them place each landmark.

:func:`compare_landmarks` scores a map's landmarks against a reference map's (the oracle's):
a landmark is a true positive when an unmatched reference landmark of the same category
(after the rewards' synonyms) lies within ``radius`` m in the plane; precision, recall, and
the counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from astra_jax.global_model import formats as F
from astra_jax.maps.landmarks import KeyframeView, LandmarkDetection

Answerer = Any  # (Sequence[(prompt, images)]) -> list[str], as in global_model.localize


class ModelLandmarkExtractor:
    """Landmarks named by Astra-Global (see the module docstring).

    Args:
        answer: the model's answer callable (``localize.model_answerer``).
        cameras: the cameras whose images are asked (default: every camera of the view).
        range_m: distance ahead of the camera where a named landmark is placed (m).
    """

    name = "astra-global"
    ASSOCIATION_RADIUS = 3.0  # m: the centroid rule's radius for these unplaced detections

    def __init__(
        self, answer: Answerer, cameras: Sequence[str] | None = None, range_m: float = 2.0
    ) -> None:
        if not range_m > 0:
            raise ValueError(f"range_m = {range_m}: expected a positive distance (m)")
        self.answer, self.cameras, self.range_m = answer, cameras, range_m
        self.malformed = 0
        self.asked = 0

    def extract(self, view: KeyframeView) -> list[LandmarkDetection]:
        cams = list(self.cameras or view.images)
        missing = [c for c in cams if c not in view.images]
        if missing:
            raise ValueError(f"keyframe {view.node_id}: no image of camera(s) {missing}")
        texts = self.answer([(F.landmarks_prompt(), [view.images[c]]) for c in cams])
        out: list[LandmarkDetection] = []
        for cam, text in zip(cams, texts, strict=True):
            self.asked += 1
            try:
                found = F.parse_landmarks(text)
            except F.AnswerFormatError:
                self.malformed += 1
                continue
            T = np.asarray(view.T_world_cam[cam], np.float64)
            ahead = T[:3, 3] + self.range_m * T[:3, 2]  # OpenCV: +z is the optical axis
            h, w = view.images[cam].shape[:2]
            for lm in found:
                out.append(
                    LandmarkDetection(
                        category=lm.category,
                        attributes=tuple(lm.attributes),
                        function=lm.function,
                        position=ahead.copy(),
                        camera=cam,
                        bbox=(0.0, 0.0, float(w), float(h)),
                        pixel_area=h * w,
                        distance=self.range_m,
                    )
                )
        return out


def compare_landmarks(
    landmarks: Sequence[Any], reference: Sequence[Any], radius: float = 2.0
) -> dict[str, float]:
    """Precision and recall of ``landmarks`` against ``reference`` (map ``Landmark`` records,
    both in the same frame): greedy one-to-one matching, nearest pairs first, of the same
    canonical category within ``radius`` m in the plane."""
    from astra_jax.tasks.global_rewards import canonical_category

    pairs = []
    for i, a in enumerate(landmarks):
        for j, b in enumerate(reference):
            if canonical_category(a.category) != canonical_category(b.category):
                continue
            d = math.dist(a.position[:2], b.position[:2])
            if d <= radius:
                pairs.append((d, i, j))
    used_a, used_b = set(), set()
    for _, i, j in sorted(pairs):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    tp = len(used_a)
    return {
        "precision": tp / len(landmarks) if landmarks else 0.0,
        "recall": tp / len(reference) if reference else 0.0,
        "true_positives": float(tp),
        "landmarks": float(len(landmarks)),
        "reference": float(len(reference)),
    }
