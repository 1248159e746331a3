"""Evaluate a trained checkpoint on a split: ``astra eval NAME --workdir DIR --split test``.

The checkpoint's parameters (or their EMA) are restored from ``WORKDIR/checkpoints/<step>``
(``best``: the step with the best evaluation loss, ``latest``, or a number), after checking
that the checkpoint was trained with the same task config as ``model``; then ``model.eval_fn``
runs over the first ``num_batches`` batches of ``split`` in their fixed order (all of them by
default) and the per-batch metrics are averaged, as the trainer does at every checkpoint.
Evaluation runs in this process on its default device (a job's worth of data fits one host:
the splits are held-out worlds, evaluated once).
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from tqdm import tqdm

from astra_jax.config import ConfigError
from astra_jax.train.checkpoint import CHECKPOINT_DIR, rank_value
from astra_jax.train.data import eval_batches
from astra_jax.train.train_config import config_json, flatten_config
from astra_jax.train.trainable import Trainable


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """Mean ``metrics`` of ``num_batches`` batches (``num_examples`` examples) of ``split``,
    from the parameters of checkpoint ``step`` (``ema``: their moving average)."""

    step: int
    split: str
    ema: bool
    num_batches: int
    num_examples: int
    metrics: dict[str, float]

    def summary(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choose_step(manager: ocp.CheckpointManager, step: str | int, where: pathlib.Path) -> int:
    steps = sorted(manager.all_steps())
    if not steps:
        raise FileNotFoundError(f"{where}: no checkpoints (train first, or check --workdir)")
    if step == "latest":
        return steps[-1]
    if step == "best":
        best = manager.best_step()
        return steps[-1] if best is None else int(best)
    if isinstance(step, int) or (isinstance(step, str) and step.isdigit()):
        if int(step) not in steps:
            raise ValueError(f"--step {step}: {where} has checkpoints at steps {steps}")
        return int(step)
    raise ValueError(f"--step {step!r}: expected best, latest or a step number")


def _manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    # The trainer's ranking (train/checkpoint.py); without the same best_fn orbax's
    # best_step() is simply the latest step.
    options = ocp.CheckpointManagerOptions(best_fn=rank_value, best_mode="min", create=False)
    return ocp.CheckpointManager(
        directory,
        options=options,
        item_handlers={
            "state": ocp.StandardCheckpointHandler(),
            "config": ocp.JsonCheckpointHandler(),
        },
    )


def _checkpoints(workdir: str | pathlib.Path) -> pathlib.Path:
    directory = pathlib.Path(workdir).absolute() / CHECKPOINT_DIR
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no checkpoints (train first, or check --workdir)")
    return directory


def resolve_step(workdir: str | pathlib.Path, step: str | int = "best") -> int:
    """The checkpoint step that ``step`` (best, latest or a number) names in ``workdir``."""
    directory = _checkpoints(workdir)
    manager = _manager(directory)
    try:
        return _choose_step(manager, step, directory)
    finally:
        manager.close()


def restore_params(
    workdir: str | pathlib.Path,
    step: str | int = "best",
    use_ema: bool = False,
    *,
    model_config: Any = None,
) -> tuple[Any, int, dict[str, Any]]:
    """``(params, step, saved config)`` of checkpoint ``step`` (``best``, ``latest`` or a
    number) of the run in ``workdir``; ``use_ema``: their moving average.

    With ``model_config``, the checkpoint must have been trained with that task config.

    Raises:
        FileNotFoundError: no checkpoint in ``workdir``.
        ConfigError: the saved model config differs from ``model_config`` (the message lists
            the fields), or the run kept no EMA and ``use_ema`` is set.
        ValueError: an unknown ``step``.
    """
    directory = _checkpoints(workdir)
    manager = _manager(directory)
    try:
        chosen = _choose_step(manager, step, directory)
        saved = manager.restore(chosen, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        if model_config is not None:
            _check_model_config(
                saved["config"].get("model_config"), model_config, directory / str(chosen)
            )
        state = manager.restore(chosen, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    finally:
        manager.close()
    params = state["state"]["ema_params" if use_ema else "params"]
    if use_ema and not jax.tree.leaves(params):
        raise ConfigError(f"{directory / str(chosen)}: the run kept no EMA; drop --ema")
    return params, chosen, dict(saved["config"])


def evaluate(
    workdir: str | pathlib.Path,
    model: Trainable,
    split: str,
    *,
    batch_size: int,
    num_batches: int = 0,
    step: str | int = "best",
    use_ema: bool = False,
    seed: int = 0,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> EvalResult:
    """Evaluate checkpoint ``step`` of ``workdir`` on ``split`` (``num_batches`` 0: all).

    ``progress`` shows a bar over the batches on a terminal (never off one).

    Raises:
        FileNotFoundError: no checkpoint in ``workdir``.
        ConfigError: the checkpoint's model config differs from ``model.config`` (the
            message lists the fields), or it has no EMA and ``use_ema`` is set.
        ValueError: an unknown ``step``, or a split with fewer examples than one batch.
    """
    params, chosen, _ = restore_params(workdir, step, use_ema, model_config=model.config)
    examples = model.dataset(split, seed, 0, 1)
    if num_batches == 0:
        num_batches = len(examples) // batch_size
        if num_batches == 0:
            raise ValueError(
                f"split {split!r} has {len(examples)} examples, fewer than one batch of "
                f"{batch_size}"
            )
    batches = eval_batches(examples, batch_size=batch_size, num_batches=num_batches)
    eval_fn = jax.jit(model.eval_fn)
    # disable=None: a bar only when stderr is a terminal
    bar = tqdm(
        batches,
        desc=f"eval {split}",
        unit="batch",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=(not progress) or None,
    )
    per_batch = [jax.device_get(eval_fn(params, b)) for b in bar]
    metrics = {k: float(np.mean([np.float32(m[k]) for m in per_batch])) for k in per_batch[0]}
    if report is not None:
        report(f"evaluated checkpoint step {chosen} ({'EMA' if use_ema else 'params'}) on {split}")
    return EvalResult(chosen, split, use_ema, num_batches, num_batches * batch_size, metrics)


def _check_model_config(saved: Any, model_config: Any, where: pathlib.Path) -> None:
    mine = config_json(model_config)
    if saved is None or saved == mine:
        return
    theirs, ours = flatten_config(saved, "model_config"), flatten_config(mine, "model_config")
    diffs = [f"{k} = {theirs.get(k)!r} (this config: {ours.get(k)!r})"
             for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]  # fmt: skip
    raise ConfigError(
        f"{where} was trained with another model config: {'; '.join(diffs)}; evaluate it "
        "with the experiment and --config.* overrides it was trained with"
    )
