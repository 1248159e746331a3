"""Episodes on disk: a directory with ``manifest.json`` and one ``.npy`` file per array.

The simulator writes episodes (``astra_jax.sim``: tours and goal runs) and the map build reads
them as tours (``astra_jax.maps``); this module is the format they share. It imports only the
standard library and numpy, so a reader never loads the simulator (MuJoCo, the renderer).
``astra_jax.sim.episode`` re-exports it.

Schema version 1 (shapes: T frames, C cameras, K sensor samples, P path points)::

    manifest.json   schema_version, kind ("tour" | "goal"), world {family, seed, file, name},
                    preset, image_hw [H, W], camera_names [C], num_frames, rates_hz {camera,
                    imu, wheel, physics}, robot {...}, noise {...}, wheel_slip [2],
                    episode_index, landmarks [{id, category, room, room_label,
                    position [x,y,z], yaw, size [d,w,h], elevation, attributes {colour,
                    material, size}, function, obstacle}], rooms [{name, label, polygon}],
                    walls [[x0, y0, x1, y1, thickness, height]], doors (optional, below),
                    goal (null or {landmark_id, category, function, description,
                    instruction, pose [x,y,yaw], reached_m}), stats {...}, tour_rooms
                    (tours), background_id (0), arrays {name: {file, shape, dtype}}
    rgb.npy         (T, C, H, W, 3) uint8
    depth.npy       (T, C, H, W)    float32, z-depth in metres (OpenCV camera z)
    seg.npy         (T, C, H, W)    int32 landmark ids, 0 = walls/floor/ceiling/door frames
    time.npy        (T,)            float64 s
    pose.npy        (T, 3)          float64 world (x, y, yaw), ground truth
    odom_pose.npy   (T, 3)          float64 dead-reckoned from the noisy wheels
    velocity.npy    (T, 2)          float64 commanded (v m/s, omega rad/s) at each frame
    imu.npy         (K, 7)          float64 (t, gyro xyz rad/s, acc xyz m/s^2)
    wheel.npy       (K, 3)          float64 (t, omega_left, omega_right) rad/s
                                    (imu, wheel: each row is the mean over the interval
                                    that ends at its t, from t = 0)
    intrinsics.npy  (C, 3, 3)       float64 pinhole K at image_hw
    extrinsics.npy  (C, 4, 4)       float64 T_ego_cam
    expert_path.npy (P, 2)          float64 the expert's planned path (goal episodes)
    people.npy      (T, N, 3)       float64 each walking person's world (x, y, heading) at
                                    each frame (optional: episodes with people)

Versioning: a new optional manifest field keeps the version (readers ignore fields they do not
know, and treat a missing optional one as empty); a new required field or array, or a changed
meaning, bumps it. Optional manifest fields added within version 1 (an episode written before
them simply lacks them):

    doors           [[x0, y0, x1, y1]] world metres: each door's opening, the stretch of its
                    wall's centre line that the door leaves open (added with the tour format
                    of issue 15; the map plot draws them)
    sensor_errors   {gyro_bias_rad_s [3], gyro_scale_error [3], wheel_radius_error [2]
                    (left, right), track_width_error, floor_m {floor material: metres
                    driven on it}}: the errors the simulator drew for this episode's sensors
                    (``astra_jax.sim.sensors.SensorErrors``; relative errors are fractions,
                    e.g. 0.01 = 1 %) and the floors under the drive, which set its wheel
                    slip (added with issue 16's drifting sensors; evaluation and tests
                    only: a robot does not know them). ``wheel_slip`` [2] has since held
                    each wheel's reading factor from its radius error, 1 / (1 + e), and
                    ``noise`` the new config fields (gyro_bias_std, gyro_scale_std,
                    wheel_radius_std, track_width_std, slip_ratio_at_full_grip; older
                    episodes have wheel_slip_std instead); later still accel_bias_m_s2 [3]
                    and accel_scale_error [3] (noise: accel_bias_std, accel_scale_std;
                    absent in older episodes, whose accelerometer had neither)
    people          {count, density, radius, height, replans, blocked_s, turned_away,
                    min_gap_m}: the walking people (``SimConfig.people``; seg ids 10000 + k,
                    never landmarks; their poses in ``people.npy``) and what they made the
                    expert do: replans around them, time stood in someone's way, walkers who
                    turned away from the robot, the smallest gap between the robot's and a
                    person's discs (added with issue 18; absent: nobody walked)

:func:`save_episode` writes into a temporary sibling directory and renames it into place, so a
reader never sees a half-written episode; it refuses to overwrite an existing path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.validation import JsonChecker, JsonObject, is_number, read_json

SCHEMA_VERSION = 1
ARRAYS = (
    "rgb",
    "depth",
    "seg",
    "time",
    "pose",
    "odom_pose",
    "velocity",
    "imu",
    "wheel",
    "intrinsics",
    "extrinsics",
)
OPTIONAL_ARRAYS = ("expert_path", "people")
DTYPES = {
    "rgb": np.uint8, "depth": np.float32, "seg": np.int32, "time": np.float64, "pose": np.float64,
    "odom_pose": np.float64, "velocity": np.float64, "imu": np.float64, "wheel": np.float64,
    "intrinsics": np.float64, "extrinsics": np.float64, "expert_path": np.float64,
    "people": np.float64,
}  # fmt: skip


class EpisodeError(ValueError):
    """An episode directory is malformed; the message names the file and field."""


@dataclasses.dataclass(frozen=True, eq=False)
class Episode:
    """One episode. Arrays as in the module docstring; ``manifest`` holds everything else."""

    rgb: np.ndarray
    depth: np.ndarray
    seg: np.ndarray
    time: np.ndarray
    pose: np.ndarray
    odom_pose: np.ndarray
    velocity: np.ndarray
    imu: np.ndarray
    wheel: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    manifest: dict[str, Any]
    expert_path: np.ndarray | None = None
    people: np.ndarray | None = None
    path: Path | None = None

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["camera_names"])

    @property
    def image_hw(self) -> tuple[int, int]:
        return tuple(self.manifest["image_hw"])  # type: ignore[return-value]

    @property
    def num_frames(self) -> int:
        return int(self.manifest["num_frames"])

    @property
    def world(self) -> dict[str, Any]:
        """{family, seed, file, name}: enough to rebuild the world."""
        return self.manifest["world"]

    @property
    def landmarks(self) -> list[dict[str, Any]]:
        return self.manifest["landmarks"]

    @property
    def rooms(self) -> list[dict[str, Any]]:
        return self.manifest["rooms"]

    @property
    def doors(self) -> list[list[float]]:
        """Door openings ``[x0, y0, x1, y1]`` (the optional ``doors`` field; empty in an
        episode written before it)."""
        return [[float(v) for v in d] for d in self.manifest.get("doors") or []]

    @property
    def goal(self) -> dict[str, Any] | None:
        return self.manifest.get("goal")

    @property
    def rates_hz(self) -> dict[str, float]:
        return self.manifest["rates_hz"]

    def landmark(self, landmark_id: int) -> dict[str, Any]:
        for lm in self.landmarks:
            if lm["id"] == landmark_id:
                return lm
        raise KeyError(f"landmark id {landmark_id} is not in this episode's table")

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: getattr(self, k) for k in ARRAYS}
        for k in OPTIONAL_ARRAYS:
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


def _check_shapes(ep: Episode, where: str) -> None:
    t = ep.rgb.shape[0]
    c = ep.intrinsics.shape[0]
    h, w = ep.rgb.shape[2:4] if ep.rgb.ndim == 5 else (None, None)
    expect = {
        "rgb": (t, c, h, w, 3), "depth": (t, c, h, w), "seg": (t, c, h, w), "time": (t,), "pose": (t, 3),
        "odom_pose": (t, 3), "velocity": (t, 2), "intrinsics": (c, 3, 3), "extrinsics": (c, 4, 4),
    }  # fmt: skip
    for name, shape in expect.items():
        arr = getattr(ep, name)
        if arr.shape != shape:
            raise EpisodeError(f"{where}: {name}: expected shape {shape}, got {arr.shape}")
    if ep.people is not None and (ep.people.ndim != 3 or ep.people.shape[::2] != (t, 3)):
        raise EpisodeError(f"{where}: people: expected shape ({t}, N, 3), got {ep.people.shape}")
    for name in ("imu", "wheel"):
        arr = getattr(ep, name)
        cols = 7 if name == "imu" else 3
        if arr.ndim != 2 or arr.shape[1] != cols:
            raise EpisodeError(f"{where}: {name}: expected shape (K, {cols}), got {arr.shape}")
    for name, arr in ep.arrays().items():
        if arr.dtype != DTYPES[name]:
            raise EpisodeError(
                f"{where}: {name}: expected dtype {np.dtype(DTYPES[name])}, got {arr.dtype}"
            )
    names = ep.manifest.get("camera_names", [])
    if len(names) != c:
        raise EpisodeError(
            f"{where}: manifest.json camera_names: expected {c} names, got {len(names)}"
        )


def save_episode(episode: Episode, path: str | os.PathLike[str]) -> Path:
    """Write ``episode`` to the directory ``path`` atomically; refuses to overwrite."""
    dest = Path(path)
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists; episodes are never overwritten")
    _check_shapes(episode, str(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        manifest = dict(episode.manifest)
        manifest["schema_version"] = SCHEMA_VERSION
        manifest["arrays"] = {}
        for name, arr in episode.arrays().items():
            arr = np.ascontiguousarray(arr)
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
            manifest["arrays"][name] = {
                "file": f"{name}.npy",
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
            }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=1, sort_keys=True, default=_jsonable) + "\n"
        )
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _check_doors(m: JsonObject) -> None:
    """The optional ``doors`` field: absent (an older episode), or a list of 4 finite numbers
    each."""
    if m.value("doors", None) is None:
        return
    for field, d in m.items("doors"):
        if not (isinstance(d, list) and len(d) == 4 and all(is_number(v) for v in d)):
            m.checker.fail(field, "[x0, y0, x1, y1] in m", d)


def is_episode_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory holding a simulator episode manifest (any version)."""
    mpath = Path(path) / "manifest.json"
    if not mpath.is_file():
        return False
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return (
        isinstance(manifest, dict)
        and "schema_version" in manifest
        and manifest.get("kind") in ("tour", "goal")
    )


