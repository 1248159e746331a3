"""Shared input validation: config field checks and one JSON-file checker.

Two kinds of input are checked at the boundary, and each kind reads the same everywhere:

* **Config fields.** Configs are frozen dataclasses that check themselves in
  ``__post_init__`` with the ``check_*`` functions below. A bad value raises
  :class:`ConfigError` ``"Class.field = value: expected ..."`` (:func:`fail_field`).
* **JSON files** (floor plans, ``map.json``, a user tour's ``camera.json``, a Hugging Face
  ``config.json``, episode manifests). :func:`read_json` reads a file: a missing file raises
  ``FileNotFoundError("FILE: <what is missing>")``, a file that is not JSON the reader's own
  error ``"FILE: not valid JSON (...)"``. :class:`JsonChecker` checks the fields: a bad one
  raises the reader's error ``"FILE: a.b[3].c: expected ..., got ..."``.

Every message is one line and names the file or class, the field and what was expected.
This module imports only the standard library (numpy lazily, for :meth:`JsonChecker.matrix`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

FLOAT_DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")
"""The floating-point dtype names a config may name for parameters or compute."""

_MISSING: Any = dataclasses.MISSING
_REPR_LIMIT = 100  # characters of a bad value quoted in a message


class ConfigError(ValueError):
    """A config value is invalid. The message names the field, the value and the expectation."""


# ----------------------------------------------------------------------------- predicates


def is_int(v: Any) -> bool:
    """A Python int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def short_repr(v: Any, limit: int = _REPR_LIMIT) -> str:
    """``repr(v)``, cut to ``limit`` characters (a long list stays on one readable line)."""
    r = repr(v)
    return r if len(r) <= limit else f"{r[: limit - 3]}..."


# ----------------------------------------------------------------------------- config fields


def fail_field(obj: Any, name: str, expected: str) -> NoReturn:
    """Raise ``ConfigError("Class.name = value: expected ...")`` for field ``name`` of ``obj``."""
    value = getattr(obj, name)
    raise ConfigError(f"{type(obj).__name__}.{name} = {value!r}: expected {expected}")


def _or_none(expected: str, allow_none: bool) -> str:
    return f"{expected} or None" if allow_none else expected


def _int_expectation(minimum: int | None) -> str:
    names = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
    return names.get(minimum, f"an integer >= {minimum}")


def check_ints(
    obj: Any,
    *names: str,
    minimum: int | None = None,
    expected: str | None = None,
    allow_none: bool = False,
) -> None:
    """Each field is an int (not a bool), at least ``minimum`` when given; None passes with
    ``allow_none``. ``expected`` overrides the message's expectation."""
    expected = expected or _int_expectation(minimum)
    for n in names:
        v = getattr(obj, n)
        if v is None and allow_none:
            continue
        if not is_int(v) or (minimum is not None and v < minimum):
            fail_field(obj, n, _or_none(expected, allow_none))


def check_positive_ints(obj: Any, *names: str, allow_none: bool = False) -> None:
    """Each field is an int > 0 (``"a positive integer"``)."""
    check_ints(obj, *names, minimum=1, allow_none=allow_none)


def check_non_negative_ints(obj: Any, *names: str, allow_none: bool = False) -> None:
    """Each field is an int >= 0 (``"a non-negative integer"``)."""
    check_ints(obj, *names, minimum=0, allow_none=allow_none)


def fields_annotated(obj: Any, annotation: str) -> tuple[str, ...]:
    """The names of the dataclass fields of ``obj`` annotated exactly ``annotation`` (``"int"``,
    ``"float"``), in declaration order: ``check_positive_ints(self, *fields_annotated(self,
    "int"))`` checks every int field, including one added later."""
    return tuple(
        f.name
        for f in dataclasses.fields(obj)
        if f.type == annotation or getattr(f.type, "__name__", None) == annotation
    )


def check_finite(obj: Any, *names: str) -> None:
    """Each field is a finite int or float (``"a finite number"``)."""
    for n in names:
        if not is_number(getattr(obj, n)):
            fail_field(obj, n, "a finite number")


def check_range(
    obj: Any,
    *names: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    expected: str | None = None,
    allow_none: bool = False,
) -> None:
    """Each field is a finite number within the bounds (``lo_open`` / ``hi_open``: the bound
    itself is excluded). A value that is not a finite number fails with ``"a finite number"``
    first; one out of range with ``expected`` (default: ``"a number in [lo, hi)"``)."""
    if expected is None:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        expected = f"a number in {left}{lo}, {hi}{right}"
    for n in names:
        v = getattr(obj, n)
        if v is None and allow_none:
            continue
        if not is_number(v):
            fail_field(obj, n, _or_none("a finite number", allow_none))
        if lo is not None and (v <= lo if lo_open else v < lo):
            fail_field(obj, n, _or_none(expected, allow_none))
        if hi is not None and (v >= hi if hi_open else v > hi):
            fail_field(obj, n, _or_none(expected, allow_none))


def check_positive_numbers(obj: Any, *names: str) -> None:
    """Each field is a finite number > 0 (``"a positive number"``)."""
    check_range(obj, *names, lo=0, lo_open=True, expected="a positive number")


