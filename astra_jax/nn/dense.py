"""A Dense layer whose kernel and bias carry logical axis names for sharding."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

DType = Any


def dense(
    features: int,
    axes: tuple[str, str],
    *,
    use_bias: bool,
    init_std: float,
    dtype: DType,
    param_dtype: DType,
    name: str | None = None,
) -> nn.Dense:
    """``nn.Dense`` with a ``(in, out)`` kernel named by ``axes`` and a bias named ``axes[1]``.

    The kernel starts from N(0, ``init_std``^2) and the bias from zeros, as Hugging Face
    initialises ``nn.Linear`` in Qwen2-family models.
    """
    return nn.Dense(
        features,
        use_bias=use_bias,
        dtype=dtype,
        param_dtype=param_dtype,
        kernel_init=nn.with_logical_partitioning(nn.initializers.normal(init_std), axes),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), (axes[1],)),
        name=name,
    )


def lecun_dense(
    features: int,
    axes: tuple[str, str],
    name: str,
    kw: dict[str, Any] | None = None,
    zero: bool = False,
    bias: float = 0.0,
) -> nn.Dense:
    """``nn.Dense`` with a LeCun-normal ``(in, out)`` kernel (zeros with ``zero``) named by
    ``axes`` and a constant ``bias`` named ``axes[1]``; ``kw``: dtype / param_dtype.

    The layer of the Astra-Local heads (planning, 4D, rendering, occupancy).
    """
    init = nn.initializers.zeros_init() if zero else nn.initializers.lecun_normal()
    return nn.Dense(
        features,
        kernel_init=nn.with_logical_partitioning(init, axes),
        bias_init=nn.with_logical_partitioning(nn.initializers.constant(bias), (axes[1],)),
        name=name,
        **(kw or {}),
    )
