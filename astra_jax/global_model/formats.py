"""Astra-Global's tasks as text: each task's prompt, its answer and a strict parser.

Every answer is one JSON object with a fixed set of keys (the paper's "fixed structured
format", so that rewards are rules). The parsers accept exactly what the formatters write and
nothing else: extra text around the object, a missing or unknown key, a duplicate key, a
wrong type, NaN, an id the prompt did not offer, a repeated id or a pose outside the map
raise :class:`AnswerFormatError`, whose message says what was wrong. Units follow the design
conventions: metres with two decimals and whole degrees in the text, metres and radians in
the parsed records.

Tasks (paper Sec. 2.2-2.4; ``FORMAT_VERSIONS`` numbers each one's format):

* ``coarse``: query image + the map's landmarks as text -> the landmarks seen in the query
  (category, visual attributes) and the ids of the map landmarks they match. The candidate
  nodes are the nodes linked to the matched landmarks, taken from the map
  (V_cand of the paper), not written by the model: the prompt would otherwise have to list
  every landmark's nodes.
* ``image_goal``: a photo of the goal place + the landmarks -> the coarse answer for the photo.
* ``fine``: query image + k reference node images with their poses -> the query pose.
* ``text_goal``: an instruction + the landmarks with their functions -> landmark, node, pose,
  or ``{"found": false}`` when none of the listed landmarks serves (the search then widens).
* ``landmarks``: one image -> its landmarks (category, attributes, function); the map's
  extractor.
* ``covisibility``: two images -> whether they share a visible region, and a score in [0, 1].
* ``covisible_selection``: a query and n candidates -> the candidate that shares a region.
* ``relative_pose``: a reference and a target image -> the target's planar pose in the
  reference's ego frame (the paper's movement-trend task, with numbers).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

FORMAT_VERSIONS: dict[str, int] = {
    "coarse": 1,
    "image_goal": 1,
    "fine": 1,
    "text_goal": 2,  # 2: {"found": false} when no listed landmark serves
    "landmarks": 1,
    "covisibility": 1,
    "covisible_selection": 1,
    "relative_pose": 1,
}
MAX_RELATIVE_DISTANCE = 50.0  # m: larger relative motions are not answers about two views


class AnswerFormatError(ValueError):
    """An answer breaks its task's format. ``task`` names the task, ``reason`` what broke."""

    def __init__(self, task: str, reason: str) -> None:
        super().__init__(f"{task} answer: {reason}")
        self.task, self.reason = task, reason


# ----------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class MapLandmark:
    """A map landmark as the prompts show it."""

    id: int
    category: str
    attributes: tuple[str, ...]
    function: str


@dataclasses.dataclass(frozen=True)
class SeenLandmark:
    """A landmark detected in an image: category and visual attributes (lower case)."""

    category: str
    attributes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ExtractedLandmark:
    """A landmark named by the extractor task: category, attributes and function."""

    category: str
    attributes: tuple[str, ...]
    function: str


@dataclasses.dataclass(frozen=True)
class CoarseAnswer:
    """Coarse localization: the landmarks ``seen`` in the query and the ``matched`` map ids."""

    seen: tuple[SeenLandmark, ...]
    matched: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class PlanarPose:
    """(x, y) in metres and yaw in radians, in the map frame (or an ego frame, if so stated)."""

    x: float
    y: float
    yaw: float


@dataclasses.dataclass(frozen=True)
class ReferenceView:
    """A reference image of the fine stage: its node and the node's pose."""

    node_id: int
    pose: PlanarPose


@dataclasses.dataclass(frozen=True)
class GoalAnswer:
    """Text goal: the chosen landmark, the node to drive to and that node's pose."""

    landmark: int
    node: int
    pose: PlanarPose


@dataclasses.dataclass(frozen=True)
class CovisibilityAnswer:
    """Whether two images share a visible region, and the co-visibility score in [0, 1]."""

    covisible: bool
    score: float