def check_non_negative_numbers(obj: Any, *names: str, expected: str | None = None) -> None:
    """Each field is a finite number >= 0 (``"a non-negative number"``)."""
    check_range(obj, *names, lo=0, expected=expected or "a non-negative number")


def check_non_empty_strings(obj: Any, *names: str) -> None:
    """Each field is a string other than ``""`` (``"a non-empty string"``)."""
    for n in names:
        v = getattr(obj, n)
        if not isinstance(v, str) or not v:
            fail_field(obj, n, "a non-empty string")


def check_bools(obj: Any, *names: str) -> None:
    """Each field is ``True`` or ``False`` (``"a bool"``)."""
    for n in names:
        if not isinstance(getattr(obj, n), bool):
            fail_field(obj, n, "a bool")


def check_choice(obj: Any, name: str, choices: Sequence[Any]) -> None:
    """The field is one of ``choices`` (``"one of a, b, c"``)."""
    if getattr(obj, name) not in choices:
        fail_field(obj, name, f"one of {', '.join(str(c) for c in choices)}")


def check_dtype_names(obj: Any, *names: str) -> None:
    """Each field names a floating-point dtype of :data:`FLOAT_DTYPES`."""
    for n in names:
        check_choice(obj, n, FLOAT_DTYPES)


def check_hw(obj: Any, *names: str, multiple_of: int = 1) -> None:
    """Each field is an image size ``(height, width)``: a tuple of two positive ints, both
    multiples of ``multiple_of``."""
    expected = (
        "(height, width) as two positive integers"
        if multiple_of == 1
        else f"(height, width) in pixels, positive multiples of {multiple_of}"
    )
    for n in names:
        hw = getattr(obj, n)
        ok = isinstance(hw, tuple) and len(hw) == 2
        if not ok or not all(is_int(v) and v > 0 and v % multiple_of == 0 for v in hw):
            fail_field(obj, n, expected)


def check_types(obj: Any, **types: type) -> None:
    """``field=Class``: each field holds an instance of its class (``"a Class"``)."""
    for n, cls in types.items():
        if not isinstance(getattr(obj, n), cls):
            fail_field(obj, n, f"a {cls.__name__}")


# ----------------------------------------------------------------------------- JSON files


def read_json(
    path: str | os.PathLike[str],
    error: type[Exception] = ValueError,
    *,
    missing: str = "no such file",
    missing_error: type[Exception] = FileNotFoundError,
) -> Any:
    """The parsed JSON document in the file ``path``.

    Raises ``missing_error(f"{path}: {missing}")`` when there is no such file (or ``path`` is a
    directory) and ``error(f"{path}: not valid JSON (...)")`` when the file is not UTF-8 JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise missing_error(f"{p}: {missing}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{p}: not valid JSON ({e})") from None


def join_field(where: str, key: str | int) -> str:
    """The path of ``key`` inside the value at ``where``: ``a.b`` + ``c`` -> ``a.b.c``,
    ``a.b`` + ``3`` -> ``a.b[3]``, ``""`` + ``c`` -> ``c``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


