"""``params_sha256``: one hash that says whether two runs ended with identical parameters."""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils


def params_sha256(params: Any) -> str:
    """SHA-256 over every parameter's bytes, in sorted order of the flattened key paths.

    Each leaf contributes its raw bytes as stored (dtype unchanged, C order, little-endian);
    shapes and names do not enter, so the hash is over "all parameter bytes in a fixed order".
    Sharded arrays are gathered first (on every process, so all processes agree).
    """
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    digest = hashlib.sha256()
    for _, leaf in sorted(flat, key=lambda kv: jax.tree_util.keystr(kv[0])):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            leaf = multihost_utils.process_allgather(leaf, tiled=True)
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()
