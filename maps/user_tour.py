"""A user's own tour: a folder of images or a video, a camera file, optionally odometry.

Format of ``TOUR_DIR`` (one camera; ``astra map build TOUR_DIR`` reads it)::

    camera.json        required, the pinhole camera:
                         {"width": 640, "height": 480,          image size in pixels
                          "fx": 500.0, "fy": 500.0,             focal lengths (px)
                          "cx": 320.0, "cy": 240.0,             principal point (px)
                          "fps": 10.0,                          frame rate (default 10)
                          "camera_height": 1.0,                 m above the floor (default 1.0)
                          "T_ego_cam": [[...4 rows...]]}        optional mounting (4x4, OpenCV
                                                                camera -> REP-103 ego frame);
                                                                default: level, looking forward,
                                                                at camera_height
    images/            the frames as .png / .jpg / .jpeg, in file-name order, all of the size
                       in camera.json; or instead
    <name>.<ext>       one video file: .gif / .apng / .png / .webp / .tif (read with Pillow),
                       or .mp4 / .mov / .avi / .mkv / .webm (needs PyAV, ``pip install av``)
    odometry.csv       optional, the robot's odometry, for metric scale and gravity:
                       a header, then rows ``frame,x,y,yaw`` (frame index) or
                       ``time,x,y,yaw`` (seconds from the first frame; interpolated to the
                       frame times). x, y in m, yaw in rad, REP-103 (x forward, y left).
    groundtruth.csv    optional, the true poses in the same format: evaluation only (ATE/RPE).

Without ``odometry.csv`` the map is up to scale (``metric_scale: false`` in its metadata), its
frame is gravity-aligned from the camera mounting, and keyframes are every ``stride`` frames.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astra_jax.geometry import R_BODY_OPTICAL, se3_from_rt
from astra_jax.maps.schema import CameraInfo
from astra_jax.maps.tour import Tour
from astra_jax.validation import JsonChecker, read_json

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
PIL_VIDEO_EXTS = (".gif", ".apng", ".webp", ".tif", ".tiff")
AV_VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
CAMERA_FILE = "camera.json"


def read_camera(path: Path) -> tuple[CameraInfo, float]:
    """Parse ``camera.json`` into the camera and the frame rate (Hz)."""
    doc = read_json(
        path, missing="missing; a user tour needs camera.json with width, height, fx, fy, cx, cy"
    )
    cam = JsonChecker(path).at(doc)
    w, h = (cam.integer(key, minimum=1) for key in ("width", "height"))
    fx, fy, cx, cy = (cam.number(key, lo=0.0) for key in ("fx", "fy", "cx", "cy"))
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if cam.has("T_ego_cam"):
        t = cam.matrix("T_ego_cam", 4, 4)
        if not np.allclose(t[:3, :3].T @ t[:3, :3], np.eye(3), atol=1e-6):
            cam.fail("T_ego_cam", "a rigid 4x4 transform")
    else:
        t = se3_from_rt(
            R_BODY_OPTICAL, np.array([0.0, 0.0, cam.number("camera_height", 0.0, default=1.0)])
        )
    name = cam.string("name", default="front")
    if "/" in name:
        cam.fail("name", "a plain camera name (no '/')", name)
    return CameraInfo(name, k, t, (h, w)), cam.number("fps", 0.0, default=10.0)


def read_pose_csv(path: Path, num_frames: int, fps: float) -> np.ndarray:
    """Read ``frame|time,x,y,yaw`` rows into (T, 3) poses at the frames."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path}: empty; expected a header and rows frame|time,x,y,yaw")
    header = [c.strip().lower() for c in rows[0]]
    if header not in (["frame", "x", "y", "yaw"], ["time", "x", "y", "yaw"]):
        raise ValueError(f"{path}: header {rows[0]}: expected frame,x,y,yaw or time,x,y,yaw")
    try:
        data = np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: {e}; expected numbers in every row") from None
    if data.ndim != 2 or data.shape[1] != 4 or not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: expected rows of 4 finite numbers")
    if header[0] == "frame":
        frames = data[:, 0].astype(np.int64)
        if sorted(frames.tolist()) != list(range(num_frames)):
            raise ValueError(
                f"{path}: frames {frames.min()}..{frames.max()} ({len(frames)} rows): expected "
                f"one row for each frame 0..{num_frames - 1}"
            )
        out = np.empty((num_frames, 3))
        out[frames] = data[:, 1:]
        return out
    t = data[:, 0]
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{path}: time must increase strictly from row to row")
    frame_t = np.arange(num_frames) / fps
    if frame_t[-1] > t[-1] + 1e-6 or frame_t[0] < t[0] - 1e-6:
        raise ValueError(
            f"{path}: covers {t[0]:.2f}..{t[-1]:.2f} s but the frames span 0..{frame_t[-1]:.2f} s"
        )
    yaw = np.unwrap(data[:, 3])
    out = np.stack(
        [np.interp(frame_t, t, data[:, i]) for i in (1, 2)] + [np.interp(frame_t, t, yaw)], 1
    )
    out[:, 2] = (out[:, 2] + np.pi) % (2 * np.pi) - np.pi
    return out


