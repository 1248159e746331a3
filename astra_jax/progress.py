"""Progress bars for long commands: one tqdm bar per stage, on stderr, with the time left.

The rule, the same for every command (map build, tour and episode rendering): a bar shows
only when its stream is a terminal and the command was not given ``--json``. In a pipe, a log
file, a test or under ``--json`` a command prints its summary and nothing else.

The CLI applies ``--json`` to the whole command with :func:`quiet` (``astra_jax/cli/_common.py``
does it for every command that has a ``json`` flag); library code only asks :func:`bar` for a
bar and updates it. A disabled bar accepts every call and draws nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from tqdm import tqdm

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("astra_progress_quiet", default=False)

STAGE_WIDTH = 10  # stage names are padded to this, so a command's bars line up


@contextlib.contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Inside the block, no progress bars when ``on`` (a command's ``--json``). Nested
    blocks can only add quiet, never lift it."""
    token = _QUIET.set(bool(on) or _QUIET.get())
    try:
        yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    """Whether an enclosing :func:`quiet` block is on."""
    return _QUIET.get()


def bar(
    stage: str,
    total: float | None = None,
    *,
    unit: str = "it",
    file: IO[str] | None = None,
    enabled: bool = True,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar for one stage of a long command: ``stage`` name, count out of ``total``
    ``unit``\\s, elapsed and remaining time.

    Drawn on ``file`` (default: ``sys.stderr`` at the time of the call) only when it is a
    terminal, no :func:`quiet` block is on and ``enabled`` (the caller's own switch) is true;
    otherwise disabled (updates cost nothing).
    Close it (or use it as a context manager): the finished bar stays on its line.
    Extra keyword arguments go to :class:`tqdm.tqdm`.
    """
    file = sys.stderr if file is None else file
    width: dict[str, Any] = {"dynamic_ncols": True}
    if _columns(file) == 0:  # a terminal that reports no size (a bare pty): tqdm would draw ""
        width = {"ncols": 100}
    return tqdm(
        total=total,
        desc=stage.ljust(STAGE_WIDTH),
        unit=unit,
        file=file,
        # None: tqdm disables the bar when ``file`` is not a terminal
        disable=True if (_QUIET.get() or not enabled) else None,
        **width,
        **kwargs,
    )


def _columns(file: IO[str]) -> int | None:
    """The width of the terminal behind ``file``; None when it is not one."""
    try:
        return os.get_terminal_size(file.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None
