"""What a training workdir holds right now, for the tests that kill a run mid-way and resume.

Shared by ``tests/train`` and ``tests/local_model`` (pytest puts ``tests/`` on ``sys.path``
for its root ``conftest.py``)."""

from __future__ import annotations

import json
import os
import pathlib


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
    """The last training step in ``metrics.jsonl``, -1 before the first."""
    try:
        lines = (workdir / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return -1
    return max((json.loads(s)["step"] for s in lines if '"split": "train"' in s), default=-1)
