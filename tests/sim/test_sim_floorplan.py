"""Floor-plan schema: the example plans load; bad plans fail naming the file and the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from astra_jax.sim import FloorPlanError, load_plan, world_from_file
from astra_jax.sim.floorplan import parse_plan


@pytest.fixture(scope="module")
def office_raw(office_plan_path) -> dict:
    return json.loads(Path(office_plan_path).read_text())


def _write(tmp_path: Path, raw: dict, name: str = "plan.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(raw))
    return p


def test_example_plans_load(office_plan_path, warehouse_plan_path):
    office = load_plan(office_plan_path)
    assert office.family == "office"
    assert {r.label for r in office.rooms} >= {
        "lobby",
        "kitchen",
        "restroom",
        "printer_corner",
        "corridor",
        "office",
    }
    warehouse = load_plan(warehouse_plan_path)
    assert {r.label for r in warehouse.rooms} >= {"storage_aisles", "loading_area", "office"}
    # the exported JSON parses back to the same plan
    assert parse_plan(office.to_json(), "<roundtrip>").to_json() == office.to_json()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r["walls"][1].pop("thickness"), "walls[1].thickness"),
        (lambda r: r.pop("rooms"), "rooms"),
        (lambda r: r["rooms"][2].__setitem__("label", "garage"), "rooms[2].label"),
        (lambda r: r["rooms"][0].__setitem__("floor", "lava"), "rooms[0].floor"),
        (lambda r: r["doors"][0].__setitem__("position", [7.3, 5.0]), "doors[0].position"),
        (lambda r: r["objects"][3].__setitem__("category", "spaceship"), "objects[3].category"),
        (lambda r: r["objects"][0].__setitem__("position", [50.0, 50.0]), "objects[0].position"),
        (
            lambda r: r["objects"][1]["attributes"].__setitem__("colour", "plaid"),
            "objects[1].attributes.colour",
        ),
        (lambda r: r["walls"][0].__setitem__("end", "far away"), "walls[0].end"),
        (lambda r: r.__setitem__("schema_version", 7), "schema_version"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path, office_raw, edit, field):
    raw = copy.deepcopy(office_raw)
    edit(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(FloorPlanError) as err:
        load_plan(path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_walls_leaving_no_free_space(tmp_path):
    """A 1 m square closet cannot hold a robot of radius 0.3 m once its walls are in."""
    box = [[0, 0], [1, 0], [1, 1], [0, 1]]
    raw = {
        "schema_version": 1, "name": "closet", "family": "office", "wall_height": 2.5,
        "walls": [{"start": box[i], "end": box[(i + 1) % 4], "thickness": 0.4} for i in range(4)],
        "doors": [], "rooms": [{"name": "closet", "label": "storage", "polygon": box}], "objects": [],
    }  # fmt: skip
    path = _write(tmp_path, raw, "closet.json")
    with pytest.raises(FloorPlanError) as err:
        world_from_file(path)
    assert (
        str(path) in str(err.value) and "walls" in str(err.value) and "free space" in str(err.value)
    )


def test_room_without_door_is_unreachable(tmp_path, office_raw):
    raw = copy.deepcopy(office_raw)
    raw["doors"] = [d for d in raw["doors"] if d["position"] != [10.25, 4]]  # the restroom's door
    path = _write(tmp_path, raw)
    with pytest.raises(FloorPlanError) as err:
        world_from_file(path)
    assert str(path) in str(err.value) and "rooms[2] (restroom)" in str(err.value)


def test_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{walls: [")
    with pytest.raises(FloorPlanError, match=r"broken\.json"):
        load_plan(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        load_plan(tmp_path / "missing.json")


def test_a_five_centimetre_wall_is_accepted_and_a_shorter_one_named(tmp_path, office_raw):
    """0.05 m is the schema's shortest wall; 9.4 -> 9.45 measures 0.0499999... in floats
    (what made office seeds 53, 71 and 182 fail)."""
    raw = copy.deepcopy(office_raw)
    raw["walls"].append({"start": [11.8, 9.45], "end": [11.8, 9.4], "thickness": 0.12})
    load_plan(_write(tmp_path, raw))
    raw["walls"][-1]["end"] = [11.8, 9.42]
    path = _write(tmp_path, raw, "short_wall.json")
    with pytest.raises(FloorPlanError) as err:
        load_plan(path)
    assert f"walls[{len(raw['walls']) - 1}].end" in str(err.value)
