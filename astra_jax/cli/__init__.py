"""The ``astra`` command line: a thin dispatcher over command groups.

``astra GROUP [SUBCOMMAND] [ARGS]``. Each group lives in its own module exposing
``main(argv: list[str]) -> int`` and is imported only when used, so ``astra version`` stays
fast. Every command that produces a result accepts ``--json`` and then prints a one-line JSON
summary as its last line of output.
"""

from __future__ import annotations

import importlib
import sys

# group name -> (module, one-line help)
GROUPS: dict[str, tuple[str, str]] = {
    "version": ("astra_jax.cli.doctor", "print the astra-jax version"),
    "doctor": (
        "astra_jax.cli.doctor",
        "check the install: platform, jax devices, MuJoCo GL, packages",
    ),
    "map": ("astra_jax.cli.map", "topological-semantic maps: build from a tour, show, route"),
    "model": (
        "astra_jax.cli.model",
        "Astra-Global: configs, HF checkpoints, tokenizer, generation",
    ),
    "train": (
        "astra_jax.cli.train",
        "train a named experiment; rerun with the same --workdir to resume",
    ),
    "eval": ("astra_jax.cli.eval", "evaluate a named experiment's checkpoint on a split"),
    "sim": ("astra_jax.cli.sim", "simulator: draw worlds, render tours, generate episodes"),
    "serve": ("astra_jax.cli.serve", "the localization service (FastAPI) on one map"),
    "export": (
        "astra_jax.cli.export",
        "compiled jax.export artifacts: Astra-Local's streaming tick",
    ),
}


def _usage() -> str:
    width = max(len(g) for g in GROUPS)
    lines = ["usage: astra COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in GROUPS.items()]
    lines += ["", "Run `astra COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``astra`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    group, rest = argv[0], argv[1:]
    if group not in GROUPS:
        print(
            f"astra: unknown command {group!r}; expected one of: {', '.join(GROUPS)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(GROUPS[group][0])
    if group in ("version", "doctor"):
        return module.main([group, *rest])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
