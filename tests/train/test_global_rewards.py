"""GRPO rule rewards of Astra-Global: right answers score high, malformed ones nothing, and
adversarial answers (repeats, wrong ids, far extras, out-of-map poses) cannot game them."""

from __future__ import annotations

import math

import pytest

from astra_jax.global_model import formats as F
from astra_jax.tasks import global_rewards as R

SEEN = (F.SeenLandmark("sofa", ("red", "fabric")), F.SeenLandmark("printer", ("white",)))
TRUTH = R.CoarseTruth(
    seen=SEEN,
    matched=frozenset({3, 7}),
    query=F.PlanarPose(0.0, 0.0, 0.0),  # at the origin, looking along +x
    landmark_xy={3: (2.0, 0.5), 7: (3.0, -1.0), 12: (1.5, 0.0), 20: (-8.0, 0.0)},
)


def _coarse(seen, matched):
    return F.coarse_answer(F.CoarseAnswer(tuple(seen), tuple(matched)))


def test_perfect_coarse_answer_scores_four():
    r = R.coarse_rewards(_coarse(SEEN, [3, 7]), TRUTH)
    assert r == {"format": 1.0, "landmark": 1.0, "map": 1.0, "extra": 1.0, "total": 4.0}


def test_synonyms_and_consistent_attributes_count():
    pred = [F.SeenLandmark("Couch", ("red",)), F.SeenLandmark("printer", ())]
    assert R.landmark_recall(pred, SEEN) == 1.0
    # a contradicting attribute is not the same landmark
    assert R.landmark_recall([F.SeenLandmark("sofa", ("blue",))], SEEN) == 0.0


def test_repeating_a_landmark_does_not_raise_recall():
    once = R.coarse_rewards(_coarse([SEEN[0]], [3]), TRUTH)
    many = R.coarse_rewards(_coarse([SEEN[0]] * 5, [3]), TRUTH)
    assert once["landmark"] == many["landmark"] == 0.5


def test_repeated_or_unknown_ids_are_malformed():
    for matched in ([3, 3, 7], [3, 7, 99]):
        r = R.coarse_rewards(_coarse(SEEN, matched), TRUTH)
        assert r["total"] == 0.0 and r["format"] == 0.0


def test_wrong_ids_lower_the_map_iou():
    r = R.coarse_rewards(_coarse(SEEN, [3, 12]), TRUTH)
    assert r["map"] == pytest.approx(1 / 3)


def test_extra_landmarks_near_and_ahead_cost_less_than_far_behind():
    near = R.coarse_rewards(_coarse(SEEN, [3, 7, 12]), TRUTH)  # 1.5 m ahead
    far = R.coarse_rewards(_coarse(SEEN, [3, 7, 20]), TRUTH)  # 8 m behind
    assert near["extra"] == pytest.approx(math.exp(-0.5 * 0.7 * 1.5))
    assert far["extra"] == pytest.approx(math.exp(-0.5 * (0.7 * 8.0 + 0.3 * math.pi)))
    assert 4.0 > near["total"] > far["total"]
    # listing every map landmark is worse than the true answer
    spam = R.coarse_rewards(_coarse(SEEN, [3, 7, 12, 20]), TRUTH)
    assert spam["total"] < R.coarse_rewards(_coarse(SEEN, [3, 7]), TRUTH)["total"]


@pytest.mark.parametrize(
    "text",
    [
        "The robot sees a sofa.",
        _coarse(SEEN, [3, 7]) + " Done.",
        _coarse(SEEN, [3, 7]).replace('"matched"', '"nodes"'),
    ],
)
def test_malformed_coarse_answers_earn_nothing(text):
    assert R.coarse_rewards(text, TRUTH)["total"] == 0.0


def test_covisibility_reward_is_eq_2_3():
    r = R.covisibility_rewards('{"covisible": true, "score": 0.80}', 0.6)
    assert r["covis"] == pytest.approx(0.8) and r["total"] == pytest.approx(1.8)
    assert R.covisibility_rewards('{"covisible": false, "score": 0.8}', 0.6)["total"] == 0.0
    with pytest.raises(ValueError, match="score_truth"):
        R.covisibility_rewards('{"covisible": true, "score": 0.8}', 1.2)


