"""Occupancy fine-tuning: the loss and its IoUs, starting from a pre-trained encoder, and the
windows' labels."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from encoder_data import small_task

from astra_jax.local_model.occupancy_head import OBSTACLE, STRUCTURE, occupancy_loss
from astra_jax.tasks.occupancy import OccupancyTask


def test_loss_rewards_the_right_occupancy():
    rng = np.random.default_rng(0)
    labels = jnp.asarray(rng.choice([0, STRUCTURE, OBSTACLE], (2, 8, 8, 2), p=[0.6, 0.2, 0.2]))
    valid = jnp.ones((2, 8, 8), bool).at[:, 0].set(False)
    right = jnp.where(labels != 0, 8.0, -8.0)
    loss, m = occupancy_loss(right, labels, valid, 2.0)
    assert float(loss) < 1e-3 and float(m["total_iou"]) == 1 and float(m["obstacle_iou"]) == 1
    wrong_loss, w = occupancy_loss(-right, labels, valid, 2.0)
    assert float(wrong_loss) > 5 and float(w["total_iou"]) == 0
    # predicting walls as occupied costs no obstacle IoU; missing obstacles does
    walls_only = jnp.where(labels == STRUCTURE, 8.0, -8.0)
    _, m2 = occupancy_loss(walls_only, labels, valid, 2.0)
    assert float(m2["obstacle_iou"]) == 0 and 0 < float(m2["total_iou"]) < 1
    # invalid columns do not count
    garbage = right.at[:, 0].set(-right[:, 0])
    assert float(occupancy_loss(garbage, labels, valid, 2.0)[0]) == pytest.approx(float(loss))


@pytest.fixture
def task(encoder_data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    return small_task("occupancy-tiny", encoder_data_env, monkeypatch)


def test_windows_carry_labels_and_a_start_encoder_is_used(task) -> None:
    example = task.dataset("val", 0, 0, 1)[0]
    spec = task.batch_spec(1)
    assert set(example) == set(spec)
    for key, value in example.items():
        assert value.shape == spec[key].shape[1:] and value.dtype == spec[key].dtype, key
    assert 0 < np.mean(example["occupancy"] > 0) < 1 and example["occupancy_valid"].mean() > 0.3
    # a pre-trained encoder (here: another random one) replaces the fresh encoder's values
    start = nn.unbox(task.config.encoder.create(jax.random.key(7))[1])
    started = OccupancyTask(task.config, start).init(jax.random.key(0))
    for a, b in zip(jax.tree.leaves(nn.unbox(started["encoder"])), jax.tree.leaves(start)):
        np.testing.assert_array_equal(a, b)
    assert isinstance(jax.tree.leaves(started["encoder"], is_leaf=lambda x: isinstance(
        x, nn.LogicallyPartitioned))[0], nn.LogicallyPartitioned)  # fmt: skip
    fresh = task.init(jax.random.key(0))
    assert not all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(nn.unbox(fresh["encoder"])), jax.tree.leaves(start)))  # fmt: skip
