"""Rule rewards of Astra-Global's GRPO stage (paper Sec. 2.4, Eq. 2-3), plus pose accuracy.

Every reward reads the model's answer text through the strict parsers of
:mod:`astra_jax.global_model.formats`; an answer that does not parse earns nothing at all,
so format is never traded against content.

Coarse localization, ``R = R_format + R_landmark + R_map + R_extra`` in [0, 4]:

* ``R_landmark``: recall of the true seen landmarks. A prediction matches a true landmark of
  the same category (after :data:`SYNONYMS`) whose attributes include all the predicted ones
  (consistent attributes); each true landmark is matched at most once, so repeating a
  landmark cannot raise the recall.
* ``R_map``: IoU of the predicted and true matched map ids.
* ``R_extra``: the predicted ids missing from the truth, each scored
  ``exp(-lam * (w_d * d + w_theta * theta))`` with d (m) the distance from the query to the
  landmark and theta (rad) the landmark's bearing off the query's heading: a near landmark in
  front of the camera was plausibly seen (the truth drops small or far sightings), a far one
  behind it was not. Their mean; 1 when there are none. The paper leaves the aggregation
  open; the mean keeps the term in [0, 1] and makes a wrong extra cost, never pay.

Co-visibility, ``R = R_format + lam * (1 - |S_gt - S_pred|)`` (Eq. 2-3).
Poses (fine localization, text goals, relative pose), ``R = R_format + R_pose`` with
``R_pose = (exp(-d / sigma_d) + exp(-|dyaw| / sigma_yaw)) / 2``.
Landmark extraction, ``R = R_format + R_landmark``.

**An empty answer where the truth is not empty earns nothing** (every term 0, as if malformed):
a coarse answer that sees and matches nothing, or a landmark list with no entry, for a query
whose truth has landmarks. Otherwise an empty list is the cheapest answer that parses: it keeps
R_format (and, for coarse, R_extra, 1 with no extras) at no risk, and the tiny model's GRPO run
learnt exactly that (session 14: landmark lists parsed 88 % -> 100 % while their category
recall fell 0.25 -> 0). An empty answer to an empty truth still scores in full.

:func:`sample_rewards` scores an answer to any training sample against its reference answer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from astra_jax.global_model.formats import (
    AnswerFormatError,
    MapBounds,
    PlanarPose,
    SeenLandmark,
    parse_coarse,
    parse_covisibility,
    parse_landmarks,
    parse_pose,
)

SYNONYMS: dict[str, str] = {
    "couch": "sofa",
    "settee": "sofa",
    "bin": "trash bin",
    "trash can": "trash bin",
    "garbage can": "trash bin",
    "waste bin": "trash bin",
    "plant": "potted plant",
    "houseplant": "potted plant",
    "tv": "tv screen",
    "television": "tv screen",
    "monitor screen": "tv screen",
    "cupboard": "cabinet",
    "fridge": "refrigerator",
    "book shelf": "bookshelf",
    "bookcase": "bookshelf",
    "clock": "wall clock",
    "extinguisher": "fire extinguisher",
    "shelving": "pallet rack",
    "racking": "pallet rack",
}


def canonical_category(category: str) -> str:
    """Lower case, single spaces, synonyms mapped to the map's category names."""
    c = " ".join(category.lower().replace("_", " ").split())
    return SYNONYMS.get(c, c)


@dataclasses.dataclass(frozen=True)
class RewardWeights:
    """The constants the paper leaves open.

    ``extra_lam``, ``extra_w_d`` and ``extra_w_theta`` (w_d + w_theta = 1) shape ``R_extra``:
    with the defaults a landmark 2 m straight ahead scores 0.5 and one 4 m away behind the
    camera 0.15. ``covis_lam`` weighs ``R_covis``. ``pose_sigma_d`` (m) and ``pose_sigma_yaw``
    (rad) set the pose reward's scale: 1 m and 10 deg, twice the 1 m / 5 deg accuracy bar in
    heading so that near misses still get a gradient.
    """

    extra_lam: float = 0.5
    extra_w_d: float = 0.7
    extra_w_theta: float = 0.3
    covis_lam: float = 1.0
    pose_sigma_d: float = 1.0
    pose_sigma_yaw: float = math.radians(10.0)

    def __post_init__(self) -> None:
        if not math.isclose(self.extra_w_d + self.extra_w_theta, 1.0):
            raise ValueError(
                f"RewardWeights: extra_w_d + extra_w_theta = "
                f"{self.extra_w_d + self.extra_w_theta}, expected 1"
            )
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"RewardWeights.{f.name} = {v}: expected a number >= 0")
        if self.pose_sigma_d == 0 or self.pose_sigma_yaw == 0:
            raise ValueError("RewardWeights: pose_sigma_d and pose_sigma_yaw must be positive")


