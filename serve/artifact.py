"""The export artifact's on-disk format, shared by the exporter and the Flax-free runtime.

An artifact is a directory::

    ARTIFACT_DIR/
      manifest.json   what the function is and expects (below)
      function.jax    jax.export's serialized function: fn(params, state, inputs) -> (state, outputs)
      params.npz      the parameters, one array per "/"-joined parameter path

``manifest.json`` (``format_version`` 1): ``format`` ("astra-jax-artifact"), ``model``
(e.g. "astra-local-tick"), ``preset``, ``platforms`` (lowered for), ``batch`` ("b" when the
batch dimension is symbolic, else its size), ``jax_version`` and ``astra_jax_version`` of the
export, ``inputs`` / ``state`` / ``outputs`` / ``params`` specs ({name: {"shape": [...],
"dtype": ...}}, "b" for the symbolic batch, nested for nested state), ``rig`` (image size and
cameras: the calibration the model was trained for), ``normalization`` (how images are
expected), ``config`` (the model's resolved config), ``source`` (checkpoint and step),
``files`` ({file: SHA-256}) and ``created``.

The parameters are an argument of the function, not constants in it, so new weights of the
same shapes ship without a new export (``astra_jax.serve.export.write_params``).

This module imports numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "astra-jax-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FUNCTION = "function.jax"
PARAMS = "params.npz"
BATCH = "b"  # the symbolic batch dimension's name in specs
MANIFEST_FIELDS = (
    "format", "format_version", "model", "preset", "platforms", "batch", "jax_version",
    "astra_jax_version", "inputs", "state", "outputs", "params", "rig", "normalization",
    "config", "source", "files", "created",
)  # fmt: skip


class ArtifactError(ValueError):
    """An artifact that cannot be used as it is: the message names the file and what is wrong."""


def manifest_text(manifest: dict[str, Any]) -> str:
    """``manifest.json``'s text: sorted keys, one-space indent, a final newline."""
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def flatten_tree(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict of arrays -> {"a/b/c": array}, keys sorted as jax flattens dicts."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key in sorted(tree):
        if not isinstance(key, str) or not key or "/" in key:
            raise ArtifactError(f"parameter key {key!r} under {prefix or '/'!r}: expected a "
                                "non-empty string without '/'")  # fmt: skip
        out.update(flatten_tree(tree[key], f"{prefix}/{key}" if prefix else key))
    return out


def unflatten_tree(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten_tree`."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def spec_json(shape: tuple[Any, ...], dtype: Any) -> dict[str, Any]:
    """{"shape": [...], "dtype": name}; a symbolic dimension is written as its name."""
    dims = [d if isinstance(d, int) else str(d) for d in shape]
    return {"shape": dims, "dtype": np.dtype(dtype).name}


def is_spec(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"shape", "dtype"}


def concrete_shape(spec: dict[str, Any], batch: int | None) -> tuple[int, ...]:
    """The spec's shape with the symbolic batch set to ``batch`` (None: keep it unresolved,
    which only shapes without one allow)."""
    dims = []
    for d in spec["shape"]:
        if d == BATCH:
            if batch is None:
                raise ArtifactError(f"spec {spec}: needs a batch size")
            dims.append(batch)
        else:
            dims.append(int(d))
    return tuple(dims)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of artifact ``directory``, its format checked (not yet the files)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not an artifact directory")
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (not an astra-jax artifact?)")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: format is not {FORMAT!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path}: format_version {version!r}; this astra-jax reads "
                            f"{FORMAT_VERSION}")  # fmt: skip
    missing = [f for f in MANIFEST_FIELDS if f not in manifest]
    if missing:
        raise ArtifactError(f"{path}: missing fields {', '.join(missing)}")
    return manifest


def verify_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists exists and has its SHA-256; nothing else is expected."""
    directory = Path(directory)
    files = manifest["files"]
    functions = manifest.get("functions") or {"tick": {"file": FUNCTION}}
    for required in (*(f["file"] for f in functions.values()), PARAMS):
        if required not in files:
            raise ArtifactError(f"{directory / MANIFEST}: files does not list {required}")
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing (listed in {MANIFEST})")
        actual = sha256_file(path)
        if actual != digest:
            raise ArtifactError(
                f"{path}: SHA-256 {actual[:12]}... differs from the manifest's {digest[:12]}... "
                "(the file changed after export; re-export, or ship weights with write_params)"
            )


def save_params(path: Path, flat: dict[str, np.ndarray]) -> None:
    """``params.npz`` (temp file + rename). bfloat16 is stored as its uint16 bits."""
    arrays = {}
    for key, value in flat.items():
        a = np.asarray(value)
        arrays[key] = a.view(np.uint16) if a.dtype.name == "bfloat16" else a
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; an artifact is meant to be shipped
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_params(path: Path, specs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """The arrays of ``params.npz``, checked against the manifest's ``params`` specs."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: not a readable .npz ({e})") from None
    with npz:
        names = set(npz.files)
        if names != set(specs):
            extra, missing = sorted(names - set(specs)), sorted(set(specs) - names)
            raise ArtifactError(f"{path}: parameters differ from the manifest: missing "
                                f"{missing[:5]}, unexpected {extra[:5]}")  # fmt: skip
        out = {}
        for key, spec in specs.items():
            a = npz[key]
            if spec["dtype"] == "bfloat16":
                import ml_dtypes  # installed with jax

                a = a.view(ml_dtypes.bfloat16)
            if list(a.shape) != spec["shape"] or a.dtype.name != spec["dtype"]:
                raise ArtifactError(f"{path}: {key} is {a.dtype.name}{list(a.shape)}; the "
                                    f"function expects {spec['dtype']}{spec['shape']}")  # fmt: skip
            out[key] = a
    return out
