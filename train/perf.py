"""Model FLOP utilisation and device memory.

MFU = (FLOPs of one train step, from XLA's cost analysis of the compiled step) x steps/s /
(peak FLOP/s of all devices). XLA reports the FLOPs of the program each device runs (the
SPMD-partitioned module); the step's total is that times the number of devices.

Peak FLOP/s are dense bf16 tensor-core / MXU figures from the vendors' data sheets
(:data:`PEAK_BF16_FLOPS`, matched against ``device.device_kind``). A float32-compute run is
still compared with the bf16 peak, so its MFU reads low, as it should.

CPU fallback: CPUs have no data-sheet peak that XLA can reach, so on a CPU (or any device the
table does not know) the peak is *measured*: the best of a few float32 1024x1024 matmuls. The
CPU "devices" of one process (real, or faked with ``--xla_force_host_platform_device_count``)
share its cores, so that figure is the peak of the whole process, not of each device. MFU on
a CPU thus means "fraction of this machine's own large-matmul throughput": useful to compare
runs, not comparable with accelerator MFU. ``ASTRA_PEAK_FLOPS`` (FLOP/s per device) overrides
both.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# device_kind substring -> dense bf16 FLOP/s per device (chip). First match wins.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("TPU v6", 918e12),  # v6e (Trillium)
    ("TPU v5 lite", 197e12),  # v5e
    ("TPU v5e", 197e12),
    ("TPU v5p", 459e12),
    ("TPU v5", 459e12),
    ("TPU v4", 275e12),
    ("TPU v3", 123e12),
    ("B200", 2250e12),
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("V100", 125e12),  # fp16 tensor cores (no bf16)
)


@dataclasses.dataclass(frozen=True)
class PeakFlops:
    """Peak FLOP/s of one device and where the figure came from."""

    per_device: float
    source: str  # "table:<kind>", "measured:cpu-matmul" or "env:ASTRA_PEAK_FLOPS"
    shared: bool = False  # True: all local devices share this peak (CPU devices of a process)

    def total(self, num_devices: int) -> float:
        """Peak FLOP/s of ``num_devices`` devices (of all processes)."""
        if self.shared:
            return self.per_device * jax.process_count()
        return self.per_device * num_devices


def peak_flops(device: jax.Device | None = None) -> PeakFlops:
    device = device or jax.local_devices()[0]
    if env := os.environ.get("ASTRA_PEAK_FLOPS"):
        return PeakFlops(float(env), "env:ASTRA_PEAK_FLOPS")
    kind = device.device_kind
    for needle, flops in PEAK_BF16_FLOPS:
        if needle.lower() in kind.lower():
            return PeakFlops(flops, f"table:{needle}")
    return PeakFlops(_measured_matmul_flops(device), "measured:cpu-matmul", shared=True)


@functools.cache
def _measured_matmul_flops(device: jax.Device, n: int = 1024, repeats: int = 3) -> float:
    a = jax.device_put(jnp.ones((n, n), jnp.float32), device)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def step_flops(compiled: jax.stages.Compiled) -> float | None:
    """FLOPs one device executes per call of ``compiled`` (None if XLA does not say)."""
    cost = compiled.cost_analysis()
    if isinstance(cost, list | tuple):  # older jax returned one dict per module
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return float(flops) if flops and flops > 0 else None


def mfu(
    flops_per_device_step: float | None, num_devices: int, steps_per_s: float, peak: PeakFlops
) -> float | None:
    """Achieved / peak FLOP/s of the whole job; None without a FLOP count."""
    if flops_per_device_step is None or steps_per_s <= 0:
        return None
    return flops_per_device_step * num_devices * steps_per_s / peak.total(num_devices)


def compiled_memory_bytes(compiled: jax.stages.Compiled) -> int | None:
    """XLA's estimate of one device's memory for a call: arguments + outputs + temporaries,
    minus donated buffers reused as outputs. Available on every backend, CPU included."""
    m = compiled.memory_analysis()
    if m is None:
        return None
    return int(
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )


def peak_device_memory_bytes() -> int | None:
    """Largest ``peak_bytes_in_use`` over this process's devices; None where the runtime does
    not report it (the CPU backend)."""
    peaks = []
    for d in jax.local_devices():
        stats: dict[str, Any] | None = d.memory_stats()
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None


def median_step_seconds(step: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time (s) of ``repeats`` calls of ``step`` after ``warmup`` untimed ones, each
    waited for (``jax.block_until_ready``): the benches' step timing."""
    for _ in range(warmup):
        jax.block_until_ready(step())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(step())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
