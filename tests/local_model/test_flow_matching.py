"""Flow matching for the planning head: a tiny head trained on a known conditional
distribution samples it back; the cached-condition sampler equals the uncached one; the loss,
the one-step estimate, the Euler grid and the time schedules follow their definitions."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from astra_jax.local_model.flow_matching import (
    cfm_loss,
    euler,
    sample,
    sample_time,
    sample_uncached,
)
from astra_jax.local_model.planning_head import PlanningHead, PlanningHeadConfig

CFG = PlanningHeadConfig(
    num_waypoints=2,
    bev_shape=(4, 4, 4),
    bev_resolution=0.5,
    token_patch=2,
    width=32,
    encoder_depth=1,
    decoder_depth=1,
    num_heads=2,
    mlp_ratio=2,
)
SAMPLES = 512
# The target, per waypoint (dx m, dy m, dtheta rad), conditioned on the subgoal's side:
# subgoal (3, +2) -> a Gaussian turning left; subgoal (3, -2) -> two modes, dtheta = +-0.25.
LEFT_MEAN = np.array([0.30, 0.04, 0.20])
RIGHT_MEAN = np.array([0.25, -0.04, 0.25])  # dtheta's sign is drawn per example
STD = np.array([0.05, 0.01, 0.04])
SUBGOALS = jnp.asarray([[3.0, 2.0], [3.0, -2.0]])


def _data(rng: jax.Array, batch: int) -> tuple[jax.Array, jax.Array]:
    """(subgoal (B, 2), deltas (B, n, 3)) drawn from the target."""
    k_side, k_mode, k_eps = jax.random.split(rng, 3)
    left = jax.random.bernoulli(k_side, 0.5, (batch,))
    sign = jnp.where(jax.random.bernoulli(k_mode, 0.5, (batch,)), 1.0, -1.0)
    right = jnp.asarray(RIGHT_MEAN) * jnp.stack([jnp.ones(batch), jnp.ones(batch), sign], -1)
    mean = jnp.where(left[:, None], jnp.asarray(LEFT_MEAN), right)
    eps = jax.random.normal(k_eps, (batch, CFG.num_waypoints, 3)) * jnp.asarray(STD)
    return jnp.where(left[:, None], SUBGOALS[0], SUBGOALS[1]), mean[:, None] + eps


@dataclasses.dataclass(frozen=True)
class Trained:
    head: PlanningHead
    initial: dict  # as initialised (v = 0)
    params: dict  # after training
    losses: tuple[float, ...]


@pytest.fixture(scope="module")
def trained() -> Trained:
    """The tiny head trained for 300 Adam steps on the target (BEV and velocity are zero, so
    only the subgoal carries the condition); ~4 s of CPU after compiling."""
    head, boxed = CFG.create(jax.random.key(0))
    initial = nn.unbox(boxed)
    tx = optax.adam(3e-3)
    batch = 128
    bev, vel = jnp.zeros((batch, *CFG.bev_shape)), jnp.zeros((batch, 2))

    @jax.jit
    def step(params, opt, rng):
        k_data, k_loss = jax.random.split(rng)
        subgoal, deltas = _data(k_data, batch)
        loss_fn = lambda p: cfm_loss(head, p, bev, subgoal, vel, deltas, k_loss).loss  # noqa: E731
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    params, opt, losses = initial, tx.init(initial), []
    for k in jax.random.split(jax.random.key(1), 300):
        params, opt, loss = step(params, opt, k)
        losses.append(float(loss))
    return Trained(head, initial, params, tuple(losses))


def _sample(t: Trained, params: dict, cached: bool = True, rng: int = 5) -> np.ndarray:
    fn = sample if cached else sample_uncached
    bev, vel = jnp.zeros((2, *CFG.bev_shape)), jnp.zeros((2, 2))
    return np.asarray(fn(t.head, params, bev, SUBGOALS, vel, jax.random.key(rng), SAMPLES))


def test_training_lowers_the_loss(trained) -> None:
    first, last = np.mean(trained.losses[:10]), np.mean(trained.losses[-50:])
    assert last < 0.4 * first, (first, last)


def test_samples_recover_the_conditional_distribution(trained) -> None:
    s = _sample(trained, trained.params)  # (2 conditions, SAMPLES, n, 3), metres / radians
    assert s.shape == (2, SAMPLES, CFG.num_waypoints, 3)
    scale = np.asarray(CFG.action_scale)
    # Left: the Gaussian's mean within 0.1 normalised units, its std within [0.6, 1.5]x.
    left = s[0].reshape(-1, 3)
    assert np.all(np.abs(left.mean(0) - LEFT_MEAN) < 0.1 * scale), left.mean(0)
    ratio = left.std(0) / STD
    assert np.all((ratio > 0.6) & (ratio < 1.5)), ratio
    # Right: two modes in dtheta, equally likely, with (almost) nothing in between -- a
    # single Gaussian with this mean and spread would put a third of its mass in |dtheta| < 0.1.
    right = s[1].reshape(-1, 3)
    assert np.all(np.abs(right[:, :2].mean(0) - RIGHT_MEAN[:2]) < 0.1 * scale[:2])
    assert 0.35 < np.mean(right[:, 2] > 0) < 0.65
    assert np.mean(np.abs(right[:, 2]) < 0.1) < 0.15
    modes = np.abs(right[:, 2])
    assert abs(np.median(modes) - RIGHT_MEAN[2]) < 0.05


def test_cached_sampler_equals_uncached(trained) -> None:
    cached = _sample(trained, trained.params, cached=True)
    uncached = _sample(trained, trained.params, cached=False)
    np.testing.assert_allclose(cached, uncached, atol=1e-5)
    # and the draws depend on the rng (the comparison is not trivially of constants)
    assert np.abs(_sample(trained, trained.params, rng=6) - cached).max() > 1e-2


def test_untrained_samples_are_scaled_noise(trained) -> None:
    """v = 0 at initialisation, so the samples are x0 ~ N(0, I) in normalised units: their
    metric spread is ``action_scale`` (the one place that denormalises)."""
    s = _sample(trained, trained.initial).reshape(-1, 3)
    np.testing.assert_allclose(s.std(0), CFG.action_scale, rtol=0.08)
    assert np.all(np.abs(s.mean(0)) < 0.1 * np.asarray(CFG.action_scale)), s.mean(0)


def test_cfm_loss_and_one_step_estimate_follow_their_definition(trained) -> None:
    head, params = trained.head, trained.params
    b = 4
    bev, vel = jnp.zeros((b, *CFG.bev_shape)), jnp.zeros((b, 2))
    subgoal, deltas = _data(jax.random.key(7), b)
    rng = jax.random.key(8)

    @jax.jit
    def both(params):
        out = cfm_loss(head, params, bev, subgoal, vel, deltas, rng)
        # the same draws, by the documented recipe: t, then x0, from split(rng)
        k_t, k_x = jax.random.split(rng)
        t = jax.random.uniform(k_t, (b,))
        x1 = deltas / jnp.asarray(CFG.action_scale)
        x0 = jax.random.normal(k_x, x1.shape)
        x_t = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
        v = head.apply({"params": params}, bev, subgoal, vel, x_t, t)
        return out, t, jnp.mean((v - (x1 - x0)) ** 2), (x_t + (1 - t)[:, None, None] * v)

    out, t, loss, x1_hat = both(params)
    np.testing.assert_allclose(out.t, t)
    np.testing.assert_allclose(out.loss, loss, rtol=1e-5)
    np.testing.assert_allclose(out.x1_hat, x1_hat * np.asarray(CFG.action_scale), atol=1e-5)
    # a trained field's one-step estimate is close to the data near t = 1
    late = np.asarray(out.t) > 0.7
    if late.any():
        err = np.abs(np.asarray(out.x1_hat)[late] - np.asarray(deltas)[late])
        assert err.max() < 0.5 * max(CFG.action_scale)
    with pytest.raises(ValueError, match=r"deltas shape \(4, 3, 3\): expected \(4, 2, 3\)"):
        cfm_loss(head, params, bev, subgoal, vel, jnp.zeros((b, 3, 3)), rng)


def test_euler_uses_the_left_time_grid() -> None:
    # dx/dt = t on t_k = k/K: x(1) = sum_k (k/K) / K = (K - 1) / (2K)
    x = euler(lambda x, t: jnp.ones_like(x) * t, jnp.zeros(()), 10)
    np.testing.assert_allclose(x, 0.45, rtol=1e-6)
    x = euler(lambda x, t: x, jnp.ones(()), 4)
    np.testing.assert_allclose(x, 1.25**4, rtol=1e-6)
    with pytest.raises(ValueError, match="steps = 0"):
        euler(lambda x, t: x, jnp.ones(()), 0)


def test_time_schedules() -> None:
    u = np.asarray(sample_time(jax.random.key(0), 20000, "uniform"))
    assert u.min() >= 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 0.01
    b = np.asarray(sample_time(jax.random.key(0), 20000, "beta"))
    # t = 1 - 0.999 s, s ~ Beta(1.5, 1): E[t] = 1 - 0.999 * 0.6, more mass at small t
    assert b.min() >= 0 and b.max() <= 1 and abs(b.mean() - (1 - 0.999 * 0.6)) < 0.01
    with pytest.raises(ValueError, match="schedule 'cosine': expected one of uniform, beta"):
        sample_time(jax.random.key(0), 4, "cosine")


def test_sample_rejects_bad_num_samples(trained) -> None:
    bev, vel = jnp.zeros((2, *CFG.bev_shape)), jnp.zeros((2, 2))
    with pytest.raises(ValueError, match="num_samples = 0"):
        sample(trained.head, trained.params, bev, SUBGOALS, vel, jax.random.key(0), 0)
