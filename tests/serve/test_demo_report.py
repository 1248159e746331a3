"""The demo's report: self-contained HTML with the navigation table, three figures and every
stage, written from ``navigation.json`` and the demo's map."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from astra_jax.demo_nav import write_report
from astra_jax.maps.storage import load_map


def test_report_reads_the_navigation_and_stages(sim_map: Path, tmp_path: Path) -> None:
    shutil.copytree(sim_map, tmp_path / "map")
    m = load_map(sim_map)
    path = np.cumsum(np.full((20, 2), 0.3), axis=0)
    run = {
        "state": "arrived", "reason": "", "goal_node": m.nodes[-1].id, "goal_landmark": "desk #3",
        "success": True, "final_error_m": 0.3, "driven_m": 8.2, "ticks": 20, "collisions": 0,
        "fallback_ticks": 2, "recoveries": 0, "fixes": [3, 1], "max_error_m": 0.12,
        "localization_errors_m": [0.05] * 20, "truth_path": path.tolist(),
        "estimates": (path + 0.05).tolist(), "route_world": path[::5].tolist(),
        "goal_world": path[-1].tolist(), "planners": ["learned"] * 18 + ["fallback"] * 2,
        "tick_s": [{"observe": 0.004, "tick": 0.006, "esdf": 0.02, "plan": 0.01, "drive": 0.003}] * 20,
    }  # fmt: skip
    failed = {**run, "success": False, "state": "failed", "reason": "not arrived after 240 ticks"}
    nav = {"goal_text": "I need to print a document", "start": [0.0, 0.0, 0.0],
           "artifact": "astra_jax/demo_assets/local-tiny", "runs": {"learned": run, "A*": failed}}  # fmt: skip
    (tmp_path / "navigation.json").write_text(json.dumps(nav))
    stages = [{"stage": "map", "ok": True, "seconds": 95.2, "result": "built <a map>"},
              {"stage": "navigate", "ok": False, "seconds": 1.0, "result": "FAILED: boom"}]  # fmt: skip
    html = write_report(tmp_path, stages).read_text()
    assert len(re.findall(r"<img src='data:image/png;base64,[A-Za-z0-9+/=]{1000,}'", html)) == 3
    assert "reached (within 1 m by the truth)" in html and "not arrived after 240 ticks" in html
    assert "print a document" in html and "built &lt;a map&gt;" in html  # escaped
    assert html.count("<tr>") == 1 + 2 + 1 + 2  # header + runs, header + stages
    assert "FAILED" in html and "<td>8.2 m</td>" in html
