"""The map-only baseline behind :class:`~astra_jax.global_model.localize.GlobalLocalizer`'s
interface: visual place recognition, then the same geometric refinement, and text goals by the
word lookup of :mod:`astra_jax.maps.goals`.

* ``localize``: the ``top_k`` nodes whose images look most like the rig's first camera
  (:class:`~astra_jax.maps.vpr.VprIndex`), then :class:`~astra_jax.maps.refine.MapLocalizer`
  on the whole rig against them; source ``refined`` when the refinement is accepted, else
  ``coarse`` (the best node's pose);
* ``image_goal``: the best VPR node of the photo (one image: no rig to refine);
* ``text_goal``: the best-scoring landmark by category, function and attribute words, ties to
  the one nearest the robot.

The localization service (``astra serve --baseline vpr``) and ``astra eval global``'s VPR
rows use it; Astra-Global must beat it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from astra_jax.global_model.calibration import ConfidenceCalibration
from astra_jax.global_model.localize import Localization, TextGoal
from astra_jax.maps.goals import GoalNotFoundError, find_goals
from astra_jax.maps.refine import MapLocalizer
from astra_jax.maps.schema import TopoSemanticMap
from astra_jax.maps.vpr import VprIndex


class VprLocalizer:
    """VPR + refinement on one map (module docstring)."""

    def __init__(
        self,
        m: TopoSemanticMap,
        *,
        top_k: int = 3,
        refiner: MapLocalizer | None = None,
        calibration: ConfidenceCalibration | None = None,
    ) -> None:
        if m.root is None:
            raise ValueError("VprLocalizer: the map has no root directory with node images")
        if top_k < 1:
            raise ValueError(f"VprLocalizer: top_k = {top_k}: expected >= 1")
        self.map, self.top_k = m, top_k
        self.index = VprIndex.build(m)
        self.refiner = refiner if refiner is not None else MapLocalizer(m)
        self.calibration = calibration or ConfidenceCalibration.uncalibrated()
        self.camera = m.metadata.camera_names[0]

    def localize(self, images: Mapping[str, np.ndarray]) -> Localization:
        """Localize the rig from ``images`` (camera name -> uint8 (H, W, 3); the map's first
        camera must be among them)."""
        if self.camera not in images:
            raise ValueError(f"localize: the query needs the {self.camera!r} camera's image")
        t0 = time.perf_counter()
        top = self.index.query(images[self.camera], top_k=self.top_k)
        t1 = time.perf_counter()
        refined = self.refiner.refine(images, [p.node_id for p in top])
        timings = {"vpr": t1 - t0, "refine": time.perf_counter() - t1}
        stages = {"coarse": top[0].pose2d}
        if refined.accepted:
            stages["refined"] = refined.pose2d
            source, pose, reason = "refined", refined.pose2d, ""
        else:
            source, pose = "coarse", top[0].pose2d
            reason = f"refinement rejected: {refined.reason}"
        node = top[0].node_id if source == "coarse" else self._nearest_node(pose)
        return Localization(pose, node, self.calibration.confidence(source), source, (),
                            tuple(p.node_id for p in top), timings, reason, stages)  # fmt: skip

    def image_goal(self, image: np.ndarray) -> Localization:
        """The node whose image looks most like the photo of the goal place."""
        t0 = time.perf_counter()
        top = self.index.query(image, top_k=self.top_k)
        return Localization(top[0].pose2d, top[0].node_id, self.calibration.confidence("coarse"),
                            "coarse", (), tuple(p.node_id for p in top),
                            {"vpr": time.perf_counter() - t0}, "",
                            {"coarse": top[0].pose2d})  # fmt: skip

    def text_goal(
        self, instruction: str, robot_xy: Sequence[float] | None = None
    ) -> TextGoal | None:
        """The landmark whose words match ``instruction`` best (None if none does), its goal
        node and that node's pose; ties go to the landmark nearest ``robot_xy``."""
        t0 = time.perf_counter()
        try:
            matches = find_goals(self.map, instruction)
        except GoalNotFoundError:
            return None
        best = matches[0].score
        tied = [g for g in matches if g.score == best]
        if robot_xy is not None:
            tied.sort(key=lambda g: math.dist(self.map.landmark(g.landmark_id).position[:2],
                                              robot_xy))  # fmt: skip
        goal = tied[0]
        node = self.map.node(goal.node_id)
        return TextGoal(goal.landmark_id, goal.node_id, np.asarray(node.pose2d, float), math.inf,
                        time.perf_counter() - t0)  # fmt: skip

    def _nearest_node(self, pose2d: np.ndarray) -> int:
        xy = np.asarray(pose2d[:2])
        return min(self.map.nodes, key=lambda n: float(np.hypot(*(n.xy - xy)))).id
