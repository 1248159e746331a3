"""``astra serve``: the localization service (FastAPI), one map per process.

Endpoints (the OpenAPI schema is at ``/openapi.json``, docs at ``/docs``):

* ``GET /healthz``: 200 ``{"status": "ready", ...}`` once the localizer is built and every
  served shape has run once (the model's batch buckets per prompt kind, SIFT, refinement);
  503 ``{"status": "starting"}`` before. ``/v1`` requests get 503 until then too.
* ``POST /v1/localize``: ``{"images": {camera: base64 PNG or JPEG}}`` with every camera of the
  map's rig -> ``{"pose": [x, y, yaw] | null, "node", "confidence", "source", "landmarks",
  "candidates", "reason", "timings_s"}`` in the map frame (m, rad).
* ``POST /v1/goal``: ``{"text": "I need to print a document", "pose": [x, y, yaw]?}`` or
  ``{"image": base64}`` -> ``{"found", "node", "pose", "landmark", "category", "radius" (a text
  goal's search radius, m; null: the whole map), "confidence" (an image goal's), ...}``.

Requests are checked before any work: unknown or missing fields and wrong types are 422 (with
pydantic's field paths); a body over :data:`MAX_BODY_BYTES` or an image over
:data:`MAX_IMAGE_BYTES` is 413; bad base64 or an undecodable image is 400; cameras other than
the rig's, or an image of another size than the map's camera, are 422. Inference runs in worker
threads, never on the event loop; with a model, concurrent requests share batches
(:class:`~astra_jax.serve.batching.BatchedAnswerer`).
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from astra_jax.maps.schema import TopoSemanticMap

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024  # one decoded (base64-free) image file
MAX_IMAGE_PIXELS = 4096 * 4096


class LocalizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: dict[str, str] = Field(description="camera name -> base64 PNG or JPEG, every camera")


class GoalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, min_length=1, max_length=500, description="an instruction")
    image: str | None = Field(None, description="base64 PNG or JPEG of the goal place")
    pose: list[float] | None = Field(None, min_length=3, max_length=3,
                                     description="the robot's pose (x, y, yaw) for a text goal's "
                                     "expanding search")  # fmt: skip


class LocalizeResponse(BaseModel):
    pose: list[float] | None
    node: int | None
    confidence: float
    source: str
    landmarks: list[int]
    candidates: list[int]
    reason: str
    timings_s: dict[str, float]


class GoalResponse(BaseModel):
    found: bool
    node: int | None = None
    pose: list[float] | None = None
    landmark: int | None = None
    category: str | None = None
    function: str | None = None
    radius: float | None = Field(None, description="a text goal's search radius (m) at which it "
                                 "was found; null: the whole map")  # fmt: skip
    confidence: float | None = Field(None, description="an image goal's localization confidence")
    seconds: float


def decode_image(name: str, data: str, hw: tuple[int, int] | None) -> np.ndarray:
    """base64 PNG/JPEG -> uint8 (H, W, 3); HTTPException 413 / 400 / 422 naming ``name``."""
    from PIL import Image

    if len(data) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise HTTPException(413, f"{name}: image over {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, f"{name}: not base64") from None
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.format not in ("PNG", "JPEG"):
                raise HTTPException(400, f"{name}: {im.format} image; expected PNG or JPEG")
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise HTTPException(413, f"{name}: {im.width}x{im.height} pixels is too large")
            rgb = np.asarray(im.convert("RGB"))
    except HTTPException:
        raise
    except Exception:  # (PIL raises many kinds for broken files)
        raise HTTPException(400, f"{name}: not a decodable PNG or JPEG image") from None
    if hw is not None and rgb.shape[:2] != tuple(hw):
        raise HTTPException(422, f"{name}: {rgb.shape[1]}x{rgb.shape[0]} image; the map's camera "
                                 f"takes {hw[1]}x{hw[0]}")  # fmt: skip
    return rgb


class Service:
    """The map, the localizer (built and warmed up off the event loop) and readiness."""

    def __init__(self, m: TopoSemanticMap, make_localizer: Callable[[], Any],
                 warm_up: Callable[[Any], dict[str, Any]] | None = None,
                 workers: int = 4) -> None:  # fmt: skip
        self.map = m
        self.cameras = {c.name: tuple(c.image_hw) for c in m.metadata.cameras}
        self.localizer: Any = None
        self.ready = threading.Event()
        self.error: str | None = None
        self.startup: dict[str, Any] = {}
        self.limiter = anyio.CapacityLimiter(workers)
        self._make, self._warm_up = make_localizer, warm_up

    def start(self) -> None:
        """Build and warm up the localizer (call from a thread)."""
        t0 = time.perf_counter()
        try:
            localizer = self._make()
            self.startup = self._warm_up(localizer) if self._warm_up else {}
            self.startup["seconds"] = round(time.perf_counter() - t0, 3)
            self.localizer = localizer
            self.ready.set()
        except Exception as e:  # (reported by /healthz, the server stays up)
            self.error = f"{type(e).__name__}: {e}"

    def require_ready(self) -> None:
        if not self.ready.is_set():
            raise HTTPException(503, self.error or "starting: the localizer is warming up")

    def query_images(self, images: dict[str, str]) -> dict[str, np.ndarray]:
        if set(images) != set(self.cameras):
            raise HTTPException(422, f"images: cameras {sorted(images)}; expected exactly the "
                                     f"map's rig {sorted(self.cameras)}")  # fmt: skip
        return {c: decode_image(f"images[{c!r}]", d, self.cameras[c]) for c, d in images.items()}


def create_app(service: Service) -> FastAPI:
    """The FastAPI app of ``service``; its lifespan starts the warm-up in a thread."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=service.start, name="warm-up", daemon=True).start()
        yield

    app = FastAPI(title="astra-jax localization", version="1", lifespan=lifespan)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            return JSONResponse({"detail": f"body over {MAX_BODY_BYTES // 2**20} MiB"}, 413)
        return await call_next(request)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        if not service.ready.is_set():
            body = {"status": "failed" if service.error else "starting", "error": service.error}
            return JSONResponse(body, 503)
        m = service.map
        return JSONResponse({"status": "ready", "map": str(m.root), "nodes": len(m.nodes),
                             "landmarks": len(m.landmarks), "cameras": list(service.cameras),
                             "startup": service.startup})  # fmt: skip

    @app.post("/v1/localize", response_model=LocalizeResponse)
    async def localize(body: LocalizeRequest) -> LocalizeResponse:
        service.require_ready()
        images = service.query_images(body.images)
        loc = await anyio.to_thread.run_sync(service.localizer.localize, images,
                                             limiter=service.limiter)  # fmt: skip
        pose = None if loc.pose2d is None else [float(v) for v in loc.pose2d]
        return LocalizeResponse(pose=pose, node=loc.node_id, confidence=float(loc.confidence),
                                source=loc.source, landmarks=list(loc.matched_landmarks),
                                candidates=list(loc.candidates), reason=loc.reason,
                                timings_s={k: float(v) for k, v in loc.timings.items()})  # fmt: skip

    @app.post("/v1/goal", response_model=GoalResponse)
    async def goal(body: GoalRequest) -> GoalResponse:
        service.require_ready()
        if (body.text is None) == (body.image is None):
            raise HTTPException(422, "give exactly one of text and image")
        t0 = time.perf_counter()
        if body.image is not None:
            if body.pose is not None:
                raise HTTPException(422, "pose: only for a text goal")
            camera = next(iter(service.cameras))
            image = decode_image("image", body.image, service.cameras[camera])
            loc = await anyio.to_thread.run_sync(service.localizer.image_goal, image,
                                                 limiter=service.limiter)  # fmt: skip
            if loc.node_id is None:
                return GoalResponse(found=False, seconds=time.perf_counter() - t0)
            node = service.map.node(loc.node_id)
            return GoalResponse(found=True, node=node.id, pose=[float(v) for v in node.pose2d],
                                confidence=float(loc.confidence),
                                seconds=time.perf_counter() - t0)  # fmt: skip
        robot = None if body.pose is None else body.pose[:2]
        if body.pose is not None and not all(np.isfinite(body.pose)):
            raise HTTPException(422, "pose: expected finite numbers")
        found = await anyio.to_thread.run_sync(service.localizer.text_goal, body.text, robot,
                                               limiter=service.limiter)  # fmt: skip
        if found is None:
            return GoalResponse(found=False, seconds=time.perf_counter() - t0)
        lm = service.map.landmark(found.landmark_id)
        return GoalResponse(found=True, node=found.node_id,
                            pose=[float(v) for v in found.pose2d], landmark=lm.id,
                            category=lm.category, function=lm.function or None,
                            radius=float(found.radius) if np.isfinite(found.radius) else None,
                            seconds=time.perf_counter() - t0)  # fmt: skip

    return app


def vpr_warm_up(localizer: Any) -> dict[str, Any]:
    """Localize the map's first node from its own images once (SIFT, VPR, refinement)."""
    m = localizer.map
    node = m.nodes[0]
    images = {c: m.load_image(node.id, c) for c in m.metadata.camera_names}
    t0 = time.perf_counter()
    loc = localizer.localize(images)
    return {"warm_up_source": loc.source, "warm_up_s": round(time.perf_counter() - t0, 3)}