def _find_video(path: Path) -> Path | None:
    vids = sorted(p for p in path.iterdir() if p.suffix.lower() in PIL_VIDEO_EXTS + AV_VIDEO_EXTS)
    if len(vids) > 1:
        raise ValueError(f"{path}: several video files {[v.name for v in vids]}: expected one")
    return vids[0] if vids else None


def _pil_video_frames(video: Path) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    with Image.open(video) as im:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


def _av_video_frames(video: Path) -> list[np.ndarray]:
    try:
        import av  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError(
            f"{video}: reading {video.suffix} videos needs PyAV (pip install av); or give the "
            "frames as images/ or an animated .gif/.webp/.tif"
        ) from None
    with av.open(str(video)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def load_user_tour(path: Path) -> Tour:
    """Read a user tour directory (format in the module docstring)."""
    camera, fps = read_camera(path / CAMERA_FILE)
    img_dir = path / "images"
    video = None if img_dir.is_dir() else _find_video(path)
    frames_cache: list[np.ndarray] | None = None
    if img_dir.is_dir():
        files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise FileNotFoundError(f"{img_dir}: no .png/.jpg/.jpeg images")
        num_frames = len(files)
    elif video is not None:
        suffix = video.suffix.lower()
        frames_cache = (
            _pil_video_frames(video) if suffix in PIL_VIDEO_EXTS else _av_video_frames(video)
        )
        if not frames_cache:
            raise FileNotFoundError(f"{video}: no frames")
        files = []
        num_frames = len(frames_cache)
    else:
        raise FileNotFoundError(f"{path}: no images/ folder and no video file: a tour has frames")
    h, w = camera.image_hw

    def read(indices: Sequence[int]) -> Iterator[np.ndarray]:
        from PIL import Image

        for i in indices:
            if frames_cache is not None:
                rgb, where = frames_cache[i], f"{video} frame {i}"
            else:
                with Image.open(files[i]) as im:
                    rgb, where = np.asarray(im.convert("RGB")), str(files[i])
            if rgb.shape[:2] != (h, w):
                raise ValueError(
                    f"{where}: image is {rgb.shape[1]}x{rgb.shape[0]} but camera.json says {w}x{h}"
                )
            yield rgb[None]

    odom = gt = None
    if (path / "odometry.csv").is_file():
        odom = read_pose_csv(path / "odometry.csv", num_frames, fps)
    if (path / "groundtruth.csv").is_file():
        gt = read_pose_csv(path / "groundtruth.csv", num_frames, fps)
    info: dict[str, Any] = {"video": video.name if video else None, "fps": fps}
    return Tour(
        path=path,
        kind="user",
        cameras=(camera,),
        timestamps=np.arange(num_frames) / fps,
        odometry=odom,
        ground_truth=gt,
        read_frames=read,
        info=info,
    )
