"""Argument types shared by the benchmarks (``bench/*.py`` import it as a sibling module)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def comma_floats(upper: float, what: str) -> Callable[[str], list[float]]:
    """An argparse type: comma-separated numbers in [0, ``upper``) ('' for none); ``what``
    names them in the error."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected numbers, comma-separated"
            ) from None
        if any(not 0 <= v < upper for v in values):
            raise argparse.ArgumentTypeError(f"{values}: expected {what} in [0, {upper:g})")
        return values

    return parse
