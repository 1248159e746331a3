"""Progress bars (astra_jax/progress.py): shown on a terminal, never under --json or when
stderr is not a terminal; the map build's SfM hooks; and `astra sim tour` both ways."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from astra_jax import progress

FLOORPLAN = Path(__file__).resolve().parents[2] / "astra_jax" / "sim" / "floorplans"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_on_a_terminal_with_stage_and_time_left() -> None:
    out = FakeTTY()
    with progress.bar("render", 4, unit="frame", file=out, mininterval=0) as bar:
        assert not bar.disable
        for _ in range(4):
            bar.update(1)
    text = out.getvalue()
    assert "render" in text and "4/4" in text and "frame/s" in text
    # tqdm prints "[elapsed<remaining, rate]": the "<remaining" part is the time-left estimate
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", text)


def test_no_bar_off_a_terminal_under_quiet_or_when_switched_off() -> None:
    for kwargs, quiet in [({}, False), ({"enabled": False}, False), ({}, True)]:
        out = FakeTTY() if kwargs or quiet else io.StringIO()
        with progress.quiet(quiet), progress.bar("x", 3, file=out, **kwargs) as bar:
            assert bar.disable
            bar.update(3)
        assert out.getvalue() == ""


def test_quiet_nests_and_resets() -> None:
    assert not progress.is_quiet()
    with progress.quiet():
        with progress.quiet(False):  # an inner block cannot lift --json's quiet
            assert progress.is_quiet()
        assert progress.is_quiet()
    assert not progress.is_quiet()


def test_json_flag_runs_the_command_quietly() -> None:
    from astra_jax.cli._common import run

    seen: list[bool] = []

    def a(path: str, json: bool = False) -> int:
        seen.append(progress.is_quiet())
        return 0

    def b() -> int:
        seen.append(progress.is_quiet())
        return 0

    assert run("prog", {"a": a, "b": b}, ["a", "--path", "p", "--json"]) == 0
    assert run("prog", {"a": a, "b": b}, ["a", "--path", "p"]) == 0
    assert run("prog", {"a": a, "b": b}, ["b"]) == 0
    assert seen == [True, False, False]
    assert not progress.is_quiet()


# ----------------------------------------------------------------------------- SfM hooks


def test_follow_log_reads_only_new_matching_lines(tmp_path: Path) -> None:
    from astra_jax.maps.sfm import _EXTRACTED, _follow_log

    log = tmp_path / "colmap.log"
    log.write_text("I0 feature_extraction.cc:270] Processed file [9/9]\n")
    got: list[int] = []
    follow = _follow_log(log, _EXTRACTED, lambda m: got.append(int(m.group(1))), interval=0.01)
    with follow, open(log, "a") as f:
        for i in (1, 2):
            f.write(f"I1 feature_extraction.cc:270] Processed file [{i}/2]\n  Name: x\n")
            f.flush()
            time.sleep(0.03)
        f.write("I2 feature_extraction.cc:270] Processed file [3/2]\n")  # read at the end
    assert got == [1, 2, 3]
    got.clear()
    with _follow_log(log, _EXTRACTED, lambda m: got.append(1), enabled=False):
        log.write_text("Processed file [1/1]\n")
    assert got == []


def test_mapping_progress_counts_registrations_up_to_the_total() -> None:
    from astra_jax.maps.sfm import _MappingProgress

    out = FakeTTY()
    with progress.bar("mapping", 5, file=out, mininterval=0) as bar:
        mapped = _MappingProgress(bar)
        mapped.on_initial_pair()
        assert bar.n == 2
        for _ in range(6):  # a discarded model's registrations count too: capped
            mapped.on_next_image()
        assert bar.n == 5
        mapped.finish(4)  # the largest model's
        assert bar.n == 4
    last = out.getvalue().split("\r")[-1]
    assert "4/5" in last and "largest model" in last


# ----------------------------------------------------------------------------- a command


def _tour(out: Path, stderr_tty: bool) -> tuple[int, str, str]:
    """`astra sim tour` for 2 frames; stderr on a pty (100 columns) or a pipe."""
    argv = [sys.executable, "-m", "astra_jax.cli", "sim", "tour", "--world",
            str(FLOORPLAN / "small_office.json"), "--preset", "tiny", "--frames", "2",
            "--out", str(out)]  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": "egl"}
    if not stderr_tty:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        return r.returncode, r.stdout, r.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the pty
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    stdout = p.stdout.read().decode() if p.stdout else ""
    return p.wait(timeout=300), stdout, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform != "linux", reason="pty and TIOCSWINSZ: Linux")
def test_tour_shows_bars_on_a_terminal_and_nothing_in_a_pipe(tmp_path: Path) -> None:
    rc, out_pipe, err_pipe = _tour(tmp_path / "pipe", stderr_tty=False)
    assert rc == 0, err_pipe
    assert err_pipe == ""  # not a terminal: no progress output at all
    rc, out_tty, err_tty = _tour(tmp_path / "tty", stderr_tty=True)
    assert rc == 0, err_tty
    assert re.search(r"route\s*: 100%\|", err_tty) and re.search(r"render\s*: 100%\|", err_tty)
    assert "2/2" in err_tty
    # stdout is the same summary either way
    assert out_tty.replace(str(tmp_path / "tty"), "OUT") == out_pipe.replace(
        str(tmp_path / "pipe"), "OUT"
    )
