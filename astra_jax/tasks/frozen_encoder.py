"""The frozen, depth-pre-trained encoder whose features the heads train on.

``encoder_workdir`` names an ``astra train encoder-<preset>`` run (or an ``encoder-3d-<preset>``
run: the lift of its 3D model, the paper's 3D planner's encoder): its checkpoint's lift
parameters are restored (``step``: best, latest or a number) after checking that the run
trained the same encoder (sizes and rig; dtypes may differ). An empty ``encoder_workdir``
means a randomly initialised lift (seed 0): features without depth training, for tests and for
smoke runs only; every report names which one it used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from astra_jax.config import ConfigError
from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.frame_features import encoder_fingerprint, frame_feature_fn
from astra_jax.local_model.render_head import RenderConfig
from astra_jax.train.train_config import config_json


@dataclasses.dataclass(frozen=True)
class FrozenEncoder:
    """Lift parameters of ``config``'s encoder and where they came from."""

    config: EncoderConfig
    lift_params: Any
    source: str

    @property
    def key(self) -> str:
        """Names the encoder in the head cache (config and parameter bytes)."""
        return encoder_fingerprint(self.config, self.lift_params)

    def feature_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        return frame_feature_fn(self.config, self.lift_params)


def load_frozen_encoder(config: EncoderConfig, workdir: str, step: str = "best") -> FrozenEncoder:
    """The lift of run ``workdir`` (or a random one when ``workdir`` is empty)."""
    # The features are cached in float32 compute whatever the run trained in.
    config = dataclasses.replace(config, dtype="float32", param_dtype="float32")
    if not workdir:
        _, params = config.create(jax.random.key(0))
        return FrozenEncoder(config, nn.unbox(params)["lift"], "random-init lift (seed 0)")
    from astra_jax.train.evaluate import restore_params

    params, chosen, saved = restore_params(workdir, step)
    theirs = (saved.get("model_config") or {}).get("encoder") or {}
    mine = config_json(config)
    for field in ("local", "rig"):
        if theirs.get(field) != mine[field]:
            raise ConfigError(
                f"encoder_workdir = {workdir!r}: its run trained another encoder ({field} "
                f"differs); train encoder-<preset> with this config's encoder"
            )
    if "lift" not in params and "lift" in (params.get("encoder") or {}):
        params = params["encoder"]  # an encoder-3d run: the lift its rendering trained
    if "lift" not in params:
        raise ConfigError(f"encoder_workdir = {workdir!r}: its checkpoint has no lift parameters")
    lift = jax.tree.map(lambda x: np.asarray(x, np.float32), nn.unbox(params["lift"]))
    return FrozenEncoder(config, lift, f"{workdir} step {chosen}")


def load_frozen_3d(
    encoder: EncoderConfig, render: RenderConfig, workdir: str, step: str = "best"
) -> tuple[Any, str]:
    """``({"encoder", "render"} float32 params, source)`` of an ``astra train
    encoder-3d-<preset>`` run (the 4D stage's frozen 3D model), checked to be the same encoder
    and rendering head; an empty ``workdir`` gives random-init ones (seed 0: tests, smoke runs)."""
    from astra_jax.local_model.render_pretrain import RenderPretrain

    encoder = dataclasses.replace(encoder, dtype="float32", param_dtype="float32")
    as_numpy = lambda tree: jax.tree.map(lambda x: np.asarray(x, np.float32), nn.unbox(tree))  # noqa: E731
    if not workdir:
        params = RenderPretrain(encoder, render).init(jax.random.key(0))
        return as_numpy(params), "random-init 3D encoder (seed 0)"
    from astra_jax.train.evaluate import restore_params

    params, chosen, saved = restore_params(workdir, step)
    theirs = saved.get("model_config") or {}
    mine = {"encoder": config_json(encoder), "render": config_json(render)}
    for part, field in (("encoder", "local"), ("encoder", "rig"), ("render", None)):
        a = (theirs.get(part) or {}) if field is None else (theirs.get(part) or {}).get(field)
        b = mine[part] if field is None else mine[part][field]
        if a != b:
            raise ConfigError(
                f"encoder_workdir = {workdir!r}: its run trained another 3D model ({part}"
                f"{'.' + field if field else ''} differs); train encoder-3d-<preset> with this "
                "config's encoder and render"
            )
    if set(params) != {"encoder", "render"}:
        raise ConfigError(
            f"encoder_workdir = {workdir!r}: its checkpoint holds {sorted(params)}, not an "
            "encoder-3d run's encoder and render parameters"
        )
    return as_numpy(params), f"{workdir} step {chosen}"
