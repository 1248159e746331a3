"""Astra-Global's self-localization pipeline (paper Sec. 2.2): coarse -> co-visibility filter ->
fine, then geometric refinement against the SfM model (beyond the paper).

1. **Coarse.** The query (the rig's first camera) and every map landmark -> the landmarks
   seen and their matched map ids. Candidate nodes are the nodes linked to the matched
   landmarks (V_cand), ranked by how many of them each node sees; at most ``max_candidates``.
2. **Co-visibility filter.** For each candidate, the model scores whether the query and the
   node's image share a region; candidates below ``covis_threshold`` are dropped (if all
   are, the ranked list is kept: the filter must not leave the fine stage with nothing).
3. **Fine.** The query and the best ``num_references`` candidates' images with their poses ->
   the query's planar pose.
4. **Refinement.** :class:`~astra_jax.maps.refine.MapLocalizer` matches the whole rig against
   the candidates' triangulated features; an accepted pose replaces the fine one.

Goals use the same stages: :meth:`GlobalLocalizer.image_goal` localizes a photo of the goal
place (the image-goal prompt), and :meth:`GlobalLocalizer.text_goal` asks for the landmark
that serves an instruction among the landmarks within 10, 20 and 40 m of the robot, then the
whole map, until the model names one (paper Sec. 2.3's expanding search).

The model is reached through an ``answer(requests) -> texts`` callable (one request = prompt
and images), so the pipeline runs the same with :func:`model_answerer` or any other
implementation of the tasks. Every answer is read with the strict parsers of
:mod:`astra_jax.global_model.formats`; a malformed answer ends the pipeline at the last stage
that succeeded, and :attr:`Localization.source` says which.

``confidence``: the probability, measured on validation worlds, that a pose from this source
lies within 1 m / 5 deg (:class:`~astra_jax.global_model.calibration.ConfidenceCalibration`);
uncalibrated, the stage's standing: 0.9 for an accepted refinement, 0.5 for the fine stage's
pose, 0.2 for the best candidate's pose after a failed fine stage, 0 for none.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from astra_jax.global_model import formats as F
from astra_jax.global_model.calibration import ConfidenceCalibration
from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.tokenizer import ChatTokenizer
from astra_jax.maps.refine import MapLocalizer
from astra_jax.maps.schema import TopoSemanticMap

Request = tuple[str, Sequence[np.ndarray]]  # prompt, images (uint8 (H, W, 3)) shown before it
Answerer = Callable[[Sequence[Request]], list[str]]


@dataclasses.dataclass(frozen=True)
class LocalizeOptions:
    """``max_candidates`` nodes after the coarse stage; ``covis_threshold`` of the filter;
    ``num_references`` images in the fine prompt; ``refine`` against the SfM model."""

    max_candidates: int = 8
    covis_threshold: float = 0.5
    num_references: int = 3
    refine: bool = True

    def __post_init__(self) -> None:
        if self.max_candidates < 1 or self.num_references < 1:
            raise ValueError("LocalizeOptions: max_candidates and num_references must be >= 1")
        if not 0.0 <= self.covis_threshold <= 1.0:
            raise ValueError(f"covis_threshold = {self.covis_threshold}: expected [0, 1]")


@dataclasses.dataclass(frozen=True)
class Localization:
    """The result. ``pose2d`` (x, y, yaw) in the map frame or None; ``node_id``: the map node
    nearest the pose; ``source``: the last stage that succeeded (refined, fine, coarse, none);
    ``candidates``: nodes after the filter; ``timings``: seconds per stage; ``reason``: why a
    stage failed ("" when none did); ``stage_poses``: the pose each stage that succeeded gave
    (coarse: the best candidate node's; fine: the model's; refined), for evaluations."""

    pose2d: np.ndarray | None
    node_id: int | None
    confidence: float
    source: str
    matched_landmarks: tuple[int, ...]
    candidates: tuple[int, ...]
    timings: Mapping[str, float]
    reason: str = ""
    stage_poses: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TextGoal:
    """A text goal's landmark, goal node and pose (x, y, yaw), the search ``radius`` (m; inf:
    the whole map) at which it was found, and the seconds it took."""

    landmark_id: int
    node_id: int
    pose2d: np.ndarray
    radius: float
    seconds: float


class GlobalLocalizer:
    """Localizes rig images on one map (see the module docstring)."""

    def __init__(
        self,
        m: TopoSemanticMap,
        answer: Answerer,
        options: LocalizeOptions = LocalizeOptions(),
        refiner: MapLocalizer | None = None,
        calibration: ConfidenceCalibration | None = None,
    ) -> None:
        if not m.landmarks:
            raise ValueError("GlobalLocalizer: the map has no landmarks to localize against")
        if m.root is None:
            raise ValueError("GlobalLocalizer: the map has no root directory with node images")
        self.map, self.answer, self.options = m, answer, options
        self.calibration = calibration or ConfidenceCalibration.uncalibrated()
        self.refiner = refiner if refiner is not None or not options.refine else MapLocalizer(m)
        self.camera = m.metadata.camera_names[0]
        self._landmarks = tuple(
            F.MapLandmark(lm.id, lm.category, tuple(lm.attributes), lm.function)
            for lm in m.landmarks
        )
        self._prompt = F.coarse_prompt(self._landmarks)
        xy = np.array([n.xy for n in m.nodes])
        lo, hi = xy.min(0), xy.max(0)
        self.bounds = F.MapBounds(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        self._nodes = {n.id: n for n in m.nodes}
        self._by_landmark_id = {lm.id: lm for lm in m.landmarks}
        self._images: dict[int, np.ndarray] = {}

    def node_image(self, node_id: int) -> np.ndarray:
        """The node's image of the query camera (uint8 (H, W, 3)), cached."""
        if node_id not in self._images:
            self._images[node_id] = self.map.load_image(node_id, self.camera)
        return self._images[node_id]

    def _nearest_node(self, pose2d: np.ndarray) -> int:
        return min(self._nodes.values(), key=lambda n: float(np.hypot(*(n.xy - pose2d[:2])))).id

    def localize(self, images: Mapping[str, np.ndarray]) -> Localization:
        """Localize the rig from ``images`` (camera name -> uint8 image; the first camera of
        the map's rig must be among them)."""
        return self._localize(images, self._prompt, "coarse")

    def image_goal(self, image: np.ndarray) -> Localization:
        """Where a photo of the goal place was taken (taken like the rig's first camera): the
        image-goal prompt, then the same stages; ``node_id`` is the goal node."""
        prompt = F.image_goal_prompt(self._landmarks)
        return self._localize({self.camera: image}, prompt, "image_goal")

    def text_goal(
        self,
        instruction: str,
        robot_xy: Sequence[float] | None = None,
        radii: Sequence[float] = (10.0, 20.0, 40.0),
    ) -> TextGoal | None:
        """The landmark, node and pose that serve ``instruction`` (paper Sec. 2.3): the
        landmarks within each radius (m) of the robot in turn, then the whole map, until the
        model names one; None if it names none. Without ``robot_xy`` the whole map at once."""
        steps = [*sorted(radii), math.inf] if robot_xy is not None else [math.inf]
        t = time.perf_counter()
        by_id = self._by_landmark_id
        dist = {
            i: math.inf if robot_xy is None else math.dist(lm.position[:2], robot_xy)
            for i, lm in by_id.items()
        }
        shown: set[int] = set()
        for r in steps:
            near = [lm for lm in self._landmarks if robot_xy is None or dist[lm.id] <= r]
            if not near or {lm.id for lm in near} == shown:
                continue
            shown = {lm.id for lm in near}
            (text,) = self.answer([(F.text_goal_prompt(instruction, near), [])])
            nodes = {lm.id: by_id[lm.id].node_ids for lm in near}
            try:
                goal = F.parse_goal(text, nodes, self.bounds)
            except F.AnswerFormatError:
                goal = None  # a malformed answer counts as not found: widen the search
            if goal is not None:
                pose = np.array([goal.pose.x, goal.pose.y, goal.pose.yaw])
                return TextGoal(goal.landmark, goal.node, pose, r, time.perf_counter() - t)
        return None

    def _localize(
        self, images: Mapping[str, np.ndarray], coarse_prompt: str, task: str
    ) -> Localization:
        if self.camera not in images:
            raise ValueError(f"localize: the query needs the {self.camera!r} camera's image")
        query, o, timings = images[self.camera], self.options, {}
        stages: dict[str, np.ndarray] = {}

        def result(source, pose, matched=(), cands=(), reason=""):
            node = None if pose is None else self._nearest_node(pose)
            conf = self.calibration.confidence(source)
            return Localization(
                pose, node, conf, source, tuple(matched), tuple(cands), timings, reason, stages
            )

        t = time.perf_counter()
        (text,) = self.answer([(coarse_prompt, [query])])
        timings["coarse"] = time.perf_counter() - t
        try:
            coarse = F.parse_coarse(text, {lm.id for lm in self._landmarks}, task)
        except F.AnswerFormatError as e:
            return result("none", None, reason=str(e))
        counts: dict[int, int] = {}
        for lid in coarse.matched:
            for nid in self._by_landmark_id[lid].node_ids:
                counts[nid] = counts.get(nid, 0) + 1
        if not counts:
            return result("none", None, coarse.matched, reason="no map landmark matched")
        ranked = sorted(counts, key=lambda n: (-counts[n], n))[: o.max_candidates]

        t = time.perf_counter()
        texts = self.answer(
            [(F.covisibility_prompt(), [query, self.node_image(n)]) for n in ranked]
        )
        scores = {}
        for n, txt in zip(ranked, texts, strict=True):
            try:
                scores[n] = F.parse_covisibility(txt).score
            except F.AnswerFormatError:
                scores[n] = 0.0
        kept = [n for n in ranked if scores[n] >= o.covis_threshold]
        cands = sorted(kept, key=lambda n: (-scores[n], ranked.index(n))) if kept else ranked
        timings["covisibility"] = time.perf_counter() - t

        t = time.perf_counter()
        refs = cands[: o.num_references]
        views = [F.ReferenceView(n, F.PlanarPose(*map(float, self._nodes[n].pose2d))) for n in refs]
        (text,) = self.answer(
            [(F.fine_prompt(views), [query, *(self.node_image(n) for n in refs)])]
        )
        timings["fine"] = time.perf_counter() - t
        stages["coarse"] = self._nodes[cands[0]].pose2d
        try:
            p = F.parse_pose(text, self.bounds)
            pose, source, reason = np.array([p.x, p.y, p.yaw]), "fine", ""
            stages["fine"] = pose
        except F.AnswerFormatError as e:
            pose, source, reason = stages["coarse"], "coarse", str(e)

        if self.refiner is not None:
            t = time.perf_counter()
            refined = self.refiner.refine(images, cands)
            timings["refinement"] = time.perf_counter() - t
            if refined.accepted:
                pose, source = refined.pose2d, "refined"
                stages["refined"] = pose
            else:
                reason = reason or f"refinement rejected: {refined.reason}"
        return result(source, pose, coarse.matched, cands, reason)


