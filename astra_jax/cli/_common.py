"""Helpers shared by the CLI groups: tyro parsing with one-line errors, JSON summaries."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import tyro

from astra_jax.config import ConfigError

# Errors that mean "the user gave bad input": reported in one line, never as a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    KeyError,
)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BOX = re.compile(r"^[\s│┃|╭╮╰╯─━┏┓┗┛]+|[\s│┃|╭╮╰╯─━┏┓┗┛]+$")


def _one_line_tyro_error(text: str) -> str:
    """Condense tyro's boxed error panel to one line: its title, then the first detail lines."""
    lines = []
    for raw in _ANSI.sub("", text).splitlines():
        line = _BOX.sub("", raw).strip()
        if not line or set(line) <= set("─━-=") or line.lower().startswith("usage:"):
            continue
        if line.lower().startswith(("for full helptext", "run ", "argument helptext")):
            break
        lines.append(line)
    if not lines:
        return "invalid arguments"
    title, details = lines[0], lines[1:3]
    if details and details[0].lower().startswith(title.lower()):
        title = ""  # the detail line repeats the title
    return ": ".join(x for x in (title, " ".join(details)) if x)


def parse(prog: str, commands: dict[str, Callable[..., Any]], argv: list[str]) -> Any:
    """Run ``tyro.extras.subcommand_cli_from_dict`` over ``argv``.

    On bad arguments, prints ``prog: error: ...`` as one line and exits with status 2 (tyro's
    own rich panel is condensed). ``--help`` output passes through unchanged.
    """
    if any(a in ("-h", "--help") for a in argv):
        return tyro.extras.subcommand_cli_from_dict(commands, prog=prog, args=argv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
            call = tyro.extras.subcommand_cli_from_dict(
                {k: _deferred(v) for k, v in commands.items()}, prog=prog, args=argv
            )
    except SystemExit as e:
        if e.code not in (0, None):
            print(f"{prog}: error: {_one_line_tyro_error(err.getvalue())}", file=sys.stderr)
            raise SystemExit(2) from None
        sys.stdout.write(err.getvalue())
        raise
    return call()


def _deferred(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so tyro only parses its arguments; the call happens outside the redirect.

    A command given ``--json`` runs inside :func:`astra_jax.progress.quiet`: no progress bars,
    only its summary (bars also stay off when stderr is not a terminal).
    """
    import functools
    import inspect

    @functools.wraps(fn)
    def parse_only(*args: Any, **kwargs: Any) -> Callable[[], Any]:
        json_mode = bool(inspect.signature(fn).bind(*args, **kwargs).arguments.get("json"))

        def call() -> Any:
            if not json_mode:
                return fn(*args, **kwargs)
            from astra_jax import progress

            with progress.quiet():
                return fn(*args, **kwargs)

        return call

    return parse_only


def run(prog: str, commands: dict[str, Callable[..., Any]], argv: list[str]) -> int:
    """Parse, run the chosen command, and turn user errors into one line and exit status 2.

    Set ``ASTRA_DEBUG=1`` to get the full traceback instead.
    """
    try:
        result = parse(prog, commands, argv)
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    except USER_ERRORS as e:
        if os.environ.get("ASTRA_DEBUG") == "1":
            raise  # full traceback, for bugs that surface as ValueError
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    return int(result or 0)


def emit_json(summary: dict[str, Any]) -> None:
    """Print a result summary as one JSON line (the last line of a command's output)."""
    print(json.dumps(summary, sort_keys=True, default=_json_default), flush=True)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def bound_command(
    fn: Callable[..., int],
    name: str,
    doc: str,
    bound: dict[str, Any],
    defaults: dict[str, Any],
) -> Callable[..., int]:
    """A subcommand ``name`` that calls ``fn`` with the ``bound`` arguments fixed and its other
    parameters as flags, those in ``defaults`` with new defaults. A new default's type becomes
    its annotation, so a config-tree default (a frozen dataclass) parses field by field
    (``--config.data.train-worlds 1``)."""
    import inspect

    signature = inspect.signature(fn, eval_str=True)  # real types: tyro reads them here
    params = [
        p.replace(default=defaults[p.name], annotation=type(defaults[p.name]))
        if p.name in defaults
        else p
        for p in signature.parameters.values()
        if p.name not in bound
    ]

    def command(**kwargs: Any) -> int:
        return fn(**bound, **kwargs)

    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    command.__name__ = command.__qualname__ = name.replace("-", "_")
    return command
