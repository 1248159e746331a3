"""Procedural worlds: seeded, varied, office/warehouse-like, landmarks where they belong."""

from __future__ import annotations

import math

import pytest

from astra_jax.sim import CATEGORIES, build_world
from astra_jax.sim.seeds import SPLITS, check_split, split_of_seed


@pytest.fixture(scope="module")
def office():
    return build_world("office", 3)


@pytest.fixture(scope="module")
def warehouse():
    return build_world("warehouse", 3)


def test_same_seed_same_world_different_seed_different_world(office):
    again = build_world("office", 3)
    assert again.plan.to_json() == office.plan.to_json()
    assert again.landmark_table() == office.landmark_table()
    other = build_world("office", 4)
    assert other.plan.to_json() != office.plan.to_json()


def test_office_has_the_rooms_of_an_office(office):
    labels = [r.label for r in office.plan.rooms]
    for label in (
        "office",
        "conference_room",
        "kitchen",
        "lobby",
        "printer_corner",
        "restroom",
        "corridor",
    ):
        assert label in labels, label
    x0, y0, x1, y1 = office.bounds
    assert 26 <= x1 - x0 <= 34 and 17 <= y1 - y0 <= 23


def test_warehouse_has_aisles_loading_area_and_offices(warehouse):
    labels = [r.label for r in warehouse.plan.rooms]
    assert {"storage_aisles", "loading_area", "office"} <= set(labels)
    x0, y0, x1, y1 = warehouse.bounds
    assert 37 <= x1 - x0 <= 45 and 27 <= y1 - y0 <= 33
    racks = [lm for lm in warehouse.landmarks if lm.category == "pallet_rack"]
    assert len(racks) >= 8  # long, repetitive aisles
    assert len({lm.category for lm in warehouse.landmarks}) < len(
        {lm.category for lm in build_world("office", 3).landmarks}
    )


def test_catalogue_has_30_categories_with_functions_and_attributes():
    assert len(CATEGORIES) >= 30
    for name, cat in CATEGORIES.items():
        assert cat.functions and all(isinstance(f, str) and f for f in cat.functions), name
        assert cat.colours and cat.materials and cat.rooms, name
        for lo, hi in cat.size:
            assert 0 < lo <= hi, name


def test_landmarks_are_placed_where_they_belong(office, warehouse):
    for world in (office, warehouse):
        for lm in world.landmarks:
            assert lm.room_label in CATEGORIES[lm.category].rooms, (lm.category, lm.room_label)
            assert set(lm.attributes) >= {"colour", "material", "size"}
            assert lm.function in CATEGORIES[lm.category].functions
        ids = [lm.id for lm in world.landmarks]
        assert ids == list(range(1, len(ids) + 1))


def test_attributes_vary_with_the_seed_file_choices_stay(office_plan_path):
    from astra_jax.sim import world_from_file

    a = world_from_file(office_plan_path, seed=0).landmark_table()
    b = world_from_file(office_plan_path, seed=1).landmark_table()
    assert [x["attributes"] for x in a] != [x["attributes"] for x in b]
    sofa_a = next(x for x in a if x["category"] == "sofa")
    sofa_b = next(x for x in b if x["category"] == "sofa")
    assert (
        sofa_a["attributes"]["colour"] == sofa_b["attributes"]["colour"] == "navy"
    )  # given in the file


def test_seed_splits_are_disjoint():
    ranges = list(SPLITS.values())
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            assert a.stop <= b.start or b.stop <= a.start
    assert split_of_seed(0) == "train" and split_of_seed(SPLITS["test"].start) == "test"
    with pytest.raises(ValueError, match="belongs to split 'train'"):
        check_split(range(5), "val")


def test_occupancy_marks_walls_and_leaves_rooms_free(office):
    occ = office.occupancy()
    assert occ.occupied.mean() < 0.6
    for k in range(len(office.plan.rooms)):
        assert ((occ.rooms == k) & (occ.esdf > 0.3)).any()
    # a wall segment's centre line is occupied
    seg = office.structure.segments[0]
    mid = seg.point(0.5 * seg.length)
    if not any(
        abs(c.s - 0.5 * seg.length) < c.width for c in office.structure.cuts if c.segment == 0
    ):
        assert occ.esdf_at(mid) < 0
    assert math.isfinite(float(occ.esdf.max()))
