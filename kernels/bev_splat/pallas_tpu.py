"""The splat as a Pallas TPU kernel (Mosaic): one-hot matmuls over voxel-sorted point chunks.

TPUs have no fast scalar gather from VMEM, but a gather or a segment sum over a small, known
range is a matmul with a one-hot matrix, which the MXU does at full rate. The output is cut
into tiles of ``tile_voxels`` voxels. The in-grid points, sorted by voxel, fall into each tile
as one contiguous run, which is cut into chunks of ``chunk_points`` (padded, per tile). One grid
step handles one chunk:

    F  = onehot(pixel[chunk])            @ feat          (chunk_points, C)   gather as matmul
    W  = onehot(row[chunk]) * dp[chunk]                   (tile_voxels, chunk_points)
    out[tile] += W @ F                                    segment sum as matmul

The grid is (batch, chunk), and the chunks of a tile are consecutive, so the output tile stays
in VMEM while it accumulates (the megablox ``gmm`` pattern: scalar-prefetched ``chunk_tile``
picks the output block). A tile with no points gets one empty chunk, so every tile is written.
The order of accumulation is fixed and there are no atomics: results are reproducible.

The one-hot gather holds all of one sample's features, (N*h*w, C), in VMEM; the dispatcher
falls back to the interval path when that does not fit (:func:`fits_vmem`).
The backward is the shared gather VJP (:mod:`~astra_jax.kernels.bev_splat.vjp`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

from astra_jax.kernels.bev_splat.plan import SplatPlan
from astra_jax.kernels.bev_splat.vjp import with_gather_vjp

# 128 points per chunk: the lane width, and the MXU's contraction depth on v4/v5e.
CHUNK_POINTS = 128
# Up to 256 voxels per output tile: a (256, C) float32 block is 128 KiB at C = 128, small next
# to VMEM, while large enough that the second matmul is not dominated by per-step overhead.
MAX_TILE_VOXELS = 256
# Budget for the resident feature block (double-buffered) and the (chunk, N*h*w) one-hot.
VMEM_BUDGET_BYTES = 12 * 1024 * 1024


@dataclasses.dataclass(frozen=True, eq=False)
class TpuTables:
    """Chunked, voxel-sorted points of a plan.

    Attributes:
      tile_voxels: voxels per output tile (a multiple of 8 dividing the padded voxel count).
      num_tiles: output tiles, covering V rounded up to a whole tile.
      chunk_tile: (n_chunks,) int32 output tile of each chunk (non-decreasing).
      chunk_first: (n_chunks,) int32 1 on the first chunk of a tile (zero the tile there).
      chunk_count: (n_chunks,) int32 real points in the chunk (0 for an empty tile).
      rows: (n_chunks, 1, CHUNK_POINTS) int32 voxel row within the tile, -1 on padding.
      pixels: (n_chunks, CHUNK_POINTS, 1) int32 pixel id, 0 on padding.
      points: (n_chunks * CHUNK_POINTS,) int32 point id, num_points on padding (a zero slot).
    """

    tile_voxels: int
    num_tiles: int
    chunk_tile: np.ndarray
    chunk_first: np.ndarray
    chunk_count: np.ndarray
    rows: np.ndarray
    pixels: np.ndarray
    points: np.ndarray


def _tile_voxels(num_voxels: int) -> int:
    """Largest multiple of 8 that divides V and is <= MAX_TILE_VOXELS; else MAX_TILE_VOXELS
    (and V is padded)."""
    for t in range(MAX_TILE_VOXELS, 7, -8):
        if num_voxels % t == 0:
            return t
    return min(MAX_TILE_VOXELS, -(-num_voxels // 8) * 8)


@functools.lru_cache(maxsize=32)
def tpu_tables(plan: SplatPlan) -> TpuTables:
    """Chunk tables of ``plan`` for :func:`splat_pallas_tpu_forward`."""
    tv = _tile_voxels(plan.num_voxels)
    num_tiles = -(-plan.num_voxels // tv)
    tile_of_point = plan.sorted_voxels // tv
    bounds = np.searchsorted(tile_of_point, np.arange(num_tiles + 1))
    tiles, firsts, counts, rows, pixels, points = [], [], [], [], [], []
    for t in range(num_tiles):
        lo, hi = int(bounds[t]), int(bounds[t + 1])
        n_chunks = max(1, -(-(hi - lo) // CHUNK_POINTS))
        for k in range(n_chunks):
            a, b = lo + k * CHUNK_POINTS, min(hi, lo + (k + 1) * CHUNK_POINTS)
            pad = CHUNK_POINTS - (b - a)
            tiles.append(t)
            firsts.append(int(k == 0))
            counts.append(b - a)
            rows.append(np.pad(plan.sorted_voxels[a:b] - t * tv, (0, pad), constant_values=-1))
            pixels.append(np.pad(plan.sorted_pixels[a:b], (0, pad)))
            points.append(
                np.pad(plan.sorted_points[a:b], (0, pad), constant_values=plan.num_points)
            )
    n = len(tiles)
    return TpuTables(
        tile_voxels=tv,
        num_tiles=num_tiles,
        chunk_tile=np.asarray(tiles, np.int32),
        chunk_first=np.asarray(firsts, np.int32),
        chunk_count=np.asarray(counts, np.int32),
        rows=np.stack(rows).astype(np.int32).reshape(n, 1, CHUNK_POINTS),
        pixels=np.stack(pixels).astype(np.int32).reshape(n, CHUNK_POINTS, 1),
        points=np.concatenate(points).astype(np.int32),
    )


def fits_vmem(plan: SplatPlan, channels: int, itemsize: int = 4) -> bool:
    """Whether one sample's features (double-buffered) and the one-hot fit the VMEM budget."""
    feat = 2 * plan.num_pixels * channels * itemsize
    onehot = CHUNK_POINTS * plan.num_pixels * 4
    return feat + onehot <= VMEM_BUDGET_BYTES


