"""Localization beside the control loop: fixes computed on a worker thread.

A fix takes 0.25-0.75 s (p50 per world; up to 1.3 s) with VPR + refinement and 3.4 s with
Astra-Global's tiny pipeline on two CPU cores; the navigator ticks every 0.5 s. Asked for synchronously, a fix stalls the tick that asked (the robot keeps its last
command, blind, for that long). :class:`FixWorker` runs ``localizer.localize`` on one worker
thread instead: the navigator submits the rig's images of a tick and goes on ticking; the fix
is handed back ``latency_ticks`` ticks later, and the pose filter fuses it at the time of its
images (:meth:`~astra_jax.serve.ekf.PoseFilter.update_delayed`).

When is a fix handed back?

* ``wait=True`` (the simulator's evaluations): exactly ``latency_ticks`` ticks after its
  images, the loop waiting for it there if it is not done (at most ``timeout`` s). The run is
  then the same on any machine, however fast the localizer.
* ``wait=False`` (a robot; the navigator's default): at the first tick at least
  ``latency_ticks`` after its images at which it is done; the loop never waits.

One request at a time: a fix that is due while one is in flight is skipped (the navigator asks
again at its next due tick).

The worker runs at a lower priority (``nice``, on Linux; threads the localizer starts from it
inherit it, pools made earlier by the main thread, such as BLAS's, do not): the control loop
comes first. On 2 cores (``bench/loop_contention.py``) the loop's run-time ESDF took 19 ms
(p50) / 29 ms (p99) alone, 99 / 218 ms beside a VPR + refinement localizer at equal priority
(it keeps both cores busy), 21 / 194 ms with the worker at nice 10: the median comes back, the
tail does not (docs/design.md section 15, "Fixes beside the loop").
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from astra_jax.serve.priority import lower_thread_priority


class HandedBack(NamedTuple):
    """A fix handed back: the tick of its images, the localizer's answer, and the seconds the
    localizer took on the worker thread."""

    tick: int
    localization: Any
    seconds: float


class FixWorker:
    """``localizer.localize(images)`` on one worker thread (module docstring).

    Args:
      localizer: anything with ``localize(images) -> Localization``; it is called from the
        worker thread only while a request is in flight, so the caller must not use it then.
      latency_ticks: ticks between a request's images and its fix being handed back (>= 1).
      wait: block at that tick until the fix is done (deterministic) or hand it back later.
      nice: added to the worker thread's niceness (Linux; 0: the loop's priority).
      timeout: the longest wait (s) for a due fix with ``wait``: a localizer that hangs is an
        error, not a stopped robot.
    """

    def __init__(self, localizer: Any, latency_ticks: int, wait: bool = True,
                 nice: int = 10, timeout: float = 120.0) -> None:  # fmt: skip
        if not (isinstance(latency_ticks, int) and latency_ticks >= 1):
            raise ValueError(f"FixWorker: latency_ticks = {latency_ticks!r}; expected an int >= 1")
        if not (isinstance(nice, int) and 0 <= nice <= 19):
            raise ValueError(f"FixWorker: nice = {nice!r}; expected an int in [0, 19]")
        self.localizer, self.latency_ticks, self.wait = localizer, latency_ticks, wait
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="astra-fix", initializer=lower_thread_priority, initargs=(nice,)
        )
        self._future: concurrent.futures.Future[tuple[Any, float]] | None = None
        self._tick = -1  # the in-flight request's tick

    @property
    def busy(self) -> bool:
        """A request is in flight (submitted and not yet handed back)."""
        return self._future is not None

    def submit(self, tick: int, images: dict[str, Any]) -> None:
        """Localize ``images`` (taken at ``tick``) on the worker thread."""
        if self._future is not None:
            raise RuntimeError(f"FixWorker.submit at tick {tick}: the request of tick "
                               f"{self._tick} is still in flight")  # fmt: skip
        self._future = self._pool.submit(_timed, self.localizer.localize, images)
        self._tick = tick

    def poll(self, tick: int) -> HandedBack | None:
        """The request's fix when it is handed back at ``tick``, else None. A localizer's
        exception is raised here."""
        if self._future is None or tick < self._tick + self.latency_ticks:
            return None
        if not self.wait and not self._future.done():
            return None
        future, self._future = self._future, None
        try:
            localization, seconds = future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"FixWorker: the fix asked at tick {self._tick} took more than "
                               f"{self.timeout:g} s") from None  # fmt: skip
        return HandedBack(self._tick, localization, seconds)

    def close(self) -> None:
        """Wait for a request in flight (its fix is dropped) and stop the thread."""
        self._future = None
        self._pool.shutdown(wait=True)

    def __enter__(self) -> FixWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _timed(localize: Callable[[dict[str, Any]], Any], images: dict[str, Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return localize(images), time.perf_counter() - t0
