"""Volume rendering: analytic SDFs render the right depth, the compositing weights are a
sub-probability, and the planned fast path equals the plain reference (values and gradients)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astra_jax import geometry
from astra_jax.config import CameraConfig, VoxelGridConfig, get_preset
from astra_jax.kernels.ray_render import (
    RigRays,
    composite_weights,
    make_plan,
    plan_rays,
    render_planned,
    render_reference,
    rig_rays,
    sample_depths,
    sdf_to_density,
)

# 6.4 x 3.2 x 2 m at 5 cm: fine enough for an analytic surface to within a centimetre
FINE = VoxelGridConfig(128, 64, 40, 0.05, 0.0, 2.0)
FRONT = CameraConfig("front", 0.2, 0.0, 1.0, 0.0, 0.0, math.radians(90.0))


def _cell_centres(grid: VoxelGridConfig) -> np.ndarray:
    ex, ey = grid.extent_xy
    x = -0.5 * ex + (np.arange(grid.nx) + 0.5) * grid.xy_resolution
    y = -0.5 * ey + (np.arange(grid.ny) + 0.5) * grid.xy_resolution
    z = grid.z_min + (np.arange(grid.nz) + 0.5) * grid.z_resolution
    return np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1)  # (X, Y, Z, 3)


def _render(sdf: np.ndarray, rays: RigRays, z: np.ndarray, beta: float, grid=FINE):
    colour = jnp.zeros((*sdf.shape, 3), jnp.float32)
    out = render_reference(
        jnp.asarray(sdf, jnp.float32), colour, jnp.float32(beta),
        jnp.asarray(rays.origins, jnp.float32), jnp.asarray(rays.directions, jnp.float32),
        jnp.asarray(z, jnp.float32), grid,
    )  # fmt: skip
    return [np.asarray(a) for a in out]


def test_plane_renders_its_distance():
    # A wall facing the camera at x = 2.5: every ray of a level front camera meets it at
    # z-depth 2.3 (camera z is ego x), whatever its pixel.
    sdf = 2.5 - _cell_centres(FINE)[..., 0]
    rays = rig_rays((FRONT,), (16, 16), 2)
    depth, _, opacity = _render(sdf, rays, sample_depths(0.3, 3.2, 581), beta=0.01)
    wall = rays.origins + 2.3 * rays.directions  # where each ray meets the wall
    hits = (np.abs(wall[:, 1]) < 1.5) & (np.abs(wall[:, 2] - 1.0) < 0.9)  # inside the box
    assert 10 < hits.sum() < len(rays)
    np.testing.assert_allclose(depth[hits], 2.3, atol=0.01)
    np.testing.assert_array_less(0.999, opacity[hits])


def test_sphere_renders_the_ray_intersection():
    centre, radius = np.array([2.5, 0.0, 1.0]), 0.7
    sdf = np.linalg.norm(_cell_centres(FINE) - centre, axis=-1) - radius
    rays = rig_rays((FRONT,), (24, 24), 1)
    depth, _, opacity = _render(sdf, rays, sample_depths(0.3, 3.2, 581), beta=0.01)
    # |o + z d - c|^2 = r^2, nearest root
    oc = rays.origins - centre
    a = np.sum(rays.directions**2, -1)
    b = 2 * np.sum(rays.directions * oc, -1)
    c = np.sum(oc**2, -1) - radius**2
    disc = b**2 - 4 * a * c
    hit = disc > 0.05  # clear hits, not grazing ones
    z_hit = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    assert hit.sum() > 30 and (~hit).sum() > 30
    np.testing.assert_allclose(depth[hit], z_hit[hit], atol=0.02)
    np.testing.assert_array_less(0.99, opacity[hit])
    # rays that miss see only the empty rest of the box: nearly transparent
    np.testing.assert_array_less(opacity[disc < -0.5], 0.01)


def test_density_is_volsdf_laplace_cdf():
    beta = 0.1
    s = jnp.asarray([-10.0, -1e-6, 0.0, 1e-6, 0.05, 10.0])
    sigma = np.asarray(sdf_to_density(s, beta))
    assert sigma[0] == pytest.approx(1 / beta)  # deep inside: 1 / beta
    assert sigma[2] == pytest.approx(0.5 / beta)  # on the surface: half
    assert sigma[1] == pytest.approx(sigma[3], rel=1e-4)  # continuous at 0
    assert sigma[4] == pytest.approx(0.5 * math.exp(-0.5) / beta)
    assert sigma[5] < 1e-30
    assert np.all(np.diff(sigma) <= 0)  # falls with the distance


def test_weights_are_transmittance_times_alpha_and_sum_to_at_most_one():
    rng = np.random.default_rng(0)
    sdf = jnp.asarray(rng.normal(0, 2, (64, 100)), jnp.float32)
    step = jnp.asarray(rng.uniform(0, 0.3, (64, 100)), jnp.float32)
    for beta in (1e-3, 0.05, 1.0):
        density = sdf_to_density(sdf, beta)
        w = np.asarray(composite_weights(density, step))
        alpha = 1 - np.exp(-np.asarray(density * step, np.float64))
        trans = np.cumprod(np.concatenate([np.ones((64, 1)), 1 - alpha[:, :-1]], 1), 1)
        np.testing.assert_allclose(w, trans * alpha, atol=1e-6)
        assert w.min() >= 0 and w.sum(-1).max() <= 1 + 1e-6


def _random_volumes(grid: VoxelGridConfig, seed: int):
    rng = np.random.default_rng(seed)
    shape = (grid.nx, grid.ny, grid.nz)
    sdf = jnp.asarray(rng.normal(0.5, 1.0, shape), jnp.float32)
    colour = jnp.asarray(rng.uniform(size=(*shape, 3)), jnp.float32)
    return sdf, colour


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_planned_equals_reference_values_and_gradients(preset):
    cfg = get_preset(preset)
    grid, bins = cfg.local.voxel, cfg.local.depth_bins
    plan = plan_rays(cfg.rig.cameras, cfg.rig.image_hw, 4, bins.d_min, bins.d_max, 48, grid)
    assert plan.kept_samples < 0.5 * plan.num_rays * plan.num_samples  # padding mostly gone
    o = jnp.asarray(plan.rays.origins, jnp.float32)
    d = jnp.asarray(plan.rays.directions, jnp.float32)
    z = jnp.asarray(sample_depths(bins.d_min, bins.d_max, 48), jnp.float32)
    target = jax.random.uniform(jax.random.key(1), (plan.num_rays, 5))

    def loss(render):
        def f(sdf, colour, beta):
            depth, rgb, opacity = render(sdf, colour, beta)
            out = jnp.concatenate([depth[:, None], rgb, opacity[:, None]], -1)
            return jnp.sum(jnp.abs(out - target)), out

        return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True))

    sdf, colour = _random_volumes(grid, 0)
    beta = jnp.float32(0.3)
    (_, fast), g_fast = loss(lambda s, c, b: render_planned(s, c, b, plan))(sdf, colour, beta)
    (_, ref), g_ref = loss(lambda s, c, b: render_reference(s, c, b, o, d, z, grid))(
        sdf, colour, beta
    )
    np.testing.assert_allclose(fast, ref, atol=2e-5)
    assert np.asarray(ref[:, 4]).max() > 0.5  # the volumes are seen
    for a, b in zip(g_fast, g_ref):
        np.testing.assert_allclose(a, b, atol=2e-4, rtol=1e-4)


def test_plan_drops_out_of_grid_samples_and_keeps_ray_order():
    grid = VoxelGridConfig(8, 8, 2, 0.5, 0.0, 2.0)  # 4 x 4 x 2 m
    origins = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 5.0]])
    directions = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    rays = RigRays(origins, directions, np.arange(3))
    z = sample_depths(0.25, 4.0, 16)  # 0.25 m apart: 8 in the box along x or y, none above
    plan = make_plan(rays, z, grid, num_buckets=2)
    # rays 0 and 1 keep their 7 samples with x or y < 2 m; ray 2 passes above the box
    assert sum(int((b.step > 0).sum()) for b in plan.buckets) == 14
    sdf, colour = _random_volumes(grid, 3)
    depth, _, opacity = (np.asarray(a) for a in render_planned(sdf, colour, 0.2, plan))
    ref = render_reference(sdf, colour, 0.2, jnp.asarray(origins, jnp.float32),
                           jnp.asarray(directions, jnp.float32), jnp.asarray(z, jnp.float32),
                           grid)  # fmt: skip
    np.testing.assert_allclose(depth, ref[0], atol=1e-5)
    assert opacity[2] == 0 and depth[2] == 0


def test_rig_rays_unit_camera_z_and_pixels():
    cam = CameraConfig("left", 0.1, 0.2, 1.0, math.pi / 2, math.radians(10.0))
    rays = rig_rays((FRONT, cam), (8, 12), 4)
    assert len(rays) == 2 * 2 * 3
    t = geometry.rig_extrinsics((FRONT, cam))
    # camera-frame z of every direction is 1
    d_cam = np.einsum("nij,nj->ni", np.repeat(t[:, :3, :3], 6, 0).transpose(0, 2, 1),
                      rays.directions)  # fmt: skip
    np.testing.assert_allclose(d_cam[:, 2], 1.0, atol=1e-12)
    assert list(rays.pixels[:3]) == [2 * 12 + 2, 2 * 12 + 6, 2 * 12 + 10]
    assert rays.pixels[6] == 8 * 12 + 2 * 12 + 2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_samples"):
        sample_depths(0.3, 8.0, 1)
    with pytest.raises(ValueError, match="stride"):
        rig_rays((FRONT,), (8, 8), 0)
    cfg = get_preset("tiny")
    grid, bins = cfg.local.voxel, cfg.local.depth_bins
    plan = plan_rays(cfg.rig.cameras, cfg.rig.image_hw, 4, bins.d_min, bins.d_max, 16, grid)
    with pytest.raises(ValueError, match="render_planned: sdf"):
        render_planned(jnp.zeros((3, 3, 3)), jnp.zeros((3, 3, 3, 3)), 0.1, plan)
