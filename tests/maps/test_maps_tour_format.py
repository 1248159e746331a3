"""Tours without the simulator: ``maps`` reads simulator episodes through the shared format
(``astra_jax.formats.episode``), never importing ``astra_jax.sim`` (MuJoCo, the renderer), and
takes the floor plan's doors from the episode manifest instead of rebuilding the world."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from astra_jax.maps import load_tour
from astra_jax.maps.sim_tour import floor_plan


def _user_tour(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(np.full((24, 32, 3), 40 * k, np.uint8)).save(root / "images" / f"{k}.png")
    (root / "camera.json").write_text(
        json.dumps({"width": 32, "height": 24, "fx": 20, "fy": 20, "cx": 16, "cy": 12})
    )
    return root


def test_maps_and_tour_loading_never_import_the_simulator(sim_tour_dir, tmp_path):
    user = _user_tour(tmp_path / "user")
    code = textwrap.dedent(
        f"""
        import sys
        import astra_jax.maps, astra_jax.maps.build, astra_jax.maps.plot
        from astra_jax.maps import load_tour
        assert load_tour({str(user)!r}).kind == "user"
        sim = load_tour({str(sim_tour_dir)!r})
        assert sim.kind == "sim" and sim.floor_plan["doors"]
        print(sorted(m for m in sys.modules
                     if m.split(".")[0] == "mujoco" or m.startswith("astra_jax.sim")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_doors_come_from_the_episode_manifest(sim_tour_dir, tmp_path):
    manifest = json.loads((sim_tour_dir / "manifest.json").read_text())
    tour = load_tour(sim_tour_dir)
    assert tour.floor_plan is not None
    assert tour.floor_plan["doors"] == manifest["doors"] and len(manifest["doors"]) >= 3
    assert len(tour.floor_plan["walls"]) == len(manifest["walls"])
    # an episode written before the manifest had doors (the same version, 1): it loads, with
    # walls and rooms and no doors
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    for f in sim_tour_dir.glob("*.npy"):
        (old_dir / f.name).symlink_to(f)
    old = {k: v for k, v in manifest.items() if k != "doors"}
    (old_dir / "manifest.json").write_text(json.dumps(old))
    old_tour = load_tour(old_dir)
    assert old_tour.kind == "sim" and old_tour.floor_plan is not None
    assert old_tour.floor_plan["doors"] == []
    assert old_tour.floor_plan["walls"] == tour.floor_plan["walls"]
    assert old_tour.floor_plan["rooms"] == floor_plan(manifest)["rooms"]
