"""Triangle meshes with texture coordinates into atlas patches.

Software OpenGL pays ~4 µs per draw call, so the scene merges everything that shares a
segmentation id into one mesh (one geom): each landmark is one mesh and the building is one
mesh. Texture coordinates are stored per vertex as (patch id, local u, local v) and turned
into atlas coordinates once the atlas is packed (:meth:`MeshBuilder.finish`).

Faces are rectangles ``p0 + s*ea + t*eb`` (s in [0, a], t in [0, b]) with outward normal
``ea x eb``; a patch of physical size (Pu, Pv) metres tiles the face (``period``) or is
stretched over it (``period=None``). Image rows run from the top (+eb end) down.

A tiled face may also be given several *variants* of its patch (the same finish drawn from
different seeds): each period-sized tile then shows the variant picked by a hash of its tile
index, anchored to world coordinates. Without them a wall repeats exactly every period, and
structure from motion registers views one period off (aliasing); with them the sequence of
tiles along a wall does not repeat, as real walls (scuffs, seams, stains) do not.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from astra_jax.geometry import rot_z

THIN = 0.25  # m: faces narrower than this are not tiled (no visible difference, fewer triangles)


class MeshBuilder:
    """Accumulates triangles; ``finish(rects)`` returns arrays for MuJoCo."""

    def __init__(self) -> None:
        self._v: list[np.ndarray] = []
        self._n: list[np.ndarray] = []
        self._uv: list[np.ndarray] = []
        self._patch: list[np.ndarray] = []
        self._f: list[np.ndarray] = []
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def _add(
        self, v: np.ndarray, n: np.ndarray, uv: np.ndarray, patch: int, faces: np.ndarray
    ) -> None:
        self._f.append(faces + self.count)
        self._v.append(v)
        self._n.append(n)
        self._uv.append(uv)
        self._patch.append(np.full(len(v), patch, np.int32))
        self.count += len(v)

    # ------------------------------------------------------------------------- rectangles

    def rect(
        self, p0: np.ndarray, ea: np.ndarray, eb: np.ndarray, a: float, b: float,
        patch: int | tuple[int, ...], period: tuple[float, float] | None,
        offset: tuple[float, float] = (0.0, 0.0), salt: int = 0,
    ) -> None:  # fmt: skip
        """A textured rectangle; ``offset`` is the texture coordinate (m) at ``p0``.

        ``patch`` may be a tuple of variants of a tiled patch: tile (iu, iv) (indices in
        periods from the texture origin) shows ``variant_of(iu, iv, salt, n)``. Stretched
        and thin faces use the first variant."""
        variants = patch if isinstance(patch, tuple) else (patch,)
        patch = variants[0]
        if a <= 1e-6 or b <= 1e-6:
            return
        p0, ea, eb = (np.asarray(x, np.float64) for x in (p0, ea, eb))
        normal = np.cross(ea, eb)
        if period is None:
            self._quad(p0, ea * a, eb * b, normal, patch, (0.0, 1.0), (0.0, 1.0))
            return
        pu, pv = period
        if min(a, b) < THIN:  # thin strips (legs, beams, edges): one quad, texture stretched
            lu, lv = (0.0, min(1.0, a / pu)), (0.0, min(1.0, b / pv))
            self._quad(p0, ea * a, eb * b, normal, patch, lu, lv)
            return
        us = _breaks(offset[0], offset[0] + a, pu)
        vs = _breaks(offset[1], offset[1] + b, pv)
        for u0, u1 in itertools.pairwise(us):
            iu = math.floor((0.5 * (u0 + u1)) / pu)
            lu = ((u0 / pu) - iu, (u1 / pu) - iu)
            for v0, v1 in itertools.pairwise(vs):
                iv = math.floor((0.5 * (v0 + v1)) / pv)
                lv = ((v0 / pv) - iv, (v1 / pv) - iv)
                corner = p0 + ea * (u0 - offset[0]) + eb * (v0 - offset[1])
                tile = variants[variant_of(iu, iv, salt, len(variants))]
                self._quad(corner, ea * (u1 - u0), eb * (v1 - v0), normal, tile, lu, lv)

    def _quad(self, c: np.ndarray, da: np.ndarray, db: np.ndarray, normal: np.ndarray, patch: int,
              lu: tuple[float, float], lv: tuple[float, float]) -> None:  # fmt: skip
        v = np.stack([c, c + da, c + da + db, c + db])
        # image row 0 is the top of the surface: local v flips
        uv = np.array(
            [[lu[0], 1 - lv[0]], [lu[1], 1 - lv[0]], [lu[1], 1 - lv[1]], [lu[0], 1 - lv[1]]]
        )
        n = np.broadcast_to(normal / np.linalg.norm(normal), (4, 3))
        self._add(v, n, uv, patch, np.array([[0, 1, 2], [0, 2, 3]]))

    # ------------------------------------------------------------------------- solids

    def box(self, rotation: np.ndarray, centre: np.ndarray, size: tuple[float, float, float],
            face_patch: dict[str, tuple[int, tuple[float, float] | None]], skip: tuple[str, ...] = ()) -> None:  # fmt: skip
        """A box; ``face_patch`` maps each face (+x -x +y -y +z -z) to (patch, period)."""
        r = np.asarray(rotation, np.float64)
        c = np.asarray(centre, np.float64)
        hx, hy, hz = (0.5 * s for s in size)
        ex, ey, ez = r[:, 0], r[:, 1], r[:, 2]
        faces = {
            "+x": (c + hx * ex - hy * ey - hz * ez, ey, ez, 2 * hy, 2 * hz),
            "-x": (c - hx * ex + hy * ey - hz * ez, -ey, ez, 2 * hy, 2 * hz),
            "+y": (c + hx * ex + hy * ey - hz * ez, -ex, ez, 2 * hx, 2 * hz),
            "-y": (c - hx * ex - hy * ey - hz * ez, ex, ez, 2 * hx, 2 * hz),
            "+z": (c - hx * ex - hy * ey + hz * ez, ex, ey, 2 * hx, 2 * hy),
            "-z": (c - hx * ex + hy * ey - hz * ez, ex, -ey, 2 * hx, 2 * hy),
        }
        for name, (p0, ea, eb, a, b) in faces.items():
            if name in skip:
                continue
            patch, period = face_patch[name]
            self.rect(p0, ea, eb, a, b, patch, period)

    def cylinder(self, rotation: np.ndarray, centre: np.ndarray, diameter: float, length: float,
                 patch: int, period: tuple[float, float], taper: float = 1.0, segments: int = 10) -> None:  # fmt: skip
        """A (truncated) cylinder along the rotation's z axis, centred at ``centre``."""
        r = np.asarray(rotation, np.float64)
        c = np.asarray(centre, np.float64)
        r0, r1 = 0.5 * diameter, 0.5 * diameter * taper
        ang = np.linspace(0, 2 * np.pi, segments + 1)
        ring = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], -1)
        z = np.array([0, 0, 0.5 * length])
        bottom = ring * r0 - z
        top = ring * r1 + z
        slope = (r0 - r1) / max(length, 1e-9)
        normals = ring + np.array([0, 0, slope])
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        su = min(1.0, math.pi * diameter / period[0])
        sv = min(1.0, length / period[1])
        u = np.linspace(0, su, segments + 1)
        v = np.concatenate(
            [np.stack([u, np.full_like(u, sv)], -1), np.stack([u, np.zeros_like(u)], -1)]
        )
        verts = np.concatenate([bottom, top]) @ r.T + c
        nrm = np.concatenate([normals, normals]) @ r.T
        k = segments + 1
        idx = np.arange(segments)
        faces = np.concatenate(
            [np.stack([idx, idx + 1, idx + 1 + k], -1), np.stack([idx, idx + 1 + k, idx + k], -1)]
        )
        self._add(verts, nrm, v, patch, faces)
        for sign, rad in ((1.0, r1), (-1.0, r0)):
            if rad < 1e-4:
                continue
            centre_v = np.array([[0, 0, sign * 0.5 * length]])
            rim = ring[:-1] * rad + centre_v
            verts = np.concatenate([centre_v, rim]) @ r.T + c
            n = np.broadcast_to(np.array([0, 0, sign]) @ r.T, (segments + 1, 3))
            s = min(1.0, 2 * rad / period[0])
            uv = np.concatenate([[[0.5, 0.5]], 0.5 + 0.5 * s * ring[:-1, :2]])
            j = np.arange(segments)
            tri = np.stack([np.zeros(segments, int), 1 + j, 1 + (j + 1) % segments], -1)
            if sign < 0:
                tri = tri[:, [0, 2, 1]]
            self._add(verts, np.array(n), uv, patch, tri)

    def ellipsoid(self, centre: np.ndarray, radii: np.ndarray, patch: int, period: tuple[float, float],
                  rotation: np.ndarray | None = None, stacks: int = 4, slices: int = 7) -> None:  # fmt: skip
        r = np.eye(3) if rotation is None else np.asarray(rotation, np.float64)
        th = np.linspace(0, np.pi, stacks + 1)
        ph = np.linspace(0, 2 * np.pi, slices + 1)
        t, p = np.meshgrid(th, ph, indexing="ij")
        unit = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(
            -1, 3
        )
        radii = np.asarray(radii, np.float64)
        verts = (unit * radii) @ r.T + np.asarray(centre)
        nrm = unit / radii
        nrm = (nrm / np.linalg.norm(nrm, axis=-1, keepdims=True)) @ r.T
        s = min(1.0, 2 * np.pi * radii.max() / period[0])
        uv = np.stack(
            [
                p.ravel() / (2 * np.pi) * s,
                t.ravel() / np.pi * min(1.0, np.pi * radii[2] / period[1]),
            ],
            -1,
        )
        k = slices + 1
        i, j = np.meshgrid(np.arange(stacks), np.arange(slices), indexing="ij")
        a = (i * k + j).ravel()
        faces = np.concatenate(
            [np.stack([a, a + k, a + k + 1], -1), np.stack([a, a + k + 1, a + 1], -1)]
        )
        self._add(verts, nrm, uv, patch, faces)

    # ------------------------------------------------------------------------- output

    def finish(self, rects: np.ndarray, pages: np.ndarray) -> dict[int, tuple[np.ndarray, ...]]:
        """Arrays per atlas page: {page: (vertices (N,3), normals (N,3), texcoords (N,2), faces (M,3))}.

        ``rects`` (P, 4) holds each patch's (u0, v0, du, dv) in its page; ``pages`` (P,) its page.
        """
        if not self._v:
            return {}
        v = np.concatenate(self._v)
        n = np.concatenate(self._n)
        uv = np.concatenate(self._uv)
        patch = np.concatenate(self._patch)
        f = np.concatenate(self._f)
        rect = rects[patch]
        tex = np.stack([rect[:, 0] + uv[:, 0] * rect[:, 2], rect[:, 1] + uv[:, 1] * rect[:, 3]], -1)
        page_of_vertex = pages[patch]
        out = {}
        for page in np.unique(page_of_vertex):
            keep_f = page_of_vertex[f[:, 0]] == page
            used = np.nonzero(page_of_vertex == page)[0]
            remap = np.full(len(v), -1, np.int64)
            remap[used] = np.arange(len(used))
            out[int(page)] = (v[used], n[used], tex[used], remap[f[keep_f]])
        return out


def variant_of(iu: int, iv: int, salt: int, n: int) -> int:
    """Which of ``n`` variants tile (iu, iv) of a face shows: a fixed integer hash (the same
    on every platform and Python run, unlike ``hash``), so worlds stay reproducible."""
    if n <= 1:
        return 0
    h = (iu * 0x9E3779B1 + iv * 0x85EBCA77 + salt * 0xC2B2AE3D) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
    h ^= h >> 12
    return h % n


def _breaks(lo: float, hi: float, period: float) -> list[float]:
    """lo, every multiple of period strictly inside (lo, hi), hi."""
    out = [lo]
    k = math.floor(lo / period) + 1
    while k * period < hi - 1e-9:
        if k * period > lo + 1e-9:
            out.append(k * period)
        k += 1
    out.append(hi)
    return out


def part_rotation(yaw: float, axis: str = "z") -> np.ndarray:
    """Rotation of a part: about z by ``yaw``, then its length axis moved to x or y for lying
    cylinders."""
    r = rot_z(np.float64(yaw))
    if axis == "x":
        r = r @ np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # z -> x
    elif axis == "y":
        r = r @ np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # z -> -y... a lying axis
    return r
