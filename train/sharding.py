"""The device mesh and every rule that maps arrays onto it. All sharding decisions live here.

Mesh axes, outermost first:

* ``data``: pure data parallelism. Parameters are replicated across it.
* ``fsdp``: data parallelism whose members also split the large parameters (and their
  optimizer state) between them, ZeRO-3 style. XLA inserts the all-gathers.
* ``tensor``: tensor (model) parallelism along the ``mlp`` / ``heads`` / ``vocab`` dims.

Models name the dimensions of their parameters with logical axis names
(``nn.with_logical_partitioning``) taken from :data:`astra_jax.nn.axes.LOGICAL_AXES`;
:data:`~astra_jax.nn.axes.LOGICAL_AXIS_RULES` maps them to mesh axes. FSDP is then applied per parameter by size: a parameter with at least
``fsdp_min_size`` elements has its largest dimension that is still unsharded and divisible by
the ``fsdp`` axis size split over ``fsdp``. Small parameters (biases, norm scales) stay
replicated: gathering them would cost more than it saves.

The batch's leading dimension is split over ``(data, fsdp)``: every device of the mesh that is
not a tensor-parallel peer sees different examples.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from astra_jax.config import ConfigError

# The vocabulary and its rules live in nn/ with the models that name their axes; re-exported.
from astra_jax.nn.axes import BATCH_AXES, LOGICAL_AXES, LOGICAL_AXIS_RULES, MESH_AXES  # noqa: F401


@dataclasses.dataclass(frozen=True)
class MeshSpec:
    """Sizes of the mesh axes. ``-1`` (at most one axis) takes all remaining devices."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1

    def __post_init__(self) -> None:
        sizes = self.sizes()
        for name, size in sizes.items():
            if not isinstance(size, int) or isinstance(size, bool) or (size < 1 and size != -1):
                raise ConfigError(f"MeshSpec.{name} = {size!r}: expected a positive int or -1")
        if list(sizes.values()).count(-1) > 1:
            raise ConfigError(f"MeshSpec {self.text()}: expected at most one axis of size -1")

    def sizes(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in MESH_AXES}

    def text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.sizes().items())

    @classmethod
    def parse(cls, text: str) -> MeshSpec:
        """Parse ``"data=2,fsdp=4"``. Axes left out: fsdp=1, tensor=1, and data takes the
        remaining devices (-1) unless another axis already does."""
        if not text.strip():
            return cls()
        sizes: dict[str, int] = {}
        for part in text.split(","):
            name, sep, value = part.strip().partition("=")
            if not sep or name not in MESH_AXES or name in sizes:
                raise ConfigError(
                    f"mesh {text!r}: expected comma-separated AXIS=SIZE with distinct axes "
                    f"from {', '.join(MESH_AXES)}, e.g. 'data=2,fsdp=4'"
                )
            try:
                sizes[name] = int(value)
            except ValueError:
                raise ConfigError(
                    f"mesh {text!r}: size of axis {name!r} is {value!r}, expected an integer"
                ) from None
        if "data" not in sizes:
            sizes["data"] = 1 if -1 in sizes.values() else -1
        return cls(**sizes)

    def resolve(self, num_devices: int) -> dict[str, int]:
        """Concrete sizes for ``num_devices`` devices (fills the ``-1`` axis)."""
        sizes = self.sizes()
        fixed = math.prod(v for v in sizes.values() if v != -1)
        for name, v in sizes.items():
            if v == -1:
                if num_devices % fixed:
                    raise ConfigError(
                        f"mesh {self.text()}: {num_devices} devices are not divisible by the "
                        f"fixed axes' product {fixed}"
                    )
                sizes[name] = num_devices // fixed
        return sizes


