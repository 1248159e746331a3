"""The mixed-precision policy: which dtype parameters are stored in and which they compute in.

Default: parameters and optimizer state in float32, matmuls and activations in bfloat16 (the
flax ``param_dtype`` / ``dtype`` module attributes). Models compute their loss in float32.
``compute_dtype="float32"`` gives a full-precision run, used where results are compared
across meshes, since bf16 rounding makes different reduction orders differ visibly. (A run
with either policy is bit-reproducible on the same devices; the exact-resume guarantee holds
for both.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from astra_jax.validation import ConfigError, check_dtype_names


@dataclasses.dataclass(frozen=True)
class Precision:
    """``compute_dtype``: activations and matmul inputs; ``param_dtype``: stored parameters."""

    compute_dtype: str = "bfloat16"
    param_dtype: str = "float32"

    def __post_init__(self) -> None:
        check_dtype_names(self, "compute_dtype", "param_dtype")

    @property
    def compute(self) -> jnp.dtype:
        return jnp.dtype(self.compute_dtype)

    @property
    def param(self) -> jnp.dtype:
        return jnp.dtype(self.param_dtype)

    def check_params(self, params: Any) -> None:
        """Raise unless every floating-point parameter is stored in ``param_dtype``."""
        flat = jax.tree_util.tree_flatten_with_path(params)[0]
        for path, leaf in flat:
            dtype = jnp.dtype(leaf.dtype)
            if jnp.issubdtype(dtype, jnp.floating) and dtype != self.param:
                raise ConfigError(
                    f"parameter {jax.tree_util.keystr(path)} is {dtype}: expected "
                    f"{self.param_dtype} (the model must create parameters with "
                    f"param_dtype=precision.param)"
                )