def _splat_kernel(
    chunk_tile_ref,
    chunk_first_ref,
    chunk_count_ref,
    rows_ref,
    pixels_ref,
    dp_ref,
    feat_ref,
    out_ref,
):
    """Grid step (batch, chunk). Blocks: rows (1, P), pixels (P, 1), dp (1, P), feat
    (N*h*w, C) resident, out (tile_voxels, C) accumulated across the tile's chunks."""
    del chunk_tile_ref  # used by the index maps only
    i = pl.program_id(1)

    @pl.when(chunk_first_ref[i] == 1)
    def _zero():
        out_ref[...] = jnp.zeros_like(out_ref)

    @pl.when(chunk_count_ref[i] > 0)
    def _accumulate():
        num_pixels = feat_ref.shape[0]
        tile_voxels = out_ref.shape[0]
        gather = (
            jax.lax.broadcasted_iota(jnp.int32, (CHUNK_POINTS, num_pixels), 1) == pixels_ref[...]
        ).astype(jnp.float32)
        f = jnp.dot(
            gather,
            feat_ref[...].astype(jnp.float32),
            precision=jax.lax.Precision.HIGHEST,
            preferred_element_type=jnp.float32,
        )  # (P, C)
        hit = jax.lax.broadcasted_iota(jnp.int32, (tile_voxels, CHUNK_POINTS), 0) == rows_ref[...]
        w = jnp.where(hit, dp_ref[...].astype(jnp.float32), 0.0)  # (tile_voxels, P)
        out_ref[...] += jnp.dot(
            w, f, precision=jax.lax.Precision.HIGHEST, preferred_element_type=jnp.float32
        )


def splat_pallas_tpu_forward(
    depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan, *, interpret: bool = False
) -> jax.Array:
    """Forward of the Pallas TPU splat; same contract as the reference.

    Args:
      depth_prob: (B, N, D, h, w).
      feat: (B, N, h, w, C).
      plan: the geometry.
      interpret: run the kernel in the Pallas interpreter (on any backend, e.g. the CPU).

    Returns:
      (B, X, Y, Z, C) in the dtype of ``feat``, accumulated in float32.
    """
    plan.check_inputs(depth_prob.shape, feat.shape)
    t = tpu_tables(plan)
    b, c = feat.shape[0], feat.shape[-1]
    n_chunks = t.chunk_tile.size
    # Depth weights in chunk order, with a trailing zero slot for the padding.
    dp_flat = jnp.pad(depth_prob.reshape(b, plan.num_points), ((0, 0), (0, 1)))
    dp_chunks = dp_flat[:, t.points].reshape(b, n_chunks, 1, CHUNK_POINTS)
    feat_flat = feat.reshape(b, plan.num_pixels, c)
    grid_spec = pltpu.PrefetchScalarGridSpec(
        num_scalar_prefetch=3,
        grid=(b, n_chunks),
        in_specs=[
            pl.BlockSpec((None, 1, CHUNK_POINTS), lambda bi, i, *_: (i, 0, 0)),
            pl.BlockSpec((None, CHUNK_POINTS, 1), lambda bi, i, *_: (i, 0, 0)),
            pl.BlockSpec((None, None, 1, CHUNK_POINTS), lambda bi, i, *_: (bi, i, 0, 0)),
            pl.BlockSpec((None, plan.num_pixels, c), lambda bi, i, *_: (bi, 0, 0)),
        ],
        out_specs=pl.BlockSpec(
            (None, t.tile_voxels, c), lambda bi, i, chunk_tile, *_: (bi, chunk_tile[i], 0)
        ),
    )
    out = pl.pallas_call(
        _splat_kernel,
        grid_spec=grid_spec,
        out_shape=jax.ShapeDtypeStruct((b, t.num_tiles * t.tile_voxels, c), jnp.float32),
        compiler_params=pltpu.CompilerParams(dimension_semantics=("parallel", "arbitrary")),
        interpret=interpret,
        name="bev_splat_tpu",
    )(t.chunk_tile, t.chunk_first, t.chunk_count, t.rows, t.pixels, dp_chunks, feat_flat)
    if out.shape[1] != plan.num_voxels:
        out = out[:, : plan.num_voxels]
    return out.reshape(b, *plan.grid_shape, c).astype(feat.dtype)


def bev_splat_pallas_tpu(
    depth_prob: jax.Array, feat: jax.Array, plan: SplatPlan, *, interpret: bool = False
) -> jax.Array:
    """Pallas TPU splat with the gather backward: ``(B, N, D, h, w), (B, N, h, w, C) ->
    (B, X, Y, Z, C)``. ``interpret=True`` runs it on the CPU for tests."""
    return _with_vjp(interpret)(depth_prob, feat, plan)


@functools.cache
def _with_vjp(interpret: bool):
    return with_gather_vjp(functools.partial(splat_pallas_tpu_forward, interpret=interpret))
