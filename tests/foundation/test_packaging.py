"""Packaging: every package directory is listed in pyproject.toml and imports as astra_jax.*."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> tuple[set[str], dict[str, str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(cfg["packages"]), cfg["package-dir"]


def test_every_package_directory_is_listed() -> None:
    packages, package_dir = _declared()
    found = set()
    for prefix, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([prefix, *rel.parts]))
    assert found == packages, (
        f"add to pyproject packages: {sorted(found - packages)}; stale: {sorted(packages - found)}"
    )


def test_mapped_folders_import_under_the_namespace() -> None:
    _, package_dir = _declared()
    for name, folder in package_dir.items():
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == (ROOT / folder).resolve()
