"""The localizer in a process of its own, at a lower priority: ``astra serve`` as a child process
and a :class:`~astra_jax.serve.remote_localizer.RemoteLocalizer` for it.

Why a process. A localizer on a thread of the control loop's process shares that process's
interpreter lock and its BLAS / XLA pools, which the main thread made at import and which keep
the loop's priority whatever niceness the localizer's own thread has. On 2 cores
(``bench/loop_contention.py``) the loop's run-time ESDF took 19-20 ms (p50) / 30 ms (p99)
alone; beside a VPR + refinement localizer on a thread at nice 10, 21 / 194 ms; beside the
same localizer in a child process at nice 10, where every thread it has is lowered, close to
alone (docs/design.md section 15, "The localizer in its own process").

The child is ``python -m astra_jax.cli serve --map MAP --port P --nice N --workers 1`` (one
localization at a time, as the navigator asks), on a free port of 127.0.0.1, with its output
in ``log``. It is ready when its ``/healthz`` says so (the localizer built and warmed up); a
child that exits first is an error that quotes the end of its log. :meth:`close` stops it
(SIGTERM, then SIGKILL after 10 s).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from astra_jax.serve.remote_localizer import LocalizerServiceError, RemoteLocalizer


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalizerProcess:
    """``astra serve`` on ``map_dir`` in a child process (module docstring).

    Args:
      map_dir: the map directory.
      nice: the child's niceness above ours (0-19; every thread of it, Linux).
      serve_args: more ``astra serve`` arguments (``["--checkpoint", RUN]`` for Astra-Global;
        none: the VPR + refinement baseline).
      ready_timeout: seconds for the child to start and warm up.
      request_timeout: seconds for one localization.
      log: the child's stdout and stderr go here (default: a temporary file).
    Attributes:
      localizer: the :class:`RemoteLocalizer` to hand to the navigator.
      process: the child.
    """

    def __init__(self, map_dir: str | Path, *, nice: int = 10, serve_args: Sequence[str] = (),
                 ready_timeout: float = 300.0, request_timeout: float = 60.0,
                 log: str | Path | None = None) -> None:  # fmt: skip
        if not (isinstance(nice, int) and 0 <= nice <= 19):
            raise ValueError(f"LocalizerProcess: nice = {nice!r}; expected an int in [0, 19]")
        map_dir = Path(map_dir)
        if not (map_dir / "map.json").is_file():
            raise FileNotFoundError(f"LocalizerProcess: {map_dir} is not a map (no map.json)")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        if log is None:
            fd, name = tempfile.mkstemp(prefix="astra-serve-", suffix=".log")
            os.close(fd)
            log = name
        self.log = Path(log)
        self._log_file = open(self.log, "wb")  # noqa: SIM115 (the child's; closed in close())
        cmd = [sys.executable, "-m", "astra_jax.cli", "serve", "--map", str(map_dir),
               "--host", "127.0.0.1", "--port", str(port), "--nice", str(nice), "--workers", "1",
               *serve_args]  # fmt: skip
        self.process = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)  # fmt: skip
        try:
            self.localizer = RemoteLocalizer(self.url, timeout=request_timeout,
                                             ready_timeout=ready_timeout, alive=self._exited)  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _exited(self) -> str | None:
        rc = self.process.poll()
        if rc is None:
            return None
        return f"astra serve exited with status {rc}; the end of its log ({self.log}):\n" + (
            self.log_tail()
        )

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the child's output."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        """Stop the child (SIGTERM, SIGKILL after 10 s) and close its log."""
        if getattr(self, "localizer", None) is not None:
            self.localizer.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()

    def __enter__(self) -> LocalizerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["LocalizerProcess", "LocalizerServiceError", "free_port"]
