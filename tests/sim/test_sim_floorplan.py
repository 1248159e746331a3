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


def test_yaw_in_degrees_is_named_with_its_radian_value(tmp_path, office_raw):
    raw = copy.deepcopy(office_raw)
    raw["objects"][1]["yaw"] = 90  # the sofa, facing +y: pi/2 rad
    path = _write(tmp_path, raw, "degrees.json")
    with pytest.raises(FloorPlanError) as err:
        load_plan(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and "objects[1].yaw" in msg
    assert "radians" in msg and "1.5708" in msg
    raw["objects"][1]["yaw"] = 6.2832  # 2 pi, rounded up: still radians
    load_plan(_write(tmp_path, raw, "full_turn.json"))


# Objects added to small_office.json: walls[7] runs from [9, 0] to [9, 4] (0.12 m thick, between
# the kitchen and the restroom); walls[1] is the east outline at x = 14 (0.25 m thick).
THROUGH_WALL = {
    # 0.55 m deep across walls[7], its centre in the restroom: out of both faces
    "crossing": ({"category": "filing_cabinet", "position": [9.1, 3.0], "yaw": 0.0,
                  "size": [0.55, 0.45, 1.3]}, "walls[7] (from [9, 0] to [9, 4]"),
    # a painting hung inside the outline wall: its centre in the wall's body
    "centre inside": ({"category": "painting", "position": [13.99, 2.0], "yaw": 3.141593,
                       "size": [0.04, 1.0, 0.7]}, "walls[1] (from [14, 0] to [14, 10]"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(THROUGH_WALL))
def test_object_through_a_wall_is_named_with_the_wall(tmp_path, office_raw, case):
    obj, wall = THROUGH_WALL[case]
    raw = copy.deepcopy(office_raw)
    raw["objects"].append(obj)
    path = _write(tmp_path, raw, "through_wall.json")
    with pytest.raises(FloorPlanError) as err:
        world_from_file(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert f"objects[{len(raw['objects']) - 1}].position: the {obj['category']}" in msg
    assert wall in msg and "through" in msg


def test_objects_on_against_and_between_walls_are_accepted(tmp_path, office_raw):
    """Hung on a wall, pushed a little into one, or standing in a door opening is fine."""
    raw = copy.deepcopy(office_raw)
    raw["objects"] += [
        # hung on the kitchen face of walls[7] (x = 8.94), and one sunk 1 cm into it
        {"category": "painting", "position": [8.92, 2.0], "yaw": 3.141593, "size": [0.04, 0.8, 0.6]},
        {"category": "painting", "position": [8.93, 1.2], "yaw": 3.141593, "size": [0.04, 0.5, 0.5],
         "elevation": 1.0},
        # a bookshelf pushed 3 cm into the corridor face of walls[4] (y = 4.06)
        {"category": "bookshelf", "position": [5.0, 4.205], "yaw": 1.570796, "size": [0.35, 1.0, 1.9]},
        # a plant in the lobby's 3 m opening (doors[0]), across walls[4]'s line
        {"category": "potted_plant", "position": [1.5, 3.99], "yaw": 0.0, "size": [0.5, 0.5, 1.0]},
    ]  # fmt: skip
    world = world_from_file(_write(tmp_path, raw))
    assert len(world.landmarks) == len(raw["objects"])


def test_furniture_blocking_a_door_is_named(tmp_path, office_raw):
    """A sofa against the corridor wall in front of the restroom's door (doors[3], x 9.75 to
    10.75): the corridor stays passable, the restroom does not; the message names the sofa."""
    raw = copy.deepcopy(office_raw)
    raw["objects"].append(
        {"category": "sofa", "position": [10.25, 4.53], "yaw": 1.570796, "size": [0.9, 1.8, 0.85]}
    )
    path = _write(tmp_path, raw, "blocked_door.json")
    with pytest.raises(FloorPlanError) as err:
        world_from_file(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and "rooms[2] (restroom)" in msg
    assert "objects[36] (sofa at [10.25, 4.53])" in msg and "doors[3]" in msg
    assert "add a door" not in msg
