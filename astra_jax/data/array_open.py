"""One process-wide lock for opening episode arrays from grain's reader threads.

grain's prefetch threads call a source's ``__getitem__`` at once, and the sources open an
episode's ``.npy`` / ``.npz`` files lazily on first use. ``np.load`` parses each array's
header with ``ast.literal_eval``, which CPython 3.11.7 (this project's machines) does not run
safely in two threads at once: a training run died on "SystemError: AST constructor recursion
depth mismatch" (session 23). The race is between any two parses in the process, so the lock
is one for all sources; reading an array that is already open needs none.
"""

from __future__ import annotations

import threading

ARRAY_OPEN_LOCK = threading.Lock()

__all__ = ["ARRAY_OPEN_LOCK"]
