"""astra_jax.maps: the hybrid topological-semantic map G = (V, E, L).

Build one from a tour (:func:`build_map`, pycolmap SfM aligned to odometry), save and load it
as a schema-versioned directory (:func:`save_map`, :func:`load_map`), view it as a networkx
graph (:meth:`TopoSemanticMap.to_networkx`), find text goals (:func:`find_goals`) and plan
routes with subgoals (:func:`plan_route`, :func:`to_ego`).
"""

from astra_jax.maps.alignment import Sim3, umeyama
from astra_jax.maps.association import AssociationOptions, associate
from astra_jax.maps.build import BuildOptions, BuildReport, build_map
from astra_jax.maps.edges import EdgeOptions, build_edges
from astra_jax.maps.goals import GoalMatch, GoalNotFoundError, find_goals
from astra_jax.maps.keyframes import KeyframeOptions, select_keyframes
from astra_jax.maps.landmarks import (
    KeyframeView,
    LandmarkDetection,
    LandmarkExtractor,
    LandmarkInfo,
    OracleLandmarkExtractor,
)
from astra_jax.maps.routing import (
    Route,
    UnreachableGoalError,
    nearest_node,
    pick_subgoal,
    plan_route,
    route_from_pose,
    to_ego,
)
from astra_jax.maps.schema import (
    SCHEMA_VERSION,
    CameraInfo,
    Edge,
    Landmark,
    MapFormatError,
    MapMetadata,
    Node,
    Observation,
    TopoSemanticMap,
)
from astra_jax.maps.sfm import SfmError, SfmOptions
from astra_jax.maps.storage import load_map, save_map
from astra_jax.maps.tour import Tour, load_tour

__all__ = [
    "SCHEMA_VERSION",
    "AssociationOptions",
    "BuildOptions",
    "BuildReport",
    "CameraInfo",
    "Edge",
    "EdgeOptions",
    "GoalMatch",
    "GoalNotFoundError",
    "KeyframeOptions",
    "KeyframeView",
    "Landmark",
    "LandmarkDetection",
    "LandmarkExtractor",
    "LandmarkInfo",
    "MapFormatError",
    "MapMetadata",
    "Node",
    "Observation",
    "OracleLandmarkExtractor",
    "Route",
    "SfmError",
    "SfmOptions",
    "Sim3",
    "TopoSemanticMap",
    "Tour",
    "UnreachableGoalError",
    "associate",
    "build_edges",
    "build_map",
    "find_goals",
    "load_map",
    "load_tour",
    "nearest_node",
    "pick_subgoal",
    "plan_route",
    "route_from_pose",
    "save_map",
    "select_keyframes",
    "to_ego",
    "umeyama",
]
