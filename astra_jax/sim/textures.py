"""Seeded procedural textures: floors, walls, ceilings, object materials and decals.

Everything is drawn with numpy and PIL from a ``numpy.random.Generator``, so a world's look is
a pure function of its seed. Surfaces are drawn at about :data:`PX_PER_M` pixels per metre of
surface, dense enough for SIFT to find ~1,000 features in a 320x240 view (see
``docs/design.md``); tiles repeat at their physical period (a carpet tile, a plank, a brick).

Images are ``uint8`` arrays (H, W, 3), row 0 at the top of the surface.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from astra_jax.sim.materials import COLOURS

PX_PER_M = 150.0

Img = np.ndarray


# ----------------------------------------------------------------------------- helpers


def rgb(colour: str | tuple[int, int, int]) -> np.ndarray:
    """A colour name or RGB triple as float32 (3,) in 0-255."""
    return np.asarray(COLOURS[colour] if isinstance(colour, str) else colour, np.float32)


def noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Fractal value noise (h, w) in about [-1, 1]; ``cell`` is the coarsest feature in px."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
        up = Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC)
        out += amp * np.asarray(up)
        total += amp
        amp *= 0.5
        cell = max(1.0, cell / 2)
    return np.clip(out / total, -1.5, 1.5)


def shade(base: np.ndarray, *fields: tuple[np.ndarray, float]) -> np.ndarray:
    """``base`` (3,) or (H, W, 3) modulated by (field, strength) pairs: base * (1 + s * f)."""
    mod = 1.0
    for f, s in fields:
        mod = mod + s * f
    if np.ndim(mod) == 2:
        mod = mod[..., None]
    return base * mod


def finish(img: np.ndarray) -> Img:
    return np.clip(img, 0, 255).astype(np.uint8)


def grain(rng: np.random.Generator, h: int, w: int, sigma: float = 0.04) -> np.ndarray:
    """Per-pixel white noise, the finest texture (paper, paint, plastic)."""
    return rng.normal(0.0, sigma, (h, w)).astype(np.float32)


@functools.lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, int(size)))


def text_center(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], text: str,
                fill: tuple[int, int, int], max_size: int | None = None) -> None:  # fmt: skip
    """Draw ``text`` as large as fits, centred in ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    size = int(max_size or (y1 - y0))
    while size > 6:
        f = font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
        if right - left <= (x1 - x0) and bottom - top <= (y1 - y0):
            break
        size = int(size * 0.85)
    f = font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
    x = (x0 + x1 - (right - left)) / 2 - left
    y = (y0 + y1 - (bottom - top)) / 2 - top
    draw.text((x, y), text, fill=fill, font=f)


WORDS = (
    "TEAM", "GOALS", "SAFETY", "WELCOME", "INNOVATE", "QUARTERLY", "REVIEW", "PLAN", "FOCUS",
    "OPEN", "DAY", "LUNCH", "TALK", "DESIGN", "DATA", "ROBOTS", "FUTURE", "HEALTH", "QUIET",
    "THINK", "SHIP IT", "SUMMIT", "LAUNCH", "MAPS", "VISION", "MEET", "CAFE", "NEWS", "SALE",
    "NORTH", "SOUTH", "EAST", "WEST", "GREEN", "BLUE", "ORBIT", "ATLAS", "NOVA", "PIXEL",
)  # fmt: skip
BRANDS = ("ACME", "NORDA", "KESTREL", "ORBIS", "TALON", "VERTEX", "LUMEN", "CYGNUS", "POLAR")


def text_lines(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[float, ...],
               colour: tuple[int, int, int], line_h: float) -> None:  # fmt: skip
    """Fake body text: grey bars of random length in ``box``."""
    x0, y0, x1, y1 = box
    y = y0
    while y + line_h * 0.6 < y1:
        length = (x1 - x0) * rng.uniform(0.5, 1.0)
        x = x0
        while x < x0 + length:
            wlen = rng.uniform(1.5, 5.0) * line_h * 0.6
            draw.rectangle([x, y, min(x + wlen, x1), y + line_h * 0.55], fill=colour)
            x += wlen + line_h * 0.35
        y += line_h


