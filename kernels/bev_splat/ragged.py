"""Ragged weighted sums without scatter-adds: the jnp building block of the interval splat.

A :class:`RaggedSum` describes, for ``S`` output segments, which items each one sums:

    out[b, s] = sum over items i of segment s of  weights[b, w_idx[i]] * rows[b, r_idx[i]]

The segments have different lengths (a voxel receives 1 to a few dozen frustum points), so
they are grouped into buckets of power-of-two padded length (1, 2, 4, ...). Each bucket is a
dense (K_b, L_b) table: one gather of weights, one gather of rows and a batched
(1 x L_b) @ (L_b x C) product, which XLA fuses with the gathers. Padding at most doubles the
work; padded slots have weight 0 and repeat the segment's first item.

The compact (B, K, C) result (K non-empty segments) is then placed into the (B, S, C) output
in one of two ways, both writing every output row exactly once:

* :meth:`RaggedSum.gather`: gather from the compact rows plus a zero row (best when most
  segments are non-empty, e.g. the pixels of the backward pass);
* :meth:`RaggedSum.scatter`: a zero fill plus a scatter *set* of the K rows with unique,
  sorted indices (best when most segments are empty, e.g. the 4% occupied voxels of the base
  grid: a memset is the cheapest way to write the zeros).

Neither uses a scatter-add, so there are no atomics and the result is bitwise identical from
run to run on every backend.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class RaggedBucket:
    """Segments whose length is in (L/2, L]: (K_b, L) tables, padding masked out."""

    weight_index: np.ndarray  # (K_b, L) int32 into the weights' last axis
    row_index: np.ndarray  # (K_b, L) int32 into the rows' axis 1
    mask: np.ndarray  # (K_b, L) bool, False on padding


@dataclasses.dataclass(frozen=True, eq=False)
class RaggedSum:
    """A static ragged-sum table (see the module docstring).

    Attributes:
      buckets: the padded tables, shortest first.
      segments: (K,) int32 the non-empty segments, increasing.
      bucket_order: (K,) int32 row of the concatenated bucket outputs holding ``segments[k]``.
      placement: (S,) int32 row of each segment in the compact output, K for empty segments.
      num_segments: S.
    """

    buckets: tuple[RaggedBucket, ...]
    segments: np.ndarray
    bucket_order: np.ndarray
    placement: np.ndarray
    num_segments: int

    @classmethod
    def build(
        cls,
        segment_of_item: np.ndarray,
        weight_index: np.ndarray,
        row_index: np.ndarray,
        num_segments: int,
    ) -> RaggedSum:
        """Tables for items given in segment order.

        Args:
          segment_of_item: (I,) non-decreasing segment id of every item.
          weight_index: (I,) index of each item's weight.
          row_index: (I,) index of each item's row.
          num_segments: S, the number of output segments.
        """
        seg = np.asarray(segment_of_item, np.int64)
        if seg.size and (np.any(np.diff(seg) < 0) or seg[0] < 0 or seg[-1] >= num_segments):
            raise ValueError(
                f"RaggedSum.build: segment ids must be sorted and in [0, {num_segments})"
            )
        segments, starts, lengths = np.unique(seg, return_index=True, return_counts=True)
        buckets: list[RaggedBucket] = []
        in_bucket_order: list[np.ndarray] = []
        bound = 1
        max_len = int(lengths.max()) if lengths.size else 0
        while bound // 2 < max_len:
            sel = np.flatnonzero((lengths <= bound) & (lengths > bound // 2))
            if sel.size:
                offsets = np.arange(bound)
                mask = offsets[None, :] < lengths[sel, None]
                item = starts[sel, None] + np.where(mask, offsets[None, :], 0)
                buckets.append(
                    RaggedBucket(
                        weight_index=np.asarray(weight_index)[item].astype(np.int32),
                        row_index=np.asarray(row_index)[item].astype(np.int32),
                        mask=mask,
                    )
                )
                in_bucket_order.append(sel)
            bound *= 2
        k = segments.size
        bucket_order = np.empty(k, np.int32)
        if k:
            bucket_order[np.concatenate(in_bucket_order)] = np.arange(k, dtype=np.int32)
        placement = np.full(num_segments, k, np.int32)
        placement[segments] = np.arange(k, dtype=np.int32)
        return cls(tuple(buckets), segments.astype(np.int32), bucket_order, placement, num_segments)

    def compact(self, weights: jax.Array, rows: jax.Array) -> jax.Array:
        """(B, K, C) float32 sums of the non-empty segments, in ``segments`` order.

        Args:
          weights: (B, Q) weights, indexed by ``weight_index``.
          rows: (B, R, C) rows, indexed by ``row_index``.
        """
        b, c = rows.shape[0], rows.shape[-1]
        parts = [
            jnp.einsum(
                "bkl,bklc->bkc",
                jnp.where(bucket.mask, weights[:, bucket.weight_index], 0).astype(jnp.float32),
                rows[:, bucket.row_index].astype(jnp.float32),
                precision=jax.lax.Precision.HIGHEST,
            )
            for bucket in self.buckets
        ]
        if not parts:
            return jnp.zeros((b, 0, c), jnp.float32)
        return jnp.concatenate(parts, axis=1)[:, self.bucket_order]

    def gather(self, weights: jax.Array, rows: jax.Array) -> jax.Array:
        """(B, S, C) float32 sums, placed by a gather (empty segments read a zero row)."""
        compact = self.compact(weights, rows)
        zero = jnp.zeros((compact.shape[0], 1, compact.shape[2]), compact.dtype)
        return jnp.concatenate([compact, zero], axis=1)[:, self.placement]

    def scatter(self, weights: jax.Array, rows: jax.Array) -> jax.Array:
        """(B, S, C) float32 sums, placed by a zero fill and a unique, sorted scatter-set."""
        compact = self.compact(weights, rows)
        out = jnp.zeros((compact.shape[0], self.num_segments, compact.shape[2]), compact.dtype)
        return out.at[:, self.segments].set(compact, indices_are_sorted=True, unique_indices=True)
