"""Exact resume: a run SIGKILLed between or during checkpoint saves and restarted ends with
the same parameter bits as an uninterrupted run."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable

from checkpoint_probes import checkpoint_names, finalized_steps, last_logged_step

# Batch 256 makes a step of the tiny reference model take milliseconds, so the test can see a
# step number in metrics.jsonl and kill the process before the next checkpoint.
ARGS = [
    "--steps", "60", "--checkpoint-every", "20", "--log-every", "1", "--batch-size", "256",
    "--eval-batches", "1", "--ema-decay", "0.9", "--seed", "3",
]  # fmt: skip
TMP_MARKER = ".orbax-checkpoint-tmp"


def _kill_when(proc: subprocess.Popen, condition: Callable[[], bool], timeout: float = 180) -> bool:
    """SIGKILL ``proc`` as soon as ``condition()`` holds (polled as fast as possible); False
    when the run ended first (a poller starved of CPU can miss a window of a few steps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            assert proc.returncode == 0, f"run failed:\n{proc.communicate()}"
            return False
        assert time.monotonic() < deadline, "kill point never reached"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return True


def test_sigkill_between_and_during_saves_resumes_exactly(tmp_path, train_cli):
    straight, _ = train_cli.run("reference", tmp_path / "straight", ARGS)
    assert straight["step"] == 60

    # 1. Killed between saves: checkpoint 20 is complete, steps past it are lost.
    def between_saves(workdir: pathlib.Path) -> bool:
        return (
            last_logged_step(workdir) >= 23
            and finalized_steps(workdir) == [20]
            and not any(TMP_MARKER in n for n in checkpoint_names(workdir))
        )

    for attempt in range(3):  # the window is a few steps long; a busy machine may miss it
        between = tmp_path / f"between{attempt}"
        proc = train_cli.start("reference", between, ARGS)
        if _kill_when(proc, lambda d=between: between_saves(d)):
            break
    assert finalized_steps(between) == [20]
    assert last_logged_step(between) > 20

    # 2. Killed during a save: step 40's temporary directory is being written.
    def saving_40(workdir: pathlib.Path) -> bool:
        tmp = workdir / "checkpoints" / f"40{TMP_MARKER}"
        try:
            return len(os.listdir(tmp)) >= 2
        except FileNotFoundError:
            return False

    for attempt in range(3):  # the save may finish before the kill lands; then try again
        during = tmp_path / f"during{attempt}"
        proc = train_cli.start("reference", during, ARGS)
        killed = _kill_when(proc, lambda d=during: saving_40(d))
        if killed and f"40{TMP_MARKER}" in checkpoint_names(during):
            break
    assert finalized_steps(during) == [20]
    assert f"40{TMP_MARKER}" in checkpoint_names(during)

    resumed_between, log_between = train_cli.run("reference", between, ARGS)
    assert "resumed from checkpoint step 20" in log_between
    resumed_during, log_during = train_cli.run("reference", during, ARGS)
    assert "incomplete checkpoint" in log_during
    assert "resumed from checkpoint step 20" in log_during
    # The interrupted save was set aside, not deleted.
    assert list((during / "unusable_checkpoints").glob(f"40{TMP_MARKER}.incomplete.*"))

    for resumed in (resumed_between, resumed_during):
        assert resumed["resumed_from"] == 20
        assert resumed["step"] == straight["step"]
        assert resumed["loss"] == straight["loss"]
        assert resumed["params_sha256"] == straight["params_sha256"]
