"""The optimizer: AdamW on a linear-warmup + cosine-decay schedule, after global-norm clipping.

Weight decay applies to matrices and conv kernels only (``ndim >= 2``), never to biases or
normalisation scales. The EMA of the parameters, when enabled, is kept in the train state
(see :mod:`astra_jax.train.state`), not in the optax state, so it can be evaluated and
exported on its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from astra_jax.validation import (
    ConfigError,
    check_ints,
    check_non_negative_ints,
    check_non_negative_numbers,
    check_positive_numbers,
    check_range,
)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW + warmup/cosine hyper-parameters. ``grad_clip_norm = 0`` disables clipping."""

    learning_rate: float = 1e-3
    warmup_steps: int = 0
    decay_steps: int | None = None  # cosine ends here; None: the run's total steps
    final_lr_ratio: float = 0.0
    weight_decay: float = 1e-4
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    grad_clip_norm: float = 1.0

    def __post_init__(self) -> None:
        check_positive_numbers(self, "learning_rate", "eps")
        check_non_negative_ints(self, "warmup_steps")
        check_ints(
            self,
            "decay_steps",
            minimum=self.warmup_steps + 1,
            expected=f"an integer above warmup_steps = {self.warmup_steps}",
            allow_none=True,
        )
        check_range(self, "final_lr_ratio", lo=0, hi=1, expected="a ratio in [0, 1]")
        check_non_negative_numbers(self, "weight_decay")
        check_range(self, "b1", "b2", lo=0, hi=1, hi_open=True, expected="a decay rate in [0, 1)")
        check_non_negative_numbers(
            self, "grad_clip_norm", expected="a non-negative number (0 disables clipping)"
        )


def learning_rate_schedule(cfg: OptimizerConfig) -> optax.Schedule:
    """0 -> ``learning_rate`` linearly over ``warmup_steps``, then cosine to the final rate."""
    if cfg.decay_steps is None:
        raise ConfigError("OptimizerConfig.decay_steps = None: resolve it to the run's steps")
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if cfg.warmup_steps else cfg.learning_rate,
        peak_value=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        decay_steps=cfg.decay_steps,
        end_value=cfg.learning_rate * cfg.final_lr_ratio,
    )


def _decay_mask(params: Any) -> Any:
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(cfg: OptimizerConfig) -> optax.GradientTransformation:
    """Clip (global norm) -> AdamW with the schedule and the matrices-only decay mask."""
    adamw = optax.adamw(
        learning_rate_schedule(cfg),
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        mask=_decay_mask,
    )
    if cfg.grad_clip_norm == 0:
        return adamw
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), adamw)
