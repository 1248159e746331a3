"""The `astra` CLI: version, doctor --json, and one-line errors for bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from astra_jax.cli import main


def _astra(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MUJOCO_GL": "egl"}
    return subprocess.run(
        [sys.executable, "-m", "astra_jax.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["astra_jax"]


def test_doctor_json_reports_backend_and_devices() -> None:
    r = _astra("doctor", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["jax"]["backend"] == "cpu"
    assert summary["jax"]["device_count"] >= 1
    assert summary["mujoco"]["ok"] and summary["mujoco"]["renderer"]
    assert summary["packages"]["jax"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["version", "--bogus"], "--bogus"),
        (["doctor", "--json", "maybe"], "maybe"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(argv: list[str], needle: str) -> None:
    r = _astra(*argv)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "doctor" in capsys.readouterr().out
