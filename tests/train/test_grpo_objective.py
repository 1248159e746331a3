"""The GRPO objective (train/grpo.py): group-normalized advantages, the clipped surrogate and
the k3 KL estimate, checked against hand-computed values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.train import grpo


def test_advantages_are_normalized_within_each_group() -> None:
    rewards = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0])
    adv = np.asarray(grpo.group_advantages(rewards, 4))
    first = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(adv[:4], (first - 2.5) / (first.std() + 1e-4), rtol=1e-5)
    # a group whose answers all scored the same teaches nothing
    np.testing.assert_array_equal(adv[4:], 0.0)
    with pytest.raises(ValueError, match="G = 3"):
        grpo.group_advantages(rewards, 3)


def test_token_log_probs_pick_the_targets() -> None:
    logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]]))
    lp = grpo.token_log_probs(logits, jnp.array([[1, 2]]))
    np.testing.assert_allclose(np.exp(np.asarray(lp)), [[0.25, 0.8]], rtol=1e-6)


def _loss(logp, old, ref, adv, mask, clip_eps=0.2, kl_beta=0.0):
    return grpo.grpo_loss(
        jnp.asarray(logp), jnp.asarray(old), jnp.asarray(ref), jnp.asarray(adv),
        jnp.asarray(mask), clip_eps=clip_eps, kl_beta=kl_beta,
    )  # fmt: skip


def test_the_ratio_is_clipped_on_the_side_the_advantage_favours() -> None:
    old = np.log(np.full((2, 2), 0.5))
    # ratio 1.5 on every token: a positive advantage is capped at 1.2, a negative one is not
    logp = old + np.log(1.5)
    mask = np.ones((2, 2))
    loss, stats = _loss(logp, old, logp, [1.0, -1.0], mask)
    # answer 0: -min(1.5, 1.2) = -1.2; answer 1: -min(-1.5, -1.2) = 1.5; mean 0.15
    np.testing.assert_allclose(float(loss), 0.15, rtol=1e-5)
    np.testing.assert_allclose(float(stats["clip_fraction"]), 1.0)
    np.testing.assert_allclose(float(stats["ratio"]), 1.5, rtol=1e-5)


def test_kl_is_the_k3_estimate_and_padding_is_ignored() -> None:
    logp = np.log(np.array([[0.5, 0.9]]))
    ref = np.log(np.array([[0.25, 0.1]]))
    mask = np.array([[1.0, 0.0]])  # the second token is padding
    loss, stats = _loss(logp, logp, ref, [0.0], mask, kl_beta=2.0)
    r = 0.25 / 0.5
    k3 = r - np.log(r) - 1
    np.testing.assert_allclose(float(stats["kl"]), k3, rtol=1e-5)
    np.testing.assert_allclose(float(loss), 2.0 * k3, rtol=1e-5)


def test_answers_are_averaged_per_answer_not_per_token() -> None:
    # a 1-token answer weighs as much as a 3-token one (GRPO's sequence-level mean)
    logp = np.zeros((2, 3))
    mask = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    loss, _ = _loss(logp, logp, logp, [2.0, -1.0], mask)
    np.testing.assert_allclose(float(loss), (-2.0 + 1.0) / 2, rtol=1e-6)


def test_the_gradient_raises_the_log_prob_of_advantaged_answers() -> None:
    logp = jnp.log(jnp.array([[0.5], [0.5]]))
    mask = jnp.ones((2, 1))

    def loss(lp: jax.Array) -> jax.Array:
        value, _ = grpo.grpo_loss(
            lp, jax.lax.stop_gradient(lp), lp, jnp.array([1.0, -1.0]), mask,
            clip_eps=0.2, kl_beta=0.1,
        )  # fmt: skip
        return value

    g = np.asarray(jax.grad(loss)(logp))
    assert g[0, 0] < 0 < g[1, 0]  # descent raises answer 0 and lowers answer 1


def test_informative_groups_are_the_ones_whose_rewards_differ() -> None:
    rewards = jnp.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 0.5, 0.5 + 1e-8])
    np.testing.assert_array_equal(grpo.informative_groups(rewards, 2), [0, 0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(grpo.informative_groups(rewards, 4), [1] * 8)
    with pytest.raises(ValueError, match="expected \\(P \\* G,\\)"):
        grpo.informative_groups(rewards, 3)


def test_dropped_answers_leave_the_loss_and_its_gradient() -> None:
    rng = np.random.default_rng(0)
    logp = jnp.asarray(rng.normal(-2.0, 0.5, (4, 6)), jnp.float32)
    ref = logp + 0.3  # away from the reference: the KL term alone has a gradient
    mask = jnp.ones((4, 6))
    adv = jnp.array([1.0, -1.0, 0.0, 0.0])
    keep = jnp.array([1.0, 1.0, 0.0, 0.0])

    def loss(lp, weights):
        return grpo.grpo_loss(lp, jax.lax.stop_gradient(lp), ref, adv, mask, clip_eps=0.2,
                              kl_beta=0.04, answer_weights=weights)[0]  # fmt: skip

    # the loss over the kept answers is the loss of those answers alone
    alone = grpo.grpo_loss(logp[:2], logp[:2], ref[:2], adv[:2], mask[:2], clip_eps=0.2,
                           kl_beta=0.04)[0]  # fmt: skip
    assert float(loss(logp, keep)) == pytest.approx(float(alone), rel=1e-6)
    g = jax.grad(loss)(logp, keep)
    assert not np.any(np.asarray(g[2:])) and np.all(np.abs(np.asarray(g[:2])) > 0)
    # every group uniform: no loss, no gradient (without the weights the KL term pushes)
    none = jnp.zeros(4)
    assert float(loss(logp, none)) == 0.0
    assert not np.any(np.asarray(jax.grad(loss)(logp, none)))
    assert np.any(np.asarray(jax.grad(loss)(logp, None)[2:]))