class JsonChecker:
    """Checks the fields of one JSON document and raises ``error`` naming the file and field:
    ``"SOURCE: walls[3].start: expected a point [x, y] in metres, got 'far away'"``.

    ``source`` is the file (None: messages start at the field, for a caller that adds the
    file itself). Field paths are dotted keys with ``[i]`` indices; ``""`` is the document.
    The typed methods (:meth:`number`, :meth:`string`, ...) take a value and its field path
    and return the value; :meth:`at` gives a :class:`JsonObject` view that reads by key.
    """

    def __init__(self, source: str | os.PathLike[str] | None, error: type[Exception] = ValueError):
        self.source = None if source is None else str(source)
        self.error = error

    # -- failing

    def fail(self, field: str, expected: str, value: Any = _MISSING) -> NoReturn:
        """Raise ``error("SOURCE: field: expected ..., got value")`` (no ``got`` without
        ``value``)."""
        got = "" if value is _MISSING else f", got {short_repr(value)}"
        where = field or "(top level)"
        prefix = "" if self.source is None else f"{self.source}: "
        raise self.error(f"{prefix}{where}: expected {expected}{got}")

    # -- structure

    def object(self, v: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            self.fail(field, "a JSON object", v)
        return v

    def get(self, obj: Any, key: str, where: str = "", required: bool = True) -> Any:
        """``obj[key]`` of the object at ``where``; a missing key fails when ``required``,
        else gives None."""
        self.object(obj, where)
        if key not in obj:
            if required:
                self.fail(join_field(where, key), "this field (it is missing)")
            return None
        return obj[key]

    def at(self, obj: Any, where: str = "") -> JsonObject:
        """A view of the JSON object ``obj`` found at ``where`` (fails unless it is one)."""
        return JsonObject(self, self.object(obj, where), where)

    def array(self, v: Any, field: str, min_len: int = 0) -> list[Any]:
        if not isinstance(v, list):
            self.fail(field, "a JSON array", v)
        if len(v) < min_len:
            self.fail(field, f"an array with at least {min_len} entries", f"{len(v)} entries")
        return v

    # -- scalars

    def integer(self, v: Any, field: str, minimum: int | None = None) -> int:
        """An int (not a bool), at least ``minimum`` when given."""
        if not is_int(v) or (minimum is not None and v < minimum):
            self.fail(field, _int_expectation(minimum), v)
        return v

    def number(self, v: Any, field: str, lo: float | None = None, hi: float | None = None) -> float:
        """A finite number, above ``lo`` (exclusive) and at most ``hi`` when given."""
        if not is_number(v):
            self.fail(field, "a finite number", v)
        if lo is not None and v <= lo:
            self.fail(field, f"a number above {lo}", v)
        if hi is not None and v > hi:
            self.fail(field, f"a number at most {hi}", v)
        return float(v)

    def boolean(self, v: Any, field: str) -> bool:
        if not isinstance(v, bool):
            self.fail(field, "true or false", v)
        return v

    def string(
        self, v: Any, field: str, choices: Sequence[str] | None = None, non_empty: bool = True
    ) -> str:
        if not isinstance(v, str) or (non_empty and not v):
            self.fail(field, "a non-empty string" if non_empty else "a string", v)
        if choices is not None and v not in choices:
            self.fail(field, f"one of {', '.join(choices)}", v)
        return v

    # -- lists

    def numbers(self, v: Any, field: str, n: int | None = None) -> tuple[float, ...]:
        """A list of finite numbers (exactly ``n`` when given)."""
        ok = isinstance(v, list) and all(is_number(x) for x in v)
        if not ok or (n is not None and len(v) != n):
            self.fail(field, f"a list of {n or 'N'} finite numbers", v)
        return tuple(float(x) for x in v)

    def integers(self, v: Any, field: str) -> tuple[int, ...]:
        if not isinstance(v, list) or not all(is_int(x) for x in v):
            self.fail(field, "a list of integers", v)
        return tuple(v)

    def strings(self, v: Any, field: str) -> tuple[str, ...]:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.fail(field, "a list of strings", v)
        return tuple(v)

    def matrix(self, v: Any, field: str, rows: int, cols: int) -> Any:
        """A ``rows`` x ``cols`` nested list of finite numbers, as a float64 numpy array."""
        import numpy as np

        try:
            a = np.array(v, dtype=np.float64)
        except (TypeError, ValueError):
            a = None
        if a is None or a.shape != (rows, cols) or not np.all(np.isfinite(a)):
            self.fail(field, f"a {rows}x{cols} matrix of finite numbers", v)
        return a


@dataclasses.dataclass(frozen=True)
class JsonObject:
    """A JSON object at field path ``where``, read by key through its :class:`JsonChecker`.

    Each reader takes the key and, optionally, ``default``: without it a missing key fails;
    with it a missing key, or a null value, gives ``default`` unchecked.
    """

    checker: JsonChecker
    obj: Mapping[str, Any]
    where: str

    def field(self, key: str) -> str:
        return join_field(self.where, key)

    def fail(self, key: str, expected: str, value: Any = _MISSING) -> NoReturn:
        self.checker.fail(self.field(key), expected, value)

    def has(self, key: str) -> bool:
        return key in self.obj

    def value(self, key: str, default: Any = _MISSING) -> Any:
        """The raw value of ``key`` (see the class for ``default``)."""
        if default is not _MISSING:
            v = self.obj.get(key)
            return default if v is None else v
        return self.checker.get(self.obj, key, self.where)

    def _typed(self, key: str, default: Any, check: Any, *args: Any) -> Any:
        if default is not _MISSING and self.obj.get(key) is None:
            return default
        return check(self.checker.get(self.obj, key, self.where), self.field(key), *args)

    def at(self, key: str) -> JsonObject:
        """The view of the nested object ``key``."""
        return self.checker.at(self.value(key), self.field(key))

    def items(self, key: str, min_len: int = 0) -> list[tuple[str, Any]]:
        """``(field path, value)`` of each entry of the array ``key``."""
        arr = self.checker.array(self.value(key), self.field(key), min_len)
        return [(join_field(self.field(key), i), v) for i, v in enumerate(arr)]

    def object(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.object)

    def array(self, key: str, min_len: int = 0, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.array, min_len)

    def integer(self, key: str, minimum: int | None = None, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.integer, minimum)

    def number(
        self, key: str, lo: float | None = None, hi: float | None = None, default: Any = _MISSING
    ) -> Any:
        return self._typed(key, default, self.checker.number, lo, hi)

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.boolean)

    def string(
        self,
        key: str,
        choices: Sequence[str] | None = None,
        non_empty: bool = True,
        default: Any = _MISSING,
    ) -> Any:
        return self._typed(key, default, self.checker.string, choices, non_empty)

    def numbers(self, key: str, n: int | None = None, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.numbers, n)

    def integers(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.integers)

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.strings)

    def matrix(self, key: str, rows: int, cols: int, default: Any = _MISSING) -> Any:
        return self._typed(key, default, self.checker.matrix, rows, cols)
