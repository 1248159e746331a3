"""Astra-Global's task formats: answers round-trip, and malformed or adversarial answers are
rejected with a reason."""

from __future__ import annotations

import math

import pytest

from astra_jax.global_model import formats as F
from astra_jax.global_model.formats import AnswerFormatError

LANDMARKS = (
    F.MapLandmark(3, "sofa", ("red", "fabric"), "sitting and resting"),
    F.MapLandmark(7, "printer", ("white",), "printing documents"),
    F.MapLandmark(12, "desk", ("wooden",), "working"),
)
BOUNDS = F.MapBounds(0.0, 0.0, 20.0, 10.0, margin=1.0)


def test_coarse_round_trip_and_prompt():
    ans = F.CoarseAnswer(
        (F.SeenLandmark("sofa", ("red",)), F.SeenLandmark("chair", ("white", "plastic"))), (3,)
    )
    text = F.coarse_answer(ans)
    assert F.parse_coarse(text, {3, 7, 12}) == ans
    prompt = F.coarse_prompt(LANDMARKS)
    assert "L3: sofa (red, fabric)" in prompt and "L12: desk (wooden)" in prompt
    assert "used for" not in prompt  # functions are for text goals only
    assert F.parse_coarse(F.coarse_answer(F.CoarseAnswer((), ())), {3}) == F.CoarseAnswer((), ())


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty answer"),
        ('Sure! {"seen": [], "matched": []}', "text before"),
        ('{"seen": [], "matched": []} I hope this helps', "text after"),
        ('```json\n{"seen": [], "matched": []}\n```', "text before"),
        ('{"seen": [], "matched": [3, 3]}', "repeat"),
        ('{"seen": [], "matched": [99]}', "not map landmarks"),
        ('{"seen": [], "matched": ["3"]}', "integer"),
        ('{"seen": [], "matched": [true]}', "integer"),
        ('{"seen": [], "matched": [3.0]}', "integer"),
        ('{"seen": []}', "missing key"),
        ('{"seen": [], "matched": [], "nodes": [1]}', "unexpected key"),
        ('{"seen": [], "seen": [], "matched": []}', "repeated key"),
        ('{"seen": [{"category": "sofa"}], "matched": []}', "keys"),
        ('{"seen": [{"category": "", "attributes": []}], "matched": []}', "non-empty"),
        ('{"seen": [{"category": "sofa", "attributes": "red"}], "matched": []}', "list"),
        ('{"seen": [], "matched": [3]', "not valid JSON"),
        ('["seen", "matched"]', "text before"),
    ],
)
def test_coarse_rejects_malformed_answers(text, reason):
    with pytest.raises(AnswerFormatError, match=reason) as e:
        F.parse_coarse(text, {3, 7, 12})
    assert e.value.task == "coarse"


def test_repeated_seen_landmarks_are_legal():
    text = (
        '{"seen": [{"category": "chair", "attributes": ["white"]}, '
        '{"category": "chair", "attributes": ["white"]}], "matched": []}'
    )
    assert len(F.parse_coarse(text, {3}).seen) == 2


def test_pose_round_trip_in_degrees_and_bounds():
    pose = F.PlanarPose(3.14159, -0.5, math.radians(-91.0))
    text = F.pose_answer(pose)
    assert text == '{"x": 3.14, "y": -0.50, "yaw": -91}'
    back = F.parse_pose(text, BOUNDS)
    assert (back.x, back.y) == (3.14, -0.5) and math.isclose(back.yaw, math.radians(-91))
    prompt = F.fine_prompt([F.ReferenceView(4, F.PlanarPose(1.0, 2.0, math.pi / 2))])
    assert "Image 2 (node N4): x=1.00 m, y=2.00 m, yaw=90 deg" in prompt


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"x": 25.0, "y": 1.0, "yaw": 0}', "outside the map"),
        ('{"x": -1.5, "y": 1.0, "yaw": 0}', "outside the map"),
        ('{"x": 1.0, "y": 1.0, "yaw": 270}', r"\[-180, 180\]"),
        ('{"x": NaN, "y": 1.0, "yaw": 0}', "not valid JSON"),
        ('{"x": Infinity, "y": 1.0, "yaw": 0}', "not valid JSON"),
        ('{"x": "1.0", "y": 1.0, "yaw": 0}', "finite number"),
        ('{"x": 1.0, "y": 1.0}', "missing key"),
        ('{"x": 1.0, "y": 1.0, "yaw": 0, "z": 0}', "unexpected key"),
    ],
)
def test_pose_rejects_malformed_answers(text, reason):
    with pytest.raises(AnswerFormatError, match=reason):
        F.parse_pose(text, BOUNDS)


