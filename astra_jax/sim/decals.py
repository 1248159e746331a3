"""Seeded pictures stretched over one face: posters, screens, signs, drawer fronts, labels.

:func:`decal_image` draws the decal called ``name`` at ``w`` x ``h`` pixels. Names with a
parameter carry it after a colon (``"sign:EXIT"``, ``"aisle:12"``) or as a suffix
(``"drawers4"``). Everything is drawn with PIL on top of a numpy noise base so that even plain
parts of a decal carry fine texture.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from astra_jax.sim.textures import (
    BRANDS,
    WORDS,
    as_tuple,
    finish,
    grain,
    noise,
    rgb,
    shade,
    text_center,
    text_lines,
    tint,
)

Rng = np.random.Generator
Draw = ImageDraw.ImageDraw


def _canvas(colour: np.ndarray, rng: Rng, w: int, h: int, strength: float = 0.03) -> Image.Image:
    img = shade(
        colour, (noise(rng, h, w, max(4, w / 6), 3), strength), (grain(rng, h, w, strength), 1.0)
    )
    return Image.fromarray(finish(img))


def _bright(rng: Rng) -> tuple[int, int, int]:
    names = (
        "red",
        "orange",
        "yellow",
        "green",
        "teal",
        "blue",
        "navy",
        "purple",
        "pink",
        "dark red",
    )
    return as_tuple(tint(names[int(rng.integers(len(names)))], rng, 0.1))


def _poster_like(img: Image.Image, rng: Rng, box: tuple[int, int, int, int]) -> None:
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.rectangle(box, fill=_bright(rng))
    for _ in range(int(rng.integers(3, 8))):
        cx, cy = x0 + rng.uniform(0, w), y0 + rng.uniform(0, h)
        r = rng.uniform(0.08, 0.35) * min(w, h)
        kind = int(rng.integers(3))
        if kind == 0:
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_bright(rng))
        elif kind == 1:
            d.rectangle([cx - r, cy - r * 0.6, cx + r, cy + r * 0.6], fill=_bright(rng))
        else:
            d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=_bright(rng))
    d.rectangle([x0, y0, x1, y0 + h * 0.2], fill=as_tuple(rgb("white") * rng.uniform(0.85, 1.0)))
    text_center(d, (x0 + w * 0.05, y0 + h * 0.03, x1 - w * 0.05, y0 + h * 0.17),
                " ".join(rng.choice(WORDS, 2)), (20, 20, 30))  # fmt: skip
    text_lines(
        d,
        rng,
        (x0 + w * 0.08, y0 + h * 0.78, x1 - w * 0.08, y1 - h * 0.04),
        (240, 240, 240),
        max(4, h * 0.04),
    )


def poster(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("white"), rng, w, h)
    _poster_like(img, rng, (int(w * 0.04), int(h * 0.03), int(w * 0.96), int(h * 0.97)))
    return img


def painting(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    frame = max(3, int(min(w, h) * 0.06))
    img = _canvas(rgb(colour) * 0.9, rng, w, h, 0.06)
    inner = (frame, frame, w - frame, h - frame)
    iw, ih = inner[2] - inner[0], inner[3] - inner[1]
    if rng.random() < 0.5:  # landscape: sky, hills, sun
        sky = np.linspace(0, 1, ih, dtype=np.float32)[:, None, None]
        top, bottom = (
            tint("light blue", rng, 0.15),
            tint(("white", "orange", "pink")[int(rng.integers(3))], rng),
        )
        pic = top * (1 - sky) + bottom * sky
        pic = np.broadcast_to(pic, (ih, iw, 3)).copy()
        xs = np.arange(iw)
        for layer in range(3):
            ridge = ih * (0.45 + 0.15 * layer) + ih * 0.12 * noise(rng, 1, iw, iw / 4, 3)[0]
            mask = np.arange(ih)[:, None] > ridge[None, :]
            col = tint(("dark green", "green", "teal", "brown")[int(rng.integers(4))], rng) * (
                0.7 + 0.15 * layer
            )
            pic[mask] = shade(col, (noise(rng, ih, iw, 6, 2), 0.15))[mask]
        cx, cy, r = rng.uniform(0.1, 0.9) * iw, rng.uniform(0.1, 0.35) * ih, 0.07 * iw
        sun = (xs[None, :] - cx) ** 2 + (np.arange(ih)[:, None] - cy) ** 2 < r**2
        pic[sun] = (250, 230, 170)
        img.paste(Image.fromarray(finish(pic)), inner[:2])
    else:  # abstract colour fields
        pic = Image.new("RGB", (iw, ih), _bright(rng))
        d = ImageDraw.Draw(pic)
        for _ in range(int(rng.integers(4, 10))):
            x, y = rng.uniform(0, iw), rng.uniform(0, ih)
            d.rectangle(
                [x, y, x + rng.uniform(0.1, 0.6) * iw, y + rng.uniform(0.1, 0.6) * ih],
                fill=_bright(rng),
            )
            d.line([rng.uniform(0, iw), rng.uniform(0, ih), rng.uniform(0, iw), rng.uniform(0, ih)],
                   fill=(20, 20, 20), width=max(1, iw // 60))  # fmt: skip
        img.paste(pic, inner[:2])
    return img


def whiteboard(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("white") * 0.97, rng, w, h, 0.01)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w - 1, h - 1], outline=(170, 172, 176), width=max(2, w // 80))
    inks = [(30, 60, 160), (170, 30, 30), (20, 20, 20), (20, 120, 50)]
    for _ in range(int(rng.integers(3, 7))):
        ink = inks[int(rng.integers(4))]
        kind = int(rng.integers(3))
        x, y = rng.uniform(0.05, 0.7) * w, rng.uniform(0.05, 0.75) * h
        if kind == 0:
            text_center(d, (x, y, x + w * 0.3, y + h * 0.1), str(rng.choice(WORDS)), ink)
        elif kind == 1:
            bw, bh = rng.uniform(0.1, 0.25) * w, rng.uniform(0.08, 0.2) * h
            d.rectangle([x, y, x + bw, y + bh], outline=ink, width=max(1, w // 200))
            d.line(
                [x + bw, y + bh / 2, x + bw + rng.uniform(0.05, 0.15) * w, y + bh / 2],
                fill=ink,
                width=max(1, w // 200),
            )
        else:
            pts = np.cumsum(rng.normal(0, 0.03, (8, 2)), 0) * [w, h] + [x, y]
            d.line([tuple(p) for p in pts], fill=ink, width=max(1, w // 250))
    return img


def slide(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("black"), rng, w, h, 0.02)
    b = max(2, int(min(w, h) * 0.04))
    screen = Image.new("RGB", (w - 2 * b, h - 2 * b), (248, 248, 250))
    d = ImageDraw.Draw(screen)
    sw, sh = screen.size
    accent = _bright(rng)
    d.rectangle([0, 0, sw, sh * 0.18], fill=accent)
    text_center(
        d,
        (sw * 0.05, sh * 0.02, sw * 0.95, sh * 0.16),
        " ".join(rng.choice(WORDS, 2)),
        (255, 255, 255),
    )
    if rng.random() < 0.5:
        n = int(rng.integers(3, 7))
        for i in range(n):
            bh = rng.uniform(0.1, 0.55) * sh
            x0 = sw * (0.55 + 0.4 * i / n)
            d.rectangle([x0, sh * 0.9 - bh, x0 + sw * 0.3 / n, sh * 0.9], fill=_bright(rng))
        text_lines(
            d, rng, (sw * 0.05, sh * 0.28, sw * 0.5, sh * 0.9), (90, 90, 100), max(4, sh * 0.08)
        )
    else:
        text_lines(
            d, rng, (sw * 0.08, sh * 0.28, sw * 0.92, sh * 0.92), (90, 90, 100), max(4, sh * 0.08)
        )
    img.paste(screen, (b, b))
    return img


def monitor(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("black"), rng, w, h, 0.02)
    b = max(1, int(min(w, h) * 0.05))
    scr = Image.new(
        "RGB",
        (w - 2 * b, h - 2 * b),
        as_tuple(tint(("navy", "teal", "dark grey", "blue")[int(rng.integers(4))], rng)),
    )
    d = ImageDraw.Draw(scr)
    sw, sh = scr.size
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.uniform(0, 0.5) * sw, rng.uniform(0, 0.4) * sh
        ww, hh = rng.uniform(0.3, 0.6) * sw, rng.uniform(0.3, 0.6) * sh
        d.rectangle([x, y, x + ww, y + hh], fill=(245, 245, 245), outline=(60, 60, 60))
        d.rectangle([x, y, x + ww, y + hh * 0.1], fill=_bright(rng))
        text_lines(
            d,
            rng,
            (x + ww * 0.05, y + hh * 0.18, x + ww * 0.95, y + hh * 0.95),
            (120, 120, 120),
            max(3, hh * 0.08),
        )
    d.rectangle([0, sh * 0.94, sw, sh], fill=(30, 30, 36))
    img.paste(scr, (b, b))
    return img


def sign(text: str, colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    bg = rgb(colour)
    img = _canvas(bg, rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    fg = (255, 255, 255) if bg.mean() < 170 else (20, 20, 20)
    m = max(1, int(min(w, h) * 0.06))
    d.rectangle([m // 2, m // 2, w - m // 2 - 1, h - m // 2 - 1], outline=fg, width=max(1, m // 2))
    text_center(d, (m * 1.5, m * 1.5, w - m * 1.5, h - m * 1.5), text, fg)
    return img


def drawers(n: int, colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    dark = as_tuple(base * 0.55)
    for i in range(n):
        y0, y1 = h * i / n, h * (i + 1) / n
        d.rectangle(
            [w * 0.03, y0 + h * 0.01, w * 0.97, y1 - h * 0.01], outline=dark, width=max(1, w // 100)
        )
        d.rectangle([w * 0.38, y0 + (y1 - y0) * 0.15, w * 0.62, y0 + (y1 - y0) * 0.23], fill=dark)
        d.rectangle(
            [w * 0.44, y0 + (y1 - y0) * 0.3, w * 0.56, y0 + (y1 - y0) * 0.42],
            fill=(235, 235, 225),
            outline=dark,
        )
    return img


def printer(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("white") * 0.95, rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.05, h * 0.55, w * 0.95, h * 0.62], fill=(60, 62, 66))
    d.rectangle(
        [w * 0.1, h * 0.7, w * 0.9, h * 0.95], outline=(150, 150, 155), width=max(1, w // 80)
    )
    d.rectangle([w * 0.4, h * 0.78, w * 0.6, h * 0.84], fill=(90, 90, 95))
    text_center(d, (w * 0.05, h * 0.08, w * 0.55, h * 0.3), str(rng.choice(BRANDS)), (40, 60, 140))
    d.rectangle([w * 0.65, h * 0.1, w * 0.95, h * 0.4], fill=(40, 44, 50))
    return img


def panel(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("dark grey"), rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.05, h * 0.1, w * 0.55, h * 0.9], fill=as_tuple(tint("light blue", rng)))
    for i in range(3):
        for j in range(3):
            d.rectangle(
                [
                    w * (0.62 + 0.12 * j),
                    h * (0.12 + 0.28 * i),
                    w * (0.7 + 0.12 * j),
                    h * (0.32 + 0.28 * i),
                ],
                fill=(200, 200, 200),
            )
    d.ellipse([w * 0.9, h * 0.1, w * 0.98, h * 0.3], fill=(40, 200, 60))
    return img


def dispenser(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.15, h * 0.05, w * 0.85, h * 0.45], fill=as_tuple(rgb(colour) * 0.75))
    for x, c in ((0.33, (40, 90, 200)), (0.67, (200, 40, 40))):
        d.rectangle([w * (x - 0.08), h * 0.2, w * (x + 0.08), h * 0.3], fill=c)
    d.rectangle([w * 0.2, h * 0.5, w * 0.8, h * 0.55], fill=(60, 60, 60))
    text_center(d, (w * 0.1, h * 0.7, w * 0.9, h * 0.85), str(rng.choice(BRANDS)), (60, 60, 70))
    return img


def vending(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    gx0, gy0, gx1, gy1 = w * 0.05, h * 0.05, w * 0.7, h * 0.75
    d.rectangle([gx0, gy0, gx1, gy1], fill=(25, 30, 40))
    rows, cols = 6, 5
    for r in range(rows):
        for c in range(cols):
            cw, ch = (gx1 - gx0) / cols, (gy1 - gy0) / rows
            x, y = gx0 + c * cw, gy0 + r * ch
            col = _bright(rng)
            d.rectangle([x + cw * 0.15, y + ch * 0.2, x + cw * 0.85, y + ch * 0.85], fill=col)
            d.line(
                [x, y + ch * 0.95, x + cw, y + ch * 0.95],
                fill=(160, 160, 160),
                width=max(1, h // 200),
            )
    d.rectangle([w * 0.75, h * 0.1, w * 0.95, h * 0.4], fill=(20, 20, 20))
    for i in range(4):
        for j in range(3):
            d.rectangle(
                [
                    w * (0.77 + 0.06 * j),
                    h * (0.15 + 0.06 * i),
                    w * (0.81 + 0.06 * j),
                    h * (0.19 + 0.06 * i),
                ],
                fill=(210, 210, 210),
            )
    d.rectangle([w * 0.1, h * 0.8, w * 0.65, h * 0.93], fill=(15, 15, 15))
    text_center(
        d, (w * 0.72, h * 0.5, w * 0.98, h * 0.75), str(rng.choice(BRANDS)), (255, 255, 255)
    )
    return img


def coffee(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.15, h * 0.08, w * 0.85, h * 0.3], fill=(15, 15, 15))
    d.rectangle([w * 0.2, h * 0.12, w * 0.5, h * 0.26], fill=(120, 200, 230))
    for j in range(3):
        d.ellipse(
            [w * (0.58 + 0.1 * j), h * 0.14, w * (0.65 + 0.1 * j), h * 0.22], fill=(220, 220, 220)
        )
    d.rectangle([w * 0.3, h * 0.4, w * 0.7, h * 0.9], fill=(30, 30, 30))
    d.rectangle([w * 0.45, h * 0.4, w * 0.55, h * 0.5], fill=(150, 150, 150))
    return img


def fridge(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    split = h * rng.uniform(0.3, 0.38)
    d.line([0, split, w, split], fill=as_tuple(base * 0.5), width=max(2, h // 150))
    text_center(
        d, (w * 0.3, h * 0.02, w * 0.7, h * 0.06), str(rng.choice(BRANDS)), as_tuple(base * 0.5)
    )
    for _ in range(int(rng.integers(0, 4))):  # magnets and notes
        x, y = rng.uniform(0.2, 0.7) * w, rng.uniform(0.4, 0.7) * h
        d.rectangle([x, y, x + w * 0.15, y + h * 0.05], fill=_bright(rng))
    return img


def microwave(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.05, h * 0.1, w * 0.7, h * 0.9], fill=(25, 28, 30))
    for x in np.arange(w * 0.08, w * 0.68, max(2, w / 60)):
        d.line([x, h * 0.15, x, h * 0.85], fill=(45, 48, 52))
    d.rectangle([w * 0.75, h * 0.12, w * 0.95, h * 0.3], fill=(30, 60, 40))
    for i in range(4):
        for j in range(3):
            d.rectangle(
                [
                    w * (0.76 + 0.065 * j),
                    h * (0.38 + 0.12 * i),
                    w * (0.81 + 0.065 * j),
                    h * (0.46 + 0.12 * i),
                ],
                fill=(180, 180, 180),
            )
    return img


def books(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    shelf = rgb(colour) * 0.8
    img = _canvas(shelf * 0.6, rng, w, h, 0.05)
    d = ImageDraw.Draw(img)
    n = max(3, round(h / (w / 1.0) * 4))
    sh = h / n
    for s in range(n):
        y1 = (s + 1) * sh - sh * 0.06
        x = w * 0.01
        while x < w * 0.99:
            if rng.random() < 0.06:
                x += w * rng.uniform(0.05, 0.15)  # a gap
                continue
            bw = w * rng.uniform(0.018, 0.045)
            bh = sh * rng.uniform(0.6, 0.88)
            col = (
                _bright(rng)
                if rng.random() < 0.6
                else as_tuple(
                    tint(("white", "black", "beige", "dark grey")[int(rng.integers(4))], rng)
                )
            )
            d.rectangle([x, y1 - bh, min(x + bw, w * 0.99), y1], fill=col)
            if bw > 4:
                d.line(
                    [x + bw * 0.2, y1 - bh * 0.8, x + bw * 0.8, y1 - bh * 0.8],
                    fill=(230, 220, 180),
                    width=1,
                )
            x += bw + 1
        d.rectangle([0, y1, w, y1 + sh * 0.06], fill=as_tuple(shelf))
    return img


def slide_logo(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    fg = (255, 255, 255) if rgb(colour).mean() < 150 else (30, 40, 80)
    r = min(w, h) * 0.2
    cx, cy = w * 0.3, h * 0.45
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fg, width=max(2, int(r * 0.15)))
    text_center(d, (w * 0.4, h * 0.3, w * 0.8, h * 0.6), str(rng.choice(BRANDS)), fg)
    d.rectangle([0, h * 0.85, w, h * 0.88], fill=as_tuple(rgb(colour) * 0.7))
    return img


def magazine(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h), (240, 240, 235))
    _poster_like(img, rng, (0, 0, w, h))
    return img


def recycle(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    cx, cy, r = w / 2, h * 0.4, min(w, h) * 0.2
    for k in range(3):
        a = k * 2 * math.pi / 3 - math.pi / 2
        pts = [(cx + r * math.cos(a + o), cy + r * math.sin(a + o)) for o in (-0.5, 0.5, 0.0)]
        pts[2] = (cx + 1.4 * r * math.cos(a), cy + 1.4 * r * math.sin(a))
        d.polygon(pts, fill=(255, 255, 255))
    text_center(d, (w * 0.1, h * 0.7, w * 0.9, h * 0.85), "RECYCLE", (255, 255, 255))
    return img


def cabinets(colour: str, rng: Rng, w: int, h: int, upper: bool = False) -> Image.Image:
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    n = max(2, round(w / h * (1.0 if upper else 0.9)))
    dark = as_tuple(base * 0.6)
    for i in range(n):
        x0, x1 = w * i / n, w * (i + 1) / n
        d.rectangle([x0 + 2, 2, x1 - 2, h - 3], outline=dark, width=max(1, w // 300))
        hx = x1 - (x1 - x0) * 0.12 if i % 2 == 0 else x0 + (x1 - x0) * 0.12
        y0, y1 = (h * 0.7, h * 0.92) if upper else (h * 0.08, h * 0.3)
        d.rectangle([hx - 2, y0, hx + 2, y1], fill=(170, 170, 175))
    return img


def stall_door(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.08, h * 0.45, w * 0.16, h * 0.52], fill=(170, 170, 170))
    d.rectangle(
        [w * 0.08, h * 0.55, w * 0.16, h * 0.58],
        fill=(40, 180, 40) if rng.random() < 0.5 else (200, 40, 40),
    )
    return img


def mirror(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = shade(
        rgb("light blue") * 0.7, ((xx - yy) / max(w, h), 0.3), (noise(rng, h, w, w / 4, 2), 0.06)
    )
    img[:, ((xx[0] / w * 7) % 1 < 0.05)] *= 1.15
    return Image.fromarray(finish(img))


def dryer(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    text_center(d, (w * 0.15, h * 0.2, w * 0.85, h * 0.35), str(rng.choice(BRANDS)), (70, 70, 80))
    for i in range(6):
        d.line(
            [w * 0.2, h * (0.75 + 0.03 * i), w * 0.8, h * (0.75 + 0.03 * i)],
            fill=(60, 60, 60),
            width=max(1, h // 80),
        )
    return img


def notices(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb("natural wood") if colour == "natural wood" else rgb(colour)
    img = Image.fromarray(finish(shade(base, (noise(rng, h, w, 2, 2), 0.25))))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w - 1, h - 1], outline=(110, 80, 50), width=max(2, w // 60))
    for _ in range(int(rng.integers(5, 11))):
        pw, ph = rng.uniform(0.12, 0.3) * w, rng.uniform(0.15, 0.4) * h
        x, y = rng.uniform(0.03, 0.97) * w - pw / 2, rng.uniform(0.05, 0.95) * h - ph / 2
        paper = (250, 250, 245) if rng.random() < 0.6 else _bright(rng)
        d.rectangle([x, y, x + pw, y + ph], fill=paper)
        if rng.random() < 0.5:
            text_center(
                d,
                (x + pw * 0.1, y + ph * 0.05, x + pw * 0.9, y + ph * 0.25),
                str(rng.choice(WORDS)),
                (20, 20, 20),
            )
        text_lines(
            d,
            rng,
            (x + pw * 0.1, y + ph * 0.3, x + pw * 0.9, y + ph * 0.95),
            (110, 110, 110),
            max(3, ph * 0.1),
        )
        d.ellipse([x + pw / 2 - 3, y + 2, x + pw / 2 + 3, y + 8], fill=_bright(rng))
    return img


def clock(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h), (245, 245, 240))
    d = ImageDraw.Draw(img)
    cx, cy, r = w / 2, h / 2, min(w, h) / 2 * 0.95
    for k in range(60):
        a = k * math.pi / 30
        r0 = r * (0.82 if k % 5 == 0 else 0.9)
        d.line([cx + r0 * math.sin(a), cy - r0 * math.cos(a), cx + r * 0.96 * math.sin(a), cy - r * 0.96 * math.cos(a)],
               fill=(20, 20, 20), width=max(1, int(r * (0.04 if k % 5 == 0 else 0.015))))  # fmt: skip
    for k in range(1, 13):
        a = k * math.pi / 6
        text_center(d, (cx + 0.68 * r * math.sin(a) - r * 0.1, cy - 0.68 * r * math.cos(a) - r * 0.1,
                        cx + 0.68 * r * math.sin(a) + r * 0.1, cy - 0.68 * r * math.cos(a) + r * 0.1),
                    str(k), (20, 20, 20))  # fmt: skip
    hour, minute = rng.uniform(0, 12), rng.uniform(0, 60)
    for ang, ln, wd in (
        (hour / 12 * 2 * math.pi, 0.5, 0.06),
        (minute / 60 * 2 * math.pi, 0.75, 0.04),
    ):
        d.line(
            [cx, cy, cx + ln * r * math.sin(ang), cy - ln * r * math.cos(ang)],
            fill=(10, 10, 10),
            width=max(1, int(r * wd)),
        )
    return img


def shredder(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    d.rectangle(
        [w * 0.1, h * 0.2, w * 0.9, h * 0.9],
        outline=as_tuple(rgb(colour) * 0.6),
        width=max(1, w // 60),
    )
    text_center(
        d, (w * 0.15, h * 0.05, w * 0.85, h * 0.17), str(rng.choice(BRANDS)), (200, 200, 200)
    )
    d.rectangle([w * 0.35, h * 0.45, w * 0.65, h * 0.52], fill=(20, 20, 20))
    return img


def lockers(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    cols = max(2, round(w / h * 4))
    rows = 2 if rng.random() < 0.5 else 1
    dark = as_tuple(base * 0.55)
    first = int(rng.integers(1, 90))
    for c in range(cols):
        for r in range(rows):
            x0, x1 = w * c / cols, w * (c + 1) / cols
            y0, y1 = h * r / rows, h * (r + 1) / rows
            d.rectangle([x0 + 1, y0 + 1, x1 - 2, y1 - 2], outline=dark, width=max(1, w // 200))
            for k in range(5):
                yy = y0 + (y1 - y0) * (0.06 + 0.025 * k)
                d.line(
                    [x0 + (x1 - x0) * 0.25, yy, x1 - (x1 - x0) * 0.25, yy],
                    fill=dark,
                    width=max(1, h // 300),
                )
            d.rectangle(
                [
                    x1 - (x1 - x0) * 0.2,
                    y0 + (y1 - y0) * 0.45,
                    x1 - (x1 - x0) * 0.12,
                    y0 + (y1 - y0) * 0.55,
                ],
                fill=(40, 40, 40),
            )
            text_center(d, (x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.22, x1 - (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.3),
                        str(first + c * rows + r), (250, 250, 250))  # fmt: skip
    return img


def first_aid(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    bg = rgb(colour)
    img = _canvas(bg, rng, w, h, 0.02)
    d = ImageDraw.Draw(img)
    fg = (255, 255, 255) if colour != "white" else (30, 150, 60)
    cx, cy, a = w / 2, h * 0.42, min(w, h) * 0.22
    d.rectangle([cx - a / 3, cy - a, cx + a / 3, cy + a], fill=fg)
    d.rectangle([cx - a, cy - a / 3, cx + a, cy + a / 3], fill=fg)
    text_center(d, (w * 0.1, h * 0.75, w * 0.9, h * 0.92), "FIRST AID", fg)
    return img


def fountain(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.4, h * 0.3, w * 0.6, h * 0.55], fill=(40, 40, 40))
    return img


def carton(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb("brown") * 1.35 if colour == "brown" else rgb(colour)
    img = _canvas(base, rng, w, h, 0.06)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.45, 0, w * 0.55, h * 0.25], fill=as_tuple(base * 1.15))
    if rng.random() < 0.7:
        x, y = rng.uniform(0.05, 0.5) * w, rng.uniform(0.35, 0.6) * h
        d.rectangle([x, y, x + w * 0.35, y + h * 0.3], fill=(245, 245, 240))
        for i in range(int(w * 0.3 / 3)):
            if rng.random() < 0.6:
                d.line(
                    [x + w * 0.03 + i * 3, y + h * 0.04, x + w * 0.03 + i * 3, y + h * 0.14],
                    fill=(10, 10, 10),
                )
        text_lines(
            d,
            rng,
            (x + w * 0.03, y + h * 0.17, x + w * 0.32, y + h * 0.28),
            (80, 80, 80),
            max(3, h * 0.04),
        )
    if rng.random() < 0.5:
        text_center(
            d,
            (w * 0.55, h * 0.7, w * 0.95, h * 0.9),
            str(rng.choice(("FRAGILE", "THIS SIDE UP", *BRANDS))),
            (40, 30, 20),
        )
    return img


def forklift(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.04)
    d = ImageDraw.Draw(img)
    text_center(d, (w * 0.2, h * 0.1, w * 0.8, h * 0.35), str(rng.choice(BRANDS)), (20, 20, 20))
    step = max(4, w // 12)
    for x in range(-h, w, step * 2):
        d.polygon(
            [(x, h), (x + step, h), (x + step + h * 0.25, h * 0.75), (x + h * 0.25, h * 0.75)],
            fill=(20, 20, 20),
        )
    return img


def pegboard(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("light grey"), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    step = max(4, w // 40)
    for x in range(step // 2, w, step):
        for y in range(step // 2, h, step):
            d.point((x, y), fill=(60, 60, 60))
    for _ in range(int(rng.integers(5, 10))):  # hanging tools
        x, y = rng.uniform(0.05, 0.9) * w, rng.uniform(0.1, 0.5) * h
        c = _bright(rng) if rng.random() < 0.5 else (50, 50, 55)
        if rng.random() < 0.5:
            d.rectangle([x, y, x + w * 0.02, y + h * 0.35], fill=(60, 60, 60))
            d.rectangle([x - w * 0.01, y + h * 0.25, x + w * 0.03, y + h * 0.4], fill=c)
        else:
            d.ellipse([x, y, x + w * 0.06, y + w * 0.06], outline=c, width=max(1, w // 100))
    return img


def dumpster(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb(colour), rng, w, h, 0.06)
    d = ImageDraw.Draw(img)
    text_center(
        d,
        (w * 0.2, h * 0.3, w * 0.8, h * 0.5),
        str(rng.choice(("WASTE", "CARDBOARD ONLY", "RECYCLING"))),
        (255, 255, 255),
    )
    for x in np.linspace(0.05, 0.95, 6):
        d.line([w * x, 0, w * x, h], fill=as_tuple(rgb(colour) * 0.7), width=max(1, w // 100))
    return img


def roller_door(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.04)
    arr = np.asarray(img).astype(np.float32)
    slat = max(3, h // 40)
    rows = np.arange(h)
    arr[(rows % slat) < max(1, slat // 5)] *= 0.7
    img = Image.fromarray(finish(arr))
    d = ImageDraw.Draw(img)
    d.rectangle([0, h * 0.96, w, h], fill=(30, 30, 30))
    d.rectangle([w * 0.45, h * 0.9, w * 0.55, h * 0.94], fill=(80, 80, 80))
    return img


def servers(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    img = _canvas(rgb("black"), rng, w, h, 0.03)
    d = ImageDraw.Draw(img)
    u = max(4, h // 42)
    y = u
    while y < h - 2 * u:
        n = int(rng.integers(1, 4))
        if rng.random() < 0.8:
            d.rectangle(
                [w * 0.06, y, w * 0.94, y + n * u - 1], fill=(45, 47, 52), outline=(80, 80, 85)
            )
            for k in range(int(rng.integers(2, 6))):
                d.point(
                    (w * 0.1 + k * 4, y + u / 2),
                    fill=((40, 220, 60) if rng.random() < 0.8 else (230, 140, 30)),
                )
        y += n * u
    return img


def aisle(number: int, colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    letter = "ABCDEFGH"[number % 8]
    return sign(
        f"{letter}{number // 8 + 1:02d}", "navy" if colour != "navy" else "orange", rng, w, h
    )


def window(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    """A window: frame, mullions, a blurred outdoor view."""
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = tint("light blue", rng, 0.1) * (1 - yy) + rgb("white") * yy
    pic = np.broadcast_to(sky, (h, w, 3)).copy()
    horizon = h * (0.55 + 0.15 * noise(rng, 1, w, w / 3, 3)[0])
    below = np.arange(h)[:, None] > horizon[None, :]
    trees = shade(rgb("dark green"), (noise(rng, h, w, 8, 3), 0.3))
    pic[below] = trees[below]
    for _ in range(int(rng.integers(0, 3))):  # distant buildings
        x0 = rng.uniform(0, w)
        bw, bh = rng.uniform(0.1, 0.3) * w, rng.uniform(0.2, 0.5) * h
        pic[int(h * 0.6 - bh) : int(h * 0.6), int(x0) : int(x0 + bw)] = tint("light grey", rng, 0.1)
    img = Image.fromarray(finish(pic))
    d = ImageDraw.Draw(img)
    f = max(3, int(min(w, h) * 0.04))
    frame = as_tuple(rgb(colour))
    d.rectangle([0, 0, w - 1, h - 1], outline=frame, width=f)
    n = max(1, round(w / h * 1.5))
    for i in range(1, n):
        d.rectangle([w * i / n - f / 2, 0, w * i / n + f / 2, h], fill=frame)
    d.rectangle([0, h * 0.62 - f / 2, w, h * 0.62 + f / 2], fill=frame)
    return img


def door_leaf(colour: str, rng: Rng, w: int, h: int) -> Image.Image:
    """A door seen from the front: panel, handle, kick plate, and sometimes a glass strip."""
    base = rgb(colour)
    img = _canvas(base, rng, w, h, 0.04)
    arr = np.asarray(img).astype(np.float32)
    if colour in ("natural wood", "brown", "dark brown", "beige"):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        arr = shade(arr, (np.sin((xx + 6 * noise(rng, h, w, 30, 3) + 0.01 * yy) * 0.5), 0.06))
    img = Image.fromarray(finish(arr))
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.78, h * 0.47, w * 0.92, h * 0.5], fill=(180, 180, 185))
    d.rectangle([w * 0.05, h * 0.9, w * 0.95, h * 0.98], fill=(165, 168, 172))
    if rng.random() < 0.4:
        d.rectangle(
            [w * 0.4, h * 0.12, w * 0.6, h * 0.55], fill=(70, 90, 110), outline=(40, 40, 40)
        )
    return img


DECALS: dict[str, Callable[[str, Rng, int, int], Image.Image]] = {
    "poster": poster,
    "painting": painting,
    "whiteboard": whiteboard,
    "slide": slide,
    "monitor": monitor,
    "printer": printer,
    "panel": panel,
    "dispenser": dispenser,
    "vending": vending,
    "coffee": coffee,
    "fridge": fridge,
    "microwave": microwave,
    "books": books,
    "logo": slide_logo,
    "magazine": magazine,
    "recycle": recycle,
    "cabinets": cabinets,
    "cabinets_upper": lambda c, r, w, h: cabinets(c, r, w, h, upper=True),
    "stall_door": stall_door,
    "mirror": mirror,
    "dryer": dryer,
    "notices": notices,
    "clock": clock,
    "shredder": shredder,
    "lockers": lockers,
    "first_aid": first_aid,
    "fountain": fountain,
    "carton": carton,
    "forklift": forklift,
    "pegboard": pegboard,
    "dumpster": dumpster,
    "roller_door": roller_door,
    "servers": servers,
    "window": window,
    "door_leaf": door_leaf,
}


def decal_image(name: str, colour: str, rng: Rng, w: int, h: int) -> np.ndarray:
    """The decal ``name`` drawn at ``w`` x ``h`` px, as uint8 (h, w, 3)."""
    w, h = max(8, int(w)), max(8, int(h))
    if name.startswith("sign:"):
        img = sign(name[5:], colour, rng, w, h)
    elif name.startswith("aisle:"):
        img = aisle(int(name[6:]), colour, rng, w, h)
    elif name.startswith("drawers"):
        img = drawers(int(name[7:]), colour, rng, w, h)
    elif name in DECALS:
        img = DECALS[name](colour, rng, w, h)
    else:
        raise ValueError(f"unknown decal {name!r}")
    return np.asarray(img.convert("RGB"), dtype=np.uint8)
