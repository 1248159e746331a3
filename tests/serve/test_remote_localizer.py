"""The localizer over HTTP (:mod:`astra_jax.serve.remote_localizer`) against the service on the
tests' simulator map: the same answers as the localizer in process, and each failure named; and
the localizer in a child process (:mod:`astra_jax.serve.localizer_process`), every thread of it
at the asked niceness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astra_jax.global_model.localize import Localization
from astra_jax.global_model.vpr_localizer import VprLocalizer
from astra_jax.maps.storage import load_map
from astra_jax.maps.tour import load_tour
from astra_jax.serve.localizer_process import LocalizerProcess, free_port
from astra_jax.serve.remote_localizer import LocalizerServiceError, RemoteLocalizer
from astra_jax.serve.service import Service, create_app, vpr_warm_up


def _images(tour_dir: Path, m, frame: int) -> dict[str, np.ndarray]:
    ep = load_tour(tour_dir)
    rgb = next(iter(ep.read_frames([frame])))
    return {c.name: rgb[i] for i, c in enumerate(ep.cameras)}


def _between_keyframes(m) -> int:
    keyframes = {n.frame_index for n in m.nodes}
    return next(f for f in range(20, 48) if f not in keyframes)


@pytest.fixture(scope="module")
def served(sim_map: Path):
    """The service's app in process (FastAPI's TestClient) and the in-process localizer."""
    from fastapi.testclient import TestClient

    m = load_map(sim_map)
    local = VprLocalizer(m)
    with TestClient(create_app(Service(m, lambda: local, vpr_warm_up))) as client:
        remote = RemoteLocalizer("http://testserver", client=client, ready_timeout=120)
        yield m, local, remote


def _same(a: Localization, b: Localization) -> None:
    assert a.source == b.source and a.node_id == b.node_id
    assert a.confidence == pytest.approx(b.confidence)
    assert a.matched_landmarks == b.matched_landmarks and a.candidates == b.candidates
    assert a.reason == b.reason
    np.testing.assert_allclose(a.pose2d, b.pose2d, rtol=0, atol=1e-12)


def test_the_same_answers_as_in_process(served, sim_tour_dir: Path) -> None:
    m, local, remote = served
    assert set(remote.cameras) == set(m.metadata.camera_names)
    images = _images(sim_tour_dir, m, _between_keyframes(m))
    there, here = remote.localize(images), local.localize(images)
    assert there.source == "refined"  # a real fix, not the no-fix answer
    _same(there, here)
    assert {"encode", "request"} <= set(there.timings) and remote.failures == 0

    lm = next(lm for lm in m.landmarks if lm.function)
    goal_there = remote.text_goal(lm.category, [0.0, 0.0])
    goal_here = local.text_goal(lm.category, [0.0, 0.0])
    assert goal_there is not None and goal_here is not None
    assert goal_there.landmark_id == goal_here.landmark_id
    assert goal_there.node_id == goal_here.node_id
    assert goal_there.radius == goal_here.radius  # inf (the whole map) travels as null
    np.testing.assert_allclose(goal_there.pose2d, goal_here.pose2d)
    assert remote.text_goal("zzqx unobtainium flux capacitor", None) is None

    node = m.nodes[len(m.nodes) // 2]
    photo = m.load_image(node.id, m.metadata.camera_names[0])
    assert remote.image_goal(photo).node_id == local.image_goal(photo).node_id == node.id


def test_wrong_requests_are_the_callers_errors(served, sim_tour_dir: Path) -> None:
    m, _, remote = served
    images = _images(sim_tour_dir, m, 20)
    with pytest.raises(ValueError, match="cameras"):
        remote.localize(dict(list(images.items())[:1]))
    small = {c: im[::2, ::2].copy() for c, im in images.items()}
    with pytest.raises(ValueError, match=r"refused the request: HTTP 422.*takes"):
        remote.localize(small)
    with pytest.raises(ValueError, match="uint8"):
        remote.localize({c: im.astype(np.float32) for c, im in images.items()})
    assert remote.failures == 0


def test_a_failing_service_is_no_fix_and_counted(sim_map: Path, sim_tour_dir: Path) -> None:
    from fastapi.testclient import TestClient

    m = load_map(sim_map)

    class Crashing:
        def localize(self, images):
            raise RuntimeError("the GPU fell off")

    app = create_app(Service(m, Crashing))
    with TestClient(app, raise_server_exceptions=False) as client:
        remote = RemoteLocalizer("http://testserver", client=client, ready_timeout=30)
        loc = remote.localize(_images(sim_tour_dir, m, 20))
    assert loc.pose2d is None and loc.source == "none" and "HTTP 500" in loc.reason
    assert remote.failures == 1


def test_a_service_that_is_not_there_or_failed_is_named(sim_map: Path) -> None:
    from fastapi.testclient import TestClient

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LocalizerServiceError, match=rf"{url} not ready after 0.5 s.*Connect"):
        RemoteLocalizer(url, ready_timeout=0.5)

    def broken():
        raise FileNotFoundError("no such vocabulary")

    app = create_app(Service(load_map(sim_map), broken))
    with TestClient(app) as client, pytest.raises(LocalizerServiceError,
                                                  match=r"failed to start.*no such vocabulary"):  # fmt: skip
        RemoteLocalizer("http://testserver", client=client, ready_timeout=30)


def _thread_nices(pid: int) -> list[int]:
    """The niceness of every thread of a process (field 19 of /proc/PID/task/TID/stat)."""
    out = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended while we looked
            continue
        out.append(int(fields[16]))  # fields after the name start at field 3
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness per thread: Linux")
def test_lower_process_priority_reaches_threads_started_before() -> None:
    # in a child interpreter: the test process keeps its priority
    code = (
        "import threading, os, time\n"
        "from astra_jax.serve.priority import lower_process_priority\n"
        "stop = threading.Event()\n"
        "before = threading.Thread(target=stop.wait); before.start()\n"
        "lowered = lower_process_priority(7)\n"
        "after = threading.Thread(target=stop.wait); after.start()\n"
        "nice = lambda t: os.getpriority(os.PRIO_PROCESS, t.native_id)\n"
        "print(lowered, nice(before), nice(after), os.getpriority(os.PRIO_PROCESS, 0))\n"
        "stop.set()\n"
    )
    base = subprocess.run([sys.executable, "-c", "import os; print(os.nice(0))"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lowered, before, after, main = map(int, out.stdout.split())
    want = min(int(base) + 7, 19)
    assert lowered >= 2 and before == after == main == want


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness per thread: Linux")
def test_localizer_process_answers_and_every_thread_is_lowered(sim_map: Path,
                                                               sim_tour_dir: Path) -> None:  # fmt: skip
    import os

    m = load_map(sim_map)
    images = _images(sim_tour_dir, m, _between_keyframes(m))
    with LocalizerProcess(sim_map, nice=10, ready_timeout=240) as child:
        loc = child.localizer.localize(images)
        nices = _thread_nices(child.process.pid)
        assert child.localizer.health["startup"]["warm_up_source"] == "refined"
    assert child.process.poll() is not None  # stopped
    _same(loc, VprLocalizer(m).localize(images))
    assert len(nices) > 2 and set(nices) == {min(os.nice(0) + 10, 19)}, nices


def test_a_child_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "map"
    bad.mkdir()
    (bad / "map.json").write_text("{not json")
    with pytest.raises(LocalizerServiceError, match=r"exited with status [1-9].*end of its log"):
        LocalizerProcess(bad, ready_timeout=120, log=tmp_path / "serve.log")
    assert "map.json" in (tmp_path / "serve.log").read_text()
    with pytest.raises(FileNotFoundError, match="not a map"):
        LocalizerProcess(tmp_path, ready_timeout=1)
    with pytest.raises(ValueError, match="nice"):
        LocalizerProcess(bad, nice=25)
