"""Goal-to-route navigation on a map: a text goal and the robot's node in, the landmark, the
goal node and the route with its subgoals out. The CLI (``astra map route``) and the
navigation loop call this one composition of :func:`~astra_jax.maps.goals.find_goals` and
:func:`~astra_jax.maps.routing.plan_route`."""

from __future__ import annotations

import dataclasses

import networkx as nx

from astra_jax.maps.goals import GoalMatch, find_goals
from astra_jax.maps.routing import Route, plan_route
from astra_jax.maps.schema import Landmark, TopoSemanticMap


@dataclasses.dataclass(frozen=True)
class GoalRoute:
    """The best goal match, its landmark, the route to its node and the runner-up matches."""

    goal: str
    match: GoalMatch
    landmark: Landmark
    route: Route
    alternatives: tuple[GoalMatch, ...]


def route_to_goal(
    m: TopoSemanticMap,
    from_node: int,
    goal: str,
    *,
    spacing: float = 2.0,
    graph: nx.Graph | None = None,
) -> GoalRoute:
    """Route from node ``from_node`` to the landmark that best matches ``goal`` (category,
    function, attributes; nearer candidates break ties), with subgoals every ``spacing`` m.

    Raises:
        KeyError: ``from_node`` is not a node of the map.
        GoalNotFoundError: no landmark matches ``goal``.
        UnreachableGoalError: the goal node is not connected to ``from_node``.
    """
    m.node(from_node)  # a clear KeyError for an unknown node
    graph = graph if graph is not None else m.to_networkx()
    matches = find_goals(m, goal, from_node=from_node, graph=graph)
    best = matches[0]
    route = plan_route(m, from_node, best.node_id, spacing=spacing, graph=graph)
    return GoalRoute(goal, best, m.landmark(best.landmark_id), route, tuple(matches[1:6]))
