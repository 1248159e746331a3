"""Routing: A* over the map graph, subgoal spacing, ego frame, unreachable goals, text goals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astra_jax.maps import (
    GoalNotFoundError,
    UnreachableGoalError,
    find_goals,
    nearest_node,
    pick_subgoal,
    plan_route,
    route_from_pose,
    to_ego,
)
from astra_jax.maps.goals import stem
from astra_jax.maps.routing import subgoals_along


def test_route_follows_the_corridor(make_corridor):
    m = make_corridor(None)
    r = plan_route(m, 0, 11, spacing=2.0)
    assert r.node_ids == tuple(range(12))
    assert r.length == pytest.approx(5.0 + 6.0)
    np.testing.assert_allclose(r.subgoals[-1], m.node(11).pose2d, atol=1e-12)


def test_astar_prefers_the_shortcut(make_corridor):
    from astra_jax.maps.schema import Edge

    m = make_corridor(None)
    d = float(np.linalg.norm(m.node(2).xy - m.node(9).xy))
    m = m.replace(edges=(*m.edges, Edge(2, 9, "covisibility", d, 50)))
    r = plan_route(m, 0, 11)
    assert r.node_ids == (0, 1, 2, 9, 10, 11)
    assert r.length == pytest.approx(2.0 + d + 2.0)


def test_unreachable_goal_is_a_clear_error(make_corridor):
    m = make_corridor(None, split=True)
    with pytest.raises(
        UnreachableGoalError, match=r"goal node 11 is unreachable from node 0.*2 parts"
    ):
        plan_route(m, 0, 11)
    with pytest.raises(KeyError, match="goal node 99"):
        plan_route(m, 0, 99)


@pytest.mark.parametrize("spacing", [0.7, 1.0, 2.0, 3.5])
def test_subgoal_spacing(make_corridor, spacing):
    m = make_corridor(None)
    r = plan_route(m, 0, 11, spacing=spacing)
    sub = r.subgoals
    # arc-length stations are spacing apart; the last one is the goal, at most spacing after
    steps = np.linalg.norm(np.diff(np.vstack([m.node(0).xy, sub[:, :2]]), axis=0), axis=1)
    assert np.all(steps <= spacing + 1e-9)
    assert len(sub) == math.ceil(r.length / spacing - 1e-9)
    # straight-line spacing equals the arc spacing except where the route turns the corner
    straight = np.isclose(steps[:-1], spacing)
    assert straight.mean() >= 0.5


@settings(max_examples=40, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20)), min_size=2, max_size=8),
    spacing=st.floats(0.3, 5.0),
)
def test_subgoals_along_arbitrary_polylines(pts, spacing):
    wp = np.array(pts)
    sub = subgoals_along(wp, spacing)
    np.testing.assert_allclose(sub[-1, :2], wp[-1], atol=1e-9)
    steps = np.linalg.norm(np.diff(np.vstack([wp[:1], sub[:, :2]]), axis=0), axis=1)
    assert np.all(steps <= spacing + 1e-6)
    total = np.linalg.norm(np.diff(wp, axis=0), axis=1).sum()
    if total > 1e-9:
        assert len(sub) == max(1, math.ceil(total / spacing - 1e-9))


def test_ego_frame_helper():
    robot = np.array([1.0, 2.0, math.pi / 2])  # facing +y
    world = np.array([[1.0, 5.0, math.pi / 2], [0.0, 2.0, 0.0]])
    ego = to_ego(robot, world)
    np.testing.assert_allclose(ego[0], [3.0, 0.0, 0.0], atol=1e-12)  # straight ahead
    np.testing.assert_allclose(ego[1], [0.0, 1.0, -math.pi / 2], atol=1e-12)  # on the left


def test_nearest_node_and_route_from_pose(make_corridor):
    m = make_corridor(None)
    assert nearest_node(m, np.array([2.2, 0.3])) == 2
    r = route_from_pose(m, np.array([5.1, 3.9, 0.0]), 0)
    assert r.node_ids[0] == 9 and r.node_ids[-1] == 0


def test_pick_subgoal_advances_along_route(make_corridor):
    m = make_corridor(None)
    r = plan_route(m, 0, 11, spacing=2.0)
    assert pick_subgoal(r, np.array([0.0, 0.0, 0.0])) == 0
    first = pick_subgoal(r, np.array([1.8, 0.1, 0.0]))
    assert first == 1  # within reach of subgoal 0 at s=2 -> go for s=4
    assert pick_subgoal(r, np.array([5.0, 5.9, 0.0])) == len(r.subgoals) - 1


def test_text_goal_lookup(make_corridor):
    m = make_corridor(None)
    hits = find_goals(m, "printer", from_node=11)
    assert [h.category for h in hits[:2]] == ["printer", "printer"]
    assert hits[0].landmark_id == 0  # the nearer printer along the graph from node 11
    assert hits[0].node_id == 3  # seen from closest at node 3
    assert find_goals(m, "printers", from_node=0)[0].landmark_id == 2  # nearer from node 0
    assert find_goals(m, "somewhere to rest")[0].category == "sofa"
    assert find_goals(m, "I need to print a document")[0].category == "printer"
    assert find_goals(m, "the grey printer")[0].landmark_id == 2
    with pytest.raises(GoalNotFoundError, match="printer, sofa"):
        find_goals(m, "fire extinguisher")


def test_stem():
    assert stem("printers") == stem("printer") == stem("printing") == "print"
    assert stem("resting") == stem("rest") == "rest"
    assert stem("batteries") == "battery"


def test_route_to_goal_composes_goal_search_and_routing(make_corridor):
    from astra_jax.maps.navigation import route_to_goal

    m = make_corridor(None)
    nav = route_to_goal(m, 0, "I need to print a document", spacing=1.0)
    assert nav.landmark.category == "printer" and nav.landmark.id == nav.match.landmark_id
    assert nav.route.node_ids[0] == 0 and nav.route.node_ids[-1] == nav.match.node_id
    assert all(a.landmark_id != nav.match.landmark_id for a in nav.alternatives)
    with pytest.raises(KeyError):
        route_to_goal(m, 999, "printer")
    with pytest.raises(GoalNotFoundError):
        route_to_goal(m, 0, "fire extinguisher")


def test_route_progress_and_route_point_on_an_l_shaped_route() -> None:
    from astra_jax.maps.routing import (
        Route,
        lookahead_point,
        route_point,
        route_progress,
        subgoal_stations,
    )

    wp = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 3.0]])  # 7 m: 4 east, then 3 north
    r = Route((0, 1, 2), 7.0, wp, subgoals_along(wp, 2.0), 2.0)
    assert route_progress(r, np.array([1.5, 0.4, 2.0])) == pytest.approx(1.5)
    assert route_progress(r, np.array([4.3, 1.0, 0.0])) == pytest.approx(5.0)  # the 2nd leg
    assert route_progress(r, np.array([-3.0, 0.0, 0.0])) == 0.0  # before the start
    np.testing.assert_allclose(route_point(r, 5.5), [4.0, 1.5])
    np.testing.assert_allclose(route_point(r, 99.0), [4.0, 3.0])  # clipped to the end
    np.testing.assert_allclose(route_point(r, -1.0), [0.0, 0.0])
    np.testing.assert_allclose(subgoal_stations(r), [2.0, 4.0, 6.0, 7.0])
    # a carrot 1.5 m of arc ahead goes round the corner, and stops at the limit when given
    robot = np.array([3.5, 0.2, 0.0])
    np.testing.assert_allclose(lookahead_point(r, robot, 1.5), [4.0, 1.0])
    np.testing.assert_allclose(lookahead_point(r, robot, 1.5, limit=4.0), [4.0, 0.0])
    np.testing.assert_allclose(lookahead_point(r, robot, 9.0), [4.0, 3.0])
