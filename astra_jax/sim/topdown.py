"""Top-down pictures of a world: rooms with labels, walls with door openings, landmarks, and
optionally a trajectory, drawn with matplotlib (Agg)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon as MplPolygon

from astra_jax.sim.world import World

ROOM_COLOURS = {
    "office": "#dce9f5",
    "open_office": "#cfe3f0",
    "conference_room": "#f3e3c3",
    "kitchen": "#e2f0d0",
    "lobby": "#f5dada",
    "printer_corner": "#e8dcf2",
    "restroom": "#d5f0ee",
    "corridor": "#f2f2f2",
    "storage": "#e6e1d6",
    "break_room": "#e2f0d0",
    "loading_area": "#f1ead2",
    "storage_aisles": "#ebebe4",
}


def _rect_corners(cx: float, cy: float, length: float, width: float, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    pts = np.array([[-length, -width], [length, -width], [length, width], [-length, width]]) / 2
    return np.stack([cx + c * pts[:, 0] - s * pts[:, 1], cy + s * pts[:, 0] + c * pts[:, 1]], -1)


def draw_world(world: World, path: str | os.PathLike[str] | None = None, trajectory: np.ndarray | None = None,
               dpi: int = 110, show_ids: bool = False):  # fmt: skip
    """Draw ``world`` (and an optional (N, >=2) trajectory); save a PNG to ``path`` if given.

    Returns the matplotlib figure.
    """
    x0, y0, x1, y1 = world.bounds
    scale = 0.42
    fig, ax = plt.subplots(figsize=((x1 - x0) * scale + 1.0, (y1 - y0) * scale + 0.8))
    for room in world.plan.rooms:
        ax.add_patch(
            MplPolygon(
                room.polygon, closed=True, fc=ROOM_COLOURS.get(room.label, "#eeeeee"), ec="none"
            )
        )
    for lm in world.landmarks:
        colour = "#b03030" if lm.obstacle else "#2060c0"
        for fp in lm.footprints() or [
            (lm.position[0], lm.position[1], lm.size[0], lm.size[1], lm.yaw)
        ]:
            ax.add_patch(
                MplPolygon(_rect_corners(*fp), closed=True, fc=colour, ec="none", alpha=0.35)
            )
        corners = _rect_corners(lm.position[0], lm.position[1], lm.size[0], lm.size[1], lm.yaw)
        ax.add_patch(MplPolygon(corners, closed=True, fill=False, ec=colour, lw=0.6))
        front = np.array([lm.position[0], lm.position[1]]) + 0.5 * lm.size[0] * np.array(
            [math.cos(lm.yaw), math.sin(lm.yaw)]
        )
        ax.plot([lm.position[0], front[0]], [lm.position[1], front[1]], color=colour, lw=0.5)
        label = str(lm.id) if show_ids else lm.category.replace("_", " ")
        ax.text(
            lm.position[0],
            lm.position[1],
            label,
            fontsize=3.2,
            ha="center",
            va="center",
            color="#202020",
        )
    st = world.structure
    for p in st.pieces:
        seg = st.segments[p.segment]
        c = seg.point(0.5 * (p.s0 + p.s1))
        colour = "#222222" if p.z0 == 0.0 else "#9a9a9a"  # lintels above doors in grey
        ax.add_patch(
            MplPolygon(
                _rect_corners(c[0], c[1], p.s1 - p.s0, seg.thickness, seg.yaw),
                closed=True,
                fc=colour,
                ec="none",
            )
        )
    for cut in st.cuts:
        seg = st.segments[cut.segment]
        a, b = seg.point(cut.s - cut.width / 2), seg.point(cut.s + cut.width / 2)
        ax.plot([a[0], b[0]], [a[1], b[1]], color="#c07020", lw=1.2)
    for room in world.plan.rooms:
        cx, cy = room.centroid
        ax.text(cx, cy, room.name.replace("_", " "), fontsize=6.5, ha="center", va="center", weight="bold",
                color="#303060", alpha=0.85)  # fmt: skip
    if trajectory is not None and len(trajectory):
        t = np.asarray(trajectory)
        ax.plot(t[:, 0], t[:, 1], color="#10a040", lw=1.0)
        ax.plot(t[0, 0], t[0, 1], "o", color="#10a040", ms=4)
        ax.plot(t[-1, 0], t[-1, 1], "s", color="#d02020", ms=4)
    ax.set_xlim(x0 - 0.5, x1 + 0.5)
    ax.set_ylim(y0 - 0.5, y1 + 0.5)
    ax.set_aspect("equal")
    src = world.source or f"{world.family} seed {world.seed}"
    ax.set_title(
        f"{world.name} ({src}): {len(world.plan.rooms)} rooms, {len(world.landmarks)} landmarks",
        fontsize=9,
    )
    ax.tick_params(labelsize=6)
    fig.tight_layout()
    if path is not None:
        p = Path(path)
        tmp = p.with_name(f".{p.name}.tmp{os.getpid()}.png")
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, p)
        plt.close(fig)
    return fig
