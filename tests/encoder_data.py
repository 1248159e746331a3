"""The small encoder episode cache the encoder tests share (its fixture, ``encoder_data_env``,
is in tests/conftest.py): one world per family for train and val, one episode each."""

from __future__ import annotations

import dataclasses
from typing import Any

ENCODER_SMALL_DATA = "train_worlds=1,val_worlds=1,test_worlds=1,episodes_per_world=1,frame_stride=2"

# the same data as `astra train` flags
DATA_FLAGS = [
    f"--config.data.{k.replace('_', '-')}={v}"
    for k, v in (kv.split("=") for kv in ENCODER_SMALL_DATA.split(","))
]


def small_task(experiment: str, env: dict[str, str], monkeypatch: Any) -> Any:
    """The Trainable of named ``experiment`` on the small cache (float32), its environment set."""
    from astra_jax import experiments
    from astra_jax.tasks import get_task
    from astra_jax.train.precision import Precision

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    exp = experiments.get(experiment)
    config = dataclasses.replace(
        exp.config, data=exp.config.data.with_overrides(ENCODER_SMALL_DATA)
    )
    return get_task(exp.task).create(config, Precision("float32"))
