"""Calibrated confidence for Astra-Global's localizations.

A localization's ``source`` (the last stage that succeeded: refined, fine, coarse, none) is
what the pipeline knows about its own answer. :class:`ConfidenceCalibration` maps each source
to the probability that such a pose lies within 1 m / 5 deg of the truth, measured on
validation worlds (``astra eval global --split val --calibration-out FILE``) and smoothed
with one pseudo-hit and one pseudo-miss per source (Laplace), so a source seen rarely stays
near 0.5 instead of 0 or 1. A source never seen keeps the uncalibrated default level. The
navigator gates Astra-Global's fixes by this number; ``astra eval global --calibration FILE``
then reports, on test worlds, how often each level was right.

File format (JSON, ``version`` 1)::

    {"version": 1, "criterion": "within 1 m / 5 deg",
     "sources": {"refined": {"n": 40, "hits": 37}, "fine": {...}, ...}}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

VERSION = 1
CRITERION = "within 1 m / 5 deg"
# Before any calibration: the stage's standing.
DEFAULT_LEVELS: Mapping[str, float] = {"refined": 0.9, "fine": 0.5, "coarse": 0.2, "none": 0.0}


@dataclasses.dataclass(frozen=True)
class ConfidenceCalibration:
    """Per source, how many validation localizations there were and how many were right."""

    counts: Mapping[str, tuple[int, int]]  # source -> (n, hits)

    def __post_init__(self) -> None:
        for source, (n, hits) in self.counts.items():
            if source not in DEFAULT_LEVELS:
                raise ValueError(
                    f"calibration source {source!r}: expected one of {tuple(DEFAULT_LEVELS)}"
                )
            if not (isinstance(n, int) and isinstance(hits, int) and 0 <= hits <= n):
                raise ValueError(f"calibration of {source!r}: need 0 <= hits <= n, got {hits}/{n}")

    @classmethod
    def uncalibrated(cls) -> ConfidenceCalibration:
        return cls({})

    @classmethod
    def fit(cls, outcomes: Iterable[tuple[str, bool]]) -> ConfidenceCalibration:
        """From ``(source, pose within the criterion)`` pairs of validation localizations."""
        counts: dict[str, list[int]] = {}
        for source, hit in outcomes:
            c = counts.setdefault(source, [0, 0])
            c[0] += 1
            c[1] += bool(hit)
        return cls({s: (n, h) for s, (n, h) in sorted(counts.items())})

    def confidence(self, source: str) -> float:
        """P(within 1 m / 5 deg | source): smoothed frequency, or the default level."""
        if source == "none":
            return 0.0  # no pose, nothing to be right about
        if source not in self.counts:
            return DEFAULT_LEVELS[source]
        n, hits = self.counts[source]
        return (hits + 1) / (n + 2)

    def to_json(self) -> dict:
        return {
            "version": VERSION,
            "criterion": CRITERION,
            "sources": {s: {"n": n, "hits": h} for s, (n, h) in self.counts.items()},
        }

    def save(self, path: str | Path) -> None:
        """Write atomically (a temp file renamed)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> ConfidenceCalibration:
        """Read a calibration file; errors name the file and what is wrong."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable calibration file ({e})") from None
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise ValueError(f"{path}: expected a calibration file of version {VERSION}")
        if doc.get("criterion") != CRITERION:
            raise ValueError(f"{path}: criterion {doc.get('criterion')!r}, expected {CRITERION!r}")
        try:
            counts = {s: (v["n"], v["hits"]) for s, v in doc["sources"].items()}
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{path}: sources must map a source to {{n, hits}} ({e!r})") from None
        try:
            return cls(counts)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
