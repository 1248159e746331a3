"""The splat as a Pallas GPU kernel (Triton lowering): BEVPoolv2's interval pooling.

Each program owns a block of ``block_voxels`` consecutive voxels and all channels, and writes
that (block_voxels, C) tile of the output exactly once:

    acc = 0
    for j in range(longest interval in the block):       # dynamic trip count
        p   = start[v] + j        (masked where j >= length[v])
        acc += depth_prob_sorted[p] * feat[pixel[p], :]  # vector gathers
    out[block] = acc

Empty voxels have length 0 and get zeros, out-of-grid points are not in any interval. There
are no atomics and the summation order is fixed, so results are bitwise reproducible. The
depth weights are gathered into voxel order by XLA beforehand (a (B, Pv) scalar gather), so
the kernel reads them contiguously.

The backward is the shared gather VJP (:mod:`~astra_jax.kernels.bev_splat.vjp`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from astra_jax.kernels.bev_splat.plan import SplatPlan
from astra_jax.kernels.bev_splat.vjp import with_gather_vjp

# Voxels per program. The (block_voxels, C) float32 accumulator lives in registers: 32 x 128
# is 32 registers per thread at 4 warps, and 4096 programs at the base grid fill an H100.
_MAX_BLOCK_VOXELS = 32
_NUM_WARPS = 4


@dataclasses.dataclass(frozen=True, eq=False)
class GpuTables:
    """Per-voxel interval tables, padded to whole blocks.

    Attributes:
      block_voxels: voxels per program, a power of two dividing the padded voxel count.
      starts: (V_pad,) int32 first sorted position of each voxel (0 when empty).
      lengths: (V_pad,) int32 interval length (0 when empty).
      block_max: (V_pad / block_voxels,) int32 the longest interval of each block.
    """

    block_voxels: int
    starts: np.ndarray
    lengths: np.ndarray
    block_max: np.ndarray


@functools.lru_cache(maxsize=32)
def gpu_tables(plan: SplatPlan) -> GpuTables:
    """Interval tables of ``plan`` laid out for :func:`splat_pallas_gpu`."""
    v = plan.num_voxels
    # The largest power of two <= _MAX_BLOCK_VOXELS that divides V, so no output padding.
    block = 1
    while block < _MAX_BLOCK_VOXELS and v % (2 * block) == 0:
        block *= 2
    starts = np.zeros(v, np.int32)
    lengths = np.zeros(v, np.int32)
    starts[plan.interval_voxels] = plan.interval_starts
    lengths[plan.interval_voxels] = plan.interval_lengths
    block_max = lengths.reshape(-1, block).max(axis=1).astype(np.int32)
    return GpuTables(block, starts, lengths, block_max)


def _splat_kernel(block_max_ref, starts_ref, lengths_ref, pixels_ref, dp_ref, feat_ref, out_ref):
    """One (batch, voxel block) program. Refs: block_max (nblocks,), starts/lengths
    (block_voxels,) blocks, pixels (Pv,), dp (B, Pv) and feat (B, num_pixels, C) whole, out
    (block_voxels, C) block."""
    b = pl.program_id(0)
    starts = starts_ref[...]
    lengths = lengths_ref[...]
    acc = jnp.zeros(out_ref.shape, jnp.float32)

    def body(j, acc):
        active = j < lengths
        pos = jnp.where(active, starts + j, 0)
        w = jnp.where(active, dp_ref[b, pos].astype(jnp.float32), 0.0)  # (block_voxels,)
        rows = feat_ref[b, pixels_ref[pos], :].astype(jnp.float32)  # (block_voxels, C)
        return acc + w[:, None] * rows

    acc = jax.lax.fori_loop(0, block_max_ref[pl.program_id(1)], body, acc)
    out_ref[...] = acc.astype(out_ref.dtype)


def splat_pallas_gpu_forward(
    depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan, *, interpret: bool = False
) -> jax.Array:
    """Forward of the Pallas GPU splat; same contract as the reference.

    Args:
      depth_prob: (B, N, D, h, w).
      feat: (B, N, h, w, C).
      plan: the geometry.
      interpret: run the kernel in the Pallas interpreter (on any backend, e.g. the CPU).

    Returns:
      (B, X, Y, Z, C) in the dtype of ``feat``, accumulated in float32.
    """
    plan.check_inputs(depth_prob.shape, feat.shape)
    tables = gpu_tables(plan)
    b, c = feat.shape[0], feat.shape[-1]
    # Triton tensors have power-of-two sizes: pad the channels, slice them off afterwards.
    c_pad = pl.next_power_of_2(c)
    feat_flat = feat.reshape(b, plan.num_pixels, c)
    if c_pad != c:
        feat_flat = jnp.pad(feat_flat, ((0, 0), (0, 0), (0, c_pad - c)))
    # Depth weights in voxel order, plus one slot so an empty plan still has a valid buffer.
    dp_sorted = depth_prob.reshape(b, plan.num_points)[:, plan.sorted_points]
    dp_sorted = jnp.pad(dp_sorted, ((0, 0), (0, 1)))
    pixels = np.pad(plan.sorted_pixels, (0, 1))
    bv = tables.block_voxels
    num_blocks = plan.num_voxels // bv
    out = pl.pallas_call(
        _splat_kernel,
        grid=(b, num_blocks),
        in_specs=[
            pl.no_block_spec,
            pl.BlockSpec((bv,), lambda i, j: (j,)),
            pl.BlockSpec((bv,), lambda i, j: (j,)),
            pl.no_block_spec,
            pl.no_block_spec,
            pl.no_block_spec,
        ],
        out_specs=pl.BlockSpec((None, bv, c_pad), lambda i, j: (i, j, 0)),
        out_shape=jax.ShapeDtypeStruct((b, plan.num_voxels, c_pad), feat.dtype),
        compiler_params=plgpu.CompilerParams(num_warps=_NUM_WARPS, num_stages=1),
        interpret=interpret,
        name="bev_splat_gpu",
    )(tables.block_max, tables.starts, tables.lengths, pixels, dp_sorted, feat_flat)
    if c_pad != c:
        out = out[..., :c]
    return out.reshape(b, *plan.grid_shape, c)


def bev_splat_pallas_gpu(
    depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan, *, interpret: bool = False
) -> jax.Array:
    """Pallas GPU splat with the gather backward: ``(B, N, D, h, w), (B, N, h, w, C) ->
    (B, X, Y, Z, C)``. ``interpret=True`` runs it on the CPU for tests."""
    return _with_vjp(interpret)(depth_prob, feat, plan)


@functools.cache
def _with_vjp(interpret: bool):
    return with_gather_vjp(functools.partial(splat_pallas_gpu_forward, interpret=interpret))
