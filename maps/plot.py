"""Picture of a map: floor plan, nodes, edges, labelled landmarks, and the keyframe trajectory
against ground truth (``astra map show``).

When the map carries an evaluation, everything is drawn in the world frame through the
Sim(3) ``gt_from_map`` of that evaluation, so the floor plan, the nodes and the landmarks line
up; otherwise in the map frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astra_jax.maps.alignment import Sim3
from astra_jax.maps.schema import TopoSemanticMap

EDGE_STYLE = {  # colour, line width, alpha
    "sequential": ("tab:blue", 1.2, 0.8),
    "proximity": ("tab:purple", 1.0, 0.8),
    "covisibility": ("tab:orange", 0.5, 0.35),
}


def plot_map(m: TopoSemanticMap, out_png: str | Path, *, dpi: int = 130) -> Path:
    """Render the map to ``out_png`` (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = m.metadata.evaluation
    to_world = Sim3.from_json(ev["gt_from_map"]) if "gt_from_map" in ev else Sim3.identity()
    frame = "world frame (map aligned to ground truth)" if "gt_from_map" in ev else "map frame"
    node_xyz = np.stack([n.T_world_ego[:3, 3] for n in m.nodes])
    xy = to_world.apply(node_xyz)[:, :2]
    pos = {n.id: xy[i] for i, n in enumerate(m.nodes)}

    has_gt = "gt_pose2d" in ev
    fig, axes = plt.subplots(1, 2 if has_gt else 1, figsize=(16 if has_gt else 9, 7.5))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    draw_floor_plan(ax, m)
    for e in m.edges:
        a, b = pos[e.source], pos[e.target]
        color, lw, alpha = EDGE_STYLE[e.kind]
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=lw, alpha=alpha, zorder=2)
    ax.scatter(xy[:, 0], xy[:, 1], s=12, c="tab:blue", zorder=3, label=f"nodes ({len(m.nodes)})")
    yaw = np.array([n.pose2d[2] for n in m.nodes])
    world_yaw = yaw + np.arctan2(to_world.rotation[1, 0], to_world.rotation[0, 0])
    ax.quiver(xy[:, 0], xy[:, 1], np.cos(world_yaw), np.sin(world_yaw), angles="xy",
              scale_units="xy", scale=3.0, width=0.002, color="tab:blue", zorder=3)  # fmt: skip
    for i in (0, len(m.nodes) - 1):
        ax.annotate(str(m.nodes[i].id), xy[i], fontsize=7, color="tab:blue",
                    xytext=(3, 3), textcoords="offset points")  # fmt: skip
    if m.landmarks:
        lxy = to_world.apply(np.array([lm.position for lm in m.landmarks]))[:, :2]
        ax.scatter(lxy[:, 0], lxy[:, 1], marker="*", s=70, c="tab:red", edgecolors="k",
                   linewidths=0.4, zorder=4, label=f"landmarks ({len(m.landmarks)})")  # fmt: skip
        for lm, p in zip(m.landmarks, lxy):
            ax.annotate(f"{lm.category} #{lm.id}", p, fontsize=6, color="darkred", zorder=5,
                        xytext=(3, -7), textcoords="offset points")  # fmt: skip
    ax.plot([], [], color="tab:blue", lw=1.2, label="sequential edges")
    ax.plot([], [], color="tab:purple", lw=1.0, label="proximity edges")
    ax.plot([], [], color="tab:orange", lw=0.8, label="co-visibility edges")
    md = m.metadata
    scale = "" if md.metric_scale else ", up to scale"
    ax.set_title(
        f"map: {len(m.nodes)} nodes, {len(m.edges)} edges, {len(m.landmarks)} landmarks "
        f"(poses: {md.pose_source}{scale})\n{frame}",
        fontsize=10,
    )
    _finish(ax)

    if has_gt:
        ax = axes[1]
        draw_floor_plan(ax, m)
        gt = np.asarray(ev["gt_pose2d"])
        ax.plot(gt[:, 0], gt[:, 1], "-", color="k", lw=1.5, label="ground truth")
        ax.plot(xy[:, 0], xy[:, 1], "-", color="tab:green", lw=1.2, label=f"{md.pose_source}")
        ax.scatter(gt[0, 0], gt[0, 1], marker="o", s=40, c="k", zorder=4, label="start")
        for i in range(0, len(gt), max(1, len(gt) // 40)):  # error whiskers
            ax.plot([gt[i, 0], xy[i, 0]], [gt[i, 1], xy[i, 1]], color="tab:red", lw=0.6)
        ax.set_title(
            f"keyframe trajectory vs ground truth: ATE {ev['ate_rmse']:.3f} m "
            f"(map frame {ev['ate_rmse_map_frame']:.3f} m), RPE {ev['rpe_trans_rmse']:.3f} m / "
            f"{ev['rpe_rot_rmse_deg']:.2f} deg",
            fontsize=10,
        )
        _finish(ax)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(out_png)
    return out_png


def draw_floor_plan(ax, m: TopoSemanticMap) -> None:
    """Walls, doors and room names of the map's floor plan (world frame), if it has one."""
    fp = m.metadata.floor_plan
    if not fp:
        return
    for i, (x0, y0, x1, y1) in enumerate(fp.get("walls", [])):
        ax.plot([x0, x1], [y0, y1], color="0.35", lw=2.0, solid_capstyle="butt", zorder=1,
                label="walls" if i == 0 else None)  # fmt: skip
    for i, (x0, y0, x1, y1) in enumerate(fp.get("doors", [])):
        ax.plot([x0, x1], [y0, y1], color="white", lw=3.0, solid_capstyle="butt", zorder=1,
                label="doors" if i == 0 else None)  # fmt: skip
        ax.plot([x0, x1], [y0, y1], color="0.35", lw=0.6, ls=":", zorder=1)
    for room in fp.get("rooms", []):
        if "name" in room and "center" in room:
            ax.annotate(room["name"], room["center"], fontsize=8, color="0.5", ha="center")


def _finish(ax) -> None:
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
