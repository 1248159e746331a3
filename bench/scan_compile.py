"""Compile time of Astra-Global's train step with the layers scanned against unrolled.

``scan_layers`` (``GlobalModelConfig``) runs the decoder layers and the vision blocks with
``nn.scan``, so XLA compiles one layer body instead of one per layer. For an experiment whose
task trains Astra-Global (default ``global-sft-3b``: the Qwen2.5-VL-3B architecture on
global-sft-small's shapes, see ``train_mfu.py``), this AOT-lowers and compiles the engine's
train step on abstract shapes (no parameters are allocated, nothing runs) twice in one
process: unrolled (the baseline) and scanned. Each is timed from lowering to a compiled
executable; the ratio printed is unrolled / scanned. XLA's memory estimate of each compiled
step is printed beside it. ``--layers N`` truncates both the decoder and the vision tower to N
layers (to see how compile time grows with depth); ``--remat on|off`` sets ``remat_layers`` on
both (default: the experiment's own setting).

Usage: ``python bench/scan_compile.py [--experiment global-sft-3b] [--batch-size B]
[--layers N] [--remat on|off] [--json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_mfu import EXTRA, resolve, step_setup

from astra_jax import experiments
from astra_jax.global_model.config import GlobalModelConfig
from astra_jax.train import perf


def _model_config(
    config: Any, scan: bool, layers: int | None, remat: bool | None = None
) -> GlobalModelConfig:
    model = config.model.replace(scan_layers=scan)
    if remat is not None:
        model = model.replace(remat_layers=remat)
    if layers is not None:
        vision = model.vision
        full = tuple(i for i in vision.fullatt_block_indexes if i < layers) or (layers - 1,)
        model = model.replace(
            text=dataclasses.replace(model.text, num_layers=layers),
            vision=dataclasses.replace(vision, depth=layers, fullatt_block_indexes=full),
        )
    return model


def compile_seconds(
    name: str, scan: bool, batch_size: int | None, layers: int | None, remat: bool | None = None
) -> dict:
    """Seconds from lowering to a compiled train step of ``name`` (abstract shapes only) and
    XLA's memory estimate of that step (GiB; None where the backend gives none)."""
    exp, config = resolve(name)
    if not isinstance(getattr(config, "model", None), GlobalModelConfig):
        raise SystemExit(f"--experiment {name}: does not train Astra-Global (no scan_layers)")
    config = dataclasses.replace(config, model=_model_config(config, scan, layers, remat))
    t0 = time.perf_counter()
    setup = step_setup(exp, config, batch_size)
    compiled = setup.compile()
    seconds = time.perf_counter() - t0
    abstract_state = setup.abstract_state
    params = sum(int(x.size) for x in jax.tree.leaves(abstract_state.params))
    memory = perf.compiled_memory_bytes(compiled)
    del compiled
    return {"scan_layers": scan, "remat_layers": config.model.remat_layers,
            "compile_s": seconds, "params": params,
            "memory_gib": None if memory is None else memory / 2**30,
            "decoder_layers": config.model.text.num_layers,
            "vision_blocks": config.model.vision.depth}  # fmt: skip


def _gib(row: dict) -> str:
    return "-" if row["memory_gib"] is None else f"{row['memory_gib']:.1f} GiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", default="global-sft-3b",
                    help=f"a global-sft-<preset> name or one of {EXTRA}")  # fmt: skip
    ap.add_argument("--batch-size", type=int, default=None, help="default: the experiment's")
    ap.add_argument("--layers", type=int, default=None, help="truncate to N layers (N >= 1)")
    ap.add_argument("--remat", choices=("on", "off"), default=None,
                    help="remat_layers for both layouts (default: the experiment's)")  # fmt: skip
    ap.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    args = ap.parse_args()
    remat = None if args.remat is None else args.remat == "on"
    known = {n for n in experiments.names() if n.startswith("global-sft")} | set(EXTRA)
    if args.experiment not in known:
        ap.error(f"--experiment {args.experiment!r}: not one of {sorted(known)}")
    if args.layers is not None and args.layers < 1:
        ap.error(f"--layers {args.layers}: expected a positive number of layers")
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
    unrolled = compile_seconds(args.experiment, False, args.batch_size, args.layers, remat)
    print(json.dumps(unrolled), flush=True)
    scanned = compile_seconds(args.experiment, True, args.batch_size, args.layers, remat)
    print(json.dumps(scanned), flush=True)
    if scanned["params"] != unrolled["params"]:
        raise SystemExit(f"parameter counts differ: {scanned['params']} != {unrolled['params']}")
    ratio = unrolled["compile_s"] / scanned["compile_s"]
    print(f"\n{args.experiment} train step on {device}: {unrolled['decoder_layers']} decoder "
          f"layers + {unrolled['vision_blocks']} vision blocks, {unrolled['params'] / 1e9:.2f} B "
          f"params, remat_layers {scanned['remat_layers']}\ncompile: unrolled "
          f"{unrolled['compile_s']:.1f} s, scanned {scanned['compile_s']:.1f} s, unrolled / "
          f"scanned = {ratio:.2f}x\nXLA's memory estimate: unrolled {_gib(unrolled)}, scanned "
          f"{_gib(scanned)}")  # fmt: skip
    if args.json:
        print(json.dumps({"device": device, "experiment": args.experiment, "ratio": ratio,
                          "unrolled": unrolled, "scanned": scanned}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
