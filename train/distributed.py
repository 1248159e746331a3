"""Multi-host start-up through ``jax.distributed`` (no home-made layer).

A job of N hosts runs the same command on every host, each with its own process id::

    astra train MODEL ... --coordinator HOST0:1234 --num-processes N --process-id I

or with ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` in the
environment (flags win). On Cloud TPU, SLURM and Open MPI, ``--distributed`` alone lets jax
detect all three. Nothing is initialised when none is given: a single-process run.

After initialisation, ``jax.devices()`` lists the devices of all hosts and the mesh spans
them; each host feeds its share of every batch from its own data shard
(``process_index`` of ``process_count``).
"""

from __future__ import annotations

import dataclasses
import os

import jax

from astra_jax.config import ConfigError


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """How this process joins a multi-host job. All None and ``auto=False``: single process."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    auto: bool = False

    @classmethod
    def from_env(
        cls,
        coordinator: str | None = None,
        num_processes: int | None = None,
        process_id: int | None = None,
        auto: bool = False,
    ) -> DistributedConfig:
        """Flags, falling back on ``JAX_COORDINATOR_ADDRESS/_NUM_PROCESSES/_PROCESS_ID``."""

        def env_int(name: str) -> int | None:
            value = os.environ.get(name)
            if value is None:
                return None
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{name} = {value!r}: expected an integer") from None

        return cls(
            coordinator=coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS"),
            num_processes=num_processes
            if num_processes is not None
            else env_int("JAX_NUM_PROCESSES"),
            process_id=process_id if process_id is not None else env_int("JAX_PROCESS_ID"),
            auto=auto,
        )

    @property
    def requested(self) -> bool:
        return self.auto or any(
            v is not None for v in (self.coordinator, self.num_processes, self.process_id)
        )


def initialize(cfg: DistributedConfig) -> None:
    """``jax.distributed.initialize`` when a multi-host job is requested; else nothing.

    Must run before anything touches jax devices.
    """
    if not cfg.requested:
        return
    if not cfg.auto and None in (cfg.coordinator, cfg.num_processes, cfg.process_id):
        raise ConfigError(
            f"multi-host launch: coordinator = {cfg.coordinator!r}, num_processes = "
            f"{cfg.num_processes!r}, process_id = {cfg.process_id!r}: expected all three "
            "(or --distributed to let jax detect them on TPU/SLURM/MPI)"
        )
    jax.distributed.initialize(
        coordinator_address=cfg.coordinator,
        num_processes=cfg.num_processes,
        process_id=cfg.process_id,
    )
