"""The localization service over real HTTP (uvicorn in a thread) on the tests' simulator map,
with the VPR + refinement backend: readiness, localization, goals, and 50 concurrent requests
mixed with malformed ones."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from astra_jax.global_model.vpr_localizer import VprLocalizer
from astra_jax.maps.alignment import Sim3
from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour
from astra_jax.serve.service import MAX_IMAGE_BYTES, Service, create_app, vpr_warm_up


def _png(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sim_map: Path, sim_tour_dir: Path):
    import uvicorn

    m = load_map(sim_map)
    service = Service(m, lambda: VprLocalizer(m), vpr_warm_up, workers=2)
    port = _free_port()
    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="error")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        pytest.fail(f"the service never became ready: {service.error}")
    episode = load_tour(sim_tour_dir)
    yield {"url": url, "map": m, "episode": episode}
    uv.should_exit = True
    thread.join(timeout=10)


def _query(server, frame: int) -> dict[str, str]:
    ep = server["episode"]
    rgb = next(iter(ep.read_frames([frame])))
    return {c.name: _png(rgb[i]) for i, c in enumerate(ep.cameras)}


def test_ready_openapi_and_a_localization_between_keyframes(server) -> None:
    url, m, ep = server["url"], server["map"], server["episode"]
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ready" and health["nodes"] == len(m.nodes)
    assert health["startup"]["warm_up_source"] == "refined"
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/healthz", "/v1/localize", "/v1/goal"} <= set(paths)
    keyframes = {n.frame_index for n in m.nodes}
    frame = next(f for f in range(20, ep.num_frames) if f not in keyframes)
    r = httpx.post(f"{url}/v1/localize", json={"images": _query(server, frame)}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "refined" and body["confidence"] > 0.5
    to_world = Sim3.from_json(m.metadata.evaluation["gt_from_map"])
    from astra_jax.geometry import se2_from_se3, se3_from_se2

    world = se2_from_se3(to_world.apply_pose(se3_from_se2(np.array(body["pose"]))))
    assert np.hypot(*(world[:2] - ep.ground_truth[frame][:2])) < 0.2


def test_text_and_image_goals(server) -> None:
    url, m = server["url"], server["map"]
    lm = next(lm for lm in m.landmarks if lm.function)
    r = httpx.post(f"{url}/v1/goal", json={"text": lm.category, "pose": [0.0, 0.0, 0.0]})
    assert r.status_code == 200 and r.json()["found"] and r.json()["category"] == lm.category
    node = m.nodes[len(m.nodes) // 2]
    photo = _png(m.load_image(node.id, m.metadata.camera_names[0]))
    r = httpx.post(f"{url}/v1/goal", json={"image": photo}, timeout=60)
    assert r.status_code == 200 and r.json()["node"] == node.id


def test_fifty_concurrent_requests_mixed_with_malformed_ones(server) -> None:
    url, m = server["url"], server["map"]
    good = [_query(server, f) for f in (5, 17, 29, 41)]
    cams = m.metadata.camera_names
    small = _png(np.zeros((8, 8, 3), np.uint8))
    oversize = "A" * (MAX_IMAGE_BYTES * 4 // 3 + 8)
    bad: list[tuple[dict, int]] = [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
        ({"json": {"images": good[0], "extra": 1}}, 422),
        ({"json": {"images": {c: good[0][c] for c in cams[:-1]}}}, 422),
        ({"json": {"images": {**good[0], "thermal": good[0][cams[0]]}}}, 422),
        ({"json": {"images": {**good[0], cams[0]: "***not base64***"}}}, 400),
        ({"json": {"images": {**good[0], cams[0]: base64.b64encode(b"GIF89a...").decode()}}}, 400),
        ({"json": {"images": {**good[0], cams[1]: small}}}, 422),
        ({"json": {"images": {**good[0], cams[2]: oversize}}}, 413),
        ({"json": {"images": "front.png"}}, 422),
        ({"json": []}, 422),
    ]
    goal_bad = [
        ({"json": {"text": "printer", "image": small}}, 422),
        ({"json": {}}, 422),
        ({"json": {"text": ""}}, 422),
        ({"json": {"text": "printer", "pose": [1.0, 2.0]}}, 422),
    ]
    requests: list[tuple[str, dict, int]] = []
    for i in range(50):
        if i % 2 == 0:
            requests.append(("/v1/localize", {"json": {"images": good[(i // 2) % 4]}}, 200))
        elif i % 6 == 1:
            requests.append(("/v1/goal", *goal_bad[(i // 6) % len(goal_bad)]))
        else:
            requests.append(("/v1/localize", *bad[(i // 2) % len(bad)]))

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            return await asyncio.gather(*(client.post(p, **kw) for p, kw, _ in requests))

    responses = asyncio.run(send_all())
    assert len(responses) == 50
    for (path, kw, want), r in zip(requests, responses, strict=True):
        assert r.status_code == want, (path, str(kw)[:120], r.status_code, r.text[:200])
        if want == 200:
            assert r.json()["pose"] is not None and np.all(np.isfinite(r.json()["pose"]))
        else:
            assert r.json()["detail"]  # a message, never an empty error
    assert sum(w == 200 for *_, w in requests) == 25
    assert httpx.get(f"{url}/healthz").json()["status"] == "ready"  # still up


def test_not_ready_until_warmed_up(sim_map: Path) -> None:
    from fastapi.testclient import TestClient

    m = load_map(sim_map)
    release = threading.Event()

    def slow_localizer():
        release.wait(60)
        return VprLocalizer(m)

    with TestClient(create_app(Service(m, slow_localizer))) as client:
        assert client.get("/healthz").status_code == 503
        r = client.post("/v1/goal", json={"text": "printer"})
        assert r.status_code == 503 and "warming up" in r.json()["detail"]
        release.set()
        deadline = time.monotonic() + 60
        while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/healthz").json()["status"] == "ready"

    def broken():
        raise FileNotFoundError("no such map")

    with TestClient(create_app(Service(m, broken))) as client:
        deadline = time.monotonic() + 10
        while client.get("/healthz").json()["status"] == "starting" and time.monotonic() < deadline:
            time.sleep(0.05)
        r = client.get("/healthz")
        assert r.status_code == 503 and "no such map" in r.json()["error"]
