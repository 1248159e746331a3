"""The engine tests' model: the reference task's tiny Trainable, and a run of it."""

from __future__ import annotations

from typing import Any


def reference_model(cfg: Any) -> Any:
    """The reference task's tiny Trainable, computing in ``cfg``'s precision."""
    from astra_jax import experiments

    return experiments.trainable("reference-tiny", cfg.precision)


def run_reference(cfg: Any, **kwargs: Any) -> Any:
    """``train(cfg, <tiny reference model>, **kwargs)``."""
    from astra_jax.train import train

    return train(cfg, reference_model(cfg), **kwargs)
