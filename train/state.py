"""The train state, and how it is created directly in its sharded layout.

``TrainState`` holds everything a step changes or needs to be reproducible: parameters,
optimizer state, the step counter, the run's base PRNG key and, when enabled, the EMA of the
parameters. Step ``s`` draws its randomness from ``fold_in(rng, s)``, so the key never changes
and a resumed run draws exactly the keys an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh

from astra_jax.train.sharding import tree_shardings


@struct.dataclass
class TrainState:
    """``params``/``ema_params``: parameter pytrees (float32); ``opt_state``: optax state;
    ``step``: int32 scalar, the number of updates applied; ``rng``: uint32[2] base key."""

    params: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array
    ema_params: Any = None


def state_initializer(
    init_params: Callable[[jax.Array], Any],
    optimizer: optax.GradientTransformation,
    *,
    seed: int,
    use_ema: bool,
) -> Callable[[], TrainState]:
    """A function of no arguments building the initial (boxed) state from ``seed``.

    The parameter key and the training key are split from ``PRNGKey(seed)``.
    """

    def init() -> TrainState:
        init_rng, train_rng = jax.random.split(jax.random.PRNGKey(seed))
        params = init_params(init_rng)
        return TrainState(
            params=params,
            opt_state=optimizer.init(params),
            step=jnp.zeros((), jnp.int32),
            rng=train_rng,
            ema_params=params if use_ema else None,
        )

    return init


def abstract_state_and_shardings(
    init: Callable[[], TrainState], mesh: Mesh, fsdp_min_size: int
) -> tuple[TrainState, TrainState]:
    """``(abstract unboxed state with shardings attached, NamedSharding tree)``."""
    boxed = jax.eval_shape(init)
    shardings = tree_shardings(boxed, mesh, fsdp_min_size)
    abstract = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        nn.meta.unbox(boxed),
        shardings,
    )
    return abstract, shardings


def create_sharded_state(init: Callable[[], TrainState], shardings: TrainState) -> TrainState:
    """Run ``init`` under jit so every array is created directly in its shards."""
    return jax.jit(lambda: nn.meta.unbox(init()), out_shardings=shardings)()


def start_from_params(
    state: TrainState, params: Any, optimizer: optax.GradientTransformation, shardings: TrainState
) -> TrainState:
    """``state`` with ``params`` (unboxed host arrays of the same tree, shapes and dtypes as
    ``state.params``, e.g. a fine-tuning run's pre-trained weights) in its shards; the optimizer
    state (and the EMA) are made afresh from them.

    Raises:
        ValueError: the trees differ, or an array's shape differs (the message names it).
    """
    ours = jax.tree_util.tree_flatten_with_path(state.params)[0]
    theirs, treedef = jax.tree_util.tree_flatten_with_path(params)
    if treedef != jax.tree.structure(state.params):
        names = lambda leaves: {jax.tree_util.keystr(k) for k, _ in leaves}  # noqa: E731
        raise ValueError(
            "initial parameters: another tree than the model's (missing "
            f"{sorted(names(ours) - names(theirs))[:5]}, unexpected "
            f"{sorted(names(theirs) - names(ours))[:5]})"
        )
    for (path, mine), (_, given) in zip(ours, theirs, strict=True):
        if tuple(mine.shape) != tuple(jax.numpy.shape(given)):
            raise ValueError(
                f"initial parameters{jax.tree_util.keystr(path)}: shape "
                f"{tuple(jax.numpy.shape(given))}, the model's is {tuple(mine.shape)}"
            )
    cast = jax.tree.map(lambda m, g: jnp.asarray(g, m.dtype), state.params, params)
    placed = jax.device_put(cast, shardings.params)
    opt_state = jax.jit(optimizer.init, out_shardings=shardings.opt_state)(placed)
    ema = placed if state.ema_params is not None else None
    return state.replace(params=placed, opt_state=opt_state, ema_params=ema)