def make_mesh(spec: MeshSpec, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh over ``devices`` (default: all devices of all processes).

    With several processes the mesh must cover every device. On one process a smaller mesh
    uses the first devices, which lets tests compare a 1-device and an 8-device run in one
    process.
    """
    devices = list(jax.devices() if devices is None else devices)
    sizes = spec.resolve(len(devices))
    total = math.prod(sizes.values())
    if total > len(devices) or (total < len(devices) and jax.process_count() > 1):
        raise ConfigError(
            f"mesh {spec.text()} needs {total} devices; this job has {len(devices)} "
            f"({jax.process_count()} process(es))"
        )
    shape = tuple(sizes[a] for a in MESH_AXES)
    if total == len(devices):
        return jax.make_mesh(
            shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES), devices=devices
        )
    grid = np.asarray(devices[:total], dtype=object).reshape(shape)
    return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def batch_size_per_shard(mesh: Mesh, global_batch_size: int) -> int:
    """Examples per batch shard; raises unless the batch divides over ``(data, fsdp)``."""
    shards = math.prod(mesh.shape[a] for a in BATCH_AXES)
    if global_batch_size % shards or global_batch_size % jax.process_count():
        raise ConfigError(
            f"batch_size = {global_batch_size}: expected a multiple of the data x fsdp mesh "
            f"size {shards} and of the process count {jax.process_count()}"
        )
    return global_batch_size // shards


def batch_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
    """Leading (batch) dim over ``(data, fsdp)``; the other ``ndim - 1`` dims replicated."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def _with_fsdp(spec: list[Any], shape: tuple[int, ...], fsdp_size: int) -> list[Any]:
    """Add ``fsdp`` to the largest still-unsharded dim that ``fsdp_size`` divides, if any."""
    free = [i for i, s in enumerate(spec) if s is None and shape[i] % fsdp_size == 0]
    if not free:
        return spec
    best = max(free, key=lambda i: (shape[i], -i))
    return [*spec[:best], "fsdp", *spec[best + 1 :]]


def partition_spec(
    logical_names: Sequence[str | None] | None,
    shape: tuple[int, ...],
    mesh: Mesh,
    fsdp_min_size: int,
    rules: Sequence[tuple[str, Any]] = LOGICAL_AXIS_RULES,
) -> PartitionSpec:
    """The mesh ``PartitionSpec`` of one parameter (or optimizer-state leaf)."""
    if logical_names is None:
        spec: list[Any] = [None] * len(shape)
    else:
        if len(logical_names) != len(shape):
            raise ValueError(
                f"logical axis names {tuple(logical_names)} do not match the shape {shape}"
            )
        spec = list(nn.logical_to_mesh_axes(_first_use_only(logical_names, rules), list(rules)))
    # A mesh axis of size 1 does not split anything; dropping it keeps the specs readable.
    spec = [s if s is None or _axes_size(mesh, s) > 1 else None for s in spec]
    for i, s in enumerate(spec):
        if s is not None and shape[i] % _axes_size(mesh, s):
            raise ConfigError(
                f"dimension {i} ({logical_names[i] if logical_names else None!r}) of size "
                f"{shape[i]} does not divide over mesh axes {s} of size {_axes_size(mesh, s)}"
            )
    fsdp_size = mesh.shape["fsdp"]
    if fsdp_size > 1 and math.prod(shape) >= fsdp_min_size:
        spec = _with_fsdp(spec, shape, fsdp_size)
    return PartitionSpec(*spec)


def _first_use_only(
    names: Sequence[str | None], rules: Sequence[tuple[str, Any]]
) -> tuple[str | None, ...]:
    """Repeat a logical name only where it is replicated: flax refuses repeated names, so
    later uses become ``None``; a repeated name that a rule maps to a mesh axis is an error
    (one mesh axis can split only one dimension). Our models name every dimension of a
    parameter differently (``nn/axes.py``); this guards other models."""
    sharded = {name for name, axes in rules if axes is not None}
    out: list[str | None] = []
    for name in names:
        if name is not None and name in out:
            if name in sharded:
                raise ConfigError(
                    f"logical axis {name!r} names two dimensions of {tuple(names)} and is "
                    "split over a mesh axis: a mesh axis can split only one of them"
                )
            name = None
        out.append(name)
    return tuple(out)


def _axes_size(mesh: Mesh, axes: str | tuple[str, ...]) -> int:
    names = (axes,) if isinstance(axes, str) else axes
    return math.prod(mesh.shape[a] for a in names)


def _is_box(x: Any) -> bool:
    return isinstance(x, nn.LogicallyPartitioned)


def tree_shardings(abstract_tree: Any, mesh: Mesh, fsdp_min_size: int) -> Any:
    """``NamedSharding``s for a (possibly boxed) abstract pytree, with the boxes removed.

    ``abstract_tree`` comes from ``jax.eval_shape`` of an init function whose parameters are
    ``nn.LogicallyPartitioned`` boxes; optax state built from boxed params carries the same
    boxes, so the optimizer moments get their parameter's sharding. Unboxed leaves (step
    counters, PRNG keys) are replicated unless large, in which case FSDP still applies.
    """

    def leaf_sharding(x: Any) -> NamedSharding:
        if _is_box(x):
            names, value = x.names, x.value
        else:
            names, value = None, x
        shape = tuple(getattr(value, "shape", ()))
        return NamedSharding(mesh, partition_spec(names, shape, mesh, fsdp_min_size))

    return jax.tree.map(leaf_sharding, abstract_tree, is_leaf=_is_box)


def describe_shardings(shardings: Any) -> Mapping[str, str]:
    """``{key path: PartitionSpec}`` as strings, for logs and tests."""
    flat = jax.tree_util.tree_flatten_with_path(shardings)[0]
    return {jax.tree_util.keystr(path): str(s.spec) for path, s in flat}
