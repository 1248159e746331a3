"""Astra-Global's localization pipeline on the tests' SfM map: coarse -> co-visibility filter
-> fine -> refinement. The model is replaced by a scripted answerer that knows the query's
true node (so each stage's logic is checked), and once by a real tiny model (plumbing)."""

from __future__ import annotations

import json
import math
import re

import jax
import numpy as np
import pytest

from astra_jax.global_model import formats as F
from astra_jax.global_model.config import get_config
from astra_jax.global_model.localize import GlobalLocalizer, LocalizeOptions, model_answerer
from astra_jax.global_model.model import init_params
from astra_jax.global_model.tokenizer import ChatTokenizer
from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour


@pytest.fixture(scope="module")
def world(sim_map, sim_tour_dir):
    return load_map(sim_map), load_tour(sim_tour_dir)


def scripted(m, k, *, coarse_ok=True, fine_ok=True):
    """Answers as a perfect model would for a query at node index ``k``."""
    node = m.nodes[k]
    calls = []

    def answer(requests):
        out = []
        for prompt, images in requests:
            calls.append(prompt.splitlines()[0])
            if "Map landmarks" in prompt:
                seen = tuple(F.SeenLandmark(m.landmark(i).category, ()) for i in node.landmark_ids)
                text = F.coarse_answer(F.CoarseAnswer(seen, node.landmark_ids))
                out.append(text if coarse_ok else "I see a desk.")
            elif "common region" in prompt:
                # the node image shown is identified by its pixels: near nodes look alike
                near = [n for n in m.nodes if np.hypot(*(n.xy - node.xy)) < 1.0]
                score = 0.9 if any(_same(images[1], n, m) for n in near) else 0.1
                out.append(F.covisibility_answer(F.CovisibilityAnswer(score >= 0.5, score)))
            else:
                p = node.pose2d
                out.append(F.pose_answer(F.PlanarPose(*map(float, p))) if fine_ok else '{"x": 1}')
        return out

    answer.calls = calls
    return answer


def _same(image, n, m):
    from PIL import Image

    with Image.open(m.root / n.images["front"]) as im:
        return np.array_equal(np.asarray(im.convert("RGB")), image)


def _images(tour, frame):
    rgb = next(tour.read_frames([frame]))
    return {c: rgb[i] for i, c in enumerate(tour.camera_names)}


def test_every_stage_succeeds_and_refines(world):
    m, tour = world
    k = len(m.nodes) // 2
    node = m.nodes[k]
    answer = scripted(m, k)
    loc = GlobalLocalizer(m, answer).localize(_images(tour, node.frame_index))
    assert loc.source == "refined" and loc.confidence == 0.9 and loc.reason == ""
    assert np.hypot(*(loc.pose2d[:2] - node.xy)) < 0.02 and loc.node_id == node.id
    assert set(loc.matched_landmarks) == set(node.landmark_ids)
    # the filter kept only nodes within 1 m of the query
    assert loc.candidates and all(np.hypot(*(m.node(n).xy - node.xy)) < 1.0 for n in loc.candidates)
    assert set(loc.timings) == {"coarse", "covisibility", "fine", "refinement"}
    assert answer.calls[0].startswith("The image is the robot's current view")


def test_fine_pose_without_refinement_and_fallbacks(world):
    m, tour = world
    k = len(m.nodes) // 3
    node, images = m.nodes[k], _images(tour, m.nodes[k].frame_index)
    no_refine = LocalizeOptions(refine=False)
    fine = GlobalLocalizer(m, scripted(m, k), no_refine).localize(images)
    assert fine.source == "fine" and fine.confidence == 0.5
    np.testing.assert_allclose(fine.pose2d[:2], np.round(node.xy, 2), atol=1e-9)
    assert abs(math.remainder(fine.pose2d[2] - node.pose2d[2], math.tau)) < math.radians(0.6)
    # a malformed fine answer falls back to the best candidate's pose
    coarse = GlobalLocalizer(m, scripted(m, k, fine_ok=False), no_refine).localize(images)
    assert coarse.source == "coarse" and "fine answer" in coarse.reason
    assert coarse.pose2d is not None and coarse.node_id in coarse.candidates
    # a malformed coarse answer ends the pipeline
    none = GlobalLocalizer(m, scripted(m, k, coarse_ok=False), no_refine).localize(images)
    assert none.source == "none" and none.pose2d is None and none.confidence == 0.0
    assert "coarse answer" in none.reason
    with pytest.raises(ValueError, match="'front'"):
        GlobalLocalizer(m, scripted(m, k), no_refine).localize({"rear_left": images["rear_left"]})


def test_a_real_model_runs_the_pipeline(world):
    m, tour = world
    config = get_config("tiny")
    params = init_params(config.model(), jax.random.key(0))
    answer = model_answerer(config, params, ChatTokenizer.from_file(), (56, 56), max_new_tokens=8)
    loc = GlobalLocalizer(m, answer, LocalizeOptions(refine=False)).localize(_images(tour, 0))
    # random weights write no valid answer: the pipeline says so instead of failing
    assert loc.source == "none" and "coarse" in loc.timings and loc.reason
    json.dumps(loc.timings)