@dataclasses.dataclass(frozen=True)
class MapBounds:
    """The map's planar extent (m); parsed poses must lie within it, grown by ``margin``."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float
    margin: float = 2.0

    def contains(self, x: float, y: float) -> bool:
        m = self.margin
        return self.x_min - m <= x <= self.x_max + m and self.y_min - m <= y <= self.y_max + m


# ----------------------------------------------------------------------------- prompts

_ANSWER_ONLY = "Answer with the JSON object only."


def _landmark_line(lm: MapLandmark, with_function: bool) -> str:
    attrs = ", ".join(lm.attributes) if lm.attributes else "none"
    line = f"L{lm.id}: {lm.category} ({attrs})"
    return line + (f"; used for {lm.function}" if with_function else "")


def _landmark_list(landmarks: Sequence[MapLandmark], with_function: bool) -> str:
    if not landmarks:
        raise ValueError("a localization prompt needs at least one map landmark")
    return "\n".join(_landmark_line(lm, with_function) for lm in landmarks)


def _seen_prompt(opening: str, image: str, landmarks: Sequence[MapLandmark]) -> str:
    """The coarse-stage prompt shared by queries and image goals."""
    return (
        f"{opening} Map landmarks:\n"
        + _landmark_list(landmarks, with_function=False)
        + f"\nList the landmarks you see in the {image}, then the ids of the map landmarks they "
        'match: {"seen": [{"category": ..., "attributes": [...]}, ...], "matched": [id, ...]}. '
        + _ANSWER_ONLY
    )


def coarse_prompt(landmarks: Sequence[MapLandmark]) -> str:
    """The coarse-localization prompt; the query image is shown before it."""
    return _seen_prompt("The image is the robot's current view.", "image", landmarks)


def image_goal_prompt(landmarks: Sequence[MapLandmark]) -> str:
    """The image-goal prompt: the photo of the goal place is localized like a query."""
    return _seen_prompt("Take me where this picture was taken.", "picture", landmarks)


def _pose_text(p: PlanarPose) -> str:
    return f"x={p.x:.2f} m, y={p.y:.2f} m, yaw={round(math.degrees(p.yaw))} deg"


def fine_prompt(references: Sequence[ReferenceView]) -> str:
    """The fine-localization prompt: image 1 is the query, images 2..k+1 the references."""
    if not references:
        raise ValueError("a fine-localization prompt needs at least one reference view")
    refs = "\n".join(
        f"Image {k + 2} (node N{r.node_id}): {_pose_text(r.pose)}" for k, r in enumerate(references)
    )
    return (
        "Image 1 is the robot's current view. The other images are map views with known poses:\n"
        + refs
        + '\nEstimate the pose of image 1: {"x": metres, "y": metres, "yaw": degrees}. '
        + _ANSWER_ONLY
    )


def text_goal_prompt(instruction: str, landmarks: Sequence[MapLandmark]) -> str:
    """The text-goal prompt: the landmarks with their functions, then the instruction."""
    if not instruction.strip():
        raise ValueError("a text-goal prompt needs a non-empty instruction")
    return (
        "Map landmarks:\n"
        + _landmark_list(landmarks, with_function=True)
        + f"\nInstruction: {instruction.strip()}\nChoose the landmark that serves it, the node "
        'to go to and its pose: {"landmark": id, "node": id, "x": metres, "y": metres, '
        '"yaw": degrees}, or {"found": false} if none does. ' + _ANSWER_ONLY
    )


def landmarks_prompt() -> str:
    """The landmark-extraction prompt for one image."""
    return (
        "List the landmarks in the image: "
        '{"landmarks": [{"category": ..., "attributes": [...], "function": ...}, ...]}. '
        + _ANSWER_ONLY
    )


def covisibility_prompt() -> str:
    """Two images: do they show a common region?"""
    return (
        "Do the two images show a common region? "
        '{"covisible": true or false, "score": a number from 0 to 1}. ' + _ANSWER_ONLY
    )


def covisible_selection_prompt(num_candidates: int) -> str:
    """A query (image 1) and ``num_candidates`` candidates (images 2..n+1)."""
    if num_candidates < 1:
        raise ValueError(f"num_candidates = {num_candidates}: expected at least 1")
    return (
        f"Image 1 is the query. Which of images 2 to {num_candidates + 1} shows a region that "
        'image 1 also shows? {"image": its number, or 0 if none}. ' + _ANSWER_ONLY
    )


def relative_pose_prompt() -> str:
    """A reference (image 1) and a target (image 2) view of the same robot."""
    return (
        "Image 1 is the reference view and image 2 the target view of the same robot. Where is "
        "the robot of image 2, seen from the robot of image 1 (x forward, y left)? "
        '{"x": metres, "y": metres, "yaw": degrees}. ' + _ANSWER_ONLY
    )


# ----------------------------------------------------------------------------- answers


def _num(v: float) -> str:
    return f"{v:.2f}"


def _strings(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(s) for s in items) + "]"


def coarse_answer(answer: CoarseAnswer) -> str:
    """The coarse (and image-goal) answer text."""
    seen = ", ".join(
        f'{{"category": {json.dumps(s.category)}, "attributes": {_strings(s.attributes)}}}'
        for s in answer.seen
    )
    matched = ", ".join(str(i) for i in answer.matched)
    return f'{{"seen": [{seen}], "matched": [{matched}]}}'


def pose_answer(pose: PlanarPose) -> str:
    """The fine-localization and relative-pose answer text."""
    yaw = round(math.degrees(pose.yaw))
    return f'{{"x": {_num(pose.x)}, "y": {_num(pose.y)}, "yaw": {yaw}}}'


def goal_answer(answer: GoalAnswer | None) -> str:
    """The text-goal answer text (None: no listed landmark serves)."""
    if answer is None:
        return '{"found": false}'
    p = answer.pose
    return (
        f'{{"landmark": {answer.landmark}, "node": {answer.node}, "x": {_num(p.x)}, '
        f'"y": {_num(p.y)}, "yaw": {round(math.degrees(p.yaw))}}}'
    )


def landmarks_answer(landmarks: Sequence[ExtractedLandmark]) -> str:
    """The landmark-extraction answer text."""
    items = ", ".join(
        f'{{"category": {json.dumps(lm.category)}, "attributes": {_strings(lm.attributes)}, '
        f'"function": {json.dumps(lm.function)}}}'
        for lm in landmarks
    )
    return f'{{"landmarks": [{items}]}}'


def covisibility_answer(answer: CovisibilityAnswer) -> str:
    """The co-visibility answer text."""
    return f'{{"covisible": {str(answer.covisible).lower()}, "score": {_num(answer.score)}}}'


def covisible_selection_answer(image: int) -> str:
    """The co-visible-selection answer text (``image`` 0 for none)."""
    return f'{{"image": {image}}}'


# ----------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"repeated key(s) {', '.join(map(repr, repeated))}")
    return dict(pairs)


def _load(task: str, text: str, keys: Collection[str]) -> dict[str, Any]:
    """The answer's one JSON object, with exactly ``keys``."""
    if not isinstance(text, str):
        raise AnswerFormatError(task, f"expected text, got {type(text).__name__}")
    body = text.strip()
    if not body:
        raise AnswerFormatError(task, "empty answer")
    if not body.startswith("{"):
        raise AnswerFormatError(task, f"text before the JSON object: {body[:40]!r}")
    try:
        obj, end = json.JSONDecoder(
            parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        ).raw_decode(body)
    except ValueError as e:
        raise AnswerFormatError(task, f"not valid JSON ({e})") from None
    if body[end:].strip():
        raise AnswerFormatError(task, f"text after the JSON object: {body[end:].strip()[:40]!r}")
    missing = [k for k in keys if k not in obj]
    extra = sorted(set(obj) - set(keys))
    if missing:
        raise AnswerFormatError(task, f"missing key(s) {', '.join(map(repr, missing))}")
    if extra:
        raise AnswerFormatError(task, f"unexpected key(s) {', '.join(map(repr, extra))}")
    return obj


