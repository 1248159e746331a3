"""bench/_args.py: the benchmarks' comma-separated number lists name what is wrong."""

from __future__ import annotations

import argparse

import pytest
from bench_modules import load_bench


def test_comma_floats_parses_lists_and_names_bad_ones() -> None:
    parse = load_bench("_args").comma_floats(0.1, "relative errors")
    assert parse("0, 0.01,") == [0.0, 0.01]
    assert parse("") == []
    with pytest.raises(argparse.ArgumentTypeError, match="expected numbers, comma-separated"):
        parse("0.01,x")
    with pytest.raises(argparse.ArgumentTypeError, match=r"relative errors in \[0, 0.1\)"):
        parse("0.2")
    with pytest.raises(argparse.ArgumentTypeError, match="relative errors"):
        parse("-0.01")
