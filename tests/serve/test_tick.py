"""The streaming tick equals the batch models: encoder, planner and odometry head (tiny)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tick_fixtures import episode_inputs, random_params

from astra_jax.config import ConfigError
from astra_jax.local_model.esdf_guidance import EsdfGuidance
from astra_jax.local_model.flow_matching import sample
from astra_jax.local_model.odometry_head import OdometryHead
from astra_jax.local_model.planning_head import PlanningHead
from astra_jax.local_model.trajectory import rollout
from astra_jax.serve.tick import LocalTick, TickConfig

TICKS = 6  # > the tiny encoder's 2 past frames and the odometry head's window of 3


@pytest.fixture(scope="module")
def fused():
    cfg = TickConfig.for_preset("tiny", heads_read="fused", num_samples=3)
    return cfg, LocalTick(cfg), random_params(cfg)


def test_streaming_encoder_equals_batch_encoder(fused) -> None:
    cfg, tick, params = fused
    enc = cfg.encoder
    encoder = enc.module()
    enc_params = {"lift": params["lift"], "fusion": params["fusion"]}
    episode = episode_inputs(cfg, TICKS)
    encode, batch_encoder = jax.jit(tick.encode), jax.jit(encoder.apply)
    state = cfg.init_state(2)
    past = enc.local.past_frames
    for k, x in enumerate(episode):
        bev, _, enc_state = encode(params, state, x["images"], x["pose"])
        state = {**state, **enc_state, "ticks": state["ticks"] + 1}
        # the batch encoder on the same history; before the robot has one, the first frame
        idx = [max(0, j) for j in range(k - past, k + 1)]
        images = np.stack([episode[j]["images"] for j in idx], axis=1)
        poses = np.stack([episode[j]["pose"] for j in idx], axis=1)
        want = batch_encoder({"params": enc_params}, images, poses).features
        np.testing.assert_allclose(bev, np.asarray(want).reshape(bev.shape), atol=1e-5)
    # the history matters: a tick that forgot it would differ from the batch encoder
    restart = {**state, "ticks": jnp.zeros_like(state["ticks"])}
    forgot = encode(params, restart, episode[-1]["images"], episode[-1]["pose"])[0]
    assert float(jnp.max(jnp.abs(forgot - bev))) > 1e-3


def test_tick_planner_equals_flow_matching_sample(fused) -> None:
    cfg, tick, params = fused
    x = episode_inputs(cfg, 1)[0]
    bev = jnp.asarray(np.random.default_rng(1).normal(size=(2, *cfg.planning.bev_shape)),
                      jnp.float32)  # fmt: skip
    key = jax.random.key(7)
    got = jax.jit(tick.plan)(params["planning"], bev, x["subgoal"], x["velocity"],
                             jax.random.key_data(key))  # fmt: skip
    deltas = sample(PlanningHead(cfg.planning), params["planning"], bev, x["subgoal"],
                    x["velocity"], key, num_samples=cfg.num_samples)  # fmt: skip
    assert got.shape == (2, cfg.num_samples, cfg.planning.num_waypoints, 3)
    np.testing.assert_allclose(got, rollout(deltas), atol=1e-5)


def test_guided_tick_planner_equals_guided_sample(fused) -> None:
    """With ``guidance`` the tick takes the run-time ESDF and plans as the guided sampler does;
    the field changes the plans (an unguided tick on the same noise differs)."""
    cfg, _, params = fused
    guide = EsdfGuidance(scale=1.0, start=0.5)
    guided_cfg = dataclasses.replace(cfg, guidance=guide, esdf_shape=(48, 40))
    spec = guided_cfg.inputs_spec(2)
    assert spec["esdf"].shape == (2, 48, 40) and "esdf" not in cfg.inputs_spec(2)
    x = episode_inputs(guided_cfg, 1)[0]
    rng = np.random.default_rng(2)
    bev = jnp.asarray(rng.normal(size=(2, *cfg.planning.bev_shape)), jnp.float32)
    esdf = jnp.asarray(rng.uniform(-0.3, 1.0, (2, 48, 40)), jnp.float32)
    key = jax.random.key(7)
    plan = jax.jit(LocalTick(guided_cfg).plan)
    got = plan(params["planning"], bev, x["subgoal"], x["velocity"], jax.random.key_data(key),
               esdf)  # fmt: skip
    deltas = sample(PlanningHead(cfg.planning), params["planning"], bev, x["subgoal"],
                    x["velocity"], key, num_samples=cfg.num_samples, esdf=esdf,
                    guidance=guide)  # fmt: skip
    np.testing.assert_allclose(got, rollout(deltas), atol=1e-5)
    plain = jax.jit(LocalTick(cfg).plan)(params["planning"], bev, x["subgoal"], x["velocity"],
                                         jax.random.key_data(key))  # fmt: skip
    assert float(jnp.max(jnp.abs(got - plain))) > 1e-3
    with pytest.raises(ConfigError, match="esdf_shape"):
        dataclasses.replace(cfg, esdf_shape=(96,))


@pytest.mark.parametrize("heads_read", ["frame", "fused"])
def test_streaming_odometry_equals_the_head_on_its_window(heads_read: str, fused) -> None:
    cfg = TickConfig.for_preset("tiny", heads_read=heads_read, num_samples=2)
    tick = LocalTick(cfg)
    params = {k: v for k, v in fused[2].items() if k in cfg.param_groups}
    w = cfg.odometry.window
    episode = episode_inputs(cfg, TICKS)
    step, encode = jax.jit(tick.step), jax.jit(tick.encode)
    state = cfg.init_state(2)
    frames, outputs = [], []
    for x in episode:
        _, folded, _ = encode(params, state, x["images"], x["pose"])
        frames.append(np.asarray(folded))
        state, out = step(params, state, x)
        outputs.append(out)
    head = jax.jit(OdometryHead(cfg.odometry).apply)
    assert not outputs[0]["odometry_valid"].any() and outputs[1]["odometry_valid"].all()
    for k in range(1, TICKS):
        steps = range(k - w + 1, k + 1)  # step j is the pair (frame j-1, frame j)
        bev = np.stack([frames[max(j, 0)] for j in range(k - w, k + 1)], axis=1)
        imu = np.stack([episode[max(j, 0)]["imu"] for j in steps], axis=1)
        wheel = np.stack([episode[max(j, 0)]["wheel"] for j in steps], axis=1)
        valid = np.broadcast_to(np.array([j >= 1 for j in steps]), (2, w))
        want = head({"params": params["odometry"]}, bev, imu, wheel, valid)
        np.testing.assert_allclose(outputs[k]["odometry"], want.pose, atol=1e-5)
        np.testing.assert_allclose(outputs[k]["odometry_log_scale"], want.log_scale, atol=1e-5)
    # the cached tokens matter: the same last tick from a fresh window differs
    fresh = {**state, "valid": jnp.zeros_like(state["valid"])}
    fresh["valid"] = fresh["valid"].at[:, -2].set(True)
    _, alone = step(params, fresh, episode[-1])
    moved = (alone["odometry"] - outputs[-1]["odometry"]) / jnp.asarray(cfg.odometry.output_scale)
    assert float(jnp.max(jnp.abs(moved))) > 1e-4  # in output units: the correction's mm scale


def test_tick_config_validation() -> None:
    with pytest.raises(ConfigError, match="heads_read"):
        TickConfig.for_preset("tiny", heads_read="both")
    with pytest.raises(ConfigError, match="num_samples"):
        TickConfig.for_preset("tiny", num_samples=0)
    small = TickConfig.for_preset("small")
    with pytest.raises(ConfigError, match="bev_shape"):
        TickConfig(small.encoder, TickConfig.for_preset("tiny").planning, small.odometry)
