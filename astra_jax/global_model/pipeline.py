"""Astra-Global's load-to-text runtime pipeline: weights and tokenizer in, an answer out.

:class:`ChatPipeline` holds a loaded model (config, parameters, tokenizer). ``answer`` runs the
whole path a caller needs: image preprocessing, chat-template tokenization, batching, KV-cache
generation and decoding. The CLI (``astra model generate``), the localization tasks and the
service call this one path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.global_model.generate import generate
from astra_jax.global_model.image_processing import preprocess_image
from astra_jax.global_model.inputs import Prompt, make_batch
from astra_jax.global_model.sampling import SamplingConfig
from astra_jax.global_model.tokenizer import ChatTokenizer


@dataclasses.dataclass(frozen=True)
class Answer:
    """The decoded ``text`` and its ``num_tokens`` generated tokens (stop token excluded)."""

    text: str
    num_tokens: int


@dataclasses.dataclass(frozen=True)
class ChatPipeline:
    """A loaded Astra-Global model: answers one chat turn of text and images."""

    config: GlobalModelConfig
    params: Any
    tokenizer: ChatTokenizer

    @classmethod
    def from_hf_dir(cls, hf_dir: str | Path) -> ChatPipeline:
        """Load a Hugging Face Qwen2.5-VL directory (config.json, *.safetensors,
        tokenizer.json); errors name the file and what is wrong."""
        from astra_jax.global_model.hf_checkpoint import import_hf_params

        config, params = import_hf_params(hf_dir)
        return cls(config, params, ChatTokenizer.from_file(Path(hf_dir)))

    def answer(
        self,
        prompt: str,
        images: Sequence[np.ndarray] = (),
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        rng: jax.Array | None = None,
    ) -> Answer:
        """Answer ``prompt`` after ``images`` ((H, W, 3) uint8 RGB each, shown in order).

        ``temperature`` 0 decodes greedily; ``rng`` (default ``jax.random.key(0)``) seeds
        sampling otherwise.
        """
        processed = []
        for k, image in enumerate(images):
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"images[{k}]: expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}"
                )
            processed.append(preprocess_image(image, self.config.vision))
        content = [{"type": "image"} for _ in processed] + [{"type": "text", "text": prompt}]
        ids = self.tokenizer.encode_chat(
            [{"role": "user", "content": content}], [g for _, g in processed], self.config
        )
        batch = make_batch([Prompt(ids, tuple(processed))], self.config)
        sampling = SamplingConfig(
            max_new_tokens, temperature, top_p, self.tokenizer.stop_ids, self.config.pad_token_id
        )
        rng = jax.random.key(0) if rng is None else rng
        out = generate(self.config.model(), self.params, batch, rng, sampling)
        n = int(out.lengths[0])
        return Answer(self.tokenizer.decode(np.asarray(out.tokens[0, :n])), n)
