"""Next-token choice from logits: greedy, temperature and nucleus (top-p) sampling."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from astra_jax.config import ConfigError


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """How to pick tokens and when to stop.

    ``temperature`` 0 is greedy (argmax). Otherwise logits are divided by ``temperature`` and
    the token is drawn from the smallest set of most likely tokens whose probability reaches
    ``top_p`` (1.0: the whole vocabulary). A row stops after emitting any of
    ``stop_token_ids``; its later slots hold ``pad_token_id``. ``banned_token_ids`` are never
    picked (e.g. image placeholders, which only the prompt may hold).
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop_token_ids: tuple[int, ...] = ()
    pad_token_id: int = 0
    banned_token_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens <= 0:
            raise ConfigError(
                f"SamplingConfig.max_new_tokens = {self.max_new_tokens!r}: expected a positive int"
            )
        if not 0.0 <= self.temperature < float("inf"):
            raise ConfigError(
                f"SamplingConfig.temperature = {self.temperature!r}: expected a number >= 0"
            )
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"SamplingConfig.top_p = {self.top_p!r}: expected a number in (0, 1]")
        if not isinstance(self.stop_token_ids, tuple) or any(
            not isinstance(t, int) or t < 0 for t in self.stop_token_ids
        ):
            raise ConfigError(
                f"SamplingConfig.stop_token_ids = {self.stop_token_ids!r}: expected a tuple of ids"
            )
        if not isinstance(self.banned_token_ids, tuple) or any(
            not isinstance(t, int) or t < 0 for t in self.banned_token_ids
        ):
            raise ConfigError(
                f"SamplingConfig.banned_token_ids = {self.banned_token_ids!r}: expected a tuple "
                "of ids"
            )


def top_p_filter(logits: jax.Array, top_p: float) -> jax.Array:
    """Set to -inf every logit outside the nucleus: the most likely tokens whose cumulative
    probability first reaches ``top_p`` (always at least the top token). (B, V) -> (B, V)."""
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep_sorted = mass_before < top_p
    keep = (
        jnp.zeros_like(keep_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(keep_sorted)
    )
    return jnp.where(keep, logits, -jnp.inf)


def sample_tokens(logits: jax.Array, rng: jax.Array, sampling: SamplingConfig) -> jax.Array:
    """Pick one token per row: (B, V) float logits -> (B,) int32."""
    if sampling.banned_token_ids:
        banned = jnp.asarray(sampling.banned_token_ids, jnp.int32)
        logits = logits.at[:, banned].set(-jnp.inf)
    if sampling.temperature == 0.0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scaled = logits.astype(jnp.float32) / sampling.temperature
    if sampling.top_p < 1.0:
        scaled = top_p_filter(scaled, sampling.top_p)
    return jax.random.categorical(rng, scaled, axis=-1).astype(jnp.int32)
