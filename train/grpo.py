"""Group Relative Policy Optimization (GRPO, DeepSeekMath; the paper's Sec. 2.4): the objective.

For each prompt, G answers are sampled from the policy and scored by rule rewards. An answer's
advantage is its reward normalized within its group, ``A = (r - mean_g r) / (std_g r + eps)``,
so no value network is needed. The loss of one answer token is the clipped surrogate plus a KL
penalty towards the frozen reference (SFT) policy::

    ratio = exp(logp - logp_old)
    pg    = -min(ratio * A, clip(ratio, 1 - clip_eps, 1 + clip_eps) * A)
    kl    = exp(logp_ref - logp) - (logp_ref - logp) - 1        (k3: unbiased, >= 0)
    token = pg + kl_beta * kl

averaged over each answer's tokens, then over answers (GRPO's sequence-level mean). Pure
functions of arrays; the task (:mod:`astra_jax.tasks.global_grpo`) samples and scores.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def group_advantages(rewards: jax.Array, group_size: int, eps: float = 1e-4) -> jax.Array:
    """(P * G,) rewards, grouped as G consecutive answers per prompt -> (P * G,) advantages.

    A group whose answers all scored the same has zero advantage (nothing to learn from it).
    The standard deviation is the population one (ddof 0)."""
    if rewards.ndim != 1 or rewards.shape[0] % group_size:
        raise ValueError(
            f"rewards of shape {rewards.shape}: expected (P * G,) with G = {group_size}"
        )
    r = rewards.reshape(-1, group_size).astype(jnp.float32)
    a = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + eps)
    return a.reshape(-1)


def informative_groups(rewards: jax.Array, group_size: int, tol: float = 1e-6) -> jax.Array:
    """(P * G,) rewards -> (P * G,) float32: 1 for the answers of a group whose rewards differ
    (by more than ``tol``), 0 for a group that scored alike.

    DAPO's dynamic sampling (Yu et al., 2025) drops such groups: their advantages are all zero,
    so they carry no policy gradient, only the KL term's, whose gradient at the reference is
    float noise that Adam's normalization turns into full-size steps. Dropping them keeps the
    gradient to the groups that teach something (DAPO also samples more prompts to refill the
    batch; here the batch shrinks instead). A batch with nothing left has a zero gradient; the
    optimizer's momentum and weight decay still act in that step."""
    if rewards.ndim != 1 or rewards.shape[0] % group_size:
        raise ValueError(
            f"rewards of shape {rewards.shape}: expected (P * G,) with G = {group_size}"
        )
    r = rewards.reshape(-1, group_size).astype(jnp.float32)
    spread = r.max(axis=1) - r.min(axis=1)
    return jnp.repeat((spread > tol).astype(jnp.float32), group_size)


def token_log_probs(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """log p(target) per position: (B, S, V) float logits, (B, S) int ids -> (B, S) float32."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def grpo_loss(
    logp: jax.Array,
    old_logp: jax.Array,
    ref_logp: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    *,
    clip_eps: float,
    kl_beta: float,
    answer_weights: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The GRPO loss and its diagnostics.

    Args:
        logp: (B, S) log-probabilities of the taken tokens under the policy being trained.
        old_logp: (B, S) the same under the policy that sampled them (``stop_gradient(logp)``
            for one update per batch of samples).
        ref_logp: (B, S) the same under the frozen reference policy.
        advantages: (B,) one per answer.
        mask: (B, S) 1 at answer tokens, 0 elsewhere.
        clip_eps: the ratio's clip range.
        kl_beta: weight of the KL penalty.
        answer_weights: (B,) 0 drops an answer from the loss (:func:`informative_groups`);
            None keeps every answer. A batch with every answer dropped has loss 0 and a zero
            gradient.

    Returns:
        ``(loss, {"kl", "clip_fraction", "ratio"})``: the scalar loss and the token-mean KL
        estimate, share of tokens whose ratio was clipped, and mean ratio (these three over
        every answer token, dropped answers included).
    """
    mask = mask.astype(jnp.float32)
    adv = advantages.astype(jnp.float32)[:, None]
    ratio = jnp.exp(logp - old_logp)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    pg = -jnp.minimum(ratio * adv, clipped * adv)
    delta = ref_logp - logp
    kl = jnp.exp(delta) - delta - 1.0
    per_token = pg + kl_beta * kl
    tokens = mask.sum(axis=1)
    per_answer = (per_token * mask).sum(axis=1) / jnp.maximum(tokens, 1.0)
    has_tokens = (tokens > 0).astype(jnp.float32)
    if answer_weights is not None:
        has_tokens = has_tokens * answer_weights.astype(jnp.float32)
    loss = (per_answer * has_tokens).sum() / jnp.maximum(has_tokens.sum(), 1.0)
    n = jnp.maximum(mask.sum(), 1.0)
    stats = {
        "kl": (kl * mask).sum() / n,
        "clip_fraction": ((jnp.abs(ratio - clipped) > 0) * mask).sum() / n,
        "ratio": (ratio * mask).sum() / n,
    }
    return loss, stats
