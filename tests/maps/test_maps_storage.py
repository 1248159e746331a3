"""Map storage: save -> load -> save is byte-identical; bad input gets a clear error."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from astra_jax.maps import SCHEMA_VERSION, MapFormatError, load_map, save_map
from astra_jax.maps.storage import MAP_FILE, staged_directory


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_round_trip_is_byte_identical(corridor, tmp_path):
    a = save_map(corridor, tmp_path / "a")
    m = load_map(a)
    b = save_map(m, tmp_path / "b")
    ta, tb = _tree(a), _tree(b)
    assert ta.keys() == tb.keys() and ta == tb
    assert {"map.json", "sfm/cameras.bin", "images/front/00000.png"} <= set(ta)
    # and load -> save of the second copy changes nothing either
    c = save_map(load_map(b), tmp_path / "c")
    assert not filecmp.dircmp(b, c).diff_files


def test_loaded_map_equals_saved(corridor, tmp_path):
    m = load_map(save_map(corridor, tmp_path / "m"))
    assert [n.id for n in m.nodes] == [n.id for n in corridor.nodes]
    for x, y in zip(m.nodes, corridor.nodes):
        np.testing.assert_array_equal(x.T_world_ego, y.T_world_ego)
        assert x.landmark_ids == y.landmark_ids
    assert m.edges == corridor.edges
    assert m.landmarks == corridor.landmarks
    assert m.load_image(3, "front").shape == (24, 32, 3)
    assert m.load_reconstruction() is not None
    doc = json.loads((tmp_path / "m" / MAP_FILE).read_text())
    assert doc["schema_version"] == SCHEMA_VERSION


def test_to_networkx(corridor):
    g = corridor.to_networkx()
    assert g.number_of_nodes() == len(corridor.nodes)
    assert g.number_of_edges() == len(corridor.edges)
    assert g.edges[0, 1]["weight"] == pytest.approx(1.0)
    assert g.nodes[2]["landmarks"] == (0,)
    gl = corridor.to_networkx(with_landmarks=True)
    assert set(gl.neighbors(("landmark", 0))) == {2, 3}


def test_existing_directory_is_not_overwritten(corridor, tmp_path):
    out = save_map(corridor, tmp_path / "m")
    before = _tree(out)
    with pytest.raises(FileExistsError, match="already exists"):
        save_map(corridor, out)
    assert _tree(out) == before
    save_map(corridor, out, overwrite=True)  # replacing is explicit
    assert _tree(out) == before


def test_failed_write_leaves_old_map(corridor, tmp_path):
    out = save_map(corridor, tmp_path / "m")
    before = _tree(out)
    with pytest.raises(RuntimeError, match="boom"), staged_directory(out, overwrite=True) as stage:
        (stage / "map.json").write_text("{half")
        raise RuntimeError("boom")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "src"]  # no staging left


def _edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "newer version"),
        (lambda d: d.pop("nodes"), r"map\.json: nodes: expected this field \(it is missing\)"),
        (lambda d: d["nodes"][1].update(T_world_ego=[[1, 2], [3, 4]]), r"nodes\[1\].T_world_ego"),
        (lambda d: d["nodes"][2].update(pose2d=[9.0, 9.0, 0.0]), r"nodes\[2\].pose2d"),
        (lambda d: d["edges"][0].update(target=999), "both ends must be node ids"),
        (lambda d: d["edges"][0].update(kind="teleport"), r"edges\[0\].kind"),
        (lambda d: d["nodes"][2].update(landmark_ids=[]), "links disagree"),
        (lambda d: d["metadata"].update(pose_source="magic"), "metadata.pose_source"),
        (lambda d: d["nodes"][0]["images"].update(front="../../etc/passwd"), "inside it"),
    ],
)
def test_corrupt_map_json_names_field(corridor, tmp_path, mutate, match):
    out = save_map(corridor, tmp_path / "m")
    _edit(out / MAP_FILE, mutate)
    with pytest.raises(MapFormatError, match=match) as e:
        load_map(out)
    assert "map.json" in str(e.value)


def test_missing_and_unparsable_files(corridor, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such map directory"):
        load_map(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"map\.json: missing"):
        load_map(tmp_path / "empty")
    out = save_map(corridor, tmp_path / "m")
    (out / MAP_FILE).write_text("{not json")
    with pytest.raises(MapFormatError, match="not valid JSON"):
        load_map(out)
    out2 = save_map(corridor, tmp_path / "m2")
    (out2 / "images/front/00004.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"00004\.png: image of node 4 is missing"):
        load_map(out2)
