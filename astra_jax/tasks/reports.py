"""Writing an evaluation's report files: ``report.json`` and ``report.md``, each through a
temporary file and a rename, so an interrupted write never leaves half a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_report_files(dest: str | Path, report: dict[str, Any], markdown: str) -> Path:
    """``dest``/report.json and ``dest``/report.md (the directory is made when missing)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in (("report.json", json.dumps(report, indent=2)), ("report.md", markdown)):
        tmp = dest / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(dest / name)
    return dest
