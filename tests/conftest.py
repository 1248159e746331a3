"""Test configuration: markers `slow`, `accelerator` and `parity` (see pyproject.toml).

* ``slow``: skipped unless ``--runslow`` is given or ``ASTRA_RUN_SLOW=1``.
* ``accelerator``: skipped unless jax sees a GPU or TPU (the reason is shown with ``-ra``).
* ``parity``: skipped when torch or transformers is not installed.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def _accelerator_platform() -> str | None:
    import jax

    try:
        platforms = {d.platform for d in jax.devices()}
    except RuntimeError:
        return None
    for p in ("gpu", "cuda", "rocm", "tpu"):
        if p in platforms:
            return p
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--runslow") or os.environ.get("ASTRA_RUN_SLOW") == "1"
    has_parity = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
    needs_accel = any("accelerator" in item.keywords for item in items)
    accel = _accelerator_platform() if needs_accel else None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow or ASTRA_RUN_SLOW=1"))
        if "accelerator" in item.keywords and accel is None:
            item.add_marker(pytest.mark.skip(reason="accelerator: jax sees no GPU or TPU here"))
        if "parity" in item.keywords and not has_parity:
            item.add_marker(
                pytest.mark.skip(reason="parity: install the parity extra (torch + transformers)")
            )
