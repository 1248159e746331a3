"""Benchmark of the localization service: round-trip latency of ``POST /v1/localize`` at 1 and
at 16 concurrent clients, serialization included (PNG encoding and base64 on the client, JSON
both ways), against a running ``astra serve`` or one started here.

Each client sends the rig's images of tour frames in turn and waits for the answer before its
next request. Printed: p50 and p95 per concurrency, throughput, and the ratio of the 16-client
throughput to the 1-client one (what batching and the worker threads buy on this machine).

Usage: ``python bench/serve_client.py --tour TOUR_DIR (--url http://HOST:PORT | --map MAP_DIR
[--checkpoint GLOBAL_RUN]) [--requests 64] [--concurrency 1,16] [--json]``. With ``--map`` the
server is started in this process's background (uvicorn in a thread) and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import sys
import threading
import time

import httpx
import numpy as np
from PIL import Image


def _png_b64(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _start_server(map_dir: str, checkpoint: str | None, port: int) -> tuple[str, object]:
    import uvicorn

    from astra_jax.cli.serve import _model_backend
    from astra_jax.global_model.vpr_localizer import VprLocalizer
    from astra_jax.maps.storage import load_map
    from astra_jax.serve.service import Service, create_app, vpr_warm_up

    m = load_map(map_dir)
    if checkpoint:
        make, warm_up = _model_backend(m, checkpoint, "best", 8)
    else:
        make, warm_up = (lambda: VprLocalizer(m)), vpr_warm_up
    server = uvicorn.Server(uvicorn.Config(create_app(Service(m, make, warm_up)),
                                           host="127.0.0.1", port=port, log_level="error"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{port}", server


def _wait_ready(url: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/healthz", timeout=5)
            if r.status_code == 200:
                return r.json()
            if r.json().get("status") == "failed":
                raise SystemExit(f"server failed to start: {r.json().get('error')}")
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout:.0f} s")


async def _run(url: str, frames: list[dict[str, np.ndarray]], requests: int, clients: int
               ) -> tuple[list[float], float]:  # fmt: skip
    """Latencies (ms) of ``requests`` round trips spread over ``clients``, and the wall time."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            frame = frames[i % len(frames)]
            t0 = time.perf_counter()
            body = {"images": {c: _png_b64(im) for c, im in frame.items()}}  # serialization
            r = await http.post("/v1/localize", json=body)
            r.raise_for_status()
            r.json()
            latencies.append(1e3 * (time.perf_counter() - t0))

    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return latencies, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tour", required=True, help="a tour directory whose frames are queries")
    ap.add_argument("--url", help="a running server")
    ap.add_argument("--map", help="start a server on this map here")
    ap.add_argument("--checkpoint", help="with --map: an Astra-Global run (default: VPR)")
    ap.add_argument("--port", type=int, default=8781)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args(argv)
    if (args.url is None) == (args.map is None):
        ap.error("give exactly one of --url and --map")
    from astra_jax.maps.tour import load_tour

    tour = load_tour(args.tour)
    picks = np.linspace(0, tour.num_frames - 1, min(16, tour.num_frames)).astype(int).tolist()
    frames = [{c: rgb[i] for i, c in enumerate(tour.camera_names)}
              for rgb in tour.read_frames(picks)]  # fmt: skip
    url, server = (args.url, None) if args.url else _start_server(args.map, args.checkpoint,
                                                                  args.port)  # fmt: skip
    health = _wait_ready(url)
    rows = {}
    for clients in (int(c) for c in args.concurrency.split(",")):
        asyncio.run(_run(url, frames, min(4, args.requests), clients))  # warm the connection
        lat, wall = asyncio.run(_run(url, frames, args.requests, clients))
        rows[clients] = {"p50_ms": round(statistics.median(lat), 2),
                         "p95_ms": round(float(np.percentile(lat, 95)), 2),
                         "requests_per_s": round(len(lat) / wall, 2)}  # fmt: skip
        r = rows[clients]
        print(f"{clients:>3} concurrent clients: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms,"
              f" {r['requests_per_s']:.2f} requests/s ({args.requests} requests)")  # fmt: skip
    counts = sorted(rows)
    ratio = rows[counts[-1]]["requests_per_s"] / rows[counts[0]]["requests_per_s"]
    print(f"throughput at {counts[-1]} clients / at {counts[0]}: {ratio:.2f}x "
          f"(backend: {health.get('startup', {}).get('backend', 'vpr + refinement')})")  # fmt: skip
    if server is not None:
        server.should_exit = True
    summary = {"url": url, "tour": args.tour, "cpu_count": os.cpu_count(),
               "load_average": os.getloadavg()[0], "requests": args.requests,
               "concurrency": {str(k): v for k, v in rows.items()},
               "ratio_throughput": round(ratio, 2), "startup": health.get("startup")}  # fmt: skip
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
