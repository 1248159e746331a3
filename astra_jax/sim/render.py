"""Offscreen rendering of the camera rig: RGB, metric z-depth and landmark segmentation.

One :class:`RigRenderer` owns an OpenGL context (``MUJOCO_GL=egl`` by default) whose
framebuffer holds the C cameras side by side. A rig frame costs two passes per camera: a
textured pass whose colour and depth buffers are read together, and a segmentation pass
(flat id colours, no lighting). Shadows and multisampling are off in the model.

Outputs per frame: ``rgb`` (C, H, W, 3) uint8, ``depth`` (C, H, W) float32 metres along each
camera's optical axis (OpenCV z), ``seg`` (C, H, W) int32 landmark ids (0: building; people:
``PERSON_ID_BASE + k``). People stand where the frame's ``people`` poses put them.
Pixel (i, j) has its centre at (j + 0.5, i + 0.5) and the principal point is (W/2, H/2), as in
:mod:`astra_jax.geometry`.
"""

from __future__ import annotations

import contextlib
import math
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco
import numpy as np

from astra_jax.geometry import rig_extrinsics, rig_intrinsics, vertical_fov
from astra_jax.sim.scene import PARKED, Scene


def gl_context_class() -> type:
    """The GL context class for ``MUJOCO_GL`` (default ``egl``), chosen here rather than at
    ``import mujoco`` time so that importing mujoco first does not pick a windowing backend."""
    backend = os.environ.get("MUJOCO_GL", "egl").lower().strip() or "egl"
    if backend == "egl":
        from mujoco.egl import GLContext
    elif backend == "osmesa":
        from mujoco.osmesa import GLContext
    elif backend == "glfw":
        from mujoco.glfw import GLContext
    else:
        raise ValueError(f"MUJOCO_GL = {backend!r}: expected egl, osmesa or glfw")
    return GLContext


