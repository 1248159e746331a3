"""Lower the CPU priority of a thread or of a whole process (Linux niceness).

Linux schedules threads one by one, and each thread has its own niceness: ``os.nice`` or
``setpriority(PRIO_PROCESS, 0, ...)`` changes the calling thread only, and a new thread starts
with its creator's. So lowering one thread misses the pools other threads made earlier (BLAS's,
XLA's, made at import by the main thread), and lowering a process means lowering every thread it
has. Elsewhere (macOS, Windows) the calls are left alone: there ``setpriority`` reaches the
whole process, which is not what the thread variant asks for.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path


def _raise_niceness(tid: int, nice: int) -> None:
    os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + nice, 19))


def _check(nice: int) -> None:
    if not (isinstance(nice, int) and 0 <= nice <= 19):
        raise ValueError(f"nice = {nice!r}; expected an int in [0, 19]")


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's niceness by ``nice`` (0-19; Linux only). Threads it starts
    afterwards inherit it."""
    _check(nice)
    if nice and sys.platform.startswith("linux"):
        _raise_niceness(threading.get_native_id(), nice)


def lower_process_priority(nice: int) -> int:
    """Raise the niceness of every thread of this process by ``nice`` (0-19; Linux only), so
    that the pools already running are lowered too and every later thread inherits it. Returns
    how many threads were lowered (0 elsewhere, or with ``nice`` 0)."""
    _check(nice)
    if not nice or not sys.platform.startswith("linux"):
        return 0
    count = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            _raise_niceness(int(task.name), nice)
            count += 1
        except ProcessLookupError:  # a thread that ended while we looked
            pass
    return count
