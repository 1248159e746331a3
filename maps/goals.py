"""Text goals without the MLLM: look landmarks up by category, function and attribute words.

This is the baseline that Astra-Global's language-based goal localization has to beat. A goal
text ("printer", "somewhere to rest", "the red sofa") is split into word stems. Each landmark
scores 3 per stem of its category, 1 per stem of its function and 0.5 per attribute the text
names; a whole-category match ("coffee machine") adds 2 more. Ties go to the landmark closest
along the graph to the robot's node (the paper searches near the robot first), then to the
lower id. The goal node of a landmark is the node that saw it from closest.
"""

from __future__ import annotations

import dataclasses
import re

import networkx as nx

from astra_jax.maps.schema import Landmark, TopoSemanticMap

_STOP = """a an the to of for in on at by with and or go find take me my some somewhere something
place where i can want need please get bring near next is it that this"""
STOP_WORDS = frozenset(_STOP.split())


class GoalNotFoundError(ValueError):
    """No landmark in the map matches the goal text."""


@dataclasses.dataclass(frozen=True)
class GoalMatch:
    """A landmark that matches a goal text, its score and the node to drive to."""

    landmark_id: int
    category: str
    score: float
    node_id: int
    route_distance: float | None  # m along the graph from the query node, if one was given


def stem(word: str) -> str:
    """A light suffix stripper, applied until nothing changes, so that "printers", "printer"
    and "printing" all become "print"."""
    w = word.lower()
    changed = True
    while changed:
        changed = False
        for suffix in ("ing", "ies", "es", "ed", "er", "s"):
            if len(w) > len(suffix) + 2 and w.endswith(suffix):
                w = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
                changed = True
                break
    return w


def words(text: str) -> list[str]:
    """Stems of the content words of ``text``."""
    return [stem(t) for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in STOP_WORDS]


def score_landmark(goal_stems: set[str], goal_text: str, lm: Landmark) -> float:
    cat = set(words(lm.category))
    fn = set(words(lm.function))
    attrs = {stem(a) for a in lm.attributes}
    score = 3.0 * len(goal_stems & cat) + 1.0 * len(goal_stems & fn)
    score += 0.5 * len(goal_stems & attrs)
    if cat and re.search(
        rf"\b{re.escape(lm.category.lower().replace('_', ' '))}", goal_text.lower()
    ):
        score += 2.0
    return score


def goal_node_for(lm: Landmark) -> int:
    """The node that saw the landmark from closest (ties: larger pixel area, lower id)."""
    best = min(lm.observations, key=lambda o: (o.distance, -o.pixel_area, o.node_id))
    return best.node_id


def find_goals(
    m: TopoSemanticMap, text: str, *, from_node: int | None = None, graph: nx.Graph | None = None
) -> list[GoalMatch]:
    """Landmarks matching ``text``, best first.

    Raises:
        GoalNotFoundError: nothing matches; the message lists the map's categories.
    """
    goal = set(words(text))
    if not goal:
        raise GoalNotFoundError(f"goal {text!r}: no content words to look up")
    scored = [(score_landmark(goal, text, lm), lm) for lm in m.landmarks if lm.observations]
    scored = [(s, lm) for s, lm in scored if s > 0]
    if not scored:
        cats = sorted({lm.category for lm in m.landmarks})
        raise GoalNotFoundError(
            f"goal {text!r}: no landmark's category, function or attributes match; the map "
            f"has {', '.join(cats) if cats else 'no landmarks'}"
        )
    dist: dict[int, float] = {}
    if from_node is not None:
        g = m.to_networkx() if graph is None else graph
        if from_node not in g:
            raise KeyError(f"from node {from_node} is not in the map")
        dist = nx.single_source_dijkstra_path_length(g, from_node, weight="weight")
    matches = []
    for s, lm in scored:
        node = goal_node_for(lm)
        d = dist.get(node) if from_node is not None else None
        matches.append(GoalMatch(lm.id, lm.category, s, node, d))
    inf = float("inf")
    matches.sort(
        key=lambda g: (
            -g.score,
            inf if g.route_distance is None else g.route_distance,
            g.landmark_id,
        )
    )
    return matches
