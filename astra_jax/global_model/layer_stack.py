"""Astra-Global parameters in the unrolled and the scanned layouts (``scan_layers``).

Unrolled: ``layers_{i}/...`` (decoder) and ``visual/blocks_{i}/...`` (vision tower), one
subtree per layer. Scanned: ``layers/...`` and ``visual/blocks/...``, one subtree whose leaves
stack the layers on a new leading axis (the ``layers`` logical axis). Everything else is the
same in both. Hugging Face checkpoints map to the unrolled layout (``hf_checkpoint``), so a
scanned model stacks after reading and unstacks before writing.

Leaves stay what they were: numpy arrays stack with numpy (on the host, as the checkpoint
reader holds them), anything else with ``jax.numpy``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.global_model.config import GlobalModelConfig

Params = dict[str, Any]


def _stack(*leaves: Any) -> Any:
    if all(isinstance(x, np.ndarray) for x in leaves):
        return np.stack(leaves)
    return jnp.stack(leaves)


def _stacked(tree: Params, prefix: str, count: int, where: str) -> tuple[Params, Any]:
    """``tree`` without ``{prefix}{i}`` for i < count, and those subtrees stacked."""
    names = [f"{prefix}{i}" for i in range(count)]
    missing = [n for n in names if n not in tree]
    if missing:
        raise ValueError(
            f"params{where}: {', '.join(missing[:3])} missing: expected the unrolled layout "
            f"with {count} layers ({prefix}0 .. {prefix}{count - 1})"
        )
    rest = {k: v for k, v in tree.items() if k not in names}
    return rest, jax.tree.map(_stack, *[tree[n] for n in names])


def _unstacked(tree: Params, name: str, prefix: str, count: int, where: str) -> Params:
    """``tree`` with its stacked subtree ``name`` split into ``{prefix}{i}`` subtrees."""
    if name not in tree:
        raise ValueError(f"params{where}: {name!r} missing: expected the scanned layout")
    stacked = tree[name]
    lengths = {int(x.shape[0]) for x in jax.tree.leaves(stacked)}
    if lengths != {count}:
        raise ValueError(
            f"params{where}/{name}: leading axes {sorted(lengths)}: expected {count} layers"
        )
    out = {k: v for k, v in tree.items() if k != name}
    for i in range(count):
        out[f"{prefix}{i}"] = jax.tree.map(lambda x, i=i: x[i], stacked)
    return out


def stack_layers(params: Params, config: GlobalModelConfig) -> Params:
    """Unrolled -> scanned layout (plain, unboxed parameters)."""
    out, layers = _stacked(params, "layers_", config.text.num_layers, "")
    visual, blocks = _stacked(params["visual"], "blocks_", config.vision.depth, "/visual")
    return {**out, "layers": layers, "visual": {**visual, "blocks": blocks}}


def unstack_layers(params: Params, config: GlobalModelConfig) -> Params:
    """Scanned -> unrolled layout (plain, unboxed parameters)."""
    out = _unstacked(params, "layers", "layers_", config.text.num_layers, "")
    visual = _unstacked(params["visual"], "blocks", "blocks_", config.vision.depth, "/visual")
    return {**out, "visual": visual}
