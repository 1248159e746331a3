"""``astra serve``: the localization service for one map (:mod:`astra_jax.serve.service`).

``astra serve --map MAP_DIR [--artifacts GLOBAL_ARTIFACT | --checkpoint GLOBAL_RUN [--step best]]
[--host 127.0.0.1] [--port 8080] [--max-batch 8] [--workers 4] [--nice 0]``. With ``--artifacts`` (an
``astra export global`` directory) Astra-Global localizes through its exported prefill and
decode steps; with ``--checkpoint`` (a global-sft or global-grpo run) in process; either way
its concurrent prompts are batched. With neither, the VPR + refinement baseline localizes. ``GET /healthz`` says ready once every served shape has run. ``--nice N`` lowers the
whole server's CPU priority (every thread, Linux), for a service on the robot's own computer
beside its control loop (:class:`~astra_jax.serve.localizer_process.LocalizerProcess`).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

from astra_jax.cli._common import run


def _model_backend(m: Any, checkpoint: str | None, step: str, max_batch: int,
                   artifacts: str | None = None) -> tuple[Any, Any]:  # fmt: skip
    """(make_localizer, warm_up) for Astra-Global on map ``m``: from a training run's checkpoint
    (in process), or from an ``astra export global`` artifact (the exported steps)."""
    from astra_jax.global_model import formats as F
    from astra_jax.global_model.localize import GlobalLocalizer, model_answerer
    from astra_jax.global_model.tokenizer import ChatTokenizer
    from astra_jax.serve.batching import BatchedAnswerer
    from astra_jax.tasks.global_answers import restore_localization_run

    state: dict[str, Any] = {}

    def make() -> Any:
        if artifacts:
            from astra_jax.serve.global_answerer import artifact_answerer
            from astra_jax.serve.runtime import GlobalRuntime

            answer = artifact_answerer(GlobalRuntime(artifacts), ChatTokenizer.from_file())
        else:
            config, params, _ = restore_localization_run(checkpoint, step)
            answer = model_answerer(config.model, params, ChatTokenizer.from_file(),
                                    config.data.image_hw)  # fmt: skip
        state["batched"] = batched = BatchedAnswerer(answer, max_batch=max_batch)
        return GlobalLocalizer(m, batched)

    def warm_up(localizer: Any) -> dict[str, Any]:
        # one example of every prompt kind the pipeline sends, at every batch bucket
        refs = m.nodes[: localizer.options.num_references]
        image = localizer.node_image(refs[0].id)
        views = [F.ReferenceView(n.id, F.PlanarPose(*map(float, n.pose2d))) for n in refs]
        examples = [
            (localizer._prompt, [image]),
            (F.covisibility_prompt(), [image, image]),
            (F.fine_prompt(views), [image, *(localizer.node_image(n.id) for n in refs)]),
            (F.text_goal_prompt("warm up", localizer._landmarks), []),
        ]
        runs = state["batched"].warm_up(examples)
        return {"backend": f"astra-global {artifacts or checkpoint}", "compiled_batches": runs}

    return make, warm_up


def serve_command(
    map: pathlib.Path,
    checkpoint: str | None = None,
    artifacts: str | None = None,
    step: str = "best",
    host: str = "127.0.0.1",
    port: int = 8080,
    max_batch: int = 8,
    workers: int = 4,
    nice: int = 0,
) -> int:
    """Serve localization and goal requests on one map over HTTP.

    Args:
        map: the map directory (`astra map build`).
        checkpoint: an Astra-Global run (global-sft / global-grpo), run in process.
        artifacts: an `astra export global` artifact: Astra-Global's exported prefill and
            decode steps (instead of --checkpoint). Neither: the VPR + refinement baseline.
        step: the checkpoint's step: best, latest or a number.
        host: the interface to listen on.
        port: the TCP port.
        max_batch: most prompts per model batch (a power of two).
        workers: localizations running at once (worker threads).
        nice: raise the niceness of the whole server (every thread, Linux) by this (0-19), so
            that a control loop on the same computer comes first.
    """
    from astra_jax.config import ConfigError
    from astra_jax.serve.priority import lower_process_priority

    try:  # first: the pools started from here on inherit it
        lower_process_priority(nice)
    except ValueError as e:
        raise ConfigError(f"--nice: {e}") from None
    import uvicorn

    from astra_jax.global_model.vpr_localizer import VprLocalizer
    from astra_jax.maps.storage import load_map
    from astra_jax.serve.service import Service, create_app, vpr_warm_up

    m = load_map(map)
    if checkpoint and artifacts:
        raise ValueError("give --checkpoint or --artifacts, not both")
    if checkpoint or artifacts:
        make, warm_up = _model_backend(m, checkpoint, step, max_batch, artifacts)
    else:
        print("astra serve: no --checkpoint: serving the VPR + refinement baseline",
              file=sys.stderr)  # fmt: skip
        make, warm_up = (lambda: VprLocalizer(m)), vpr_warm_up
    app = create_app(Service(m, make, warm_up, workers=workers))
    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0


def main(argv: list[str]) -> int:
    # one command: `astra serve ARGS` (no subcommand word)
    return run("astra serve", {"serve": serve_command}, ["serve", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
