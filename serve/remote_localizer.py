"""The localizer interface over HTTP: a client of ``astra serve`` (:mod:`astra_jax.serve.service`).

:class:`RemoteLocalizer` has the methods the navigator calls on an in-process localizer
(``localize(images) -> Localization``, ``text_goal(text, robot_xy) -> TextGoal | None``) and
``image_goal``, and sends them to a localization service: on the robot's own computer in a
process of its own (:class:`~astra_jax.serve.localizer_process.LocalizerProcess`), or on another
machine. The images travel as PNG (lossless: the service localizes the very pixels the robot
took, so the answers are the in-process localizer's; compression level 1, ~17 ms for three
320 x 240 images on one core).

Failures:

* construction waits for ``GET /healthz`` to say ready (at most ``ready_timeout`` s) and raises
  :class:`LocalizerServiceError` naming the URL if it does not, or if the service's localizer
  failed to start;
* a request the service rejects (4xx: wrong cameras, image sizes, fields) is the caller's bug:
  ``ValueError`` with the service's reason;
* a service that cannot be reached, times out or fails (5xx) mid-run is what a robot meets when
  its localization service restarts: ``localize`` answers *no fix* (``pose2d`` None, ``source``
  ``"none"``, ``reason`` naming the error), the pose filter goes on with odometry, and
  :attr:`RemoteLocalizer.failures` counts them; goal requests raise
  :class:`LocalizerServiceError` (a goal cannot be guessed).
"""

from __future__ import annotations

import base64
import io
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from astra_jax.global_model.localize import Localization, TextGoal

log = logging.getLogger(__name__)


class LocalizerServiceError(RuntimeError):
    """The localization service is not there, not ready, or failed."""


def png_base64(image: np.ndarray, compress_level: int = 1) -> str:
    """uint8 (H, W, 3) -> base64 PNG text (the service's image encoding)."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image: {image.dtype} {image.shape}; expected uint8 (H, W, 3)")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(
        buf, format="PNG", compress_level=compress_level
    )
    return base64.b64encode(buf.getvalue()).decode("ascii")


class RemoteLocalizer:
    """``localize`` / ``text_goal`` / ``image_goal`` through ``astra serve`` at ``url``.

    Args:
      url: the service's base URL, e.g. ``http://127.0.0.1:8080``.
      timeout: seconds for one request (a fix that takes longer is *no fix*).
      ready_timeout: seconds to wait for the service to be ready (0: ask once).
      alive: called while waiting; returning a reason (str) stops the wait with that reason
        (a child process that exited).
      client: an ``httpx.Client`` to send through, with its own timeout (tests pass FastAPI's
        ``TestClient``); default a new one with ``timeout``.
    """

    def __init__(self, url: str, *, timeout: float = 60.0, ready_timeout: float = 0.0,
                 alive: Callable[[], str | None] | None = None,
                 client: httpx.Client | None = None) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self.failures = 0
        self.health = self._wait_ready(ready_timeout, alive)
        self.cameras: tuple[str, ...] = tuple(self.health["cameras"])

    # ------------------------------------------------------------------ requests

    def _wait_ready(self, ready_timeout: float,
                    alive: Callable[[], str | None] | None) -> dict[str, Any]:  # fmt: skip
        deadline = time.monotonic() + ready_timeout
        last = "no answer yet"
        while True:
            why = alive() if alive is not None else None
            if why is not None:
                raise LocalizerServiceError(f"localization service {self.url}: {why}")
            try:
                r = self._client.get(f"{self.url}/healthz")
                body = r.json()
                if r.status_code == 200:
                    return body
                if body.get("status") == "failed":
                    raise LocalizerServiceError(f"localization service {self.url} failed to "
                                                f"start: {body.get('error')}")  # fmt: skip
                last = f"HTTP {r.status_code} {body.get('status', '')}".strip()
            except (httpx.HTTPError, ValueError) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                raise LocalizerServiceError(f"localization service {self.url} not ready after "
                                            f"{ready_timeout:g} s ({last})")  # fmt: skip
            time.sleep(0.2)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST; 4xx -> ValueError, transport errors and 5xx -> LocalizerServiceError."""
        try:
            r = self._client.post(f"{self.url}{path}", json=body)
        except httpx.HTTPError as e:
            raise LocalizerServiceError(f"{self.url}{path}: {type(e).__name__}: {e}") from e
        if 400 <= r.status_code < 500 and r.status_code != 408:
            raise ValueError(f"{self.url}{path} refused the request: HTTP {r.status_code} "
                             f"{_detail(r)}")  # fmt: skip
        if r.status_code != 200:
            raise LocalizerServiceError(f"{self.url}{path}: HTTP {r.status_code} {_detail(r)}")
        return r.json()

    # ------------------------------------------------------------------ the localizer interface

    def localize(self, images: Mapping[str, np.ndarray]) -> Localization:
        """The rig's images (camera -> uint8 (H, W, 3)) -> the service's fix, or *no fix* when
        the service cannot answer (module docstring)."""
        if set(images) != set(self.cameras):
            raise ValueError(f"images: cameras {sorted(images)}; the service's map has "
                             f"{sorted(self.cameras)}")  # fmt: skip
        t0 = time.perf_counter()
        body = {"images": {c: png_base64(im) for c, im in images.items()}}
        encode = time.perf_counter() - t0
        try:
            a = self._post("/v1/localize", body)
        except LocalizerServiceError as e:
            self.failures += 1
            log.warning("no fix: %s", e)
            return Localization(None, None, 0.0, "none", (), (),
                                {"encode": encode, "request": time.perf_counter() - t0 - encode},
                                reason=str(e))  # fmt: skip
        timings = {k: float(v) for k, v in a["timings_s"].items()}
        timings["encode"], timings["request"] = encode, time.perf_counter() - t0 - encode
        pose = None if a["pose"] is None else np.asarray(a["pose"], np.float64)
        return Localization(pose, a["node"], float(a["confidence"]), a["source"],
                            tuple(a["landmarks"]), tuple(a["candidates"]), timings,
                            reason=a["reason"])  # fmt: skip

    def text_goal(self, instruction: str, robot_xy: Sequence[float] | None = None
                  ) -> TextGoal | None:  # fmt: skip
        """The service's goal for an instruction, searched outward from ``robot_xy`` (m)."""
        body: dict[str, Any] = {"text": instruction}
        if robot_xy is not None:
            body["pose"] = [float(robot_xy[0]), float(robot_xy[1]), 0.0]
        a = self._post("/v1/goal", body)
        if not a["found"]:
            return None
        radius = math.inf if a.get("radius") is None else float(a["radius"])
        return TextGoal(int(a["landmark"]), int(a["node"]), np.asarray(a["pose"], np.float64),
                        radius, float(a["seconds"]))  # fmt: skip

    def image_goal(self, image: np.ndarray) -> Localization:
        """Where a photo of the goal place was taken: its node and the node's pose."""
        a = self._post("/v1/goal", {"image": png_base64(image)})
        if not a["found"]:
            return Localization(None, None, 0.0, "none", (), (), {"request": a["seconds"]},
                                reason="the service found no goal for the image")  # fmt: skip
        return Localization(np.asarray(a["pose"], np.float64), int(a["node"]),
                            float(a.get("confidence") or 0.0), "image_goal", (), (),
                            {"request": float(a["seconds"])})  # fmt: skip

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RemoteLocalizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        detail = r.text
    return str(detail)[:500]
