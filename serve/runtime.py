"""Run an exported Astra-Local tick with jax alone: no Flax, no astra-jax model code.

A robot process needs this file, :mod:`astra_jax.serve.artifact`, jax and numpy (a test runs
it in a fresh interpreter and checks that ``flax`` never gets imported)::

    runtime = LocalRuntime("artifacts/local", rig=my_robot_calibration)  # checks everything
    state = runtime.init_state(batch=1)
    for frame in camera_stream:
        state, out = runtime.tick(state, {"images": ..., "pose": ..., "subgoal": ...,
                                          "velocity": ..., "imu": ..., "wheel": ..., "rng": ...})

Everything that can be checked is checked before anything runs, with an error that names the
file or field: the manifest's format, every file's SHA-256, the platform (the artifact must have
been lowered for this machine's backend), the rig calibration when the caller gives its own,
and every input's name, dtype, shape (one batch size across inputs and state) and finiteness.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax import export

from astra_jax.serve import artifact as af

LOCAL_MODEL = "astra-local-tick"
GLOBAL_MODEL = "astra-global-decoder"
RIG_TOLERANCE = 1e-6  # metres, radians and pixels


def backend_platform() -> str:
    """This process's jax backend as export names platforms (cpu, cuda, rocm, tpu)."""
    backend = jax.default_backend()
    if backend == "gpu":
        version = str(getattr(jax.devices()[0].client, "platform_version", "")).lower()
        return "rocm" if "rocm" in version else "cuda"
    return backend


def check_rig(expected: dict[str, Any], actual: dict[str, Any], where: str = "rig") -> None:
    """``actual`` (the robot's calibration, the manifest's ``rig`` layout) agrees with
    ``expected`` to :data:`RIG_TOLERANCE`; raises :class:`ArtifactError` naming the field."""

    def walk(e: Any, a: Any, path: str) -> None:
        if isinstance(e, dict):
            if not isinstance(a, dict) or set(a) != set(e):
                raise af.ArtifactError(f"{path}: fields {sorted(a) if isinstance(a, dict) else a!r}"
                                       f"; the model was trained for {sorted(e)}")  # fmt: skip
            for k in e:
                walk(e[k], a[k], f"{path}.{k}")
        elif isinstance(e, list):
            if not isinstance(a, list | tuple) or len(a) != len(e):
                raise af.ArtifactError(f"{path}: {a!r}; the model was trained for {e!r}")
            for i, (x, y) in enumerate(zip(e, a, strict=True)):
                walk(x, y, f"{path}[{i}]")
        elif isinstance(e, str):
            if a != e:
                raise af.ArtifactError(f"{path}: {a!r}; the model was trained for {e!r}")
        elif not isinstance(a, int | float) or abs(float(a) - float(e)) > RIG_TOLERANCE:
            raise af.ArtifactError(f"{path}: {a!r}; the model was trained for {e!r} (a model "
                                   "is only valid for its rig: retrain or re-export)")  # fmt: skip

    walk(expected, actual, where)


