"""``astra doctor`` and ``astra version``: what is installed and what it can run on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

import astra_jax
from astra_jax.cli._common import emit_json, run

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


def doctor(json: bool = False) -> int:
    """Print the platform, jax backend and devices, MuJoCo GL renderer and package versions.

    Args:
        json: also print a one-line JSON summary as the last line.
    """
    report = {
        "astra_jax": astra_jax.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax_info(),
        "mujoco": mujoco_info(),
        "packages": package_versions(),
    }
    j, m = report["jax"], report["mujoco"]
    print(f"astra-jax {report['astra_jax']} on Python {report['python']}")
    print(f"platform   {report['platform']} ({report['machine']}, {report['cpu_count']} CPUs)")
    print(
        f"jax        backend={j['backend']} devices={j['device_count']}: {', '.join(j['devices'])}"
    )
    if m["ok"]:
        print(
            f"mujoco     MUJOCO_GL={m['gl_backend']} renderer={m['renderer']} ({m['gl_version']})"
        )
    else:
        print(f"mujoco     MUJOCO_GL={m['gl_backend']} FAILED: {m['error']}")
    for name, version in report["packages"].items():
        print(f"  {name:<18} {version or '(not installed)'}")
    if json:
        emit_json(report)
    return 0 if m["ok"] else 1


def version(json: bool = False) -> int:
    """Print the astra-jax version.

    Args:
        json: print a one-line JSON summary instead.
    """
    if json:
        emit_json({"astra_jax": astra_jax.__version__})
    else:
        print(f"astra-jax {astra_jax.__version__}")
    return 0


def main(argv: list[str]) -> int:
    return run("astra", {"doctor": doctor, "version": version}, argv)
