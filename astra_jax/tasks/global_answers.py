"""``astra eval global-answers``: what an Astra-Global SFT checkpoint answers, task by task.

The checkpoint answers held-out samples of its own validation worlds (greedy decoding with
the KV cache, images resized as in training) and every answer is read with the strict parser
of its task, then scored against the sample's own answer:

* every task: ``parsed``, the share of answers that parse;
* ``coarse``: ``landmark_recall`` and ``map_iou`` (the rewards' terms), ``exact`` (the matched
  ids equal the truth);
* ``fine``, ``relative_pose``: median position (m) and heading (deg) errors, and ``within_1m_5deg``;
* ``covisibility``: mean ``score_error`` and ``flag_accuracy``;
* ``landmarks``: ``category_recall``.

Unparsed answers count as misses in every accuracy. This is the SFT's own progress measure on
validation worlds; localization on test worlds (coarse -> fine -> refinement against an SfM
map, with the VPR baseline) is ``astra eval global``'s, to come.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.data.localization_samples import LocalizationSample, WorldSamples
from astra_jax.global_model import formats as F
from astra_jax.global_model.localize import model_answerer
from astra_jax.global_model.tokenizer import ChatTokenizer
from astra_jax.tasks.global_rewards import id_iou, landmark_recall
from astra_jax.tasks.global_sft import GlobalSftConfig

_WIDE = F.MapBounds(-1e4, -1e4, 1e4, 1e4)  # samples carry no map extent; poses are checked


def pick_samples(
    worlds: Sequence[WorldSamples], per_task: int, seed: int
) -> list[tuple[int, LocalizationSample]]:
    """Up to ``per_task`` (world index, sample) pairs per task, drawn with ``seed``."""
    by_task: dict[str, list[tuple[int, LocalizationSample]]] = {}
    for w, ws in enumerate(worlds):
        for s in ws.samples:
            by_task.setdefault(s.task, []).append((w, s))
    rng = np.random.default_rng(seed)
    out = []
    for task in sorted(by_task):
        items = by_task[task]
        for i in sorted(rng.choice(len(items), min(per_task, len(items)), replace=False)):
            out.append(items[int(i)])
    return out


def generate_answers(
    config: GlobalSftConfig,
    params: Any,
    worlds: Sequence[WorldSamples],
    picked: Sequence[tuple[int, LocalizationSample]],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 160,
) -> list[str]:
    """Greedy answers of the model to ``picked``, in order, ``batch_size`` at a time."""
    answer = model_answerer(
        config.model, params, ChatTokenizer.from_file(), config.data.image_hw,
        max_new_tokens=max_new_tokens,
    )  # fmt: skip
    requests = [
        (s.prompt, [np.asarray(worlds[w].images[i]) for i in s.image_ids]) for w, s in picked
    ]
    out: list[str] = []
    for start in range(0, len(requests), batch_size):
        out += answer(requests[start : start + batch_size])
    return out


def _pose_errors(pred: F.PlanarPose, truth: F.PlanarPose) -> tuple[float, float]:
    d = math.hypot(pred.x - truth.x, pred.y - truth.y)
    return d, math.degrees(abs(math.remainder(pred.yaw - truth.yaw, math.tau)))


def score_answers(
    picked: Sequence[tuple[int, LocalizationSample]], answers: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per-task scores (see the module docstring) of ``answers`` to ``picked``."""
    rows: dict[str, list[dict[str, float]]] = {}
    for (_, s), text in zip(picked, answers, strict=True):
        r: dict[str, float] = {}
        try:
            if s.task in ("coarse", "image_goal"):
                truth = F.parse_coarse(s.answer, _ids_in_prompt(s.prompt))
                pred = F.parse_coarse(text, _ids_in_prompt(s.prompt))
                r = {
                    "landmark_recall": landmark_recall(pred.seen, truth.seen),
                    "map_iou": id_iou(pred.matched, truth.matched),
                    "exact": float(set(pred.matched) == set(truth.matched)),
                }
            elif s.task in ("fine", "relative_pose"):
                bounds = _WIDE if s.task == "fine" else None
                d, dyaw = _pose_errors(
                    F.parse_pose(text, bounds, s.task), F.parse_pose(s.answer, bounds, s.task)
                )
                r = {"error_m": d, "error_deg": dyaw, "within_1m_5deg": float(d <= 1 and dyaw <= 5)}
            elif s.task == "covisibility":
                pred, truth = F.parse_covisibility(text), F.parse_covisibility(s.answer)
                r = {
                    "score_error": abs(pred.score - truth.score),
                    "flag_accuracy": float(pred.covisible == truth.covisible),
                }
            elif s.task == "landmarks":
                pred, truth = F.parse_landmarks(text), F.parse_landmarks(s.answer)
                seen = [F.SeenLandmark(x.category, ()) for x in pred]
                r = {
                    "category_recall": landmark_recall(
                        seen, [F.SeenLandmark(x.category, ()) for x in truth]
                    )
                }
            r["parsed"] = 1.0
        except F.AnswerFormatError:
            r = {"parsed": 0.0}
        rows.setdefault(s.task, []).append(r)
    return {task: _aggregate(task, rs) for task, rs in sorted(rows.items())}


