"""Scoring of Astra-Global's answers: right answers score 1, malformed ones count as misses."""

from __future__ import annotations

import math

import pytest

from astra_jax.data.localization_samples import LocalizationSample
from astra_jax.global_model import formats as F
from astra_jax.tasks.global_answers import score_answers

PROMPT = "Map landmarks:\nL3: sofa (red)\nL7: printer (white)\nList ..."
COARSE = F.coarse_answer(F.CoarseAnswer((F.SeenLandmark("sofa", ("red",)),), (3,)))
FINE = F.pose_answer(F.PlanarPose(2.0, 1.0, math.radians(90)))


def _s(task, answer, prompt=""):
    return (0, LocalizationSample(task, prompt, answer, (0,), 0))


def test_right_answers_score_one_and_wrong_ones_less():
    picked = [_s("coarse", COARSE, PROMPT), _s("coarse", COARSE, PROMPT), _s("fine", FINE),
              _s("fine", FINE), _s("covisibility", '{"covisible": true, "score": 0.70}')]  # fmt: skip
    answers = [
        COARSE,
        F.coarse_answer(F.CoarseAnswer((F.SeenLandmark("sofa", ("red",)),), (3, 7))),
        '{"x": 2.30, "y": 1.40, "yaw": 93}',  # 0.5 m, 3 deg off: a hit at 1 m / 5 deg
        '{"x": 2.0, "y": 1.0}',  # malformed: a miss
        '{"covisible": false, "score": 0.40}',
    ]
    scores = score_answers(picked, answers)
    c = scores["coarse"]
    assert c["parsed"] == 1.0 and c["landmark_recall"] == 1.0
    assert c["map_iou"] == pytest.approx(0.75) and c["exact"] == 0.5
    f = scores["fine"]
    assert f["parsed"] == 0.5 and f["within_1m_5deg"] == 0.5
    assert f["median_error_m"] == pytest.approx(0.5) and f["median_error_deg"] == pytest.approx(3.0)
    v = scores["covisibility"]
    assert v["flag_accuracy"] == 0.0 and v["score_error"] == pytest.approx(0.3)


def test_malformed_answers_are_misses():
    scores = score_answers([_s("coarse", COARSE, PROMPT)], ['{"seen": [], "matched": [99]}'])
    assert scores["coarse"] == {"n": 1.0, "parsed": 0.0, "landmark_recall": 0.0, "map_iou": 0.0,
                                "exact": 0.0}  # fmt: skip
    fine = score_answers([_s("fine", FINE)], ["I am lost"])["fine"]
    assert fine["within_1m_5deg"] == 0.0 and fine["median_error_m"] == math.inf
