"""ESDF guidance of the planner's Euler steps: it pushes samples out of obstacles, leaves them
alone in free space, before its start time and at scale 0, and refuses to run without a field."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax.local_model.esdf_guidance import EsdfGuidance, clearance_cost, guided_velocity
from astra_jax.local_model.flow_matching import sample
from astra_jax.local_model.planning_head import PlanningHeadConfig

CFG = PlanningHeadConfig(
    num_waypoints=4,
    bev_shape=(4, 4, 4),
    bev_resolution=0.5,
    token_patch=2,
    width=32,
    encoder_depth=1,
    decoder_depth=1,
    num_heads=2,
    mlp_ratio=2,
)
GRID = 60  # cells of 0.1 m: a 6 m x 6 m ego crop
CENTRE = np.array([0.8, 0.0])  # a round obstacle straight ahead (metres, ego frame)
RADIUS = 0.3


def _disc_esdf(batch: int = 1) -> jax.Array:
    """(batch, GRID, GRID) signed distance (m) to the disc, at cell centres (local_crop layout)."""
    c = (np.arange(GRID) + 0.5) * 0.1 - GRID * 0.05
    xx, yy = np.meshgrid(c, c, indexing="ij")
    phi = np.hypot(xx - CENTRE[0], yy - CENTRE[1]) - RADIUS
    return jnp.asarray(np.broadcast_to(phi, (batch, GRID, GRID)), jnp.float32)


def _straight(lateral: float) -> jax.Array:
    """Normalised actions (1, 1, n, 3): 0.4 m steps forward, starting ``lateral`` m to the side."""
    deltas = np.zeros((1, 1, CFG.num_waypoints, 3), np.float32)
    deltas[..., 0] = 0.4
    deltas[0, 0, 0, 1] = lateral
    return CFG.normalize_action(jnp.asarray(deltas))


def test_clearance_cost_counts_the_deficit_on_the_path() -> None:
    guide = EsdfGuidance(safe_distance=0.4, subdivisions=4)
    esdf = _disc_esdf()
    through = clearance_cost(CFG.denormalize_action(_straight(0.0)), esdf, guide)
    beside = clearance_cost(CFG.denormalize_action(_straight(1.5)), esdf, guide)
    assert through.shape == (1, 1)
    # straight through the disc: points up to 0.3 m inside it, deficits up to 0.7 m
    assert float(through[0, 0]) > 3.0
    # 1.5 m to the side the path clears the disc by 1.2 m: no deficit at all
    assert float(beside[0, 0]) == 0.0


def test_guidance_pushes_a_path_out_of_the_obstacle() -> None:
    """A path grazing the disc's left side (y = +0.1 m) is bent further left by one guided
    velocity, and the one-step estimate's cost falls."""
    guide = EsdfGuidance(scale=0.05, start=0.0)
    esdf = _disc_esdf()
    x, t = _straight(0.1), jnp.float32(0.5)
    v = jnp.zeros_like(x)  # a field that would leave x as it is
    v_guided = guided_velocity(v, x, t, esdf, CFG.denormalize_action, guide)
    moved = CFG.denormalize_action(x + (1 - t) * v_guided)
    before = clearance_cost(CFG.denormalize_action(x), esdf, guide)
    after = clearance_cost(moved, esdf, guide)
    assert float(after[0, 0]) < 0.95 * float(before[0, 0]), (before, after)
    # the lateral components move left (+y), away from the disc's centre at y = 0
    dy = np.asarray(moved - CFG.denormalize_action(x))[0, 0, :, 1]
    assert dy[0] > 0 and dy.sum() > 0, dy


def test_guidance_is_the_identity_where_it_should_be() -> None:
    esdf = _disc_esdf()
    x, v = _straight(0.0), jnp.full_like(_straight(0.0), 0.3)
    free = jnp.full_like(esdf, 5.0)  # every point 5 m from any obstacle
    on = EsdfGuidance(scale=1.0, start=0.5)
    np.testing.assert_array_equal(guided_velocity(v, x, 0.7, free, CFG.denormalize_action, on), v)
    np.testing.assert_array_equal(guided_velocity(v, x, 0.4, esdf, CFG.denormalize_action, on), v)
    off = EsdfGuidance(scale=0.0)
    np.testing.assert_array_equal(guided_velocity(v, x, 0.7, esdf, CFG.denormalize_action, off), v)
    assert (
        np.abs(np.asarray(guided_velocity(v, x, 0.7, esdf, CFG.denormalize_action, on) - v)).max()
        > 0
    )


@pytest.fixture(scope="module")
def head_and_params():
    head, boxed = CFG.create(jax.random.key(0))
    return head, nn.unbox(boxed)


def _samples(head_and_params, guidance: EsdfGuidance | None, esdf: jax.Array | None) -> jax.Array:
    head, params = head_and_params
    batch = 2
    bev, vel = jnp.zeros((batch, *CFG.bev_shape)), jnp.zeros((batch, 2))
    subgoal = jnp.tile(jnp.asarray([[3.0, 0.0]]), (batch, 1))
    return sample(
        head, params, bev, subgoal, vel, jax.random.key(3), 256, esdf=esdf, guidance=guidance
    )


def test_guided_sampling_clears_obstacles(head_and_params) -> None:
    """The untrained head's field is 0 (its samples are N(0, I) noise, many through the disc);
    guided with the same draws, the samples' clearance cost and collisions fall."""
    esdf = _disc_esdf(2)
    plain = _samples(head_and_params, None, None)
    guide = EsdfGuidance(scale=0.5, start=0.5)
    guided = _samples(head_and_params, guide, esdf)
    assert guided.shape == plain.shape == (2, 256, CFG.num_waypoints, 3)
    cost_plain = np.asarray(clearance_cost(plain, esdf, guide))
    cost_guided = np.asarray(clearance_cost(guided, esdf, guide))
    hits_plain, hits_guided = np.mean(cost_plain > 0.4), np.mean(cost_guided > 0.4)
    assert hits_plain > 0.1, hits_plain  # the test is not trivially clear
    assert cost_guided.mean() < 0.5 * cost_plain.mean(), (cost_plain.mean(), cost_guided.mean())
    assert hits_guided < 0.5 * hits_plain, (hits_plain, hits_guided)
    # samples already clear stay (nearly) where they were: guidance only bends what it must
    clear = cost_plain == 0.0
    assert np.abs(np.asarray(guided - plain))[clear].max() < 1e-6
    # scale 0 is exactly the unguided sampler
    zero = _samples(head_and_params, EsdfGuidance(scale=0.0), esdf)
    np.testing.assert_array_equal(np.asarray(zero), np.asarray(plain))


def test_guidance_needs_a_field_per_condition(head_and_params) -> None:
    with pytest.raises(ValueError, match="guidance needs esdf"):
        _samples(head_and_params, EsdfGuidance(), None)
    with pytest.raises(ValueError, match="guidance needs esdf"):
        _samples(head_and_params, EsdfGuidance(), _disc_esdf(3))
    with pytest.raises(ValueError, match="start"):
        EsdfGuidance(start=1.5)
    with pytest.raises(ValueError, match="scale"):
        EsdfGuidance(scale=-1.0)
