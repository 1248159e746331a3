"""The splat dispatcher survives jax.export for cpu, cuda and tpu, one at a time and together.

jax issue 28594: a ``pallas_call`` inside ``lax.platform_dependent`` is lowered for every
platform of a multi-platform export and fails on cpu. The dispatcher's primitive lowers each
kernel for its own platform only; these tests pin that down, and check that the exported
artifact runs here (on the CPU) and matches the reference.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

from astra_jax.kernels.bev_splat import (
    EXPORT_DISABLED_CHECKS,
    bev_splat,
    bev_splat_reference,
    make_plan,
)

CUSTOM_CALLS = {"cpu": set(), "cuda": {"__gpu$xla.gpu.triton"}, "tpu": {"tpu_custom_call"}}


@pytest.fixture(scope="module")
def plan():
    rng = np.random.default_rng(0)
    index = np.where(rng.random((3, 4, 2, 3)) < 0.3, -1, rng.integers(0, 48, (3, 4, 2, 3)))
    return make_plan(index, (4, 4, 3))


def _specs(plan, batch=2, channels=8):
    n, d, h, w = plan.voxel_index.shape
    return (
        jax.ShapeDtypeStruct((batch, n, d, h, w), jnp.float32),
        jax.ShapeDtypeStruct((batch, n, h, w, channels), jnp.float32),
    )


def _custom_calls(exported: export.Exported) -> set[str]:
    return set(re.findall(r"custom_call @([\w$.]+)", exported.mlir_module()))


@pytest.mark.parametrize(
    "platforms", [("cpu",), ("cuda",), ("tpu",), ("cpu", "cuda", "tpu")], ids="+".join
)
def test_export_forward_and_grad(plan, platforms) -> None:
    def loss(depth_prob, feat):
        return jnp.sum(jnp.sin(bev_splat(depth_prob, feat, plan)))

    for fn in (lambda a, b: bev_splat(a, b, plan), jax.grad(loss, argnums=(0, 1))):
        exported = export.export(
            jax.jit(fn), platforms=platforms, disabled_checks=EXPORT_DISABLED_CHECKS
        )(*_specs(plan))
        assert exported.platforms == platforms
        want = set().union(*(CUSTOM_CALLS[p] for p in platforms))
        assert _custom_calls(exported) == want


def test_pallas_in_platform_dependent_breaks_multiplatform_export(plan) -> None:
    """Why the dispatcher is a primitive (jax issue 28594). If this starts passing, jax has
    fixed the issue and lax.platform_dependent would do."""
    from astra_jax.kernels.bev_splat.interval import splat_interval_forward
    from astra_jax.kernels.bev_splat.pallas_gpu import splat_pallas_gpu_forward

    def fn(a, b):
        return jax.lax.platform_dependent(
            a, b,
            cpu=lambda x, y: splat_interval_forward(x, y, plan),
            cuda=lambda x, y: splat_pallas_gpu_forward(x, y, plan),
        )  # fmt: skip

    with pytest.raises(ValueError, match="Only interpret mode is supported on CPU"):
        export.export(
            jax.jit(fn), platforms=("cpu", "cuda"), disabled_checks=EXPORT_DISABLED_CHECKS
        )(*_specs(plan))


def test_exported_multiplatform_runs_on_cpu(plan) -> None:
    exported = export.export(
        jax.jit(lambda a, b: bev_splat(a, b, plan)),
        platforms=("cpu", "cuda", "tpu"),
        disabled_checks=EXPORT_DISABLED_CHECKS,
    )(*_specs(plan))
    # What a robot loads: the serialized artifact, deserialized (no Python model code).
    exported = export.deserialize(exported.serialize())
    assert exported.platforms == ("cpu", "cuda", "tpu")
    rng = np.random.default_rng(1)
    dp_spec, feat_spec = _specs(plan)
    depth_prob = jnp.asarray(rng.random(dp_spec.shape, np.float32))
    feat = jnp.asarray(rng.standard_normal(feat_spec.shape).astype(np.float32))
    np.testing.assert_allclose(
        np.asarray(exported.call(depth_prob, feat)),
        np.asarray(bev_splat_reference(depth_prob, feat, plan)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_triton_export_needs_the_disabled_check(plan) -> None:
    """The Triton custom call has no compatibility guarantee; export must be told."""
    with pytest.raises(ValueError, match="custom calls whose targets have no compatibility"):
        export.export(jax.jit(lambda a, b: bev_splat(a, b, plan)), platforms=("cuda",))(
            *_specs(plan)
        )
