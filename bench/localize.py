"""One localization end to end, stage by stage: Astra-Global's pipeline against the VPR baseline.

Setup (not timed): a mapping tour of the small office at validation seed 1,000,000 (``--frames``
120), its SfM map, and queries from a second tour of the same world with 7 frames fewer, so
that the queries stand between the map's keyframes. Per query, in the same run:

* **Astra-Global** (``GlobalLocalizer``): coarse (the front image + every landmark), the
  co-visibility filter (one prompt per candidate, one batch), fine (query + 3 references), then
  the rig refinement against the SfM model. The model is ``--model`` (tiny or small) with
  random weights: so that every stage runs and costs what a trained model's would, each batch
  generates exactly as many tokens as its longest true answer (stop tokens ignored) and the
  true answers are handed to the pipeline. The timings are the model's; the answers are the
  oracle's (the simulator's landmarks for coarse, the nodes' distance for co-visibility, the
  true pose for fine).
* **VPR** (``VprIndex``: SIFT + bag of words, the best node's pose) and **VPR + refinement**
  (the same rig refinement over VPR's top 3 nodes: hloc's recipe).

Both sides get the same care: the first query warms every compiled program and cache and is
not timed; the medians over the other queries are reported. Printed: each stage's median
seconds, the ratio of Astra-Global's total to VPR + refinement's, and the position / heading
errors of VPR and VPR + refinement against ground truth (the estimates mapped to the world by
the map's Sim(3)). The MLLM's own accuracy needs a trained model (``astra eval global``).
``--json`` prints a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _setup(work: Path, frames: int):
    import astra_jax.sim
    from astra_jax.config import get_preset
    from astra_jax.maps.build import BuildOptions, build_map
    from astra_jax.maps.tour import load_tour
    from astra_jax.sim.episode import save_episode
    from astra_jax.sim.generate import make_tour
    from astra_jax.sim.render import RigRenderer
    from astra_jax.sim.scene import build_scene
    from astra_jax.sim.world import load_world

    cfg = get_preset("small")
    plan = Path(astra_jax.sim.__file__).parent / "floorplans" / "small_office.json"
    world = load_world(None, 1_000_000, plan, cfg.sim)
    with RigRenderer(build_scene(world, cfg.rig), cfg.rig.mapping_hw) as r:
        save_episode(make_tour(world, r, cfg, frames), work / "tour")
        save_episode(make_tour(world, r, cfg, frames - 7), work / "queries")
    m, _ = build_map(load_tour(work / "tour"), work / "map", BuildOptions())
    return m, load_tour(work / "queries")


class OracleAnswers:
    """The true answers for one query, by prompt kind, and a model that pays for them."""

    def __init__(self, m, model_answer_factory, tokenizer) -> None:
        self.m, self.factory, self.tok = m, model_answer_factory, tokenizer
        self.query_map_pose = None
        self.seen_sources: set[int] = set()
        self.node_by_image: dict[int, object] = {}

    def truth(self, prompt: str, images) -> str:
        from astra_jax.global_model import formats as F

        pose = self.query_map_pose
        if prompt.startswith("The image is the robot's current view"):
            ids = sorted(
                {lm.id for lm in self.m.landmarks if set(lm.source_ids) & self.seen_sources}
            )
            seen = tuple(F.SeenLandmark(self.m.landmark(i).category, ()) for i in ids)
            return F.coarse_answer(F.CoarseAnswer(seen, tuple(ids)))
        if "common region" in prompt:
            node = self._node_of(images[1])
            d = float(np.hypot(*(node.xy - pose[:2])))
            dyaw = abs(math.remainder(node.pose2d[2] - pose[2], math.tau))
            score = 0.8 if d < 2.0 and dyaw < math.radians(60) else 0.1
            return F.covisibility_answer(F.CovisibilityAnswer(score >= 0.5, score))
        return F.pose_answer(F.PlanarPose(*map(float, pose)))

    def _node_of(self, image):
        # the localizer shows each node's cached image array: its identity names the node
        return self.node_by_image[id(image)]

    def __call__(self, requests):
        answers = [self.truth(p, ims) for p, ims in requests]
        n = max(len(self.tok.encode(a)) + 1 for a in answers)
        self.factory(n)(requests)  # the model generates n tokens per request
        return answers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("tiny", "small"), default="tiny")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--queries", type=int, default=6)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.queries < 2:
        ap.error("--queries: at least 2 (the first one warms up)")

    import jax

    from astra_jax.geometry import se2_from_se3, se3_from_se2
    from astra_jax.global_model.config import get_config
    from astra_jax.global_model.localize import GlobalLocalizer, model_answerer
    from astra_jax.global_model.model import init_params
    from astra_jax.global_model.tokenizer import ChatTokenizer
    from astra_jax.maps.alignment import Sim3
    from astra_jax.maps.landmarks import KeyframeView
    from astra_jax.maps.refine import MapLocalizer
    from astra_jax.maps.vpr import VprIndex

    work = Path(tempfile.mkdtemp(prefix="bench_localize_"))
    t0 = time.perf_counter()
    m, queries = _setup(work, args.frames)
    to_world = Sim3.from_json(m.metadata.evaluation["gt_from_map"])
    to_map = to_world.inverse()
    config = get_config(args.model)
    params = init_params(config.model(), jax.random.key(0))
    tok = ChatTokenizer.from_file()
    hw = config.spec_image_hw
    factories: dict[int, object] = {}

    def factory(n: int):
        if n not in factories:
            factories[n] = model_answerer(config, params, tok, hw, max_new_tokens=n, stop=False)
        return factories[n]

    oracle = OracleAnswers(m, factory, tok)
    refiner = MapLocalizer(m)
    localizer = GlobalLocalizer(m, oracle, refiner=refiner)
    oracle.node_by_image = {id(localizer.node_image(n.id)): n for n in m.nodes}
    t_vpr = time.perf_counter()
    vpr = VprIndex.build(m)
    vpr_build_s = time.perf_counter() - t_vpr
    setup_s = time.perf_counter() - t0

    cams = queries.cameras
    frames = np.linspace(3, queries.num_frames - 4, args.queries).astype(int)
    rows, errors = [], {"vpr": [], "vpr_refined": []}
    for q, rgb in zip(frames, queries.read_frames(frames.tolist()), strict=True):
        images = {c.name: rgb[i] for i, c in enumerate(cams)}
        gt = queries.ground_truth[q]
        oracle.query_map_pose = se2_from_se3(to_map.apply_pose(se3_from_se2(gt)))
        view = KeyframeView(-1, int(q), {}, {cams[0].name: se3_from_se2(gt) @ cams[0].T_ego_cam},
                            {cams[0].name: cams[0].intrinsics})  # fmt: skip
        oracle.seen_sources = {d.source_id for d in queries.oracle.extract(view)}

        t = time.perf_counter()
        loc = localizer.localize(images)
        mllm_total = time.perf_counter() - t
        t = time.perf_counter()
        top = vpr.query(images[cams[0].name], top_k=3)
        vpr_s = time.perf_counter() - t
        t = time.perf_counter()
        refined = refiner.refine(images, [p.node_id for p in top])
        refine_s = time.perf_counter() - t
        rows.append({**{f"mllm_{k}": v for k, v in loc.timings.items()}, "mllm_total": mllm_total,
                     "vpr": vpr_s, "vpr_refinement": refine_s, "vpr_total": vpr_s + refine_s,
                     "mllm_source": loc.source})  # fmt: skip
        for key, pose in (("vpr", top[0].pose2d),
                          ("vpr_refined", refined.pose2d if refined.accepted else top[0].pose2d)):  # fmt: skip
            world = se2_from_se3(to_world.apply_pose(se3_from_se2(pose)))
            errors[key].append((float(np.hypot(*(world[:2] - gt[:2]))),
                                math.degrees(abs(math.remainder(world[2] - gt[2], math.tau)))))  # fmt: skip

    timed = rows[1:]  # the first query warmed up every program and cache
    keys = [k for k in timed[0] if k != "mllm_source"]
    med = {k: float(np.median([r[k] for r in timed])) for k in keys}
    ratio = med["mllm_total"] / med["vpr_total"]
    summary = {
        "model": args.model,
        "map_nodes": len(m.nodes),
        "map_landmarks": len(m.landmarks),
        "queries_timed": len(timed),
        "median_s": med,
        "ratio_mllm_over_vpr_refined": ratio,
        "mllm_sources": [r["mllm_source"] for r in rows],
        "vpr_median_error_m_deg": np.median(errors["vpr"], axis=0).tolist(),
        "vpr_refined_median_error_m_deg": np.median(errors["vpr_refined"], axis=0).tolist(),
        "setup_s": setup_s,
        "vpr_index_build_s": vpr_build_s,
    }
    print(f"map: {len(m.nodes)} nodes, {len(m.landmarks)} landmarks; {len(timed)} timed queries "
          f"(model {args.model}, random weights, oracle answers)")  # fmt: skip
    for k in keys:
        print(f"  {k:22s} {med[k] * 1e3:9.1f} ms")
    print(f"  Astra-Global / (VPR + refinement): {ratio:.2f}x the time")
    for key in errors:
        d, a = summary[f"{key}_median_error_m_deg"]
        print(f"  {key:12s} median error {d:.3f} m, {a:.2f} deg")
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
