"""What a training workdir holds right now, for the tests that kill a run mid-way and resume.

Shared by ``tests/train`` and ``tests/local_model`` (pytest puts ``tests/`` on ``sys.path``
for its root ``conftest.py``)."""

from __future__ import annotations

import os
import pathlib

from astra_jax.train.metrics_log import read_jsonl


def checkpoint_names(workdir: pathlib.Path) -> list[str]:
    """Entries of ``workdir/checkpoints`` (finalised steps and orbax temporaries)."""
    try:
        return [e.name for e in os.scandir(workdir / "checkpoints")]
    except FileNotFoundError:
        return []


def finalized_steps(workdir: pathlib.Path) -> list[int]:
    """Steps whose checkpoint was committed, increasing."""
    return sorted(int(n) for n in checkpoint_names(workdir) if n.isdigit())


def last_logged_step(workdir: pathlib.Path) -> int:
    """The last training step in ``metrics.jsonl``, -1 before the first. The run is live: its
    last line may be half-written, which ``read_jsonl`` skips."""
    try:
        records = read_jsonl(workdir)
    except FileNotFoundError:
        return -1
    return max((r["step"] for r in records if r["split"] == "train"), default=-1)
