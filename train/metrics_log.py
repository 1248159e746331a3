"""Training metrics to JSONL and TensorBoard (tensorboardX), written by process 0 only.

``WORKDIR/metrics.jsonl``: one JSON object per line, ``{"step": int, "split": "train" |
"eval" | "eval_ema" | "event", "time": unix seconds, <metric>: number, ...}``. A resumed run appends, so
steps between the last checkpoint and a crash appear twice; readers keep the last record of
each (step, split). ``WORKDIR/tensorboard/``: the same scalars under ``<split>/<metric>``;
view them with ``tensorboard --logdir WORKDIR/tensorboard``.
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


def read_jsonl(workdir: pathlib.Path) -> list[dict[str, Any]]:
    """All records of ``metrics.jsonl``, in file order."""
    with (workdir / JSONL_NAME).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