def _number(task: str, obj: Mapping[str, Any], key: str) -> float:
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise AnswerFormatError(task, f"{key!r} must be a finite number, got {v!r}")
    return float(v)


def _integer(task: str, v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise AnswerFormatError(task, f"{what} must be an integer, got {v!r}")
    return v


def _text(task: str, v: Any, what: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise AnswerFormatError(task, f"{what} must be a non-empty string, got {v!r}")
    return v.strip().lower()


def _text_list(task: str, v: Any, what: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise AnswerFormatError(task, f"{what} must be a list of strings, got {v!r}")
    return tuple(_text(task, a, f"{what}[{i}]") for i, a in enumerate(v))


def _object_list(task: str, v: Any, what: str, keys: Collection[str]) -> list[dict[str, Any]]:
    if not isinstance(v, list):
        raise AnswerFormatError(task, f"{what!r} must be a list, got {v!r}")
    for i, item in enumerate(v):
        if not isinstance(item, dict) or set(item) != set(keys):
            raise AnswerFormatError(
                task, f"{what}[{i}] must be an object with keys {sorted(keys)}, got {item!r}"
            )
    return v


def _yaw(task: str, obj: Mapping[str, Any]) -> float:
    deg = _number(task, obj, "yaw")
    if not -180.0 <= deg <= 180.0:
        raise AnswerFormatError(task, f"'yaw' = {deg} deg: expected a heading in [-180, 180]")
    return math.radians(deg)


def parse_coarse(text: str, landmark_ids: Collection[int], task: str = "coarse") -> CoarseAnswer:
    """Parse a coarse (or, with ``task="image_goal"``, image-goal) answer.

    ``landmark_ids``: the ids the prompt listed; any other id, or an id given twice, is an
    error. Repeated *seen* landmarks are legal (an image can show two white chairs).
    """
    obj = _load(task, text, ("seen", "matched"))
    seen = tuple(
        SeenLandmark(
            _text(task, item["category"], f"seen[{i}].category"),
            _text_list(task, item["attributes"], f"seen[{i}].attributes"),
        )
        for i, item in enumerate(
            _object_list(task, obj["seen"], "seen", ("category", "attributes"))
        )
    )
    if not isinstance(obj["matched"], list):
        raise AnswerFormatError(task, f"'matched' must be a list of ids, got {obj['matched']!r}")
    matched = tuple(_integer(task, v, f"matched[{i}]") for i, v in enumerate(obj["matched"]))
    allowed = set(landmark_ids)
    unknown = [i for i in matched if i not in allowed]
    if unknown:
        raise AnswerFormatError(task, f"matched id(s) {unknown} are not map landmarks")
    if len(set(matched)) != len(matched):
        raise AnswerFormatError(task, f"matched ids repeat: {list(matched)}")
    return CoarseAnswer(seen, matched)


def parse_pose(text: str, bounds: MapBounds | None, task: str = "fine") -> PlanarPose:
    """Parse a pose answer (x, y in m, yaw in degrees) into a :class:`PlanarPose`.

    With ``bounds`` (map-frame poses) the position must lie in the map; without them (the
    relative-pose task) within :data:`MAX_RELATIVE_DISTANCE` of the reference.
    """
    obj = _load(task, text, ("x", "y", "yaw"))
    x, y, yaw = _number(task, obj, "x"), _number(task, obj, "y"), _yaw(task, obj)
    if bounds is not None and not bounds.contains(x, y):
        raise AnswerFormatError(task, f"position ({x}, {y}) m lies outside the map")
    if bounds is None and math.hypot(x, y) > MAX_RELATIVE_DISTANCE:
        raise AnswerFormatError(
            task, f"relative position ({x}, {y}) m is beyond {MAX_RELATIVE_DISTANCE} m"
        )
    return PlanarPose(x, y, yaw)


def parse_goal(
    text: str, landmark_nodes: Mapping[int, Collection[int]], bounds: MapBounds
) -> GoalAnswer | None:
    """Parse a text-goal answer; None for ``{"found": false}``. ``landmark_nodes``: the
    prompt's landmark ids -> the map nodes that see each; the node must be one of the chosen
    landmark's."""
    task = "text_goal"
    if isinstance(text, str) and text.strip().startswith('{"found"'):
        obj = _load(task, text, ("found",))
        if obj["found"] is not False:
            raise AnswerFormatError(task, f"'found' may only be false, got {obj['found']!r}")
        return None
    obj = _load(task, text, ("landmark", "node", "x", "y", "yaw"))
    lid = _integer(task, obj["landmark"], "'landmark'")
    node = _integer(task, obj["node"], "'node'")
    if lid not in landmark_nodes:
        raise AnswerFormatError(task, f"landmark {lid} is not one of the prompt's landmarks")
    if node not in landmark_nodes[lid]:
        raise AnswerFormatError(task, f"node {node} does not see landmark {lid}")
    x, y, yaw = _number(task, obj, "x"), _number(task, obj, "y"), _yaw(task, obj)
    if not bounds.contains(x, y):
        raise AnswerFormatError(task, f"position ({x}, {y}) m lies outside the map")
    return GoalAnswer(lid, node, PlanarPose(x, y, yaw))


def parse_landmarks(text: str) -> tuple[ExtractedLandmark, ...]:
    """Parse a landmark-extraction answer."""
    task = "landmarks"
    obj = _load(task, text, ("landmarks",))
    items = _object_list(
        task, obj["landmarks"], "landmarks", ("category", "attributes", "function")
    )
    return tuple(
        ExtractedLandmark(
            _text(task, it["category"], f"landmarks[{i}].category"),
            _text_list(task, it["attributes"], f"landmarks[{i}].attributes"),
            _text(task, it["function"], f"landmarks[{i}].function"),
        )
        for i, it in enumerate(items)
    )


def parse_covisibility(text: str) -> CovisibilityAnswer:
    """Parse a co-visibility answer; ``covisible`` must agree with ``score >= 0.5``."""
    task = "covisibility"
    obj = _load(task, text, ("covisible", "score"))
    if not isinstance(obj["covisible"], bool):
        raise AnswerFormatError(
            task, f"'covisible' must be true or false, got {obj['covisible']!r}"
        )
    score = _number(task, obj, "score")
    if not 0.0 <= score <= 1.0:
        raise AnswerFormatError(task, f"'score' = {score}: expected a number in [0, 1]")
    if obj["covisible"] != (score >= 0.5):
        raise AnswerFormatError(
            task, f"'covisible' = {obj['covisible']} contradicts 'score' = {score}"
        )
    return CovisibilityAnswer(obj["covisible"], score)


def parse_covisible_selection(text: str, num_candidates: int) -> int:
    """Parse a co-visible-selection answer: the candidate's image number, or 0 for none."""
    task = "covisible_selection"
    obj = _load(task, text, ("image",))
    image = _integer(task, obj["image"], "'image'")
    if image != 0 and not 2 <= image <= num_candidates + 1:
        raise AnswerFormatError(
            task, f"'image' = {image}: expected 0 or a candidate in 2..{num_candidates + 1}"
        )
    return image