def load_episode(path: str | os.PathLike[str], mmap: bool = False) -> Episode:
    """Read an episode directory; ``mmap=True`` memory-maps the arrays (read-only)."""
    root = Path(path)
    mpath = root / "manifest.json"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: episode directory not found")
    manifest = read_json(
        mpath,
        EpisodeError,
        missing=f"missing (is {root} an episode directory?)",
        missing_error=EpisodeError,
    )
    m = JsonChecker(mpath, EpisodeError).at(manifest)
    version = m.value("schema_version", None)
    if version != SCHEMA_VERSION:
        m.fail("schema_version", str(SCHEMA_VERSION), version)
    for key in ("kind", "world", "camera_names", "image_hw", "num_frames", "landmarks", "arrays"):
        m.value(key)  # each must be there
    _check_doors(m)
    listed = m.at("arrays")
    arrays: dict[str, np.ndarray] = {}
    for name in (*ARRAYS, *OPTIONAL_ARRAYS):
        if name in OPTIONAL_ARRAYS and listed.value(name, None) is None:
            continue
        entry = listed.at(name)
        f = root / entry.string("file")
        if not f.is_file():
            raise EpisodeError(f"{f}: missing (listed in manifest.json arrays.{name})")
        arrays[name] = np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
    ep = Episode(**arrays, manifest=manifest, path=root)
    _check_shapes(ep, str(root))
    if ep.rgb.shape[0] != manifest["num_frames"]:
        raise EpisodeError(
            f"{mpath}: num_frames: {manifest['num_frames']} but rgb.npy holds {ep.rgb.shape[0]} frames"
        )
    return ep
