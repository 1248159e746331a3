"""``astra doctor`` and ``astra version``: what is installed and what it can run on."""

from __future__ import annotations

import os
import platform
import sys

import astra_jax
from astra_jax.cli._common import emit_json, run
from astra_jax.environment import jax_info, mujoco_info, package_versions


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