@dataclasses.dataclass(frozen=True)
class CoarseTruth:
    """What a coarse answer is scored against.

    ``seen``: the landmarks visible in the query; ``matched``: their map ids; ``query``: the
    query's true map pose; ``landmark_xy``: every prompt landmark's map position (m), for
    ``R_extra``.
    """

    seen: tuple[SeenLandmark, ...]
    matched: frozenset[int]
    query: PlanarPose
    landmark_xy: Mapping[int, tuple[float, float]]


def landmark_recall(pred: Sequence[SeenLandmark], truth: Sequence[SeenLandmark]) -> float:
    """Share of ``truth`` matched one-to-one by ``pred`` (category and consistent attributes)."""
    if not truth:
        return 1.0 if not pred else 0.0
    free = list(range(len(truth)))
    hits = 0
    for p in pred:
        cat, attrs = canonical_category(p.category), set(p.attributes)
        for k in free:
            t = truth[k]
            if canonical_category(t.category) == cat and attrs <= set(t.attributes):
                free.remove(k)
                hits += 1
                break
    return hits / len(truth)


def id_iou(pred: Collection[int], truth: Collection[int]) -> float:
    """|pred & truth| / |pred | truth|; 1 when both are empty."""
    p, t = set(pred), set(truth)
    return 1.0 if not p | t else len(p & t) / len(p | t)


def extra_landmark_reward(
    extras: Collection[int],
    query: PlanarPose,
    landmark_xy: Mapping[int, tuple[float, float]],
    weights: RewardWeights = RewardWeights(),
) -> float:
    """Mean ``exp(-lam (w_d d + w_theta theta))`` over the extra ids; 1 when there are none."""
    if not extras:
        return 1.0
    scores = []
    for i in extras:
        dx, dy = np.subtract(landmark_xy[i], (query.x, query.y))
        d = math.hypot(dx, dy)
        theta = abs(math.remainder(math.atan2(dy, dx) - query.yaw, math.tau)) if d > 0 else 0.0
        scores.append(
            math.exp(-weights.extra_lam * (weights.extra_w_d * d + weights.extra_w_theta * theta))
        )
    return float(np.mean(scores))


def coarse_rewards(
    text: str, truth: CoarseTruth, weights: RewardWeights = RewardWeights()
) -> dict[str, float]:
    """The four coarse terms and their sum (``total``); all 0 when the answer is malformed, or
    empty (nothing seen, nothing matched) while the truth is not."""
    try:
        ans = parse_coarse(text, truth.landmark_xy.keys())
    except AnswerFormatError:
        return {"format": 0.0, "landmark": 0.0, "map": 0.0, "extra": 0.0, "total": 0.0}
    if not ans.seen and not ans.matched and (truth.seen or truth.matched):
        return {"format": 0.0, "landmark": 0.0, "map": 0.0, "extra": 0.0, "total": 0.0}
    r = {
        "format": 1.0,
        "landmark": landmark_recall(ans.seen, truth.seen),
        "map": id_iou(ans.matched, truth.matched),
        "extra": extra_landmark_reward(
            set(ans.matched) - truth.matched, truth.query, truth.landmark_xy, weights
        ),
    }
    r["total"] = sum(r.values())
    return r


def covisibility_rewards(
    text: str, score_truth: float, weights: RewardWeights = RewardWeights()
) -> dict[str, float]:
    """Eq. 2-3: ``format`` and ``covis`` = 1 - |S_gt - S_pred|, and their weighted sum."""
    if not 0.0 <= score_truth <= 1.0:
        raise ValueError(f"score_truth = {score_truth}: expected a co-visibility score in [0, 1]")
    try:
        ans = parse_covisibility(text)
    except AnswerFormatError:
        return {"format": 0.0, "covis": 0.0, "total": 0.0}
    covis = 1.0 - abs(score_truth - ans.score)
    return {"format": 1.0, "covis": covis, "total": 1.0 + weights.covis_lam * covis}


