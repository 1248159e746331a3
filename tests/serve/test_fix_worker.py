"""Fixes computed beside the control loop: handed back exactly ``latency_ticks`` after their
images (waiting for them there), or at the first tick they are done by, never earlier; one in
flight at a time; the localizer runs on the worker thread and its errors reach the loop."""

from __future__ import annotations

import os
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from astra_jax.serve.fix_worker import FixWorker


class GatedLocalizer:
    """Localizes once ``gate`` is set; records the thread it ran on."""

    def __init__(self, fail: bool = False) -> None:
        self.gate, self.fail, self.threads, self.nice = threading.Event(), fail, [], []

    def localize(self, images):
        self.threads.append(threading.get_ident())
        self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        self.gate.wait(10.0)
        if self.fail:
            raise RuntimeError("no features in the query")
        return SimpleNamespace(pose2d=np.array([1.0, 2.0, 0.5]), confidence=0.9, images=images)


def test_waiting_hands_the_fix_back_exactly_latency_ticks_after_its_images() -> None:
    loc = GatedLocalizer()
    with FixWorker(loc, latency_ticks=2, wait=True) as worker:
        assert not worker.busy and worker.poll(0) is None
        worker.submit(5, {"front": "images of tick 5"})
        assert worker.busy
        with pytest.raises(RuntimeError, match="tick 5 is still in flight"):
            worker.submit(6, {})
        assert worker.poll(5) is None and worker.poll(6) is None  # not yet due
        threading.Timer(0.2, loc.gate.set).start()  # done while the loop waits at tick 7
        back = worker.poll(7)
        assert back.tick == 5 and back.localization.images == {"front": "images of tick 5"}
        assert back.seconds > 0 and not worker.busy
        assert loc.threads and threading.get_ident() not in loc.threads  # off the loop's thread
        if sys.platform.startswith("linux"):  # at a lower priority than the loop's
            mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            assert loc.nice == [min(mine + 10, 19)]
        assert worker.poll(8) is None  # handed back once


def test_without_waiting_a_fix_comes_back_at_the_first_due_tick_it_is_done_by() -> None:
    loc = GatedLocalizer()
    with FixWorker(loc, latency_ticks=1, wait=False) as worker:
        worker.submit(0, {})
        assert worker.poll(1) is None and worker.poll(2) is None  # due, but not done
        assert worker.busy
        loc.gate.set()
        deadline = time.monotonic() + 10.0
        while (back := worker.poll(3)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert back is not None and back.tick == 0 and not worker.busy
        loc.gate.clear()
        worker.submit(3, {})  # done at once, yet never handed back before its latency
        loc.gate.set()
        deadline = time.monotonic() + 10.0
        while worker.busy and time.monotonic() < deadline:
            assert worker.poll(3) is None
            back = worker.poll(4)
            time.sleep(0.01)
        assert back is not None and back.tick == 3


def test_the_localizers_error_reaches_the_loop_and_bad_latency_is_refused() -> None:
    loc = GatedLocalizer(fail=True)
    loc.gate.set()
    with FixWorker(loc, latency_ticks=1) as worker:
        worker.submit(0, {})
        with pytest.raises(RuntimeError, match="no features"):
            worker.poll(1)
        assert not worker.busy
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="latency_ticks"):
            FixWorker(loc, latency_ticks=bad)  # type: ignore[arg-type]
    slow = GatedLocalizer()  # never let through: a due fix that does not come is an error
    with FixWorker(slow, latency_ticks=1, timeout=0.2) as worker:
        worker.submit(0, {})
        with pytest.raises(TimeoutError, match=r"asked at tick 0 took more than 0\.2 s"):
            worker.poll(1)
        slow.gate.set()  # let the thread finish, so that close() returns
    for bad_nice in (-1, 20):
        with pytest.raises(ValueError, match="nice"):
            FixWorker(loc, latency_ticks=1, nice=bad_nice)
