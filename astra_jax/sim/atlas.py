"""The texture atlas of a world: every surface image requested while meshing, generated once
from the world's texture seed and packed onto pages of at most ``PAGE`` x ``PAGE`` pixels.

Requests are keyed, so identical surfaces share one patch. Each patch's random generator is
derived from (world, seed, key), so a patch looks the same whatever else the world contains
and in whatever order patches were requested.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable

import numpy as np

from astra_jax.sim import seeds
from astra_jax.sim.decals import decal_image
from astra_jax.sim.textures import ceiling_tile, floor_tile, material_tile, wall_tile, weathered

PAGE = 4096
# Weathered variants per wall and floor finish (see MeshBuilder.rect): enough that a run of
# tiles along a wall does not repeat, few enough to keep the atlas small.
WALL_VARIANTS = 6
FLOOR_VARIANTS = 4
GUTTER = 2  # pixels of replicated edge around each patch (bilinear filtering stays inside)
DECAL_PX_PER_M = 200.0
DECAL_MAX_PX = 384
# Decals whose detail matters less get fewer pixels per metre (cartons in racks are many).
DECAL_DENSITY = {"carton": 110.0, "roller_door": 90.0, "mirror": 60.0, "window": 120.0}

Maker = Callable[[np.random.Generator], np.ndarray]


@dataclasses.dataclass
class _Patch:
    key: tuple
    make: Maker
    image: np.ndarray | None = None
    period: tuple[float, float] | None = None


class Atlas:
    """Collects patch requests, then ``pack()`` generates and places them."""

    def __init__(self, world_key: str, seed: int):
        self.world_key = world_key
        self.seed = seed
        self._patches: list[_Patch] = []
        self._index: dict[tuple, int] = {}
        # unworn tiles whose variants were requested: (image, period) by key, not packed
        self._bases: dict[tuple, tuple[np.ndarray, tuple[float, float]]] = {}
        self.pages: list[np.ndarray] = []
        self.rects: np.ndarray | None = None  # (P, 4) u0, v0, du, dv
        self.page_of: np.ndarray | None = None  # (P,)

    def _request(self, key: tuple, make: Maker) -> int:
        if key not in self._index:
            self._index[key] = len(self._patches)
            self._patches.append(_Patch(key, make))
        return self._index[key]

    def _rng(self, key: tuple) -> np.random.Generator:
        return seeds.rng_for(
            self.world_key, self.seed, seeds.STREAM_TEXTURES, zlib.crc32(repr(key).encode())
        )

    def _tiled(self, key: tuple, fn: Callable[[np.random.Generator], tuple[np.ndarray, tuple[float, float]]]
               ) -> tuple[int, tuple[float, float]]:  # fmt: skip
        """A tiling patch: generated now (its physical period is needed to mesh)."""
        if key in self._index:
            p = self._patches[self._index[key]]
            return self._index[key], p.period  # type: ignore[return-value]
        img, period = fn(self._rng(key))
        idx = self._request(key, lambda rng: img)
        self._patches[idx].image = img
        self._patches[idx].period = period
        return idx, period

    # ------------------------------------------------------------------------- requests

    def floor(self, material: str, variant: int) -> tuple[int, tuple[float, float]]:
        return self._tiled(("floor", material, variant), lambda rng: floor_tile(material, rng))

    def wall(
        self, material: str, colour: str, height: float, variant: int
    ) -> tuple[int, tuple[float, float]]:
        key = ("wall", material, colour, round(height, 3), variant)
        return self._tiled(key, lambda rng: wall_tile(material, colour, height, rng))

    def _variants(
        self, key: tuple, fn: Callable[[np.random.Generator], tuple[np.ndarray, tuple[float, float]]], n: int
    ) -> tuple[tuple[int, ...], tuple[float, float]]:  # fmt: skip
        """``n`` weathered variants of the tiling patch ``fn`` makes for ``key``: the same
        finish and period, each with its own wear
        (:func:`~astra_jax.sim.textures.weathered`). The unworn tile itself is not packed."""
        base = self._bases.get(key)
        if base is None:
            base = self._bases[key] = fn(self._rng(key))
        tile, period = base
        out = tuple(
            self._tiled((*key, "wear", j), lambda rng: (weathered(tile, rng), period))[0]
            for j in range(n)
        )
        return out, period

    def wall_variants(
        self, material: str, colour: str, height: float, variant: int
    ) -> tuple[tuple[int, ...], tuple[float, float]]:
        """Weathered variants (:data:`WALL_VARIANTS`) of a wall finish and its period."""
        key = ("wall", material, colour, round(height, 3), variant)
        return self._variants(
            key, lambda rng: wall_tile(material, colour, height, rng), WALL_VARIANTS
        )

    def floor_variants(
        self, material: str, variant: int
    ) -> tuple[tuple[int, ...], tuple[float, float]]:
        """Weathered variants (:data:`FLOOR_VARIANTS`) of a floor finish and its period."""
        key = ("floor", material, variant)
        return self._variants(key, lambda rng: floor_tile(material, rng), FLOOR_VARIANTS)

    def ceiling(self, family: str) -> tuple[int, tuple[float, float]]:
        return self._tiled(("ceiling", family), lambda rng: ceiling_tile(family, rng))

    def material(self, kind: str, colour: str) -> tuple[int, tuple[float, float]]:
        return self._tiled(("material", kind, colour), lambda rng: material_tile(kind, colour, rng))

    def decal(self, name: str, colour: str, variant: int, width_m: float, height_m: float) -> int:
        """A picture stretched over a face of ``width_m`` x ``height_m`` metres."""
        base = name.split(":")[0].rstrip("0123456789")
        density = DECAL_DENSITY.get(base, DECAL_PX_PER_M)
        w = int(np.clip(round(width_m * density), 8, DECAL_MAX_PX))
        h = int(np.clip(round(height_m * density), 8, DECAL_MAX_PX))
        key = ("decal", name, colour, variant, w, h)
        return self._request(key, lambda rng: decal_image(name, colour, rng, w, h))

    # ------------------------------------------------------------------------- packing

    def pack(self) -> None:
        """Generate pending patches and shelf-pack all of them onto pages."""
        for p in self._patches:
            if p.image is None:
                p.image = p.make(self._rng(p.key))
        n = len(self._patches)
        order = sorted(
            range(n), key=lambda i: (-self._patches[i].image.shape[0], self._patches[i].key)
        )
        place = np.zeros((n, 3), np.int64)  # page, x, y
        page, x, y, shelf = 0, 0, 0, 0
        heights = [0]
        for i in order:
            h, w = (s + 2 * GUTTER for s in self._patches[i].image.shape[:2])
            if w > PAGE or h > PAGE:
                raise ValueError(
                    f"texture patch {self._patches[i].key} is {w}x{h} px: above the page size {PAGE}"
                )
            if x + w > PAGE:
                x, y, shelf = 0, y + shelf, 0
            if y + h > PAGE:
                page, x, y, shelf = page + 1, 0, 0, 0
                heights.append(0)
            place[i] = (page, x, y)
            x += w
            shelf = max(shelf, h)
            heights[page] = max(heights[page], y + shelf)
        self.pages = [np.zeros((-(-hh // 4) * 4, PAGE, 3), np.uint8) for hh in heights]
        rects = np.zeros((n, 4), np.float64)
        for i, p in enumerate(self._patches):
            pg, px, py = place[i]
            img = np.pad(p.image, ((GUTTER, GUTTER), (GUTTER, GUTTER), (0, 0)), mode="edge")
            ph, pw = img.shape[:2]
            self.pages[pg][py : py + ph, px : px + pw] = img
            H = self.pages[pg].shape[0]
            ih, iw = p.image.shape[:2]
            rects[i] = ((px + GUTTER) / PAGE, (py + GUTTER) / H, iw / PAGE, ih / H)
        self.rects = rects
        self.page_of = place[:, 0].astype(np.int64)

    @property
    def num_pixels(self) -> int:
        return sum(p.shape[0] * p.shape[1] for p in self.pages)