class RigRenderer:
    """Renders a :class:`Scene`'s rig at ``image_hw`` (H, W). Use as a context manager or call
    :meth:`close`; one renderer per thread."""

    def __init__(self, scene: Scene, image_hw: tuple[int, int]):
        h, w = image_hw
        if h <= 0 or w <= 0:
            raise ValueError(f"image_hw = {image_hw}: expected two positive integers")
        self.scene = scene
        self.model = scene.model
        self.height, self.width = h, w
        self.num_cameras = len(scene.camera_ids)
        self.intrinsics = rig_intrinsics(scene.rig.cameras, image_hw)
        self.extrinsics = rig_extrinsics(scene.rig.cameras)
        self.fovy = np.array([math.degrees(vertical_fov(k, h)) for k in self.intrinsics])
        total_w = w * self.num_cameras
        self._gl = gl_context_class()(total_w, h)
        self._gl.make_current()
        self._ctx = mujoco.MjrContext(self.model, mujoco.mjtFontScale.mjFONTSCALE_100.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
        mujoco.mjr_resizeOffscreen(total_w, h, self._ctx)
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        # one scene per camera: each holds only the geoms inside that camera's frustum
        self._scns = [
            mujoco.MjvScene(self.model, maxgeom=self.model.ngeom + 16) for _ in scene.camera_ids
        ]
        self._opt = mujoco.MjvOption()
        self._cams = []
        for cid in scene.camera_ids:
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
            cam.fixedcamid = cid
            self._cams.append(cam)
        self._cullable = np.nonzero(np.isfinite(scene.geom_sphere[:, 3]))[0]
        self._always = np.nonzero(~np.isfinite(scene.geom_sphere[:, 3]))[0]
        # frustum half-widths (tan) in x and y, from the intrinsics
        self._tan = np.stack(
            [0.5 * w / self.intrinsics[:, 0, 0], 0.5 * h / self.intrinsics[:, 1, 1]], -1
        )
        self._luts: list[np.ndarray] = [np.zeros(1, np.int32) for _ in scene.camera_ids]
        self._rects = [mujoco.MjrRect(c * w, 0, w, h) for c in range(self.num_cameras)]
        self._full = mujoco.MjrRect(0, 0, total_w, h)
        self._rgb = np.empty((h, total_w, 3), np.uint8)
        self._zbuf = np.empty((h, total_w), np.float32)
        self._ids = np.empty((h, total_w, 3), np.uint8)
        self._data = mujoco.MjData(self.model)
        near = self.model.vis.map.znear * self.model.stat.extent
        far = self.model.vis.map.zfar * self.model.stat.extent
        zn, zf = np.float32(near), np.float32(far)
        # MuJoCo renders reversed-Z: buffer value b maps to z-depth d / (b + c).
        c = -(zf + zn) / (zf - zn)
        d = -(np.float32(2) * zf * zn) / (zf - zn)
        self._c = float(np.float32(-0.5) * c - np.float32(0.5))
        self._d = float(np.float32(-0.5) * d)
        self._far = float(far)

    # ------------------------------------------------------------------------- rendering

    def _place_people(self, people: np.ndarray | None) -> None:
        """Stand person body k at ``people[k]`` (x, y, heading); park the rest."""
        ids = self.scene.person_mocap_ids
        n = 0 if people is None else len(people)
        if n > len(ids):
            raise ValueError(
                f"{n} people to render but the scene has {len(ids)} person bodies "
                "(build_scene(world, rig, sim) adds one per walker of sim.people)"
            )
        for k, mid in enumerate(ids):
            if k < n:
                x, y, yaw = (float(v) for v in people[k])  # type: ignore[index]
                self._data.mocap_pos[mid] = (x, y, 0.0)
                self._data.mocap_quat[mid] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
            else:
                self._data.mocap_pos[mid] = PARKED

    def _update(self, pose: np.ndarray, people: np.ndarray | None) -> None:
        """Move the robot and the people, then fill each camera's scene with the geoms in its
        frustum."""
        m, data = self.model, self._data
        x, y, yaw = (float(v) for v in pose)
        data.mocap_pos[self.scene.mocap_id] = (x, y, 0.0)
        data.mocap_quat[self.scene.mocap_id] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        self._place_people(people)
        mujoco.mj_kinematics(m, data)
        mujoco.mj_camlight(m, data)
        m.cam_fovy[list(self.scene.camera_ids)] = self.fovy  # renderers may share the model
        spheres = self.scene.geom_sphere[self._cullable]
        alpha = m.geom_rgba[:, 3].copy()
        try:
            for k, cid in enumerate(self.scene.camera_ids):
                visible = self._in_frustum(
                    spheres, data.cam_xpos[cid], data.cam_xmat[cid].reshape(3, 3), self._tan[k]
                )
                m.geom_rgba[self._cullable, 3] = visible  # MuJoCo skips geoms with alpha 0
                scn = self._scns[k]
                mujoco.mjv_updateScene(
                    m, data, self._opt, None, self._cams[k], mujoco.mjtCatBit.mjCAT_ALL.value, scn
                )
                # the scene lists the drawn geoms in id order: id colour i + 1 is the i-th of them
                drawn = np.sort(np.concatenate([self._always, self._cullable[visible]]))
                if scn.ngeom == len(drawn):
                    self._luts[k] = np.concatenate([[0], self.scene.geom_landmark[drawn]]).astype(
                        np.int32
                    )
                else:  # something else was added to the scene: read it geom by geom
                    self._luts[k] = self._segment_lut(scn)
        finally:
            m.geom_rgba[:, 3] = alpha

    @staticmethod
    def _in_frustum(
        spheres: np.ndarray, pos: np.ndarray, xmat: np.ndarray, tan: np.ndarray
    ) -> np.ndarray:
        """Whether bounding spheres (N, 4) may intersect a camera's frustum (conservative)."""
        q = (spheres[:, :3] - pos) @ xmat  # MuJoCo camera frame: x right, y up, looking along -z
        depth, r = -q[:, 2], spheres[:, 3]
        ok = depth > -r
        for axis in range(2):
            t = tan[axis]
            ok &= np.abs(q[:, axis]) <= depth * t + r * math.sqrt(1.0 + t * t)
        return ok

    def _segment_lut(self, scn: mujoco.MjvScene) -> np.ndarray:
        """id colour (scene index + 1) -> landmark id; 0 where nothing was drawn."""
        lut = np.zeros(scn.ngeom + 1, np.int32)
        geom = mujoco.mjtObj.mjOBJ_GEOM
        for i in range(scn.ngeom):
            g = scn.geoms[i]
            if g.objtype == geom and g.segid >= 0:
                lut[g.segid + 1] = self.scene.geom_landmark[g.objid]
        return lut

    def _draw(self, segment: bool = False) -> None:
        for k, rect in enumerate(self._rects):
            scn = self._scns[k]
            scn.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = segment
            scn.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = segment
            mujoco.mjr_render(rect, scn, self._ctx)

    def render(self, pose: np.ndarray, depth: bool = True, seg: bool = True,
               people: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:  # fmt: skip
        """Render the rig with the robot at planar ``pose`` (x, y, yaw) and the people at
        ``people`` (P, 3) (x, y, heading; None: nobody).

        Returns (rgb (C, H, W, 3) uint8, depth (C, H, W) float32 m or None, seg (C, H, W)
        int32 or None).
        """
        self._gl.make_current()
        self._update(np.asarray(pose, np.float64), people)
        self._draw()
        mujoco.mjr_readPixels(self._rgb, self._zbuf if depth else None, self._full, self._ctx)
        rgb = self._split(self._rgb[::-1])
        z = None
        if depth:
            z = np.float32(self._d) / (self._zbuf[::-1] + np.float32(self._c))
            z = self._split(np.minimum(z, np.float32(self._far)))
        ids = None
        if seg:
            self._draw(segment=True)
            mujoco.mjr_readPixels(self._ids, None, self._full, self._ctx)
            code = self._split(self._ids[::-1]).astype(np.int32)
            code = code[..., 0] + (code[..., 1] << 8) + (code[..., 2] << 16)
            ids = np.stack([lut[np.minimum(c, len(lut) - 1)] for lut, c in zip(self._luts, code)])
        return rgb, z, ids

    def _split(self, img: np.ndarray) -> np.ndarray:
        """(H, C*W, ...) side-by-side buffer -> (C, H, W, ...)."""
        c, w = self.num_cameras, self.width
        out = img.reshape(img.shape[0], c, w, *img.shape[2:])
        return np.ascontiguousarray(np.moveaxis(out, 1, 0))

    def render_many(self, poses: np.ndarray, depth: bool = True, seg: bool = True,
                    people: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:  # fmt: skip
        """Render (T, 3) poses (with ``people`` (T, P, 3) or None) → rgb (T, C, H, W, 3),
        depth (T, C, H, W), seg (T, C, H, W)."""
        t = len(poses)
        c, h, w = self.num_cameras, self.height, self.width
        rgb = np.empty((t, c, h, w, 3), np.uint8)
        z = np.empty((t, c, h, w), np.float32) if depth else None
        ids = np.empty((t, c, h, w), np.int32) if seg else None
        for k, pose in enumerate(poses):
            r, d, s = self.render(pose, depth, seg, None if people is None else people[k])
            rgb[k] = r
            if z is not None:
                z[k] = d
            if ids is not None:
                ids[k] = s
        return rgb, z, ids

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self._gl.make_current()
            self._ctx.free()
            self._ctx = None
        if getattr(self, "_gl", None) is not None:
            self._gl.free()
            self._gl = None

    def __enter__(self) -> RigRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: GL may already be gone
            self.close()