_MISS = {"landmark_recall": 0.0, "map_iou": 0.0, "exact": 0.0, "within_1m_5deg": 0.0,
         "flag_accuracy": 0.0, "category_recall": 0.0}  # fmt: skip
_MEDIANS = ("error_m", "error_deg")
_KEYS = {
    "coarse": ("landmark_recall", "map_iou", "exact"),
    "image_goal": ("landmark_recall", "map_iou", "exact"),
    "fine": ("error_m", "error_deg", "within_1m_5deg"),
    "relative_pose": ("error_m", "error_deg", "within_1m_5deg"),
    "covisibility": ("score_error", "flag_accuracy"),
    "landmarks": ("category_recall",),
}


def _aggregate(task: str, rows: list[dict[str, float]]) -> dict[str, float]:
    keys = _KEYS.get(task, ())
    out = {"n": float(len(rows)), "parsed": float(np.mean([r["parsed"] for r in rows]))}
    for k in keys:
        if k in _MEDIANS:
            vals = [r[k] for r in rows if k in r]
            out[f"median_{k}"] = float(np.median(vals)) if vals else math.inf
        elif k == "score_error":
            vals = [r[k] for r in rows if k in r]
            out[k] = float(np.mean(vals)) if vals else math.inf
        else:  # accuracies: a malformed answer is a miss
            out[k] = float(np.mean([r.get(k, _MISS.get(k, 0.0)) for r in rows]))
    return out


def _ids_in_prompt(prompt: str) -> set[int]:
    return {int(m) for m in re.findall(r"^L(\d+): ", prompt, flags=re.MULTILINE)}


def restore_localization_run(
    workdir: str | Path, step: str = "best"
) -> tuple[GlobalSftConfig, Any, int]:
    """``(SFT config, float32 params, step)`` of a global-sft or global-grpo run (a GRPO run's
    model, rig and worlds are its SFT config's); the config computes in float32."""
    from astra_jax.train.evaluate import restore_params
    from astra_jax.train.train_config import config_from_json

    params, chosen, saved = restore_params(workdir, step)
    record = saved.get("model_config") or {}
    if "sft" in record:
        from astra_jax.tasks.global_grpo import GlobalGrpoConfig

        config = config_from_json(GlobalGrpoConfig, record, "model_config").sft
    elif "data" in record and "model" in record:
        config = config_from_json(GlobalSftConfig, record, "model_config")
    else:
        raise ValueError(f"--checkpoint {workdir}: not a global-sft or global-grpo run")
    f32 = dataclasses.replace(config.model, dtype="float32", param_dtype="float32")
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    return dataclasses.replace(config, model=f32), params, chosen


def evaluate_answers(
    workdir: str | Path, step: str = "best", per_task: int = 16, seed: int = 0
) -> dict[str, Any]:
    """Score checkpoint ``step`` of the global-sft or global-grpo run in ``workdir`` on its
    validation worlds."""
    from astra_jax.data.localization_worlds import ensure_world, load_world_samples

    config, params, chosen = restore_localization_run(workdir, step)
    d = config.data
    worlds = [
        load_world_samples(ensure_world(w, config.render, d.tour_frames, d.samples))
        for w in d.val_worlds
    ]
    picked = pick_samples(worlds, per_task, seed)
    answers = generate_answers(config, params, worlds, picked)
    return {
        "workdir": str(workdir),
        "step": chosen,
        "worlds": list(d.val_worlds),
        "tasks": score_answers(picked, answers),
        "examples": [
            {"task": s.task, "truth": s.answer, "answer": a}
            for (_, s), a in list(zip(picked, answers, strict=True))[:: max(1, per_task)]
        ],
    }
