"""What the engine needs from a trained thing: the :class:`Trainable` protocol.

A task (:mod:`astra_jax.tasks`) binds a model to its config and data and hands the engine a
:class:`Trainable`; the engine (:func:`astra_jax.train.train`) knows nothing else about it:

* ``config``: the frozen dataclass config, recorded in every checkpoint;
* ``eval_split``: the split evaluated at every checkpoint (None: none);
* ``init(rng)`` -> parameters whose leaves are ``nn.LogicallyPartitioned`` boxes naming each
  dimension with the logical axes of :mod:`astra_jax.nn.axes`
  (``nn.with_logical_partitioning``);
* ``loss_fn(params, batch, rng)`` -> ``(loss, metrics)``: a float32 scalar and a dict of
  scalars, a pure function of its arguments (the engine jits, differentiates and shards it).
  A metric called ``num_tokens`` makes the engine report tokens/s;
* ``eval_fn(params, batch)`` -> metrics of a deterministic forward pass (no dropout),
  including ``loss``;
* ``dataset(split, seed, process_index, process_count)`` -> a ``grain.MapDataset`` of
  examples (dicts of numpy arrays) holding this process's share of ``split`` (see
  :func:`astra_jax.train.data.shard_for_process`); the engine shuffles, repeats and batches;
* ``batch_spec(batch_size)`` -> ``{key: jax.ShapeDtypeStruct}`` of a global batch, used for
  ``eval_shape``, ahead-of-time compilation, FLOP counting and shardings.

An :class:`OnlineTrainable` (reinforcement learning: GRPO) makes its training batches from
the current parameters. Its dataset yields prompts; before every step the engine hands them
to ``rollout(params, examples, rng)`` (``rng``: ``fold_in(run key, step)``, so a resumed run
draws what an uninterrupted one would), whose output must match ``batch_spec``. It starts
from ``initial_params()`` (e.g. an SFT checkpoint) when that is not None, evaluates itself
with ``evaluate(params)`` at every checkpoint instead of ``eval_fn`` batches, and names the
metric ranking its checkpoints in ``checkpoint_metric`` (``(name, "min" | "max")``; any task
may set it, the default is ``("loss", "min")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import grain
import jax

Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]


@runtime_checkable
class Trainable(Protocol):
    """A model bound to one config: everything the engine calls."""

    @property
    def config(self) -> Any:
        """The task's frozen dataclass config (recorded in every checkpoint; a resumed run
        must have the same)."""
        ...

    @property
    def eval_split(self) -> str | None:
        """The split evaluated at every checkpoint, or None for no evaluation."""
        ...

    def init(self, rng: jax.Array) -> Any:
        """Boxed parameters (``nn.LogicallyPartitioned`` leaves), from a PRNG key."""
        ...

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        """``(scalar float32 loss, {name: scalar})`` for one global batch (training mode)."""
        ...

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        """Deterministic ``{name: scalar}`` for one global batch; includes ``loss``."""
        ...

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        """This process's examples of ``split`` (dicts of numpy arrays), in a fixed order."""
        ...

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes and dtypes of a global batch of ``batch_size`` examples."""
        ...


@runtime_checkable
class OnlineTrainable(Trainable, Protocol):
    """A :class:`Trainable` whose batches are sampled from its own policy (see the module)."""

    @property
    def initial_params_source(self) -> str:
        """Where ``initial_params`` come from, for logs."""
        ...

    def initial_params(self) -> Any:
        """Unboxed parameters to start from (host arrays of ``init``'s tree), or None."""
        ...

    def rollout(self, params: Any, examples: dict[str, Any], rng: jax.Array) -> dict[str, Any]:
        """This process's training batch (numpy, per ``batch_spec``) from its ``examples``."""
        ...

    def evaluate(self, params: Any) -> dict[str, float]:
        """Held-out metrics of ``params`` (run at every checkpoint)."""
        ...
