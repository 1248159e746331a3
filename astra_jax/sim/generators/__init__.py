"""Procedural floor plans. :func:`generate_plan` returns a floor-plan dict in the JSON schema of
:mod:`astra_jax.sim.floorplan`, a pure function of (family, seed)."""

from __future__ import annotations

from typing import Any

from astra_jax.sim import seeds
from astra_jax.sim.generators.layout import GeneratorError
from astra_jax.sim.generators.office import generate_office
from astra_jax.sim.generators.warehouse import generate_warehouse

GENERATORS = {"office": generate_office, "warehouse": generate_warehouse}


def generate_plan(family: str, seed: int) -> dict[str, Any]:
    """The floor plan of the procedural ``family`` world with ``seed``."""
    if family not in GENERATORS:
        raise ValueError(f"family = {family!r}: expected one of {', '.join(GENERATORS)}")
    try:
        plan = GENERATORS[family](
            seeds.rng_for(family, seed, seeds.STREAM_LAYOUT),
            seeds.rng_for(family, seed, seeds.STREAM_FURNITURE),
        )
    except GeneratorError as e:  # a generator that cannot lay out this seed says so
        raise GeneratorError(f"<generated {family} world, seed {seed}>: {e}") from e
    plan["name"] = f"{family}_{seed}"
    return plan