def test_image_goal_finds_the_node_of_the_photo(world):
    m, tour = world
    k = len(m.nodes) // 4
    node = m.nodes[k]
    photo = next(tour.read_frames([node.frame_index]))[0]  # the front camera's view
    answer = scripted(m, k)
    goal = GlobalLocalizer(m, answer).image_goal(photo)
    assert answer.calls[0].startswith("Take me where this picture was taken")
    assert goal.source == "refined" and goal.node_id == node.id


def test_text_goal_widens_the_search_until_found(world):
    m, _ = world
    target = max(m.landmarks, key=lambda lm: np.hypot(*lm.position[:2]))  # far from node 0
    robot = m.nodes[0].xy
    shown = []

    def answer(requests):
        ((prompt, images),) = requests
        assert images == []
        ids = [int(x) for x in re.findall(r"^L(\d+): ", prompt, flags=re.MULTILINE)]
        shown.append(ids)
        if target.id not in ids:
            return ['{"found": false}']
        node = m.node(target.node_ids[0])
        return [
            F.goal_answer(F.GoalAnswer(target.id, node.id, F.PlanarPose(*map(float, node.pose2d))))
        ]

    loc = GlobalLocalizer(m, answer, LocalizeOptions(refine=False))
    goal = loc.text_goal(f"I need a {target.category}", robot_xy=robot, radii=(1.0, 3.0))
    assert goal is not None and goal.landmark_id == target.id and goal.node_id in target.node_ids
    distance = np.hypot(*(np.asarray(target.position[:2]) - robot))
    assert goal.radius >= distance and len(shown) >= 2 and len(shown[0]) < len(shown[-1])
    # nothing serves it anywhere: None, after the whole map was shown
    assert (
        GlobalLocalizer(m, lambda r: ['{"found": false}'], LocalizeOptions(refine=False)).text_goal(
            "fly"
        )
        is None
    )


def test_eval_global_rows_goals_and_calibration(world):
    """``astra eval global``'s core on the tests' map: queries at keyframes, answered by an
    oracle that recognises the node image; its fine answers are 2 m off, so the MLLM row misses
    1 m / 5 deg while refinement and VPR (+ refinement) hit."""
    from astra_jax.global_model.calibration import ConfidenceCalibration
    from astra_jax.tasks.global_eval import GlobalEvalOptions, evaluate_world, markdown, summarize

    m, tour = world
    keyframes = [n.frame_index for n in m.nodes[2:-2:8]][:3]

    def answer(requests):
        out = []
        for prompt, images in requests:
            node = next((n for n in m.nodes if images and _same(images[0], n, m)), None)
            if node is None or "I need to" in prompt:
                out.append(F.goal_answer(None))
            elif "Map landmarks" in prompt:
                seen = tuple(F.SeenLandmark(m.landmark(i).category, ()) for i in node.landmark_ids)
                out.append(F.coarse_answer(F.CoarseAnswer(seen, node.landmark_ids)))
            elif "common region" in prompt:
                out.append(F.covisibility_answer(F.CovisibilityAnswer(True, 0.9)))
            else:
                x, y, yaw = map(float, node.pose2d)
                out.append(F.pose_answer(F.PlanarPose(x + 2.0, y, yaw)))
        return out

    options = GlobalEvalOptions(frames=48, queries=3, goals=1)
    result = evaluate_world(m, tour, answer, options, frames=keyframes)
    assert [r["frame"] for r in result["queries"]] == keyframes
    for r in result["queries"]:
        assert r["source"] == "refined" and r["confidence"] == 0.9
        assert r["mllm"]["coarse_hit"] and not r["mllm"]["fine_hit"]
        # the 2 m error in the map frame, through the map's Sim(3) (scale ~1.004)
        assert r["mllm"]["error_m"] == pytest.approx(2.0, abs=0.05)
        assert r["mllm+refine"]["fine_hit"] and r["vpr"]["fine_hit"] and r["vpr+refine"]["fine_hit"]
    summary = summarize({"small_office:0": result})
    rows = summary["all"]
    assert rows["mllm"]["fine_acc"] == 0.0 and rows["mllm+refine"]["fine_acc"] == 1.0
    assert rows["vpr"]["coarse_acc"] == 1.0 and rows["vpr+refine"]["n"] == 3
    assert summary["text_goal_sr"] == 0.0  # the oracle never finds a text goal
    assert summary["image_goal_sr"] == 1.0  # a node image as the goal photo: its own node
    assert summary["calibration"] == {"0.9": {"n": 3, "within_1m_5deg": 1.0}}
    assert "| all | mllm+refine | 100.0 | 100.0 |" in markdown(summary, options.changes)
    # a calibration fitted elsewhere sets the confidence of the refined poses
    cal = ConfidenceCalibration.fit([("refined", True)] * 2 + [("refined", False)] * 2)
    quick = GlobalEvalOptions(frames=48, queries=1, goals=0)
    again = evaluate_world(m, tour, answer, quick, frames=keyframes[:1], calibration=cal)
    assert again["queries"][0]["confidence"] == pytest.approx(0.5)
