"""Pictures of the 3D/4D stages' evaluations: rendered future depth and colour beside the real
future frames with the occupancy (the paper's Fig. 14), and predicted occupancy beside the
true one (top views, any layer occupied; ego x up, y left)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ray_image(values: np.ndarray, cameras: int, rows: int, cols: int) -> np.ndarray:
    """(R, ...) per-ray values of the rig's rays (camera-major, rows, columns) -> one image
    (rows, cameras * cols, ...) with the cameras side by side."""
    per_cam = values.reshape(cameras, rows, cols, *values.shape[1:])
    return np.concatenate(list(per_cam), axis=1)


def save_forecast_pictures(
    path: Path,
    futures: list[float],
    shape: tuple[int, int, int],
    truth: tuple[np.ndarray, np.ndarray],
    renders: dict[str, tuple[np.ndarray, np.ndarray]],
    occupancy: dict[str, np.ndarray],
    labels: np.ndarray,
) -> None:
    """One figure: a row per future; columns true depth, each method's rendered depth, true
    colour, the 4D colour, true occupancy and each method's (top view: any layer occupied).

    Args:
      path: the PNG to write (through a temporary file).
      futures: (F,) seconds after the current frame.
      shape: (cameras, ray rows, ray columns).
      truth: depth (F, R) m and colour (F, R, 3) of the real future frames.
      renders: method -> (depth (F, R), colour (F, R, 3)).
      occupancy: method -> predicted occupancy (F, X, Y, Z) bool, in each future's ego frame.
      labels: (F, X, Y, Z) true labels (0 free) at the futures' true poses.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(renders)
    cols = 1 + len(methods) + 2 + 1 + len(occupancy)
    fig, axes = plt.subplots(len(futures), cols, figsize=(2.2 * cols, 1.6 * len(futures)),
                             squeeze=False)  # fmt: skip
    vmax = float(np.nanmax(truth[0])) or 1.0
    for k, t in enumerate(futures):
        panels = [("true depth", ray_image(truth[0][k], *shape), "depth")]
        panels += [(f"{m} depth", ray_image(renders[m][0][k], *shape), "depth") for m in methods]
        panels.append(("true colour", ray_image(truth[1][k], *shape), "rgb"))
        last = methods[-1]
        panels.append((f"{last} colour", ray_image(renders[last][1][k], *shape), "rgb"))
        panels.append(("true occupancy", (labels[k] != 0).any(-1), "occ"))
        panels += [(f"{m} occupancy", occupancy[m][k].any(-1), "occ") for m in occupancy]
        for ax, (title, image, kind) in zip(axes[k], panels):
            if kind == "depth":
                ax.imshow(image, vmin=0, vmax=vmax, cmap="viridis")
            elif kind == "rgb":
                ax.imshow(np.clip(image, 0, 1))
            else:  # top view, ego x up, y left
                ax.imshow(np.rot90(image), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{title} +{t:g}s" if kind != "occ" or k == 0 else title, fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def save_occupancy_pictures(
    path: Path, labels: np.ndarray, valid: np.ndarray, predictions: dict[str, np.ndarray]
) -> None:
    """A row per window: true occupancy (grey: outside the building) and each run's.

    Args:
      labels: (W, X, Y, Z) true labels (0 free); valid: (W, X, Y) columns in the building.
      predictions: run label -> (W, X, Y, Z) bool predicted occupancy.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 + len(predictions)
    fig, axes = plt.subplots(len(labels), cols, figsize=(2.4 * cols, 2.2 * len(labels)),
                             squeeze=False)  # fmt: skip
    for k in range(len(labels)):
        true = np.where(valid[k], (labels[k] != 0).any(-1).astype(float), 0.5)
        panels = [("true", true)] + [(name, p[k].any(-1).astype(float))
                                      for name, p in predictions.items()]  # fmt: skip
        for ax, (title, image) in zip(axes[k], panels):
            ax.imshow(np.rot90(image), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
