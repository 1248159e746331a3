"""The shared validators (astra_jax.validation): config field checks name the class, field, value
and expectation; the JSON checker names the file, the field path, the expectation and the value;
a missing file and a file that is not JSON are named, by every reader that uses it."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from astra_jax.validation import (
    FLOAT_DTYPES,
    ConfigError,
    JsonChecker,
    check_bools,
    check_choice,
    check_dtype_names,
    check_finite,
    check_hw,
    check_ints,
    check_non_empty_strings,
    check_non_negative_ints,
    check_non_negative_numbers,
    check_positive_ints,
    check_positive_numbers,
    check_range,
    check_types,
    fail_field,
    fields_annotated,
    read_json,
)

# ----------------------------------------------------------------------------- config fields


@dataclasses.dataclass
class Cfg:
    """A stand-in config: every check reads its fields by name."""

    n: Any = 1
    x: Any = 1.0
    s: Any = "a"
    flag: Any = True
    dtype: Any = "float32"
    hw: Any = (4, 8)
    sub: Any = None
    opt: Any = None


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (lambda c: check_positive_ints(c, "n"), 0, "Cfg.n = 0: expected a positive integer"),
        (lambda c: check_positive_ints(c, "n"), True, "Cfg.n = True: expected a positive integer"),
        (lambda c: check_positive_ints(c, "n"), 2.0, "Cfg.n = 2.0: expected a positive integer"),
        (lambda c: check_non_negative_ints(c, "n"), -1, "Cfg.n = -1: expected a non-negative integer"),
        (lambda c: check_ints(c, "n", minimum=3), 2, "Cfg.n = 2: expected an integer >= 3"),
        (lambda c: check_ints(c, "n", expected="a token id"), "7", "Cfg.n = '7': expected a token id"),
        (lambda c: check_finite(c, "n"), math.nan, "Cfg.n = nan: expected a finite number"),
        (lambda c: check_finite(c, "n"), "1", "Cfg.n = '1': expected a finite number"),
        (lambda c: check_positive_numbers(c, "n"), math.inf, "Cfg.n = inf: expected a finite number"),
        (lambda c: check_positive_numbers(c, "n"), 0.0, "Cfg.n = 0.0: expected a positive number"),
        (lambda c: check_non_negative_numbers(c, "n"), -0.5, "Cfg.n = -0.5: expected a non-negative number"),
        (lambda c: check_range(c, "n", lo=0, hi=1, hi_open=True), 1.0, "Cfg.n = 1.0: expected a number in [0, 1)"),
        (lambda c: check_range(c, "n", lo=0, hi=1, lo_open=True), 0, "Cfg.n = 0: expected a number in (0, 1]"),
        (lambda c: check_range(c, "n", lo=0, expected="a rate"), -1, "Cfg.n = -1: expected a rate"),
        (lambda c: check_non_empty_strings(c, "n"), "", "Cfg.n = '': expected a non-empty string"),
        (lambda c: check_bools(c, "n"), 1, "Cfg.n = 1: expected a bool"),
        (lambda c: check_choice(c, "n", ("a", None)), "b", "Cfg.n = 'b': expected one of a, None"),
        (lambda c: check_dtype_names(c, "n"), "int8", "Cfg.n = 'int8': expected one of float32, bfloat16, float16"),
        (lambda c: check_types(c, n=Cfg), 3, "Cfg.n = 3: expected a Cfg"),
        (lambda c: check_hw(c, "n"), (4,), "Cfg.n = (4,): expected (height, width) as two positive integers"),
        (lambda c: check_hw(c, "n", multiple_of=4), (4, 6), "Cfg.n = (4, 6): expected (height, width) in pixels, positive multiples of 4"),
    ],
)  # fmt: skip
def test_a_bad_field_names_class_field_value_and_expectation(check, value, message) -> None:
    with pytest.raises(ConfigError) as err:
        check(Cfg(n=value))
    assert str(err.value) == message


def test_good_values_pass() -> None:
    c = Cfg(n=3, x=0.5, s="x", flag=False, dtype="bfloat16", hw=(8, 16), sub=Cfg())
    check_positive_ints(c, "n")
    check_non_negative_ints(c, "n")
    check_finite(c, "n", "x")
    check_positive_numbers(c, "n", "x")
    check_range(c, "x", lo=0, hi=1, lo_open=True, hi_open=True)
    check_non_empty_strings(c, "s")
    check_bools(c, "flag")
    check_dtype_names(c, "dtype")
    check_hw(c, "hw", multiple_of=8)
    check_types(c, sub=Cfg)
    assert set(FLOAT_DTYPES) == {"float32", "bfloat16", "float16"}


def test_allow_none_passes_none_and_says_so() -> None:
    check_positive_ints(Cfg(opt=None), "opt", allow_none=True)
    check_range(Cfg(opt=None), "opt", lo=0, hi=1, allow_none=True)
    with pytest.raises(ConfigError, match=r"^Cfg\.opt = 0: expected a positive integer or None$"):
        check_positive_ints(Cfg(opt=0), "opt", allow_none=True)
    with pytest.raises(ConfigError, match=r"expected a positive integer$"):
        check_positive_ints(Cfg(opt=None), "opt")


def test_several_fields_fail_at_the_first_bad_one_and_fail_field_raises() -> None:
    with pytest.raises(ConfigError, match=r"^Cfg\.x = -1: "):
        check_positive_numbers(Cfg(n=1, x=-1), "n", "x")
    with pytest.raises(ConfigError, match=r"^Cfg\.s = 'a': expected anything else$"):
        fail_field(Cfg(), "s", "anything else")


def test_fields_annotated_lists_fields_of_one_type_in_order() -> None:
    @dataclasses.dataclass
    class Sizes:
        a: int
        b: float
        c: int
        d: tuple[int, ...] = ()

    assert fields_annotated(Sizes(1, 2.0, 3), "int") == ("a", "c")
    assert fields_annotated(Sizes, "float") == ("b",)


def test_configs_read_the_same_through_the_shared_checks() -> None:
    from astra_jax.config import VoxelGridConfig
    from astra_jax.global_model.config import get_config
    from astra_jax.tasks.reference import ReferenceConfig
    from astra_jax.train.optim import OptimizerConfig
    from astra_jax.train.precision import Precision

    cases = [
        (lambda: VoxelGridConfig(0, 16, 2, 0.8), "VoxelGridConfig.nx = 0: expected a positive integer"),
        (lambda: Precision("int8"), "Precision.compute_dtype = 'int8': expected one of float32, bfloat16, float16"),
        (lambda: OptimizerConfig(b2=1.0), "OptimizerConfig.b2 = 1.0: expected a decay rate in [0, 1)"),
        (lambda: ReferenceConfig(4, 8, 16, 0, 2, 8, 0.0, 0.1, 8, 8), "ReferenceConfig.depth = 0: expected a positive integer"),
        (lambda: get_config("tiny").replace(dtype="f32"), "GlobalModelConfig.dtype = 'f32': expected one of float32, bfloat16, float16"),
    ]  # fmt: skip
    for build, message in cases:
        with pytest.raises(ConfigError) as err:
            build()
        assert str(err.value) == message


# ----------------------------------------------------------------------------- JSON files


class DocError(ValueError):
    pass


def test_read_json_names_a_missing_file_and_one_that_is_not_json(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(FileNotFoundError, match=rf"^{re.escape(str(missing))}: no such file$"):
        read_json(missing)
    with pytest.raises(DocError, match=r"absent\.json: not there; make one$"):
        read_json(missing, DocError, missing="not there; make one", missing_error=DocError)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        read_json(tmp_path)  # a directory is no JSON file
    bad = tmp_path / "bad.json"
    bad.write_text("{walls: [")
    with pytest.raises(DocError) as err:
        read_json(bad, DocError)
    assert str(err.value).startswith(f"{bad}: not valid JSON (") and "\n" not in str(err.value)
    bad.write_bytes(b"\xff\xfe{}")
    with pytest.raises(DocError, match=r"bad\.json: not valid JSON"):
        read_json(bad, DocError)
    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_json(good) == {"a": [1, 2]}


DOC = {
    "name": "plan",
    "walls": [{"start": [0, 0], "end": [1, 0]}, {"start": [0, 0], "end": [0, "far"]}],
    "meta": {"rate": 10, "flag": True, "kind": "door"},
}


def _fails(fn, message: str) -> None:
    with pytest.raises(DocError) as err:
        fn()
    assert str(err.value) == message


def test_json_checker_walks_field_paths() -> None:
    c = JsonChecker("plan.json", DocError)
    walls = c.at(DOC).items("walls")
    assert [f for f, _ in walls] == ["walls[0]", "walls[1]"]
    w1 = c.at(walls[1][1], walls[1][0])
    assert w1.field("end") == "walls[1].end"
    _fails(lambda: c.number(w1.value("end")[1], "walls[1].end[1]"),
           "plan.json: walls[1].end[1]: expected a finite number, got 'far'")  # fmt: skip


def _wall(c: JsonChecker) -> Any:
    return c.at(DOC["walls"][1], "walls[1]")


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda c: _wall(c).numbers("end", 2), "walls[1].end: expected a list of 2 finite numbers, got [0, 'far']"),
        (lambda c: _wall(c).number("height"), "walls[1].height: expected this field (it is missing)"),
        (lambda c: c.at(DOC).at("meta").string("kind", ("dock", "opening")), "meta.kind: expected one of dock, opening, got 'door'"),
        (lambda c: c.at(DOC).at("meta").number("rate", lo=10), "meta.rate: expected a number above 10, got 10"),
        (lambda c: c.at(DOC).at("meta").number("rate", hi=5), "meta.rate: expected a number at most 5, got 10"),
        (lambda c: c.at(DOC).at("meta").integer("flag"), "meta.flag: expected an integer, got True"),
        (lambda c: c.at(DOC).at("meta").integer("rate", minimum=11), "meta.rate: expected an integer >= 11, got 10"),
        (lambda c: c.integer(0, "n", minimum=1), "n: expected a positive integer, got 0"),
        (lambda c: c.at(DOC).at("meta").boolean("rate"), "meta.rate: expected true or false, got 10"),
        (lambda c: c.at(DOC).at("name"), "name: expected a JSON object, got 'plan'"),
        (lambda c: c.at(DOC).array("walls", 3), "walls: expected an array with at least 3 entries, got '2 entries'"),
        (lambda c: c.at(DOC).array("name"), "name: expected a JSON array, got 'plan'"),
        (lambda c: c.at([1, 2]), "(top level): expected a JSON object, got [1, 2]"),
        (lambda c: c.at(DOC).integers("name"), "name: expected a list of integers, got 'plan'"),
        (lambda c: c.at(DOC).strings("walls"), "walls: expected a list of strings, got [{'start': [0, 0], 'end': [1, 0]}, {'start': [0, 0], 'end': [0, 'far']}]"),
    ],
)  # fmt: skip
def test_json_checker_names_file_field_expectation_and_value(read, message) -> None:
    _fails(lambda: read(JsonChecker("plan.json", DocError)), f"plan.json: {message}")


def test_json_checker_values_defaults_and_types() -> None:
    src = Path("dir") / "x.json"
    c = JsonChecker(src, DocError)
    doc = c.at({"a": None, "n": 3, "v": [1.5, 2], "m": [[1, 0], [0, 1]], "i": [1, 2], "s": ""})
    assert doc.number("a", default=7.0) == 7.0  # null: the default
    assert doc.number("absent", default=None) is None
    assert doc.value("absent", default="d") == "d"
    assert doc.integer("n", minimum=1) == 3
    assert doc.number("n") == 3.0 and isinstance(doc.number("n"), float)
    assert doc.numbers("v") == (1.5, 2.0)
    assert doc.integers("i") == (1, 2)
    assert doc.string("s", non_empty=False) == ""
    np.testing.assert_array_equal(doc.matrix("m", 2, 2), np.eye(2))
    assert doc.has("a") and not doc.has("absent")
    _fails(lambda: doc.string("s"), f"{src}: s: expected a non-empty string, got ''")
    _fails(
        lambda: doc.matrix("v", 2, 2),
        f"{src}: v: expected a 2x2 matrix of finite numbers, got [1.5, 2]",
    )
    _fails(  # a value that is there is checked, default or not
        lambda: doc.number("n", 4.0, default=1.0),
        f"{src}: n: expected a number above 4.0, got 3",
    )


def test_json_checker_without_source_long_values_and_default_error() -> None:
    with pytest.raises(ValueError) as err:
        JsonChecker(None).fail("nodes[2].pose2d", "a pose", list(range(100)))
    msg = str(err.value)
    assert msg.startswith("nodes[2].pose2d: expected a pose, got [0, 1, 2")
    assert msg.endswith("...") and len(msg) < 160 and "\n" not in msg


# ----------------------------------------------------------------------------- the readers


def _reader_cases(tmp_path: Path) -> list[tuple[str, Any, type[Exception], str]]:
    """(name, read(path of a bad file), error, field the message names) for each reader."""
    from astra_jax.formats.episode import EpisodeError, load_episode
    from astra_jax.global_model.hf_config import HFCheckpointError, load_hf_config
    from astra_jax.maps.user_tour import read_camera
    from astra_jax.sim.floorplan import FloorPlanError, load_plan

    def episode(p: Path) -> Any:
        return load_episode(p.parent)

    return [
        ("plan.json", load_plan, FloorPlanError, "family"),
        ("camera.json", read_camera, ValueError, "fx"),
        ("config.json", load_hf_config, HFCheckpointError, "vision_config"),
        ("manifest.json", episode, EpisodeError, "kind"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_every_reader_names_the_file_and_the_field(tmp_path: Path, index: int) -> None:
    name, read, error, field = _reader_cases(tmp_path)[index]
    path = tmp_path / name
    with pytest.raises((FileNotFoundError, error)) as err:  # the episode reader: EpisodeError
        read(path)
    assert str(path) in str(err.value)
    path.write_text("{not json")
    with pytest.raises(error, match="not valid JSON") as err:
        read(path)
    assert str(path) in str(err.value)
    docs = {
        "plan.json": {"schema_version": 1, "name": "p"},
        "camera.json": {"width": 32, "height": 24},
        "config.json": {"architectures": ["Qwen2_5_VLForConditionalGeneration"]},
        "manifest.json": {"schema_version": 1},
    }
    path.write_text(json.dumps(docs[name]))
    with pytest.raises(error) as err:
        read(path)
    msg = str(err.value)
    assert msg == f"{path}: {field}: expected this field (it is missing)", msg