def tint(colour: str, rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    return rgb(colour) * (1.0 + rng.uniform(-amount, amount, 3)).astype(np.float32)


def as_tuple(c: np.ndarray) -> tuple[int, int, int]:
    c = np.clip(c, 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


def weathered(tile: Img, rng: np.random.Generator) -> Img:
    """A variant of a tiling patch: the same finish with its own wear, drawn from ``rng``.

    Uneven shading (soft patches tens of centimetres across), fine mottling, and a few marks
    (smudges, scratches, small chips) are laid over the tile. The style (colour, layout,
    period) is the tile's, so variants placed side by side read as one surface; the wear
    differs, so that a run of tiles along a wall never repeats exactly (see
    :func:`astra_jax.sim.mesh.variant_of`)."""
    h, w = tile.shape[:2]
    img = shade(
        tile.astype(np.float32),
        (noise(rng, h, w, 0.4 * PX_PER_M, 3), 0.07),
        (noise(rng, h, w, 0.06 * PX_PER_M, 2), 0.05),
    )
    for _ in range(int(rng.integers(4, 10))):
        y, x = int(rng.uniform(0, h)), int(rng.uniform(0, w))
        kind = int(rng.integers(3))
        if kind == 0:  # a smudge: a soft darker blot
            r = int(rng.uniform(0.02, 0.08) * PX_PER_M)
            yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
            blot = np.exp(-(yy**2 + xx**2) / (0.5 * r * r + 1.0)).astype(np.float32)
            ys, xs = (
                slice(max(0, y - r), min(h, y + r + 1)),
                slice(max(0, x - r), min(w, x + r + 1)),
            )
            crop = blot[ys.start - y + r : ys.stop - y + r, xs.start - x + r : xs.stop - x + r]
            img[ys, xs] *= (1.0 - rng.uniform(0.08, 0.2) * crop)[..., None]
        elif kind == 1:  # a scratch: a thin light or dark line
            ln = int(rng.uniform(0.05, 0.25) * PX_PER_M)
            ang = rng.uniform(0, math.pi)
            t = np.arange(ln)
            ys = np.clip((y + t * math.sin(ang)).astype(int), 0, h - 1)
            xs = np.clip((x + t * math.cos(ang)).astype(int), 0, w - 1)
            img[ys, xs] *= rng.choice([0.8, 1.15])
        else:  # a chip or a dot of dirt
            r = int(rng.integers(1, 4))
            img[max(0, y - r) : y + r, max(0, x - r) : x + r] *= rng.uniform(0.6, 0.85)
    return finish(img)


# ----------------------------------------------------------------------------- floors


def floor_tile(material: str, rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    """One period of a floor material and its physical size (width, height) in metres."""
    fn = {
        "carpet": _carpet,
        "carpet_tiles": _carpet_tiles,
        "wood_floor": _wood_floor,
        "floor_tiles": _floor_tiles,
        "stone_tiles": _stone_tiles,
        "concrete": _concrete,
        "epoxy": _epoxy,
    }[material]
    return fn(rng)


def _px(m: float) -> int:
    return max(4, round(m * PX_PER_M))


def _carpet(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    size = 2.4
    n = _px(size)
    base = tint(
        ("grey", "navy", "dark grey", "teal", "brown", "dark green")[int(rng.integers(6))], rng
    )
    base = base * 0.85
    img = shade(
        base,
        (noise(rng, n, n, 60, 3), 0.10),
        (noise(rng, n, n, 18, 2), 0.12),
        (noise(rng, n, n, 6, 2), 0.12),
        (grain(rng, n, n), 1.6),
    )
    if rng.random() < 0.6:  # woven pattern: faint diamonds / stripes
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        period = rng.uniform(0.15, 0.3) * PX_PER_M
        pattern = np.abs(((xx + yy) % period) / period - 0.5) + np.abs(
            ((xx - yy) % period) / period - 0.5
        )
        img = img * (1.0 + 0.10 * (pattern[..., None] > 0.7))
    return finish(img), (size, size)


def _carpet_tiles(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    tile = 0.5
    k = 4
    t = _px(tile)
    n = t * k
    base = tint(("grey", "dark grey", "navy", "teal", "beige")[int(rng.integers(5))], rng) * 0.85
    img = np.zeros((n, n, 3), np.float32)
    accent = tint(("blue", "teal", "orange", "green", "red")[int(rng.integers(5))], rng) * 0.8
    for i in range(k):
        for j in range(k):
            blk = rng.normal(0, 1, (t, t)).astype(np.float32)
            blk = np.asarray(Image.fromarray(blk, mode="F").resize((t, t // 3 + 1)).resize((t, t)))
            if (i + j) % 2:
                blk = blk.T
            c = accent if rng.random() < 0.08 else base * rng.uniform(0.92, 1.08)
            mottle = noise(rng, t, t, 15, 2)
            img[i * t : (i + 1) * t, j * t : (j + 1) * t] = shade(c, (blk, 0.15), (mottle, 0.10))
    img = shade(img, (grain(rng, n, n), 1.8), (noise(rng, n, n, 80, 2), 0.05))
    img[::t, :] *= 0.8
    img[:, ::t] *= 0.8
    return finish(img), (tile * k, tile * k)


def _wood_floor(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    plank_w = rng.uniform(0.12, 0.2)
    rows = round(2.4 / plank_w)
    size_y = rows * plank_w
    size_x = 2.4
    h, w = _px(size_y), _px(size_x)
    base = tint(("natural wood", "brown", "beige", "dark brown")[int(rng.integers(4))], rng)
    img = np.zeros((h, w, 3), np.float32)
    ph = h / rows
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    turb = noise(rng, h, w, 40, 3)
    rings = np.sin((yy * 0.9 + turb * 25.0 + xx * 0.02) * 0.55)
    fine = noise(rng, h, w, 3, 1)
    for r in range(rows):
        y0, y1 = int(r * ph), int((r + 1) * ph)
        x = -rng.uniform(0, 1.2) * PX_PER_M
        while x < w:
            length = rng.uniform(0.8, 1.6) * PX_PER_M
            x0, x1 = int(max(0, x)), int(min(w, x + length))
            c = base * rng.uniform(0.82, 1.12)
            img[y0:y1, x0:x1] = shade(c, (rings[y0:y1, x0:x1], 0.07), (fine[y0:y1, x0:x1], 0.06))
            if x0 > 0:
                img[y0:y1, x0 : x0 + 1] *= 0.6
            x += length
        img[y0 : y0 + 1] *= 0.55
    img = shade(img, (grain(rng, h, w, 0.03), 1.0))
    return finish(img), (size_x, size_y)


def _grid_tiles(rng: np.random.Generator, tile: float, k: int, base: np.ndarray, grout: np.ndarray,
                vein: bool) -> Img:  # fmt: skip
    t = _px(tile)
    n = t * k
    img = np.zeros((n, n, 3), np.float32)
    g = max(2, int(0.006 * PX_PER_M))
    for i in range(k):
        for j in range(k):
            c = base * rng.uniform(0.93, 1.07)
            blk = shade(c, (noise(rng, t, t, t / 3, 3), 0.06), (grain(rng, t, t, 0.03), 1.0))
            if vein:
                yy, xx = np.mgrid[0:t, 0:t].astype(np.float32)
                a = rng.uniform(0, math.pi)
                u = (xx * math.cos(a) + yy * math.sin(a)) / t * rng.uniform(3, 7)
                v = np.abs(np.sin(u * math.pi + 4.0 * noise(rng, t, t, t / 2, 4)))
                blk = blk * (1.0 - 0.25 * (v < 0.12)[..., None] * rng.uniform(0.5, 1.0))
            img[i * t : (i + 1) * t, j * t : (j + 1) * t] = blk
    for i in range(k):
        img[i * t : i * t + g, :] = grout
        img[:, i * t : i * t + g] = grout
    return img


def _floor_tiles(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    tile = float(rng.choice([0.3, 0.4, 0.5, 0.6]))
    k = max(2, round(2.4 / tile))
    base = (
        tint(("white", "light grey", "beige", "grey", "terracotta")[int(rng.integers(5))], rng)
        * 0.92
    )
    grout = base * 0.62
    img = _grid_tiles(rng, tile, k, base, grout, vein=False)
    img = shade(img, (noise(rng, *img.shape[:2], 50, 2), 0.04))
    return finish(img), (tile * k, tile * k)


def _stone_tiles(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    tile = float(rng.choice([0.6, 0.8]))
    k = 3
    base = tint(("light grey", "beige", "white", "grey")[int(rng.integers(4))], rng) * 0.9
    img = _grid_tiles(rng, tile, k, base, base * 0.75, vein=True)
    return finish(img), (tile * k, tile * k)


def _concrete(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    size = 4.0
    n = _px(size)
    base = tint("grey", rng, 0.04) * 1.05
    img = shade(
        base,
        (noise(rng, n, n, 200, 4), 0.12),
        (noise(rng, n, n, 8, 2), 0.08),
        (grain(rng, n, n, 0.05), 1.0),
    )
    spots = rng.random((n, n)) < 0.002
    img[spots] *= 0.7
    for _ in range(int(rng.integers(1, 4))):  # stains
        cy, cx = rng.uniform(0, n, 2)
        rad = rng.uniform(0.1, 0.5) * PX_PER_M
        yy, xx = np.ogrid[0:n, 0:n]
        m = ((yy - cy) ** 2 + (xx - cx) ** 2) < rad**2 * (1 + 0.4 * noise(rng, n, n, 30, 2))
        img[m] *= rng.uniform(0.75, 0.9)
    for _ in range(int(rng.integers(0, 3))):  # hairline cracks
        y, x = rng.uniform(0, n, 2)
        a = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.uniform(80, 300))):
            a += rng.normal(0, 0.3)
            y, x = y + math.sin(a) * 2, x + math.cos(a) * 2
            if 0 <= y < n and 0 <= x < n:
                img[int(y), int(x)] *= 0.5
    img[0:2, :] *= 0.55  # saw-cut joints at the tile period
    img[:, 0:2] *= 0.55
    return finish(img), (size, size)


def _epoxy(rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    size = 3.0
    n = _px(size)
    base = tint(("grey", "light grey", "dark green", "light blue")[int(rng.integers(4))], rng)
    img = shade(base, (noise(rng, n, n, 120, 3), 0.06), (grain(rng, n, n, 0.02), 1.0))
    flakes = rng.random((n, n))
    img[flakes < 0.01] *= 0.6
    img[flakes > 0.99] *= 1.3
    for _ in range(40):  # scuff marks
        y, x = rng.uniform(0, n, 2)
        length = rng.uniform(10, 60)
        a = rng.uniform(0, math.pi)
        xs = (x + np.cos(a) * np.arange(int(length))).astype(int) % n
        ys = (y + np.sin(a) * np.arange(int(length))).astype(int) % n
        img[ys, xs] *= 0.8
    return finish(img), (size, size)


# ----------------------------------------------------------------------------- walls


def wall_tile(material: str, colour: str, height: float, rng: np.random.Generator
              ) -> tuple[Img, tuple[float, float]]:  # fmt: skip
    """One horizontal period of a wall finish, floor (bottom row) to ``height`` metres."""
    fn = {
        "paint": _paint,
        "wallpaper": _wallpaper,
        "wood_panel": _wood_panel,
        "brick": _brick,
        "concrete_block": _concrete_block,
        "wall_tiles": _wall_tiles,
        "metal_cladding": _metal_cladding,
    }[material]
    width = WALL_PERIOD_M[material]
    h, w = _px(height), _px(width)
    img = fn(rng, colour, h, w)
    return finish(img), (width, height)


# Horizontal period of each wall finish (m): a whole number of boards / bricks / ribs.
WALL_PERIOD_M = {
    "paint": 3.0,
    "wallpaper": 2.1,
    "wood_panel": 2.4,
    "brick": 2.58,
    "concrete_block": 2.4,
    "wall_tiles": 2.4,
    "metal_cladding": 2.0,
}


def _baseboard(img: np.ndarray, rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    h = img.shape[0]
    b = int(rng.uniform(0.07, 0.1) * PX_PER_M)
    img[h - b :] = shade(colour, (grain(rng, b, img.shape[1], 0.02), 1.0))
    img[h - b : h - b + 2] *= 0.75
    return img


def _paint(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    base = tint(colour, rng, 0.03)
    img = shade(
        base,
        (noise(rng, h, w, 90, 3), 0.05),
        (noise(rng, h, w, 14, 2), 0.07),  # roller stipple: mid-scale detail SIFT can use
        (noise(rng, h, w, 4, 2), 0.06),
        (grain(rng, h, w, 0.03), 1.0),
    )
    for _ in range(int(rng.integers(2, 6))):  # scuffs near the floor
        y, x = rng.uniform(h - 0.4 * PX_PER_M, h - 0.1 * PX_PER_M), rng.uniform(0, w)
        ln = int(rng.uniform(6, 30))
        img[int(y) : int(y) + 2, int(x) : int(x) + ln] *= 0.85
    return _baseboard(img, rng, rgb(("dark grey", "white", "brown", "black")[int(rng.integers(4))]))


def _wallpaper(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    base = tint(colour, rng, 0.04)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    style = int(rng.integers(3))
    period = rng.uniform(0.1, 0.25) * PX_PER_M
    period = w / max(1, round(w / period))  # tile seamlessly across the period
    if style == 0:  # stripes
        pat = (np.sin(xx / period * 2 * math.pi) > 0.3).astype(np.float32)
    elif style == 1:  # dots
        pat = (
            (np.sin(xx / period * 2 * math.pi) * np.sin(yy / period * 2 * math.pi)) > 0.6
        ).astype(np.float32)
    else:  # diamonds
        pat = (np.abs(np.sin(xx / period * math.pi + yy / period * math.pi))
               * np.abs(np.sin(xx / period * math.pi - yy / period * math.pi)) > 0.5).astype(np.float32)  # fmt: skip
    img = shade(base, (pat, -0.10), (noise(rng, h, w, 4, 2), 0.05), (grain(rng, h, w, 0.02), 1.0))
    return _baseboard(img, rng, rgb("dark brown"))


def _wood_panel(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    base = tint(("natural wood", "brown", "dark brown", "beige")[int(rng.integers(4))], rng)
    bw = w / max(1, round(w / (rng.uniform(0.15, 0.3) * PX_PER_M)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    turb = noise(rng, h, w, 50, 3)
    board = (xx // bw).astype(int)
    rings = np.sin((xx * 0.9 + turb * 20 + yy * 0.015) * 0.5)
    var = rng.uniform(0.85, 1.12, board.max() + 1)[board]
    img = shade(base, (var - 1.0, 1.0), (rings, 0.07), (noise(rng, h, w, 3, 1), 0.05))
    img[:, (xx[0] % bw) < 1.5] *= 0.6
    return _baseboard(img, rng, base * 0.6)


def _brick(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    bl, bh, mortar = 0.215 * PX_PER_M, 0.075 * PX_PER_M, 0.01 * PX_PER_M
    base = tint(("terracotta", "dark red", "brown", "beige")[int(rng.integers(4))], rng)
    img = np.zeros((h, w, 3), np.float32)
    img[:] = rgb("light grey") * 0.85
    n_rows = int(h / bh) + 1
    cols = int(w / bl)
    bl = w / cols
    for r in range(n_rows):
        y0 = h - (r + 1) * bh
        off = (r % 2) * bl / 2
        for cidx in range(-1, cols + 1):
            x0 = cidx * bl + off
            c = base * rng.uniform(0.8, 1.15)
            ya, yb = int(max(0, y0 + mortar / 2)), int(max(0, y0 + bh - mortar / 2))
            xa, xb = int(max(0, x0 + mortar / 2)), int(min(w, x0 + bl - mortar / 2))
            if yb > ya and xb > xa:
                img[ya:yb, xa:xb] = c
    return shade(
        img,
        (noise(rng, h, w, 5, 2), 0.10),
        (grain(rng, h, w, 0.05), 1.0),
        (noise(rng, h, w, 100, 2), 0.06),
    )


def _concrete_block(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    bl, bh, mortar = 0.4 * PX_PER_M, 0.2 * PX_PER_M, 0.01 * PX_PER_M
    base = tint(colour if colour in ("white", "light grey", "grey", "beige") else "light grey", rng)
    img = shade(
        base,
        (noise(rng, h, w, 3, 1), 0.08),
        (grain(rng, h, w, 0.06), 1.0),
        (noise(rng, h, w, 120, 2), 0.05),
    )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    row = ((h - yy) // bh).astype(int)
    xo = xx + (row % 2) * bl / 2
    joint = (((h - yy) % bh) < mortar) | ((xo % bl) < mortar)
    img[joint] *= 0.8
    return img


def _wall_tiles(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    t = float(rng.choice([0.15, 0.2, 0.3]))
    top = int(h - rng.uniform(1.4, 2.0) * PX_PER_M)
    base = tint(("white", "light blue", "beige", "light grey", "teal")[int(rng.integers(5))], rng)
    k = math.ceil(max(h, w) / (t * PX_PER_M))
    tiles = _grid_tiles(rng, t, k, base, base * 0.7, vein=False)[:h, :w]
    img = _paint(rng, "white", h, w)
    img[max(0, top) :] = tiles[: h - max(0, top)]
    img[max(0, top) : max(0, top) + 3] *= 0.7
    return img


def _metal_cladding(rng: np.random.Generator, colour: str, h: int, w: int) -> np.ndarray:
    base = tint(("light grey", "silver", "white", "light blue")[int(rng.integers(4))], rng)
    period = w / max(1, round(w / (0.2 * PX_PER_M)))
    xx = np.arange(w, dtype=np.float32)
    rib = np.sin(xx / period * 2 * math.pi)[None, :]
    img = shade(
        base,
        (np.broadcast_to(rib, (h, w)), 0.12),
        (noise(rng, h, w, 60, 3), 0.06),
        (grain(rng, h, w, 0.03), 1.0),
    )
    streak = noise(rng, h, w // 8 + 1, 40, 2)
    streak = np.asarray(Image.fromarray(streak, mode="F").resize((w, h)))
    img = shade(img, (np.clip(streak, 0, None), -0.12))
    img[h - int(0.4 * PX_PER_M) :] *= 0.8  # darker kick zone
    return img


def ceiling_tile(family: str, rng: np.random.Generator) -> tuple[Img, tuple[float, float]]:
    """One period of the ceiling (seen from below)."""
    if family == "warehouse":
        size = 6.0
        n = int(size * 60)  # far away: 60 px/m is plenty
        base = rgb("light grey") * 0.8
        xx = np.arange(n, dtype=np.float32)
        rib = np.sin(xx / (0.25 * 60) * 2 * math.pi)[None, :]
        img = shade(base, (np.broadcast_to(rib, (n, n)), 0.1), (noise(rng, n, n, 40, 3), 0.08))
        img[:, : int(0.3 * 60)] = rgb("dark grey")  # a beam
        lamp = (slice(n // 2 - 20, n // 2 + 20), slice(n // 2 - 40, n // 2 + 40))
        img[lamp] = 250
        return finish(img), (size, size)
    tile = 0.6
    k = 4
    t = int(tile * 100)
    n = t * k
    base = rgb("white") * 0.93
    img = shade(base, (noise(rng, n, n, 2, 1), 0.06), (grain(rng, n, n, 0.04), 1.0))
    pin = rng.random((n, n)) < 0.03
    img[pin] *= 0.8
    li, lj = int(rng.integers(k)), int(rng.integers(k - 1))
    img[li * t + 4 : (li + 1) * t - 4, lj * t + 4 : (lj + 2) * t - 4] = 252  # light panel
    img[li * t + 4 : (li + 1) * t - 4, lj * t + 4 : (lj + 2) * t - 4 : 12] = 225
    vi, vj = (li + 2) % k, (lj + 2) % k
    img[vi * t + 10 : (vi + 1) * t - 10, vj * t + 10 : (vj + 1) * t - 10 : 5] *= 0.75  # air vent
    for i in range(k):
        img[i * t : i * t + 3, :] = rgb("silver")
        img[:, i * t : i * t + 3] = rgb("silver")
    return finish(img), (tile * k, tile * k)


# ----------------------------------------------------------------------------- object materials

MATERIAL_PERIOD_M = 1.0  # physical size of one object-material tile


def material_tile(
    kind: str, colour: str, rng: np.random.Generator
) -> tuple[Img, tuple[float, float]]:
    """A tileable patch of an object material (``plastic``, ``wood``, ``fabric``, ...)."""
    n = _px(MATERIAL_PERIOD_M)
    base = rgb(colour)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    if kind in ("plastic", "melamine", "ceramic", "laminate", "rubber", "paper"):
        s = {
            "plastic": 0.03,
            "melamine": 0.015,
            "ceramic": 0.015,
            "laminate": 0.03,
            "rubber": 0.06,
            "paper": 0.02,
        }[kind]
        img = shade(base, (noise(rng, n, n, 40, 3), s), (grain(rng, n, n, s), 1.0))
        if kind == "laminate":
            img = shade(img, (np.sin((yy + 8 * noise(rng, n, n, 30, 2)) * 0.4), 0.03))
    elif kind == "metal":
        streak = rng.normal(0, 1, (n, 1)).astype(np.float32) * np.ones((1, n), np.float32)
        img = shade(
            base, (streak, 0.04), (noise(rng, n, n, 30, 3), 0.05), (grain(rng, n, n, 0.02), 1.0)
        )
    elif kind in ("wood", "cork"):
        if kind == "cork":
            img = shade(
                rgb("natural wood"), (noise(rng, n, n, 2, 1), 0.25), (grain(rng, n, n, 0.1), 1.0)
            )
        else:
            turb = noise(rng, n, n, 40, 3)
            img = shade(
                base,
                (np.sin((yy + turb * 18 + 0.02 * xx) * 0.5), 0.08),
                (noise(rng, n, n, 3, 1), 0.06),
            )
    elif kind in ("fabric", "felt", "mesh"):
        weave = ((xx.astype(int) // 2 + yy.astype(int) // 2) % 2).astype(np.float32) - 0.5
        s = 0.3 if kind == "mesh" else 0.06
        img = shade(base, (weave, s), (noise(rng, n, n, 6, 2), 0.08), (grain(rng, n, n, 0.05), 1.0))
    elif kind == "leather":
        img = shade(base, (noise(rng, n, n, 4, 3), 0.12), (noise(rng, n, n, 50, 2), 0.08))
    elif kind == "leaves":
        f = noise(rng, n, n, 10, 3)
        img = shade(rgb("dark green"), (f, 0.6), (noise(rng, n, n, 3, 1), 0.3))
        img[f > 0.35] = shade(rgb("green"), (noise(rng, n, n, 3, 1), 0.3))[f > 0.35]
    elif kind == "soil":
        img = shade(base, (noise(rng, n, n, 2, 2), 0.3))
    elif kind == "glass":
        img = shade(
            base * 0.7, (np.clip((xx - yy) / n, -1, 1), 0.25), (noise(rng, n, n, 60, 2), 0.08)
        )
    elif kind == "stone":
        img = shade(base, (noise(rng, n, n, 2, 2), 0.15), (noise(rng, n, n, 40, 3), 0.1))
    elif kind == "cardboard":
        img = shade(rgb("brown") * 1.35 if colour == "brown" else base, (noise(rng, n, n, 20, 3), 0.08),
                    (grain(rng, n, n, 0.04), 1.0), (np.sin(xx * 1.3)[...], 0.015))  # fmt: skip
    elif kind == "wrap":
        img = shade(
            base * 1.1,
            (noise(rng, n, n, 12, 3), 0.18),
            (np.sin(yy * 0.3 + 6 * noise(rng, n, n, 30, 2)), 0.06),
        )
    elif kind == "hazard":
        stripe = ((xx + yy) // int(0.1 * PX_PER_M)) % 2 == 0
        img = np.where(stripe[..., None], base, rgb("black"))
        img = shade(img, (grain(rng, n, n, 0.04), 1.0))
    else:
        raise ValueError(f"unknown material kind {kind!r}")
    return finish(img), (MATERIAL_PERIOD_M, MATERIAL_PERIOD_M)
