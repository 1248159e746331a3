"""Checkpoints: an orbax ``CheckpointManager`` with async saves, keep-last-N and best-by-metric.

Layout of ``WORKDIR/checkpoints/<step>/`` (one orbax composite checkpoint per saved step):

* ``state/``: the :class:`TrainState` (params, optimizer state, step, PRNG key, EMA params),
  written by every process for its own shards (orbax ``StandardCheckpointHandler``);
* ``data/process_<i>-of-<n>.json``: each process's grain iterator state (grain's handler);
* ``config/``: JSON of the train config, the model config and the job's shape;
* ``_CHECKPOINT_METADATA``: orbax's metadata, including the metrics that rank checkpoints.

Orbax writes a step into ``<step>.orbax-checkpoint-tmp-*`` and renames it when complete, so a
save interrupted by a crash leaves only that temporary directory, which restore ignores. The
last ``keep`` steps are kept, and also the best step: the one with the lowest ``rank``
metric (:func:`rank_value`; the trainer stores the task's ranking metric there, negated when
higher is better, and checkpoints written before ``rank`` existed are ranked by ``loss``).

On restore, both kinds of unusable checkpoint are reported and moved to
``WORKDIR/unusable_checkpoints/<name>.<incomplete|corrupt>.<unix time>``, where nothing reads
or deletes them (orbax would otherwise reuse an interrupted step's temporary directory, and
its keep-last-N policy could delete a corrupt step): an interrupted save's temporary
directory, and a complete-looking checkpoint that fails to restore (truncated or garbled
files). Restore then uses the newest checkpoint that does restore.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from orbax.checkpoint import checkpoint_managers as policies

CHECKPOINT_DIR = "checkpoints"
UNUSABLE_DIR = "unusable_checkpoints"
TMP_MARKER = ".orbax-checkpoint-tmp"


def rank_value(metrics: Mapping[str, float]) -> float:
    """What ranks a saved checkpoint (lower is better): its ``rank`` metric, else ``loss``."""
    return float(metrics["rank"] if "rank" in metrics else metrics["loss"])


@dataclasses.dataclass(frozen=True)
class Restored:
    """What a restore gives back: the state, the positioned data iterator and its config."""

    step: int
    state: Any
    data_iterator: Any
    config: dict[str, Any]


class Checkpointer:
    """Saves and restores ``(state, data iterator, config)`` under ``workdir/checkpoints``.

    Args:
        workdir: the run's directory.
        keep: how many of the latest checkpoints to keep.
        report: where user-facing messages go (corrupt or incomplete checkpoints).
    """

    def __init__(
        self,
        workdir: pathlib.Path,
        *,
        keep: int,
        report: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir
        self.directory = workdir / CHECKPOINT_DIR
        self._report = report
        preservation = policies.AnyPreservationPolicy(
            [
                policies.LatestN(n=keep),
                policies.BestN(get_metric_fn=rank_value, reverse=True, n=1),
            ]
        )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=preservation,
            best_fn=rank_value,
            best_mode="min",
            enable_async_checkpointing=True,
            cleanup_tmp_directories=False,  # never delete what a crash left behind
            create=True,
        )
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "data": grain.checkpoint.CheckpointHandler(),
                "config": ocp.JsonCheckpointHandler(),
            },
        )

    # ------------------------------------------------------------------ save

    def save(
        self,
        step: int,
        state: Any,
        data_iterator: Any,
        config: Mapping[str, Any],
        metrics: Mapping[str, float],
    ) -> None:
        """Start an async save of ``step``; returns once the arrays are copied to host.

        The data iterator's position is captured before returning, so training may go on
        (and donate the state's buffers) right away.
        """
        if "rank" not in metrics and "loss" not in metrics:
            raise KeyError(f"neither 'rank' nor 'loss' ranks this checkpoint: {sorted(metrics)}")
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=grain.checkpoint.CheckpointSave(data_iterator),
                config=ocp.args.JsonSave(dict(config)),
            ),
            metrics={k: float(v) for k, v in metrics.items()},
            force=True,
        )

    def wait(self) -> None:
        """Block until the last async save is on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    def best_step(self) -> int | None:
        return self.manager.best_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    # ------------------------------------------------------------------ restore

    def incomplete_saves(self) -> list[pathlib.Path]:
        """Temporary directories of interrupted saves (ignored on restore, kept on disk)."""
        if not self.directory.exists():
            return []
        return sorted(p for p in self.directory.iterdir() if TMP_MARKER in p.name)

    @staticmethod
    @contextlib.contextmanager
    def _quiet_aborted_reads() -> Iterator[None]:
        """Drop the "Event loop is closed" noise of a failed restore.

        When one array of a checkpoint fails to read, orbax abandons its event loop while
        tensorstore still completes the other reads; each completion then raises inside a
        callback, which Python prints as an unraisable exception: dozens of tracebacks that
        bury the one-line report. Only that exact error is dropped, only during restore.
        """
        previous = sys.unraisablehook

        def hook(unraisable: Any) -> None:
            exc = unraisable.exc_value
            if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
                return
            previous(unraisable)

        sys.unraisablehook = hook
        try:
            yield
        finally:
            sys.unraisablehook = previous

    def restore_latest(
        self,
        abstract_state: Any,
        make_iterator: Callable[[], Any],
        check_config: Callable[[dict[str, Any]], None],
    ) -> Restored | None:
        """The newest checkpoint that restores, or None when there is none.

        ``check_config(saved_config)`` raises ``ConfigError`` when the run's settings
        contradict the checkpoint's; that is the user's mistake and stops the run, whereas a
        checkpoint that cannot be read is reported, moved aside, and the previous one tried.
        """
        with self._quiet_aborted_reads():
            return self._restore_latest(abstract_state, make_iterator, check_config)

    def _restore_latest(
        self,
        abstract_state: Any,
        make_iterator: Callable[[], Any],
        check_config: Callable[[dict[str, Any]], None],
    ) -> Restored | None:
        for tmp in self.incomplete_saves():
            target = self._set_aside(tmp, "incomplete")
            self._report(
                f"note: {tmp} is an incomplete checkpoint (its save was interrupted); "
                f"moved to {target}, not used"
            )
        for step in sorted(self.manager.all_steps(), reverse=True):
            path = self.directory / str(step)
            try:
                config = self.manager.restore(
                    step, args=ocp.args.Composite(config=ocp.args.JsonRestore())
                )["config"]
            except Exception as e:  # unreadable checkpoint: report, move aside, fall back
                self._quarantine(step, path, e)
                continue
            check_config(config)  # a ConfigError here is the user's to fix: let it through
            iterator = make_iterator()
            try:
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract_state),
                        data=grain.checkpoint.CheckpointRestore(iterator),
                    ),
                )
                inner = restored["state"]
                saved = inner.get("step") if isinstance(inner, Mapping) else inner.step
                if saved is not None and int(jax.device_get(saved)) != step:
                    raise ValueError(f"the state inside says step {int(saved)}")
            except Exception as e:  # unreadable checkpoint: report, move aside, fall back
                self._quarantine(step, path, e)
                continue
            return Restored(step, restored["state"], restored["data"], config)
        return None

    def _quarantine(self, step: int, path: pathlib.Path, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        target = self._set_aside(path, "corrupt")
        self._report(
            f"error: checkpoint {path} is corrupt and cannot be restored ({reason}); "
            f"moved to {target} (nothing is deleted); trying the previous checkpoint"
        )
        self.manager.reload()

    def _set_aside(self, path: pathlib.Path, why: str) -> pathlib.Path:
        """Move ``path`` into ``unusable_checkpoints/`` (process 0; all processes wait)."""
        target = self.workdir / UNUSABLE_DIR / f"{path.name}.{why}.{int(time.time())}"
        if jax.process_index() == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            suffix = 0
            while target.exists():  # same step set aside twice within a second
                suffix += 1
                target = target.with_name(f"{path.name}.{why}.{int(time.time())}-{suffix}")
            path.rename(target)
        multihost_utils.sync_global_devices(f"astra-set-aside-{path.name}")
        return target