class LocalRuntime:
    """An exported Astra-Local tick, loaded and checked.

    Args:
      artifact_dir: a directory written by ``astra export local``.
      rig: the robot's calibration in the manifest's ``rig`` layout; when given it must match
        the one the model was trained for.
    """

    def __init__(self, artifact_dir: str | Path, *, rig: dict[str, Any] | None = None) -> None:
        self.directory = Path(artifact_dir)
        m = _open(self.directory, LOCAL_MODEL)
        if rig is not None:
            check_rig(m["rig"], rig)
        self.exported = _deserialize(self.directory / af.FUNCTION)
        self.params = _load_params(self.directory, m)
        self.manifest = m
        self._call = jax.jit(self.exported.call)

    @property
    def fixed_batch(self) -> int | None:
        """The artifact's batch size, or None when it takes any."""
        b = self.manifest["batch"]
        return None if b == af.BATCH else int(b)

    def init_state(self, batch: int | None = None) -> dict[str, Any]:
        """The state before an episode's first tick, for ``batch`` robots."""
        batch = self._batch(batch)
        # committed to the device, like the states the function returns: jit keys its cache on
        # that, so an uncommitted first state would compile the function a second time
        device = jax.devices()[0]
        return _tree_map_specs(
            self.manifest["state"],
            lambda s, _: jax.device_put(np.zeros(af.concrete_shape(s, batch), s["dtype"]), device),
        )

    def _batch(self, batch: int | None) -> int:
        fixed = self.fixed_batch
        if batch is None:
            batch = fixed if fixed is not None else 1
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch = {batch!r}: expected a positive int")
        if fixed is not None and batch != fixed:
            raise ValueError(f"batch = {batch}: this artifact was exported for batch {fixed}")
        return batch

    def check_inputs(self, inputs: dict[str, Any]) -> int:
        """Check ``inputs`` against the manifest; returns the batch size."""
        specs = self.manifest["inputs"]
        if not isinstance(inputs, dict) or set(inputs) != set(specs):
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(f"inputs: {got}; expected exactly {sorted(specs)}")
        batch = None
        for name, spec in specs.items():
            x = inputs[name]
            shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
            if shape is None or np.dtype(dtype).name != spec["dtype"]:
                raise ValueError(f"inputs[{name!r}]: dtype {dtype}; expected {spec['dtype']} "
                                 f"{spec['shape']}")  # fmt: skip
            if af.BATCH in spec["shape"] and len(shape) == len(spec["shape"]):
                batch = shape[spec["shape"].index(af.BATCH)] if batch is None else batch
            want = af.concrete_shape(spec, batch if batch is not None else -1)
            if tuple(shape) != want:
                raise ValueError(f"inputs[{name!r}]: shape {tuple(shape)}; expected "
                                 f"{tuple(spec['shape'])} with b = {batch}")  # fmt: skip
            if spec["dtype"].startswith("float") and not np.all(np.isfinite(np.asarray(x))):
                raise ValueError(f"inputs[{name!r}]: contains NaN or infinity")
        return self._batch(batch)

    def check_state(self, state: dict[str, Any], batch: int) -> None:
        def check(spec: dict[str, Any], x: Any, path: str) -> None:
            want = af.concrete_shape(spec, batch)
            shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
            if shape is None or tuple(shape) != want or np.dtype(dtype).name != spec["dtype"]:
                raise ValueError(f"state{path}: {dtype}{shape}; expected {spec['dtype']}{want} "
                                 f"(start from init_state({batch}))")  # fmt: skip

        _tree_map_specs(self.manifest["state"], check, state)

    def warm_up(self, batch: int | None = None) -> float:
        """Compile the function for ``batch`` robots by running one tick on zeros (the result is
        dropped), so that a robot's first real tick does not pay for it; returns the seconds."""
        import time

        batch = self._batch(batch)
        specs = self.manifest["inputs"]
        zeros = {k: np.zeros(af.concrete_shape(s, batch), s["dtype"]) for k, s in specs.items()}
        t0 = time.perf_counter()
        jax.block_until_ready(self.tick(self.init_state(batch), zeros))
        return time.perf_counter() - t0

    def tick(self, state: dict[str, Any], inputs: dict[str, Any]
             ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """One tick: (the next state, the outputs). Inputs and state are checked first."""
        batch = self.check_inputs(inputs)
        self.check_state(state, batch)
        return self._call(self.params, state, inputs)


def _tree_map_specs(specs: dict[str, Any], fn: Any, values: Any = None, path: str = "") -> Any:
    """Apply ``fn(spec, value, path)`` (or ``fn(spec, path)`` without values) over a nested spec
    dict, returning the same nesting; a missing or extra key in ``values`` is an error."""
    out = {}
    if values is not None and (not isinstance(values, dict) or set(values) != set(specs)):
        got = sorted(values) if isinstance(values, dict) else type(values).__name__
        raise ValueError(f"state{path}: {got}; expected keys {sorted(specs)}")
    for key, spec in specs.items():
        sub = f"{path}[{key!r}]"
        value = None if values is None else values[key]
        if af.is_spec(spec):
            out[key] = fn(spec, sub) if values is None else fn(spec, value, sub)
        else:
            out[key] = _tree_map_specs(spec, fn, value, sub)
    return out


def _open(directory: Path, model: str) -> dict[str, Any]:
    """The checked manifest of an artifact of ``model`` for this machine's platform."""
    m = af.read_manifest(directory)
    if m["model"] != model:
        raise af.ArtifactError(f"{directory}: model {m['model']!r}, not {model!r}")
    af.verify_files(directory, m)
    platform = backend_platform()
    if platform not in m["platforms"]:
        raise af.ArtifactError(f"{directory}: lowered for {', '.join(m['platforms'])}; this "
                               f"machine runs {platform} (export again with --platforms "
                               f"{platform})")  # fmt: skip
    return m


def _load_params(directory: Path, manifest: dict[str, Any]) -> Any:
    """The artifact's parameters, checked against its specs, on the default device."""
    flat = af.load_params(directory / af.PARAMS, manifest["params"])
    return jax.device_put(af.unflatten_tree(flat))


def _deserialize(path: Path) -> Any:
    try:
        return export.deserialize(bytearray(path.read_bytes()))
    except Exception as e:  # (jax raises several kinds for a bad blob)
        raise af.ArtifactError(f"{path}: cannot deserialize ({e})") from e


class GlobalRuntime:
    """Astra-Global's exported prefill and decode steps: greedy generation with jax alone.

    The caller prepares the model inputs (token ids with image placeholders, M-RoPE positions,
    the attention mask and image patches: ``astra_jax.global_model.inputs.make_batch``); the
    runtime picks the prefill of that many images, then decodes one token per step.
    """

    def __init__(self, artifact_dir: str | Path) -> None:
        self.directory = Path(artifact_dir)
        m = _open(self.directory, GLOBAL_MODEL)
        self.manifest, self.batch, self.max_len = m, int(m["batch"]), int(m["max_len"])
        self._prefill = {}
        for name, info in m["functions"].items():
            if name.startswith("prefill_"):
                exported = _deserialize(self.directory / info["file"])
                self._prefill[int(info["images"])] = jax.jit(exported.call)
        self._decode = jax.jit(_deserialize(self.directory / m["functions"]["decode"]["file"]).call)
        self.params = _load_params(self.directory, m)

    def generate(self, input_ids: np.ndarray, positions: np.ndarray, attention_mask: np.ndarray,
                 pixel_values: np.ndarray | None, num_images: int, max_new_tokens: int,
                 stop_ids: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Greedy tokens (B, max_new_tokens) (pad after a row's stop token) and lengths (B,)."""
        ids = np.asarray(input_ids, np.int32)
        b, s = ids.shape
        if b != self.batch:
            raise ValueError(f"input_ids: batch {b}; this artifact was exported for {self.batch}")
        if s + max_new_tokens > self.max_len:
            raise ValueError(f"prompt of {s} tokens + {max_new_tokens} new > the cache's "
                             f"{self.max_len} slots")  # fmt: skip
        if num_images not in self._prefill:
            raise ValueError(f"{num_images} images: this artifact prefills prompts with "
                             f"{sorted(self._prefill)} images")  # fmt: skip
        args = [np.asarray(positions, np.int32), np.asarray(attention_mask, bool)]
        if num_images:
            args.append(np.asarray(pixel_values, np.float32))
        logits, cache = self._prefill[num_images](self.params, ids, *args)
        pad = int(self.manifest["tokens"]["pad"])
        stops = np.asarray(stop_ids or (-1,))
        tokens = np.full((b, max_new_tokens), pad, np.int32)
        lengths = np.zeros(b, np.int32)
        done = np.zeros(b, bool)
        for step in range(max_new_tokens):
            token = np.where(done, pad, np.asarray(logits).argmax(-1)).astype(np.int32)
            tokens[:, step] = token
            lengths += ~done
            done |= np.isin(token, stops)
            if done.all() or step == max_new_tokens - 1:
                break
            logits, cache = self._decode(self.params, token, cache)
        return tokens, lengths