def request_prompt(config: GlobalModelConfig, tokenizer: ChatTokenizer,
                   image_hw: tuple[int, int], request: Request) -> Any:  # fmt: skip
    """One request as the model's prompt (``inputs.Prompt``): the images resized to
    ``image_hw`` (the training size) and shown first, then the text, in the chat template."""
    from astra_jax.global_model.image_processing import preprocess_image_at
    from astra_jax.global_model.inputs import Prompt

    text, images = request
    processed = [preprocess_image_at(im, config.vision, image_hw) for im in images]
    content = [{"type": "image"} for _ in processed] + [{"type": "text", "text": text}]
    ids = tokenizer.encode_chat(
        [{"role": "user", "content": content}], [g for _, g in processed], config
    )
    return Prompt(ids, tuple(processed))


def model_answerer(
    config: GlobalModelConfig,
    params: Any,
    tokenizer: ChatTokenizer,
    image_hw: tuple[int, int],
    *,
    max_new_tokens: int = 200,
    stop: bool = True,
) -> Answerer:
    """An :data:`Answerer` backed by an Astra-Global model: greedy decoding with the KV cache,
    images resized to ``image_hw`` (the training size) as in training. ``stop=False`` ignores
    the stop tokens (every answer is ``max_new_tokens`` long: for benchmarks)."""
    import jax

    from astra_jax.global_model.generate import generate
    from astra_jax.global_model.inputs import make_batch
    from astra_jax.global_model.sampling import SamplingConfig

    model = config.model()
    stop_ids = tuple(tokenizer.stop_ids) if stop else ()
    sampling = SamplingConfig(max_new_tokens, 0.0, 1.0, stop_ids, config.pad_token_id)

    def answer(requests: Sequence[Request]) -> list[str]:
        prompts = [request_prompt(config, tokenizer, image_hw, r) for r in requests]
        # prompts padded to a multiple of 128 tokens: few compiled programs
        out = generate(model, params, make_batch(prompts, config, 128), jax.random.key(0), sampling)
        return [
            tokenizer.decode(np.asarray(out.tokens[r, : int(out.lengths[r])]))
            for r in range(len(prompts))
        ]

    return answer
