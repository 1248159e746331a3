"""Training metrics to JSONL and TensorBoard (tensorboardX), written by process 0 only.

``WORKDIR/metrics.jsonl``: one JSON object per line, ``{"step": int, "split": "train" |
"eval" | "eval_ema" | "event", "time": unix seconds, <metric>: number, ...}``. A resumed run
appends, so steps between the last checkpoint and a crash appear twice; readers keep the last
record of each (step, split). A record is complete once its newline is written: a reader of a
live run skips a last line without one, and a run killed mid-record has that torn tail cut off
when it resumes, so the file stays one JSON object per line.

``WORKDIR/tensorboard/``: the same scalars under ``<split>/<metric>``; view them with
``tensorboard --logdir WORKDIR/tensorboard``.
"""

from __future__ import annotations

import json
import math
import pathlib
import time
from collections.abc import Mapping
from typing import Any

from tensorboardX import SummaryWriter

JSONL_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class MetricsLogger:
    """Appends records to ``metrics.jsonl`` and scalars to TensorBoard; a no-op if disabled."""

    def __init__(self, workdir: pathlib.Path, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._jsonl = None
        self._tb = None
        if enabled:
            _cut_torn_tail(workdir / JSONL_NAME)
            self._jsonl = (workdir / JSONL_NAME).open("a", encoding="utf-8")
            self._tb = SummaryWriter(logdir=str(workdir / TENSORBOARD_DIR), flush_secs=10)

    def write(self, step: int, split: str, values: Mapping[str, Any]) -> None:
        """One record. Numbers go to TensorBoard as ``split/name``; others only to JSONL."""
        if not self.enabled:
            return
        record = {"step": int(step), "split": split, "time": round(time.time(), 3)}
        record.update({k: _plain(v) for k, v in values.items()})
        assert self._jsonl is not None and self._tb is not None
        self._jsonl.write(json.dumps(record, sort_keys=True) + "\n")
        self._jsonl.flush()
        for name, value in record.items():
            if name in ("step", "split", "time") or not isinstance(value, int | float):
                continue
            if isinstance(value, bool) or not math.isfinite(value):
                continue
            self._tb.add_scalar(f"{split}/{name}", value, int(step))

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(v: Any) -> Any:
    """numpy / jax scalars -> Python numbers; non-finite floats -> their string name."""
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _cut_torn_tail(path: pathlib.Path) -> None:
    """Truncate ``path`` after its last newline: drops a record a killed run left half-written
    (its step is logged again after the resume). No-op for a missing or complete file."""
    try:
        with path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def read_jsonl(workdir: pathlib.Path) -> list[dict[str, Any]]:
    """All complete records of ``metrics.jsonl``, in file order.

    A last line without its newline is a record still being written (or torn by a kill) and is
    skipped. Raises ``ValueError`` naming the file and line for any other line that is not JSON.
    """
    path = workdir / JSONL_NAME
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # [-1]: "" or a partial record
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {number} is not a JSON record: {e}") from e
    return records
