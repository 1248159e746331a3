"""An Astra-Global answerer over the exported prefill and decode steps (``astra export global``).

The same contract as :func:`~astra_jax.global_model.localize.model_answerer` (requests of text
and images in, answers out; greedy; images at the run's ``image_hw``), but generation runs in
:class:`~astra_jax.serve.runtime.GlobalRuntime`: what ``astra serve --artifacts`` uses.
Requests are grouped by image count (one exported prefill per count) and run in chunks of the
artifact's batch, the last chunk padded with copies of its first request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.inputs import make_batch
from astra_jax.global_model.localize import Answerer, Request, request_prompt
from astra_jax.global_model.tokenizer import ChatTokenizer
from astra_jax.serve.runtime import GlobalRuntime


def artifact_config(runtime: GlobalRuntime) -> GlobalModelConfig:
    """The model config recorded in the artifact's manifest."""
    from astra_jax.train.train_config import config_from_json

    return config_from_json(GlobalModelConfig, runtime.manifest["config"], "manifest config")


def artifact_answerer(runtime: GlobalRuntime, tokenizer: ChatTokenizer, *,
                      max_new_tokens: int = 200, stop: bool = True) -> Answerer:  # fmt: skip
    """An answerer backed by ``runtime`` (module docstring)."""
    config = artifact_config(runtime)
    image_hw = tuple(runtime.manifest["rig"]["image_hw"])
    stop_ids = tuple(tokenizer.stop_ids) if stop else ()
    b = runtime.batch

    def run(requests: Sequence[Request]) -> list[str]:
        prompts = [request_prompt(config, tokenizer, image_hw, r) for r in requests]
        padded = prompts + [prompts[0]] * (b - len(prompts))
        batch = make_batch(padded, config, 128)
        pixels = None if batch.pixel_values is None else np.asarray(batch.pixel_values)
        tokens, lengths = runtime.generate(
            np.asarray(batch.input_ids), np.asarray(batch.positions),
            np.asarray(batch.attention_mask), pixels, len(requests[0][1]), max_new_tokens,
            stop_ids,
        )  # fmt: skip
        return [tokenizer.decode(tokens[r, : int(lengths[r])]) for r in range(len(prompts))]

    def answer(requests: Sequence[Request]) -> list[str]:
        out: list[Any] = [None] * len(requests)
        groups: dict[int, list[int]] = {}
        for i, (_, images) in enumerate(requests):
            groups.setdefault(len(images), []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), b):
                chunk = idx[start : start + b]
                for i, text in zip(chunk, run([requests[i] for i in chunk]), strict=True):
                    out[i] = text
        return out

    return answer