def pose_rewards(
    text: str,
    truth: PlanarPose,
    bounds: MapBounds | None,
    weights: RewardWeights = RewardWeights(),
    task: str = "fine",
) -> dict[str, float]:
    """``format`` and ``pose`` for a pose answer (``bounds`` None: a relative pose), with the
    errors ``error_m`` and ``error_deg`` (inf when malformed) for logging."""
    try:
        p = parse_pose(text, bounds, task)
    except AnswerFormatError:
        return {
            "format": 0.0,
            "pose": 0.0,
            "total": 0.0,
            "error_m": math.inf,
            "error_deg": math.inf,
        }
    d = math.hypot(p.x - truth.x, p.y - truth.y)
    dyaw = abs(math.remainder(p.yaw - truth.yaw, math.tau))
    pose = 0.5 * (math.exp(-d / weights.pose_sigma_d) + math.exp(-dyaw / weights.pose_sigma_yaw))
    return {
        "format": 1.0,
        "pose": pose,
        "total": 1.0 + pose,
        "error_m": d,
        "error_deg": math.degrees(dyaw),
    }


# Every reward term, in a fixed order: GRPO logs each as its own curve. A term a task does
# not have is absent from that task's reward dict.
REWARD_TERMS = ("total", "format", "landmark", "map", "extra", "covis", "pose")
REWARDED_TASKS = ("coarse", "image_goal", "fine", "relative_pose", "covisibility", "landmarks")


def landmarks_rewards(text: str, truth: Sequence[SeenLandmark]) -> dict[str, float]:
    """Landmark extraction: ``format`` and ``landmark`` (recall of the true landmarks, as in
    the coarse task), and their sum; all 0 for an empty list when ``truth`` is not empty."""
    try:
        found = parse_landmarks(text)
    except AnswerFormatError:
        return {"format": 0.0, "landmark": 0.0, "total": 0.0}
    if not found and truth:  # the cheapest answer that parses: it earns nothing
        return {"format": 0.0, "landmark": 0.0, "total": 0.0}
    recall = landmark_recall([SeenLandmark(x.category, x.attributes) for x in found], truth)
    return {"format": 1.0, "landmark": recall, "total": 1.0 + recall}


def sample_rewards(
    task: str,
    text: str,
    reference_answer: str,
    query: PlanarPose,
    landmark_xy: Mapping[int, tuple[float, float]],
    bounds: MapBounds,
    weights: RewardWeights = RewardWeights(),
) -> dict[str, float]:
    """The rule rewards of ``text`` answering a training sample of ``task`` whose correct
    answer is ``reference_answer``. ``query``: the query image's true map pose;
    ``landmark_xy``: the map's landmark positions (the coarse prompt lists them all);
    ``bounds``: the map's extent (poses outside it do not parse). Keys: some of
    :data:`REWARD_TERMS`, always ``total`` and ``format``."""
    if task in ("coarse", "image_goal"):
        truth = parse_coarse(reference_answer, landmark_xy.keys(), task)
        coarse = CoarseTruth(truth.seen, frozenset(truth.matched), query, landmark_xy)
        return coarse_rewards(text, coarse, weights)
    if task in ("fine", "relative_pose"):
        pose_bounds = bounds if task == "fine" else None
        truth_pose = parse_pose(reference_answer, pose_bounds, task)
        r = pose_rewards(text, truth_pose, pose_bounds, weights, task)
        return {k: r[k] for k in ("format", "pose", "total")}
    if task == "covisibility":
        return covisibility_rewards(text, parse_covisibility(reference_answer).score, weights)
    if task == "landmarks":
        truth = [SeenLandmark(x.category, x.attributes) for x in parse_landmarks(reference_answer)]
        return landmarks_rewards(text, truth)
    raise ValueError(f"task {task!r} has no rule reward: expected one of {REWARDED_TASKS}")