def test_pose_reward_falls_with_error_and_rejects_out_of_map():
    bounds = F.MapBounds(-5.0, -5.0, 5.0, 5.0, margin=0.5)
    truth = F.PlanarPose(1.0, 1.0, math.radians(30))
    exact = R.pose_rewards(F.pose_answer(truth), truth, bounds)
    assert exact["pose"] == pytest.approx(1.0, abs=1e-2) and exact["format"] == 1.0
    off = R.pose_rewards('{"x": 2.0, "y": 1.0, "yaw": 40}', truth, bounds)
    assert off["error_m"] == pytest.approx(1.0) and off["error_deg"] == pytest.approx(10.0)
    assert off["pose"] == pytest.approx(math.exp(-1.0))
    # yaw wraps: 179 deg against -179 deg is 2 deg off
    wrap = R.pose_rewards(
        '{"x": 1.0, "y": 1.0, "yaw": 179}', F.PlanarPose(1, 1, math.radians(-179)), bounds
    )
    assert wrap["error_deg"] == pytest.approx(2.0)
    outside = R.pose_rewards('{"x": 40.0, "y": 1.0, "yaw": 30}', truth, bounds)
    assert outside["total"] == 0.0 and outside["error_m"] == math.inf


def test_reward_weights_are_validated():
    with pytest.raises(ValueError, match="expected 1"):
        R.RewardWeights(extra_w_d=0.5, extra_w_theta=0.2)
    with pytest.raises(ValueError, match="pose_sigma_d"):
        R.RewardWeights(pose_sigma_d=0.0)


BOUNDS = F.MapBounds(-10.0, -10.0, 10.0, 10.0)


def _sample_rewards(task, text, reference):
    return R.sample_rewards(task, text, reference, TRUTH.query, TRUTH.landmark_xy, BOUNDS)


def test_sample_rewards_score_each_task_against_its_reference_answer():
    coarse = _sample_rewards("coarse", _coarse(SEEN, [3, 7]), _coarse(SEEN, [3, 7]))
    assert coarse["total"] == 4.0
    pose = F.pose_answer(F.PlanarPose(1.0, 2.0, 0.5))
    assert _sample_rewards("fine", pose, pose)["total"] == pytest.approx(2.0)
    far = F.pose_answer(F.PlanarPose(5.0, 2.0, 0.5))
    assert _sample_rewards("fine", far, pose)["pose"] < 0.6
    # a fine pose outside the map does not parse; a relative pose has no bounds
    outside = F.pose_answer(F.PlanarPose(50.0, 2.0, 0.5))
    assert _sample_rewards("fine", outside, pose)["total"] == 0.0
    rel = F.pose_answer(F.PlanarPose(0.4, 0.0, 0.1))
    assert _sample_rewards("relative_pose", rel, rel)["total"] == pytest.approx(2.0)
    covis = F.covisibility_answer(F.CovisibilityAnswer(True, 0.6))
    off = F.covisibility_answer(F.CovisibilityAnswer(False, 0.2))
    assert _sample_rewards("covisibility", off, covis)["covis"] == pytest.approx(0.6)
    assert set(coarse) <= set(R.REWARD_TERMS)


def test_landmark_extraction_reward_is_recall_and_cannot_be_gamed_by_repeats():
    truth = (
        F.ExtractedLandmark("sofa", ("red",), "sitting"),
        F.ExtractedLandmark("printer", ("white",), "printing documents"),
    )
    reference = F.landmarks_answer(truth)
    assert _sample_rewards("landmarks", reference, reference)["total"] == 2.0
    repeated = F.landmarks_answer((truth[0],) * 6)
    assert _sample_rewards("landmarks", repeated, reference)["landmark"] == 0.5
    assert _sample_rewards("landmarks", reference + " extra", reference)["total"] == 0.0
    with pytest.raises(ValueError, match="no rule reward"):
        _sample_rewards("text_goal", reference, reference)


def test_an_empty_answer_earns_nothing_unless_the_truth_is_empty():
    """The empty list parses and risks nothing: rewarded with R_format (and coarse R_extra) it is
    what GRPO learns (session 14's tiny run listed no landmarks at all after 75 steps)."""
    assert R.coarse_rewards(_coarse([], []), TRUTH)["total"] == 0.0
    # one true landmark seen beats saying nothing
    assert R.coarse_rewards(_coarse([SEEN[0]], []), TRUTH)["total"] > 0.0
    nothing = R.CoarseTruth((), frozenset(), TRUTH.query, TRUTH.landmark_xy)
    assert R.coarse_rewards(_coarse([], []), nothing)["total"] == 4.0
    truth = (F.ExtractedLandmark("sofa", ("red",), "sitting"),)
    empty = F.landmarks_answer(())
    assert _sample_rewards("landmarks", empty, F.landmarks_answer(truth))["total"] == 0.0
    assert _sample_rewards("landmarks", empty, empty)["total"] == 2.0
