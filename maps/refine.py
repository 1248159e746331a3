"""Geometric refinement: the rig's pose from its images against the map's SfM model.

Beyond the paper (hloc's recipe): once candidate nodes are known (from Astra-Global's coarse
stage or from VPR), the query's SIFT features are matched to those of the candidates' images
whose keypoints SfM triangulated, and pycolmap's generalized absolute pose (LO-RANSAC over the
whole rig, then non-linear refinement) gives the rig's 6-DoF pose in the map frame. The pose
is accepted only when its inliers say so (enough of them, and a large enough share of the
matches); otherwise the caller keeps its own estimate.

The map keeps no descriptors (they would be gigabytes for a building), so a candidate image's
features are extracted again from the node image and tied to the model by position: a fresh
keypoint within ``pixel_tolerance`` px of a triangulated keypoint of that image gets its 3D
point. Node features are cached per localizer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.spatial import cKDTree

from astra_jax.geometry import se2_from_se3, se3_inverse
from astra_jax.maps.features import sift_features
from astra_jax.maps.schema import CameraInfo, TopoSemanticMap


@dataclasses.dataclass(frozen=True)
class RefineOptions:
    """Matching and acceptance.

    Attributes:
        max_features: SIFT features per image.
        ratio: Lowe's ratio test on mutual nearest neighbours.
        pixel_tolerance: px; a node keypoint this close to a triangulated one takes its 3D point.
        max_error_px: RANSAC inlier threshold.
        min_inliers: fewer inliers reject the pose.
        min_inlier_ratio: a smaller share of inliers among the matches rejects the pose.
        seed: RANSAC's random seed (pycolmap's default, -1, seeds from the clock, so the same
            query gave slightly different poses from run to run).
    """

    max_features: int = 4096
    ratio: float = 0.8
    pixel_tolerance: float = 1.5
    max_error_px: float = 4.0
    min_inliers: int = 30
    min_inlier_ratio: float = 0.2
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class RefinedPose:
    """The rig's pose: ``T_world_ego`` (4, 4) and ``pose2d`` (x, y, yaw) in the map frame (None
    when no pose was estimated), the ``num_matches`` 2D-3D matches and ``num_inliers``, and
    whether it is ``accepted`` (``reason`` says why not)."""

    T_world_ego: np.ndarray | None
    pose2d: np.ndarray | None
    num_matches: int
    num_inliers: int
    accepted: bool
    reason: str


def mutual_matches(a: np.ndarray, b: np.ndarray, ratio: float) -> np.ndarray:
    """(k, 2) index pairs of descriptors that are each other's nearest neighbour and pass
    Lowe's ratio test (on ``a``'s two nearest in ``b``)."""
    if len(a) == 0 or len(b) < 2:
        return np.zeros((0, 2), np.int64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    d2 = np.maximum(2.0 - 2.0 * a @ b.T, 0.0)  # squared distances of unit vectors
    best2 = np.argpartition(d2, 1, axis=1)[:, :2]
    first = np.where(
        d2[np.arange(len(a)), best2[:, 0]] <= d2[np.arange(len(a)), best2[:, 1]],
        best2[:, 0],
        best2[:, 1],
    )
    second = np.where(first == best2[:, 0], best2[:, 1], best2[:, 0])
    rows = np.arange(len(a))
    passes = np.sqrt(d2[rows, first]) < ratio * np.sqrt(d2[rows, second])
    mutual = np.argmin(d2, axis=0)[first] == rows
    keep = passes & mutual
    return np.stack([rows[keep], first[keep]], axis=1)


def _pycolmap_camera(c: CameraInfo):  # -> pycolmap.Camera
    import pycolmap

    k = c.intrinsics
    h, w = c.image_hw
    return pycolmap.Camera(
        model="PINHOLE", width=w, height=h, params=[k[0, 0], k[1, 1], k[0, 2], k[1, 2]]
    )


def _rigid(t: np.ndarray):  # (4, 4) -> pycolmap.Rigid3d
    import pycolmap

    return pycolmap.Rigid3d(pycolmap.Rotation3d(t[:3, :3]), t[:3, 3])


class MapLocalizer:
    """Refines rig poses against one map's SfM model (see the module docstring)."""

    def __init__(self, m: TopoSemanticMap, options: RefineOptions = RefineOptions()) -> None:
        rec = m.load_reconstruction()
        if rec is None:
            raise ValueError(
                "MapLocalizer: the map has no SfM model (sfm/): it was not built with SfM"
            )
        self.map, self.options, self.rec = m, options, rec
        self._by_name = {img.name: img for img in rec.images.values()}
        self._nodes = {n.id: n for n in m.nodes}
        self._cache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    def node_features(self, node_id: int, camera: str) -> tuple[np.ndarray, np.ndarray]:
        """Descriptors (n, 128) and 3D points (n, 3) of a node image's triangulated features."""
        key = (node_id, camera)
        if key not in self._cache:
            self._cache[key] = self._triangulated_features(node_id, camera)
        return self._cache[key]

    def _triangulated_features(self, node_id: int, camera: str) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros((0, 128), np.float32), np.zeros((0, 3)))
        node = self._nodes[node_id]
        rel = node.images[camera]
        image = self._by_name.get(rel.removeprefix("images/"))
        if image is None:
            return empty
        tri = [
            (p.xy, self.rec.points3D[p.point3D_id].xyz) for p in image.points2D if p.has_point3D()
        ]
        if not tri:
            return empty
        tri_xy = np.array([t[0] for t in tri], np.float64)
        tri_xyz = np.array([t[1] for t in tri], np.float64)
        xy, desc = sift_features(self.map.load_image(node_id, camera), self.options.max_features)
        dist, idx = cKDTree(tri_xy).query(xy, distance_upper_bound=self.options.pixel_tolerance)
        ok = np.isfinite(dist)
        return desc[ok], tri_xyz[idx[ok]]

    def _to_map(self, candidates: Sequence[int]) -> np.ndarray:
        """(4, 4) from the SfM model's frame to the map frame near ``candidates``.

        The model is saved in the map frame as SfM left it; when odometry later corrected the
        node poses (a fold bridged, the pose graph), the nodes moved and the model's points did
        not. The correction of the first candidate whose image the model registered,
        ``T_map_ego(node) @ inv(T_sfm_ego(node))``, carries a pose found against the points near
        it into the map frame (the identity when nothing was corrected)."""
        cams = {c.name: c for c in self.map.metadata.cameras}
        for nid in candidates:
            node = self._nodes[nid]
            for cam, rel in node.images.items():
                image = self._by_name.get(rel.removeprefix("images/"))
                if image is None or cam not in cams:
                    continue
                t_cam_sfm = np.vstack([image.cam_from_world().matrix(), [0, 0, 0, 1]])
                t_sfm_ego = se3_inverse(t_cam_sfm) @ se3_inverse(cams[cam].T_ego_cam)
                return node.T_world_ego @ se3_inverse(t_sfm_ego)
        return np.eye(4)

    def refine(self, images: Mapping[str, np.ndarray], candidates: Sequence[int]) -> RefinedPose:
        """The rig's pose from ``images`` (camera name -> uint8 image) against the features of
        the ``candidates`` nodes' images (all cameras)."""
        import pycolmap

        cams = {c.name: c for c in self.map.metadata.cameras}
        unknown = sorted(set(images) - set(cams))
        if unknown:
            raise ValueError(f"cameras {unknown} are not in the map's rig {tuple(cams)}")
        missing = [i for i in candidates if i not in self._nodes]
        if missing:
            raise ValueError(f"candidate nodes {missing} are not in the map")
        map_desc, map_xyz = [], []
        for nid in candidates:
            for cam in cams:
                d, x = self.node_features(nid, cam)
                map_desc.append(d)
                map_xyz.append(x)
        desc_all = np.concatenate(map_desc) if map_desc else np.zeros((0, 128), np.float32)
        xyz_all = np.concatenate(map_xyz) if map_xyz else np.zeros((0, 3))
        p2d, p3d, cam_idx, used = [], [], [], []
        for cam, image in images.items():
            xy, desc = sift_features(image, self.options.max_features)
            pairs = mutual_matches(desc, desc_all, self.options.ratio)
            if len(pairs) == 0:
                continue
            if cam not in used:
                used.append(cam)
            p2d.append(xy[pairs[:, 0]])
            p3d.append(xyz_all[pairs[:, 1]])
            cam_idx += [used.index(cam)] * len(pairs)
        n = len(cam_idx)
        if n < max(6, self.options.min_inliers):
            return RefinedPose(None, None, n, 0, False, f"{n} 2D-3D matches")
        ransac = pycolmap.RANSACOptions()
        ransac.max_error = self.options.max_error_px
        ransac.random_seed = self.options.seed
        result = pycolmap.estimate_and_refine_generalized_absolute_pose(
            np.concatenate(p2d),
            np.concatenate(p3d),
            cam_idx,
            [_rigid(se3_inverse(cams[c].T_ego_cam)) for c in used],
            [_pycolmap_camera(cams[c]) for c in used],
            estimation_options=ransac,
        )
        if result is None:
            return RefinedPose(None, None, n, 0, False, "RANSAC found no pose")
        inliers = int(result["num_inliers"])
        t_sfm_ego = se3_inverse(np.vstack([result["rig_from_world"].matrix(), [0, 0, 0, 1]]))
        t_world_ego = self._to_map(candidates) @ t_sfm_ego
        pose2d = se2_from_se3(t_world_ego)
        o = self.options
        if inliers < o.min_inliers or inliers < o.min_inlier_ratio * n:
            reason = f"{inliers} inliers of {n} matches"
            return RefinedPose(t_world_ego, pose2d, n, inliers, False, reason)
        return RefinedPose(t_world_ego, pose2d, n, inliers, True, "")
