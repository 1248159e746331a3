"""A grain random-access source of the heads' training examples, read from the head cache.

Example ``i`` is tick k >= 1 of one cached episode (:mod:`astra_jax.data.head_cache`), with an
odometry window of W frame pairs ending at tick k (its keys only with ``odometry``)::

    bev          (X, Y, C) float16     the encoder's features of tick k (the planning condition)
    bev_seq      (W+1, X, Y, C) float16 ticks k-W .. k, oldest first (zeros before tick 0)
    odom_valid   (W,) bool             pair i (ticks k-W+i-1 -> k-W+i) exists in the episode
    imu          (W, S_imu, 6) float32 raw IMU samples of each pair's interval (with
                                       ``gyro_scale_label``, the gyro's z rate divided by the
                                       drive's online scale from those labels)
    wheel        (W, S_wheel, 2) float32 wheel rates of each pair's interval
    odom_target  (3,) float32          ground-truth motion of the latest pair (k-1 -> k)
    subgoal      (2,) float32          ego-frame subgoal (m)
    velocity     (2,) float32          (v m/s, omega rad/s)
    expert       (n, 3) float32        the expert's next n ego poses
    esdf         (Ex, Ey) float16      the world's ESDF around the robot (m)

Arrays are memory-mapped and opened lazily in the reading process, so the source pickles
cheaply into grain workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.data.array_open import ARRAY_OPEN_LOCK
from astra_jax.data.head_labels import GYRO_SCALE_KEYS


class HeadSamples:
    """Ticks 1..K-1 of every cached episode in ``entries``, as examples.

    Args:
        entries: cache entry directories (:func:`~astra_jax.data.head_cache.ensure_head_cache`).
        window: odometry frame pairs per example (W).
        interleave: order examples round-robin over the episodes, so any prefix (the first
            evaluation batches) spans every episode.
        odometry: serve the odometry window (``bev_seq``, ``odom_valid``, ``imu``, ``wheel``,
            ``odom_target``); off for a planning-only model, which then never reads the W+1
            feature maps (23 MB per small example).
        gyro_scale_label: divide the gyro's z rate by these labels' per-sample scales
            (``OdometryHeadConfig.gyro_scale_label``: ``gyro_scale``, fitted against the
            centripetal force, or ``gyro_scale_scan``, against the depth scans' turns); None
            reads the gyro as recorded.
    """

    def __init__(self, entries: Sequence[Path], window: int, *, interleave: bool = False,
                 odometry: bool = True, gyro_scale_label: str | None = None) -> None:  # fmt: skip
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"window = {window!r}: expected a positive int")
        if not entries:
            raise ValueError("HeadSamples: expected at least one cache entry")
        self.entries = [Path(e) for e in entries]
        self.window = window
        self.odometry = odometry
        if gyro_scale_label is not None and gyro_scale_label not in GYRO_SCALE_KEYS:
            raise ValueError(
                f"gyro_scale_label = {gyro_scale_label!r}: expected None or one of "
                f"{GYRO_SCALE_KEYS} (the labels holding gyro scales)"
            )
        self.gyro_scale_label = gyro_scale_label
        rows = []
        for e, path in enumerate(self.entries):
            with np.load(path / "labels.npz") as z:
                num_ticks = len(z["frame"])
            rows += [(e, rank, k) for rank, k in enumerate(range(1, num_ticks))]
        if not rows:
            raise ValueError(
                f"HeadSamples: the {len(entries)} episodes have no tick after the first"
            )
        table = np.asarray(rows, np.int64)
        if interleave:
            table = table[np.lexsort((table[:, 0], table[:, 1]))]
        self.table = table[:, [0, 2]]
        self._open: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (
            f"HeadSamples({len(self.entries)} episodes, {len(self)} examples, window {self.window})"
        )

    def episode(self, e: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(features (K, X, Y, C) memory-mapped, labels) of entry ``e``; the labels hold
        ``extra`` (K, X, Y, E) too when the entry has the 4D planner's extra condition."""
        if e in self._open:
            return self._open[e]
        with ARRAY_OPEN_LOCK:  # np.load from reader threads (see array_open)
            return self._open_episode(e)

    def _open_episode(self, e: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if e not in self._open:
            path = self.entries[e]
            feats = np.load(path / "features.npy", mmap_mode="r", allow_pickle=False)
            with np.load(path / "labels.npz") as z:
                labels = {k: z[k] for k in z.files}
            if (path / "extra.npy").is_file():
                labels["extra"] = np.load(path / "extra.npy", mmap_mode="r", allow_pickle=False)
            self._open[e] = (feats, labels)
        return self._open[e]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        e, k = (int(v) for v in self.table[index])
        feats, lab = self.episode(e)
        planning = {
            "bev": np.array(feats[k]),
            "subgoal": lab["subgoal"][k],
            "velocity": lab["velocity"][k],
            "expert": lab["expert"][k],
            "esdf": lab["esdf"][k],
        }
        if "extra" in lab:
            planning["extra"] = np.array(lab["extra"][k])
        if not self.odometry:
            return planning
        w = self.window
        first = k - w  # tick of the window's oldest frame
        seq = np.zeros((w + 1, *feats.shape[1:]), np.float16)
        lo = max(first, 0)
        seq[lo - first :] = feats[lo : k + 1]
        later = np.arange(first + 1, k + 1)  # each pair's later tick
        valid = later >= 1
        idx = np.clip(later, 0, None)
        imu = np.where(valid[:, None, None], lab["imu"][idx], 0.0).astype(np.float32)
        if self.gyro_scale_label is not None:
            key = self.gyro_scale_label
            if key not in lab:
                raise ValueError(f"{self.entries[e]}: labels without {key} (an old cache entry)")
            scale = lab[key][idx, :, 0]
            has = valid[:, None] & (scale > 0)  # padded samples have no scale (and no rate)
            imu[..., 2] = np.where(has, imu[..., 2] / np.where(has, scale, 1.0), imu[..., 2])
        wheel = np.where(valid[:, None, None], lab["wheel"][idx], 0.0).astype(np.float32)
        return {
            **planning,
            "bev_seq": seq,
            "odom_valid": valid,
            "imu": imu,
            "wheel": wheel,
            "odom_target": lab["odom_target"][k],
        }

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": {}}
