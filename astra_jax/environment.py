"""Facts about this machine's installation: key package versions, JAX devices, and whether
MuJoCo can render offscreen. ``astra doctor`` prints them and ``make demo`` checks them first.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

KEY_PACKAGES = (
    "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "numpy", "scipy",
    "mujoco", "pycolmap", "networkx", "evo", "tokenizers", "safetensors", "tyro",
    "torch", "transformers",
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    """Installed version of each key package, None when it is not installed."""
    out: dict[str, str | None] = {}
    for name in KEY_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def jax_info() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "device_count": len(devices),
        "devices": [f"{d.platform}:{d.id} {d.device_kind}" for d in devices],
        "process_count": jax.process_count(),
    }


def mujoco_info() -> dict[str, Any]:
    """MuJoCo's GL backend and the OpenGL renderer string, from a real 8x8 offscreen render."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    info: dict[str, Any] = {"gl_backend": os.environ["MUJOCO_GL"], "renderer": None}
    try:
        import mujoco

        info["version"] = mujoco.__version__
        model = mujoco.MjModel.from_xml_string(
            "<mujoco><worldbody><geom type='plane' size='1 1 .1'/></worldbody></mujoco>"
        )
        with mujoco.Renderer(model, 8, 8) as renderer:
            data = mujoco.MjData(model)
            renderer.update_scene(data)
            renderer.render()
            from OpenGL import GL

            info["renderer"] = GL.glGetString(GL.GL_RENDERER).decode()
            info["gl_version"] = GL.glGetString(GL.GL_VERSION).decode()
        info["ok"] = True
    except Exception as e:  # report, don't crash: doctor exists to diagnose this
        info["ok"] = False
        info["error"] = f"{type(e).__name__}: {e}"
    return info