def test_relative_pose_is_limited_in_range_not_bounds():
    assert F.parse_pose('{"x": -3.0, "y": 40.0, "yaw": 10}', None, "relative_pose").y == 40.0
    with pytest.raises(AnswerFormatError, match="beyond"):
        F.parse_pose('{"x": 60.0, "y": 0.0, "yaw": 0}', None, "relative_pose")


def test_goal_round_trip_and_consistency():
    nodes = {3: (1, 2), 7: (5,)}
    ans = F.GoalAnswer(7, 5, F.PlanarPose(4.0, 2.5, 0.0))
    assert F.parse_goal(F.goal_answer(ans), nodes, BOUNDS) == ans
    prompt = F.text_goal_prompt("I need to print a document", LANDMARKS)
    assert "L7: printer (white); used for printing documents" in prompt
    with pytest.raises(AnswerFormatError, match="does not see landmark 7"):
        F.parse_goal('{"landmark": 7, "node": 1, "x": 4, "y": 2, "yaw": 0}', nodes, BOUNDS)
    with pytest.raises(AnswerFormatError, match="not one of the prompt"):
        F.parse_goal('{"landmark": 9, "node": 5, "x": 4, "y": 2, "yaw": 0}', nodes, BOUNDS)
    with pytest.raises(ValueError, match="instruction"):
        F.text_goal_prompt("  ", LANDMARKS)
    # version 2: nothing listed serves the instruction
    assert F.parse_goal(F.goal_answer(None), nodes, BOUNDS) is None
    with pytest.raises(AnswerFormatError, match="only be false"):
        F.parse_goal('{"found": true}', nodes, BOUNDS)
    with pytest.raises(AnswerFormatError, match="unexpected key"):
        F.parse_goal('{"found": false, "landmark": 7}', nodes, BOUNDS)


def test_auxiliary_formats():
    lms = (F.ExtractedLandmark("printer", ("white", "large"), "printing documents"),)
    assert F.parse_landmarks(F.landmarks_answer(lms)) == lms
    with pytest.raises(AnswerFormatError, match="keys"):
        F.parse_landmarks('{"landmarks": [{"category": "printer", "attributes": []}]}')
    cov = F.CovisibilityAnswer(True, 0.75)
    assert F.parse_covisibility(F.covisibility_answer(cov)) == cov
    with pytest.raises(AnswerFormatError, match="contradicts"):
        F.parse_covisibility('{"covisible": true, "score": 0.2}')
    with pytest.raises(AnswerFormatError, match=r"\[0, 1\]"):
        F.parse_covisibility('{"covisible": true, "score": 1.5}')
    assert F.parse_covisible_selection(F.covisible_selection_answer(3), 4) == 3
    assert F.parse_covisible_selection('{"image": 0}', 4) == 0
    with pytest.raises(AnswerFormatError, match=r"2\.\.5"):
        F.parse_covisible_selection('{"image": 1}', 4)  # the query itself
    assert "images 2 to 5" in F.covisible_selection_prompt(4)


def test_every_task_has_a_format_version():
    assert set(F.FORMAT_VERSIONS) == {
        "coarse", "image_goal", "fine", "text_goal", "landmarks", "covisibility",
        "covisible_selection", "relative_pose",
    }  # fmt: skip
    with pytest.raises(AnswerFormatError) as e:
        F.parse_coarse("{}", {1}, task="image_goal")
    assert e.value.task == "image_goal"
