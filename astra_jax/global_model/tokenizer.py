"""Tokenizer (``tokenizers``) with Qwen2.5-VL's chat template and image placeholders.

Any Hugging Face ``tokenizer.json`` with the Qwen special tokens works: the one in a Qwen2.5-VL
directory, or our byte-level BPE (``tokenizer.json`` next to this file, made by
``train_bpe`` / ``astra model tokenizer`` from ``prompt_corpus``), whose special tokens sit at
ids 0..13 (``config.SPECIAL_TOKENS``).

Chat template (Qwen2.5-VL's, rendered in Python)::

    <|im_start|>system\\n{system}<|im_end|>\\n          (added when the first message is not system)
    <|im_start|>{role}\\n{content}<|im_end|>\\n          (per message)
    <|im_start|>assistant\\n                             (add_generation_prompt)

where an image in a content list renders as ``<|vision_start|><|image_pad|><|vision_end|>``.
``encode_chat`` then expands each ``<|image_pad|>`` to the image's number of merged tokens.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from astra_jax.global_model.config import OWN_VOCAB_SIZE, SPECIAL_TOKENS, GlobalModelConfig

DEFAULT_TOKENIZER = Path(__file__).parent / "tokenizer.json"
DEFAULT_SYSTEM = "You are a helpful assistant."
Message = dict[str, Any]


class ChatTokenizer:
    """A ``tokenizers.Tokenizer`` plus the Qwen chat template and special token ids."""

    def __init__(self, tokenizer: Tokenizer, source: str = "tokenizer") -> None:
        self.tokenizer = tokenizer
        self.source = source
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            raise ValueError(f"{source}: special tokens missing: {', '.join(missing)}")

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_TOKENIZER) -> ChatTokenizer:
        """Load ``tokenizer.json`` (a file, or a directory holding one)."""
        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file (expected a tokenizer.json)")
        return cls(Tokenizer.from_file(str(file)), source=str(file))

    def token_id(self, token: str) -> int:
        i = self.tokenizer.token_to_id(token)
        if i is None:
            raise KeyError(f"{self.source}: token {token!r} not in the vocabulary")
        return i

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def image_pad_id(self) -> int:
        return self.token_id("<|image_pad|>")

    @property
    def stop_ids(self) -> tuple[int, ...]:
        """``<|im_end|>`` and ``<|endoftext|>``: generation stops on either."""
        return (self.token_id("<|im_end|>"), self.token_id("<|endoftext|>"))

    def check_config(self, config: GlobalModelConfig) -> None:
        """Raise ``ValueError`` unless the config's special ids and vocab fit this tokenizer."""
        pairs = {
            "image_token_id": "<|image_pad|>",
            "video_token_id": "<|video_pad|>",
            "vision_start_token_id": "<|vision_start|>",
            "vision_end_token_id": "<|vision_end|>",
        }
        for field, token in pairs.items():
            if getattr(config, field) != self.token_id(token):
                raise ValueError(
                    f"{self.source}: {token} has id {self.token_id(token)} but config "
                    f"{config.name}.{field} = {getattr(config, field)}"
                )
        if self.vocab_size > config.text.vocab_size:
            raise ValueError(
                f"{self.source}: {self.vocab_size} tokens but config {config.name} has "
                f"vocab_size = {config.text.vocab_size}"
            )

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; special-token strings in it map to their ids."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    @staticmethod
    def render_chat(
        messages: Sequence[Message],
        add_generation_prompt: bool = True,
        default_system: str = DEFAULT_SYSTEM,
    ) -> str:
        """The chat as one string, one ``<|image_pad|>`` per image (Qwen2.5-VL template)."""
        parts = []
        for k, msg in enumerate(messages):
            role, content = msg.get("role"), msg.get("content")
            if role not in ("system", "user", "assistant"):
                raise ValueError(f"message {k}: role {role!r}: expected system, user or assistant")
            if k == 0 and role != "system":
                parts.append(f"<|im_start|>system\n{default_system}<|im_end|>\n")
            parts.append(f"<|im_start|>{role}\n")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list | tuple):
                for item in content:
                    kind = item.get("type")
                    if kind == "image":
                        parts.append("<|vision_start|><|image_pad|><|vision_end|>")
                    elif kind == "text":
                        parts.append(str(item["text"]))
                    else:
                        raise ValueError(f"message {k}: content type {kind!r}: expected image/text")
            else:
                raise ValueError(f"message {k}: content must be a string or a list of parts")
            parts.append("<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)

    def encode_chat(
        self,
        messages: Sequence[Message],
        image_grids: Sequence[tuple[int, int, int]],
        config: GlobalModelConfig,
        add_generation_prompt: bool = True,
    ) -> np.ndarray:
        """Token ids of the chat with each image's placeholder expanded to its token count."""
        ids = self.encode(self.render_chat(messages, add_generation_prompt))
        pad = self.image_pad_id
        n_images = sum(1 for i in ids if i == pad)
        if n_images != len(image_grids):
            raise ValueError(f"chat holds {n_images} images but {len(image_grids)} grids given")
        out: list[int] = []
        grids = iter(image_grids)
        for i in ids:
            out.extend([pad] * config.num_image_tokens(next(grids)) if i == pad else [i])
        return np.asarray(out, dtype=np.int32)


def train_bpe(texts: Sequence[str], vocab_size: int = OWN_VOCAB_SIZE) -> Tokenizer:
    """A byte-level BPE trained on ``texts``, Qwen special tokens at ids 0..13.

    Deterministic for a given corpus. Byte-level: any UTF-8 text encodes without unknowns.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def write_tokenizer(tok: Tokenizer, path: str | Path, overwrite: bool = False) -> Path:
    """Save ``tok`` as ``tokenizer.json`` atomically; refuse to replace a file unless told."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists (pass overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        tok.save(tmp, pretty=False)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
