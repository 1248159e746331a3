"""Calibrated confidence (global_model/calibration.py): fitted per source from validation
outcomes with Laplace smoothing, saved and loaded atomically, and used by the localizer."""

from __future__ import annotations

import json

import pytest

from astra_jax.global_model.calibration import DEFAULT_LEVELS, ConfidenceCalibration


def test_fit_gives_smoothed_hit_rates_per_source():
    outcomes = [("refined", True)] * 8 + [("refined", False)] * 2 + [("fine", False)] * 3
    cal = ConfidenceCalibration.fit(outcomes)
    assert cal.counts == {"fine": (3, 0), "refined": (10, 8)}
    assert cal.confidence("refined") == pytest.approx(9 / 12)
    assert cal.confidence("fine") == pytest.approx(1 / 5)  # never right, yet not certain
    assert cal.confidence("coarse") == DEFAULT_LEVELS["coarse"]  # unseen: the default level
    assert cal.confidence("none") == 0.0
    assert ConfidenceCalibration.uncalibrated().confidence("refined") == DEFAULT_LEVELS["refined"]


def test_round_trip_and_bad_files(tmp_path):
    cal = ConfidenceCalibration.fit([("fine", True), ("coarse", False)])
    path = tmp_path / "calibration.json"
    cal.save(path)
    assert ConfidenceCalibration.load(path) == cal
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed
    doc = json.loads(path.read_text())
    for broken, match in [
        ({**doc, "version": 2}, "version 1"),
        ({**doc, "criterion": "within 2 m"}, "criterion"),
        ({**doc, "sources": {"fine": {"n": 1}}}, "n, hits"),
        ({**doc, "sources": {"fine": {"n": 1, "hits": 3}}}, "hits <= n"),
        ({**doc, "sources": {"lucky": {"n": 1, "hits": 1}}}, "lucky"),
    ]:
        path.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=match):
            ConfidenceCalibration.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable calibration file"):
        ConfidenceCalibration.load(path)
