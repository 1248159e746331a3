"""Shared by the serve tests: random tick parameters with no path switched off, and inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.serve.tick import TickConfig


def random_params(cfg: TickConfig, seed: int = 0) -> dict:
    """Random parameters in which no path is switched off (zero-initialised leaves, such as the
    odometry output layer and the fusion block's last convolution, are random too): N(0, 0.1),
    norm scales 1 + N(0, 0.1). Shapes from ``init_params`` traced, not compiled (fast)."""
    shapes = jax.eval_shape(cfg.init_params, jax.random.key(0))
    rng = np.random.default_rng(seed)

    def draw(path, s):
        x = rng.normal(0.0, 0.1, s.shape)
        return jnp.asarray(x + 1.0 if jax.tree_util.keystr(path).endswith("['scale']") else x,
                           s.dtype)  # fmt: skip

    return jax.tree_util.tree_map_with_path(draw, shapes)


def episode_inputs(cfg: TickConfig, ticks: int, batch: int = 2, seed: int = 0) -> list[dict]:
    """Random per-tick inputs (numpy) with a smooth pose track."""
    rng = np.random.default_rng(seed)
    spec = cfg.inputs_spec(batch)
    poses = np.cumsum(rng.normal(0.0, 0.3, (ticks, batch, 3)), axis=0).astype(np.float32)
    out = []
    for k in range(ticks):
        x = {
            name: rng.normal(size=s.shape).astype(np.float32)
            for name, s in spec.items()
            if s.dtype == jnp.float32
        }
        x["images"] = rng.integers(0, 256, spec["images"].shape, dtype=np.uint8)
        x["pose"] = poses[k]
        x["rng"] = np.asarray(jax.random.key_data(jax.random.key(seed * 1000 + k)))
        out.append(x)
    return out
