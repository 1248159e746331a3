"""Map directories: atomic save, validated load.

Layout of ``MAP_DIR``::

    map.json                    the graph, landmarks and metadata (schema_version inside)
    images/<camera>/<id>.png    one image per node and rig camera (paths listed in map.json)
    sfm/                        the pycolmap reconstruction (binary), absent for odometry-only maps
    logs/                       pycolmap's log of the build (kept for diagnosis)

A directory is always written whole into a hidden staging folder beside the target and then
renamed into place, so a reader (or a crash) never sees a half-written map, and an existing
map is only replaced once the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from astra_jax.maps.schema import MapFormatError, TopoSemanticMap, map_from_json, map_to_json

MAP_FILE = "map.json"
ASSET_DIRS = ("sfm", "logs")  # copied whole when a map is saved elsewhere


def dumps_map(m: TopoSemanticMap) -> str:
    """The exact text of ``map.json``: sorted keys, two-space indent, shortest float repr."""
    return json.dumps(map_to_json(m), indent=2, sort_keys=True, allow_nan=False) + "\n"


@contextlib.contextmanager
def staged_directory(out_dir: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory that replaces ``out_dir`` when the block succeeds.

    The staging folder lives beside ``out_dir`` (same filesystem, so the final ``os.replace``
    is atomic). On an exception it is deleted and ``out_dir`` is left as it was. An existing
    ``out_dir`` raises :class:`FileExistsError` unless ``overwrite``; it is then moved aside,
    the new directory renamed in, and the old one deleted.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: already exists (pass overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir}: exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield stage
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "map")
            os.replace(stage, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def write_map_json(m: TopoSemanticMap, directory: Path) -> None:
    """Write ``map.json`` into ``directory`` (temp file + rename)."""
    text = dumps_map(m)
    fd, tmp = tempfile.mkstemp(prefix=".map.json.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, directory / MAP_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_map(m: TopoSemanticMap, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Save a map as a directory (see the module docstring); returns ``out_dir``.

    Images and the reconstruction are copied byte for byte from ``m.root``, so saving a loaded
    map reproduces every file. ``out_dir`` may be ``m.root`` itself (with ``overwrite``).
    """
    out_dir = Path(out_dir)
    referenced = sorted({rel for n in m.nodes for rel in n.images.values()})
    if referenced and m.root is None:
        raise ValueError(
            "the map references node images but has no root directory to copy them from"
        )
    with staged_directory(out_dir, overwrite=overwrite) as stage:
        for rel in referenced:
            src = m.root / rel  # type: ignore[operator]
            if not src.is_file():
                raise FileNotFoundError(f"{src}: node image listed in the map is missing")
            dst = stage / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        for name in ASSET_DIRS:
            if m.root is not None and (m.root / name).is_dir():
                shutil.copytree(m.root / name, stage / name)
        write_map_json(m, stage)
    return out_dir


def load_map(map_dir: str | Path) -> TopoSemanticMap:
    """Load and validate a map directory. Errors name the file and the problem."""
    map_dir = Path(map_dir)
    if not map_dir.is_dir():
        raise FileNotFoundError(f"{map_dir}: no such map directory")
    path = map_dir / MAP_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a map directory holds map.json")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MapFormatError(f"{path}: not valid JSON ({e})") from None
    try:
        m = map_from_json(doc, root=map_dir.resolve())
    except MapFormatError as e:
        raise MapFormatError(f"{path}: {e}") from None
    for n in m.nodes:
        for rel in n.images.values():
            if not (map_dir / rel).is_file():
                raise FileNotFoundError(f"{map_dir / rel}: image of node {n.id} is missing")
    return m
