"""``astra eval local``: Astra-Local's heads against classical baselines, in one run.

Held-out worlds (``--worlds office:1100000,...``; val seeds to choose, test seeds to report) get
goal episodes rendered with the checkpoints' simulator (plus ``--clutter`` obstacles per m^2:
the out-of-distribution "congested scenes", and ``--people`` walking people per 100 m^2, who
are disc obstacles in the scoring ESDF at each tick's time), then every tick k >= 1 of every episode is
evaluated open loop, as the paper's Table 3 / Fig. 9 do:

Planning rows (the waypoints of one tick, scored on the **world's** ESDF crop):
  * ``expert (ground truth)``: the expert's own next poses (a check of the metric);
  * ``straight line``: constant speed toward the subgoal;
  * ``A* (run-time ESDF)``: A* on the occupancy the rig's depth shows at that tick
    (:mod:`astra_jax.local_model.depth_occupancy`); no path means standing still;
  * per planning checkpoint, ``<FM | FM + ESDF>``: one flow-matching sample, and
    ``<...>*``: the best of ``--samples`` (10) by :func:`plan_metrics.score_trajectories` on the
    run-time ESDF (the paper's FM*);
  * per planning checkpoint and ``--guidance-scale`` g, ``<...>, guided g`` and its best of N:
    the same noise, the late Euler steps steered out of the run-time ESDF's obstacles
    (:mod:`astra_jax.local_model.esdf_guidance`; ours, beyond the paper);
  * per best-of-N row, ``<...>, A* fallback``: what the navigator drives (``serve/navigator``):
    when even the best sample collides in the run-time map, A* on that map plans the tick
    (``fallback_pct``: how often).
  The run-time ESDF is this tick's depth grid, with ``--occupancy-memory`` M > 0 filled in
  where the cameras cannot see from the grids of the M ticks before
  (:mod:`astra_jax.local_model.occupancy_memory`).
  Figures: ``collision_pct`` (a point of the path, interpolated every 2 cm from the robot
  through the waypoints, closer than the robot radius to an obstacle), ``final_dist_m`` (last
  waypoint to the subgoal), ``speed_mps`` (path length / horizon) and ``speed_norm`` (over the
  expert's top speed, 0.8 m/s), ``smoothness`` (mean |second difference| / dt^2, m/s^2).

Odometry rows (whole episodes, chained tick-to-tick motion from the true first pose):
  * ``wheel only``: dead-reckoned wheels (the episode's ``odom_pose``);
  * ``wheel + gyro``: the map build's classical fusion (:mod:`astra_jax.maps.odometry`);
  * ``wheel + calibrated gyro``: the same with the gyro calibrated online from the centripetal
    force (:mod:`astra_jax.maps.imu_calibration`), what ``gyro_calibration`` feeds a head;
  * ``wheel + scan-calibrated gyro``: the same against the turns of the rig's depth scans
    (:mod:`astra_jax.maps.scan_gyro_calibration`; ``gyro_reference = "scan"``);
  * per odometry checkpoint, ``learned (<modalities>)``.
  Figures: RTE (%), RRE (deg / 10 m), ATE (m) with evo (:mod:`odometry_metrics`).

Writes ``report.json``, ``report.md`` and plots (sample plans over the ESDF with the camera
views, odometry tracks against the ground truth) into ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from astra_jax import progress
from astra_jax.config import AstraConfig, ConfigError, DepthNoiseConfig
from astra_jax.data.episode_cache import EpisodeSet, ensure_episode_set
from astra_jax.data.head_samples import HeadSamples
from astra_jax.formats.episode import load_episode
from astra_jax.geometry import se2_compose
from astra_jax.local_model.classical_planners import AStarConfig, astar_plan, straight_line
from astra_jax.local_model.depth_occupancy import (
    EgoESDF,
    LocalGridConfig,
    depth_occupancy,
    occupancy_esdf,
)
from astra_jax.local_model.esdf_guidance import EsdfGuidance
from astra_jax.local_model.flow_matching import sample
from astra_jax.local_model.occupancy_memory import OccupancyMemory
from astra_jax.local_model.odometry_metrics import pooled
from astra_jax.local_model.plan_metrics import score_trajectories, trajectory_metrics
from astra_jax.local_model.trajectory import rollout
from astra_jax.sim import seeds
from astra_jax.tasks.local_heads import (
    LocalHeadsTask,
    LocalTaskConfig,
    extra_condition,
    frozen_encoder,
    head_cache,
)
from astra_jax.train.evaluate import restore_params
from astra_jax.train.train_config import config_from_json

EXPERT_TOP_SPEED = 0.8  # m/s: MotionLimits.max_speed of the simulator's expert
EVAL_BATCH = 64
# The odometry head sees a window of 10 BEV pairs per tick: 64 ticks at once held ~14 GB at the
# small preset (the correlation volumes), so it runs in chunks of this many ticks.
ODOMETRY_EVAL_CHUNK = 8
# guidance pushes path points closer than radius + this (m) to an obstacle of the run-time ESDF
# (the masked ESDF loss's margin)
GUIDANCE_MARGIN = 0.10


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A trained heads run: its config, parameters and row labels."""

    workdir: str
    step: int
    config: LocalTaskConfig
    params: Any

    @property
    def planning_label(self) -> str:
        label = "FM + ESDF" if self.config.esdf_loss.weight > 0 else "FM"
        return label + (" (4D)" if self.config.forecast_workdir else "")

    @property
    def odometry_label(self) -> str:
        return "learned (" + " + ".join(self.config.odometry.modalities) + ")"


def load_checkpoint(workdir: str, step: str = "best") -> Checkpoint:
    """A ``local-<preset>`` run's parameters and the task config recorded with them."""
    params, chosen, saved = restore_params(workdir, step)
    config = config_from_json(LocalTaskConfig, saved.get("model_config"), "model_config")
    f32 = {"dtype": "float32", "param_dtype": "float32"}
    config = dataclasses.replace(config, planning=dataclasses.replace(config.planning, **f32),
                                 odometry=dataclasses.replace(config.odometry, **f32))  # fmt: skip
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    return Checkpoint(workdir, chosen, config, params)


def parse_worlds(text: str) -> list[tuple[str, int]]:
    """``"office:1100000,warehouse:1100001"`` -> [(family, seed), ...]; held-out seeds only."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        family, sep, seed = part.partition(":")
        if not sep or not seed.strip().isdigit():
            raise ConfigError(f"--worlds {text!r}: expected FAMILY:SEED,... (e.g. office:1100000)")
        s = int(seed)
        split = seeds.split_of_seed(s)
        if split == "train":
            raise ConfigError(
                f"--worlds: {part} is a training world; evaluate on val seeds (from "
                f"{seeds.SPLITS['val'].start}) or test seeds (from {seeds.SPLITS['test'].start})"
            )
        out.append((family.strip(), s))
    if not out:
        raise ConfigError("--worlds: expected at least one FAMILY:SEED")
    return out


def world_episodes(render: AstraConfig, worlds: list[tuple[str, int]], per_world: int
                   ) -> list[Path]:  # fmt: skip
    """The goal episodes' paths, ``per_world`` per (family, seed), rendered if not cached."""
    paths = []
    for family, seed in worlds:
        spec = EpisodeSet(render, family, seeds.split_of_seed(seed), seed, 1, per_world)
        paths += [ref.path for ref in ensure_episode_set(spec)]
    return paths


def _unique(label: str, run: Checkpoint, runs: list[Checkpoint]) -> str:
    """``label``, with the run directory's name appended when another run has the same label."""
    if label.startswith("FM"):
        same = [r for r in runs if r.config.train_planning and r.planning_label == label]
    else:
        same = [r for r in runs if r.config.train_odometry and r.odometry_label == label]
    return label if len(same) < 2 else f"{label} [{Path(run.workdir).name}]"


def _star(label: str, samples: int) -> str:
    """The best-of-N row of a planning row: "FM + ESDF [run]" -> "FM* + ESDF (best of N) [run]"."""
    name, sep, run = label.partition(" [")
    return name.replace("FM", "FM*", 1) + f" (best of {samples})" + (f" [{run}" if sep else "")


def _fallback(star: str) -> str:
    """The fallback row of a best-of-N row: "FM* + ESDF (best of N) [run]" -> "FM* + ESDF (best
    of N), A* fallback [run]"."""
    name, sep, run = star.partition(" [")
    return f"{name}, A* fallback" + (f" [{run}" if sep else "")


def _guided(label: str, scale: float) -> str:
    """The guided row of a planning row: "FM + ESDF [run]" -> "FM + ESDF, guided 0.3 [run]"."""
    name, sep, run = label.partition(" [")
    return f"{name}, guided {scale:g}" + (f" [{run}" if sep else "")


def _runtime_esdfs(order: list[tuple[int, int]], labels_of: HeadSamples,
                   episodes: dict[int, Any], odometry: dict[int, np.ndarray],
                   grid: LocalGridConfig, memory_ticks: int,
                   show_progress: bool) -> np.ndarray:  # fmt: skip
    """(ticks, Ex, Ey) float32 metres: the run-time ESDF of each tick of ``order`` (episode,
    tick), from the rig's depth at the tick's frame and, with ``memory_ticks`` > 0, the grids
    of that many earlier ticks moved by ``odometry`` (per episode, (frames, 3): the wheel + gyro
    poses the robot has at run time; no privileged data)."""
    out = np.empty((len(order), *grid.shape), np.float32)
    row_of = {ek: t for t, ek in enumerate(order)}
    last_of: dict[int, int] = {}
    for e, k in order:
        last_of[e] = max(k, last_of.get(e, k))
    bar = progress.bar("run-time ESDF", len(order), unit="tick", enabled=show_progress)
    for e, last in sorted(last_of.items()):
        ep = episodes[e]
        frames = np.asarray(labels_of.episode(e)[1]["frame"])
        memory = OccupancyMemory(memory_ticks)
        # every tick from the episode's first (one grid more than the evaluated ticks), so
        # that each evaluated tick remembers the ones before it
        for k in range(last + 1):
            occ = depth_occupancy(np.asarray(ep.depth[frames[k]]), ep.intrinsics,
                                  ep.extrinsics, grid)  # fmt: skip
            fused = memory.update(occ, odometry[e][frames[k]])
            if (e, k) in row_of:
                out[row_of[(e, k)]] = occupancy_esdf(fused, grid).values
                bar.update(1)
    bar.close()
    return out


def _plan_figures(rows: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, items in rows.items():
        arr = {k: np.asarray([it[k] for it in items], np.float64) for k in items[0]}
        out[name] = {
            "collision_pct": 100.0 * float(arr["collision"].mean()),
            "final_dist_m": float(arr["final_distance"].mean()),
            "speed_mps": float(arr["mean_speed"].mean()),
            "speed_norm": float(arr["mean_speed"].mean() / EXPERT_TOP_SPEED),
            "smoothness": float(arr["smoothness"].mean()),
            "ticks": len(items),
        }
        if "fallback" in arr:
            out[name]["fallback_pct"] = 100.0 * float(arr["fallback"].mean())
    return out


def _metrics_row(poses: np.ndarray, esdf: EgoESDF, subgoal: np.ndarray, radius: float,
                 interval: float, people: tuple[np.ndarray, float] | None = None
                 ) -> dict[str, float]:  # fmt: skip
    """One plan's figures; ``people`` = (track (n + 1, P, 2), person radius m) or None."""
    track, person_radius = people if people is not None else (None, 0.0)
    m = trajectory_metrics(poses, esdf, subgoal, radius, interval, track, person_radius)
    return {k: float(getattr(m, k)) for k in ("collision", "final_distance", "mean_speed",
                                               "smoothness")}  # fmt: skip


def evaluate_local(checkpoints: list[str], worlds: str, clutter: float = 0.0,
                   episodes_per_world: int = 2, step: str = "best", samples: int = 10,
                   out: str | None = None, seed: int = 0,
                   show_progress: bool = True, people: float = 0.0,
                   guidance_scales: tuple[float, ...] = (),
                   guidance_start: float = 0.5,
                   occupancy_memory: int = 0,
                   depth_noise: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Evaluate ``checkpoints`` (heads runs) and the baselines on ``worlds``; see the module
    docstring. ``depth_noise``: the depth cameras' errors, a D435's range noise times this
    (0: exact; None: as the runs were trained). Returns the report (also written to ``out``
    when given)."""
    if not checkpoints:
        raise ConfigError("--checkpoint: expected at least one local-<preset> run directory")
    if samples < 1:
        raise ConfigError(f"--samples {samples}: expected a positive int")
    if any(not np.isfinite(g) or g <= 0 for g in guidance_scales):
        raise ConfigError(f"--guidance-scale {list(guidance_scales)}: expected positive numbers")
    if not 0.0 <= guidance_start <= 1.0:
        raise ConfigError(f"--guidance-start {guidance_start}: expected a flow time in [0, 1]")
    if not (isinstance(occupancy_memory, int) and occupancy_memory >= 0):
        raise ConfigError(f"--occupancy-memory {occupancy_memory!r}: expected ticks >= 0")
    runs = [load_checkpoint(w, step) for w in checkpoints]
    base = runs[0].config
    for r in runs[1:]:
        if r.config.tick_spec != base.tick_spec or r.config.render_config != base.render_config:
            raise ConfigError(
                f"{r.workdir}: trained on other ticks or another simulator/rig than "
                f"{runs[0].workdir}; evaluate runs of one preset together"
            )
    world_list = parse_worlds(worlds)
    sim = dataclasses.replace(base.sim, clutter_density=float(clutter))
    render = dataclasses.replace(base.render_config, sim=sim).with_people(people)
    if depth_noise is not None:
        try:
            render = render.with_depth_noise(depth_noise)
        except ConfigError as e:
            raise ConfigError(f"--depth-noise: {e}") from None
    sim = render.sim
    episode_paths = world_episodes(render, world_list, episodes_per_world)
    spec = base.tick_spec
    radius = base.sim.robot.radius
    interval = spec.waypoint_interval
    n = spec.num_waypoints
    grid = LocalGridConfig(shape=spec.esdf_shape, resolution=spec.esdf_resolution)
    guides = [
        EsdfGuidance(scale=g, start=guidance_start, safe_distance=radius + GUIDANCE_MARGIN,
                     resolution=spec.esdf_resolution)
        for g in guidance_scales
    ]  # fmt: skip

    # The labels and the tick order do not depend on the encoder or the window.
    entries = head_cache(dataclasses.replace(base, sim=sim), episode_paths,
                         show_progress=show_progress)  # fmt: skip
    labels_of = HeadSamples(entries, 1, odometry=False)
    order = [tuple(int(v) for v in row) for row in labels_of.table]
    episodes = {e: load_episode(p, mmap=True) for e, p in enumerate(episode_paths)}
    from astra_jax.maps.odometry import wheel_gyro_odometry  # the maps package costs ~1 s

    # the map build's classical wheel + gyro fusion per frame: what the robot has at run time
    # (moves the run-time map's memory) and the classical odometry row
    wheel_gyro = {e: wheel_gyro_odometry(np.asarray(ep.odom_pose), np.asarray(ep.time),
                                         np.asarray(ep.imu)) for e, ep in episodes.items()}  # fmt: skip
    from astra_jax.maps.imu_calibration import calibrate_gyro

    # the same on the gyro calibrated online (the "wheel + calibrated gyro" row)
    calibrated = {
        e: wheel_gyro_odometry(np.asarray(ep.odom_pose), np.asarray(ep.time), calibrate_gyro(
            ep.imu, ep.wheel, float(ep.manifest["robot"]["wheel_radius"])))
        for e, ep in episodes.items()
    }  # fmt: skip
    # and on the gyro calibrated online against the depth scans' turns
    scan_calibrated = {
        e: wheel_gyro_odometry(np.asarray(ep.odom_pose), np.asarray(ep.time),
                               scan_calibrated_gyro(ep, spec.tick_interval))
        for e, ep in episodes.items()
    }  # fmt: skip
    # What the rig's depth shows at each tick: scores best-of-N and A*, and guides the sampler.
    seen_all = _runtime_esdfs(order, labels_of, episodes, wheel_gyro, grid, occupancy_memory,
                              show_progress)  # fmt: skip

    # ---------------------------------------------------------------- per-run model outputs
    plans: dict[str, np.ndarray] = {}  # label -> (ticks, samples, n, 3) deltas
    odom: dict[str, np.ndarray] = {}  # label -> (ticks, 3) relative poses
    for r in runs:
        entries = head_cache(dataclasses.replace(r.config, sim=sim), episode_paths,
                             show_progress=show_progress)  # fmt: skip
        source = HeadSamples(
            entries,
            r.config.odometry.window,
            odometry=r.config.train_odometry,
            gyro_scale_label=r.config.odometry.gyro_scale_label,
        )
        if [tuple(int(v) for v in row) for row in source.table] != order:
            raise ConfigError(f"{r.workdir}: its ticks differ from {runs[0].workdir}'s")
        task = LocalHeadsTask(r.config)
        guided: dict[float, list[np.ndarray]] = {g.scale: [] for g in guides}
        rng = jax.random.key(seed)
        p_out, o_out = [], []
        for i in range(0, len(source), EVAL_BATCH):
            items = [source[j] for j in range(i, min(i + EVAL_BATCH, len(source)))]
            batch = {k: jnp.asarray(np.stack([it[k] for it in items])) for k in items[0]}
            if r.config.train_planning:
                p_out.append(np.asarray(sample(task.planning_head, r.params["planning"],
                                               batch["bev"].astype(jnp.float32),
                                               batch["subgoal"], batch["velocity"],
                                               jax.random.fold_in(rng, i), num_samples=samples,
                                               extra=extra_condition(batch))))  # fmt: skip
                # guided: the same noise, steered by the run-time ESDF of each tick
                esdf = jnp.asarray(seen_all[i : i + len(items)])
                for g in guides:
                    guided[g.scale].append(np.asarray(sample(
                        task.planning_head, r.params["planning"],
                        batch["bev"].astype(jnp.float32), batch["subgoal"], batch["velocity"],
                        jax.random.fold_in(rng, i), num_samples=samples,
                        extra=extra_condition(batch), esdf=esdf, guidance=g)))  # fmt: skip
            if r.config.train_odometry:
                for c in range(0, len(items), ODOMETRY_EVAL_CHUNK):
                    part = slice(c, c + ODOMETRY_EVAL_CHUNK)
                    o = task.odometry_head.apply({"params": r.params["odometry"]},
                                                 bev=batch["bev_seq"][part].astype(jnp.float32),
                                                 imu=batch["imu"][part],
                                                 wheel=batch["wheel"][part],
                                                 valid=batch["odom_valid"][part])  # fmt: skip
                    o_out.append(np.asarray(o.pose))
        if p_out:
            label = _unique(r.planning_label, r, runs)
            plans[label] = np.concatenate(p_out)
            for scale, outs in guided.items():
                plans[_guided(label, scale)] = np.concatenate(outs)
        if o_out:
            odom[_unique(r.odometry_label, r, runs)] = np.concatenate(o_out)

    # ---------------------------------------------------------------- planning, tick by tick
    rows: dict[str, list[dict[str, float]]] = {
        "expert (ground truth)": [], "straight line": [], "A* (run-time ESDF)": []
    }  # fmt: skip
    for label in plans:
        rows[label] = []
        rows[_star(label, samples)] = []
        rows[_fallback(_star(label, samples))] = []
    astar_failures = 0
    examples: list[dict[str, Any]] = []
    bar = progress.bar("planning", len(order), unit="tick", enabled=show_progress)
    for t, (e, k) in enumerate(order):
        _, lab = labels_of.episode(e)
        ep = episodes[e]
        frame = int(lab["frame"][k])
        # with people: the world's ESDF plus each person where they are when the plan gets there
        track = None
        if "people_track" in lab:
            track = (lab["people_track"][k], float(ep.manifest["people"]["radius"]))
        static = lab["esdf_world"][k] if track is not None else lab["esdf"][k]
        truth = EgoESDF(static.astype(np.float32), spec.esdf_resolution)
        seen = EgoESDF(seen_all[t], spec.esdf_resolution)
        goal = lab["subgoal"][k].astype(np.float64)
        # the expert's own next poses: checks the metric (the expert keeps >= 0.35 m clearance)
        rows["expert (ground truth)"].append(
            _metrics_row(lab["expert"][k].astype(np.float64), truth, goal, radius, interval, track)
        )
        straight = rollout(straight_line(goal, n, interval, EXPERT_TOP_SPEED))
        rows["straight line"].append(_metrics_row(straight, truth, goal, radius, interval, track))
        d = astar_plan(seen, goal, n, interval, EXPERT_TOP_SPEED, AStarConfig(radius=radius))
        if d is None:
            astar_failures += 1
            d = np.zeros((n, 3))
        rows["A* (run-time ESDF)"].append(
            _metrics_row(rollout(d), truth, goal, radius, interval, track)
        )
        chosen = {}
        for label, p in plans.items():
            poses = rollout(p[t].astype(np.float64))  # (samples, n, 3)
            rows[label].append(_metrics_row(poses[0], truth, goal, radius, interval, track))
            best = int(np.argmin(score_trajectories(poses, seen, goal, radius, interval)))
            star = _star(label, samples)
            rows[star].append(_metrics_row(poses[best], truth, goal, radius, interval, track))
            chosen[star] = poses[best]
            # the navigator's rule: when even the best sample collides in the run-time map,
            # A* on that map plans this tick
            fell = bool(trajectory_metrics(poses[best], seen, goal, radius, interval).collision)
            row = _metrics_row(rollout(d) if fell else poses[best], truth, goal, radius,
                               interval, track)  # fmt: skip
            rows[_fallback(star)].append({**row, "fallback": float(fell)})
        if t % max(1, len(order) // 6) == 0 and len(examples) < 6:
            examples.append({"episode": e, "tick": k, "frame": frame, "esdf": truth.values,
                             "resolution": spec.esdf_resolution, "radius": radius,
                             "subgoal": goal, "expert": lab["expert"][k], "straight": straight,
                             "astar": rollout(d), "people": track,
                             **{f"plan:{a}": b for a, b in chosen.items()}})  # fmt: skip
        bar.update(1)
    bar.close()
    planning = _plan_figures(rows)
    planning["A* (run-time ESDF)"]["no_path_pct"] = 100.0 * astar_failures / max(len(order), 1)

    # ---------------------------------------------------------------- odometry, per episode
    tracks: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
        "wheel only": [], "wheel + gyro": [], "wheel + calibrated gyro": [],
        "wheel + scan-calibrated gyro": [],
        **{label: [] for label in odom},
    }  # fmt: skip
    row_of = {ek: i for i, ek in enumerate(order)}
    for e in episodes:
        _, lab = labels_of.episode(e)
        ticks = len(lab["frame"])
        if ticks < 3:
            continue
        gt, times = lab["pose"], lab["time"]
        frames = lab["frame"]
        tracks["wheel only"].append((lab["odom_pose"], gt, times))
        tracks["wheel + gyro"].append((wheel_gyro[e][frames], gt, times))
        tracks["wheel + calibrated gyro"].append((calibrated[e][frames], gt, times))
        tracks["wheel + scan-calibrated gyro"].append((scan_calibrated[e][frames], gt, times))
        for label, rel in odom.items():
            est = np.empty_like(gt)
            est[0] = gt[0]
            for k in range(1, ticks):
                est[k] = se2_compose(est[k - 1], rel[row_of[(e, k)]].astype(np.float64))
            tracks[label].append((est, gt, times))
    odometry = {label: pooled(items) for label, items in tracks.items() if items}

    report = {
        "checkpoints": [_describe(r) for r in runs],
        "worlds": [f"{f}:{s}" for f, s in world_list],
        "clutter_density": float(clutter),
        "people_density": float(people),
        "depth_noise": dataclasses.asdict(sim.depth_noise),
        "episodes": len(episode_paths),
        "ticks": len(order),
        "samples": samples,
        "occupancy_memory_ticks": occupancy_memory,
        "planning": planning,
        "odometry": odometry,
    }
    if out:
        write_report(Path(out), report, examples, episodes, tracks)
    return report


def scan_calibrated_gyro(ep: Any, pair_interval: float) -> np.ndarray:
    """(K, 7) the episode's IMU rows with the gyro z divided by the scale fitted online
    against its depth scans' turns ``pair_interval`` s apart
    (:mod:`astra_jax.maps.scan_gyro_calibration`)."""
    from astra_jax.maps.scan_gyro_calibration import episode_scan_gyro_scale

    imu = np.array(ep.imu, np.float64)
    imu[:, 3] = imu[:, 3] / episode_scan_gyro_scale(ep, pair_interval)
    return imu


def _describe(run: Checkpoint) -> dict[str, Any]:
    c = run.config
    enc = frozen_encoder(c.encoder, c.encoder_workdir, c.encoder_step)
    return {"workdir": run.workdir, "step": run.step, "planning": c.train_planning,
            "odometry": c.train_odometry, "esdf_weight": c.esdf_loss.weight,
            "modalities": list(c.odometry.modalities), "encoder": enc.source}  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    """The report's two tables."""
    depth = DepthNoiseConfig(**report.get("depth_noise", {}))  # as recorded (absent: exact)
    lines = [
        f"worlds {', '.join(report['worlds'])}, clutter {report['clutter_density']} /m^2, "
        f"people {report.get('people_density', 0.0):g} per 100 m^2, "
        f"{report['episodes']} episodes, {report['ticks']} ticks, run-time map memory "
        f"{report.get('occupancy_memory_ticks', 0)} ticks, depth {depth.describe()}",
        "",
        "| planner | collision % | final dist (m) | speed (m/s) | speed (norm.) | smoothness (m/s^2) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["planning"].items():
        if "fallback_pct" in r:
            name = f"{name} (A* at {r['fallback_pct']:.1f} % of ticks)"
        lines.append(f"| {name} | {r['collision_pct']:.1f} | {r['final_dist_m']:.2f} | "
                     f"{r['speed_mps']:.2f} | {r['speed_norm']:.2f} | {r['smoothness']:.2f} |")  # fmt: skip
    lines += [
        "",
        "| odometry | RTE (%) | RRE (deg/10 m) | ATE (m) | segments |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["odometry"].items():
        lines.append(f"| {name} | {r['rte_pct']:.2f} | {r['rre_deg_per_10m']:.2f} | "
                     f"{r['ate_m']:.3f} | {r['segments']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _draw_people(ax: Any, path: np.ndarray, radius: float) -> None:
    """Each person's walk over the plan's horizon on a plans.png panel: ``path`` (n + 1, P, 2)
    in the tick's ego frame (m), a solid disc of ``radius`` where they are at the tick, a
    dashed one where they are at the last waypoint's time (the ESDF drawn is the static world's,
    so the people are only here)."""
    import matplotlib.pyplot as plt

    for q in range(path.shape[1]):
        label = "people (now; dashed: at the horizon)" if q == 0 else None
        ax.plot(path[:, q, 0], path[:, q, 1], "-", color="hotpink", lw=1, label=label)
        ax.add_patch(plt.Circle(tuple(path[0, q]), radius, fill=False, color="hotpink", lw=1.2))
        ax.add_patch(plt.Circle(tuple(path[-1, q]), radius, fill=False, color="hotpink", lw=1,
                                ls="--"))  # fmt: skip


def write_report(out: Path, report: dict[str, Any], examples: list[dict[str, Any]],
                 episodes: dict[int, Any], tracks: dict[str, list[Any]]) -> None:  # fmt: skip
    """``report.json``, ``report.md``, ``plans.png`` and ``odometry.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "report.json", json.dumps(report, indent=1, sort_keys=True) + "\n")
    _atomic_write(out / "report.md", markdown(report))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if examples:
        cams = episodes[examples[0]["episode"]].rgb.shape[1]
        fig, axes = plt.subplots(len(examples), cams + 1, figsize=(3.2 * (cams + 1), 3.2 * len(examples)),
                                 squeeze=False)  # fmt: skip
        for row, ex in zip(axes, examples, strict=True):
            ep = episodes[ex["episode"]]
            for c in range(cams):
                row[c].imshow(ep.rgb[ex["frame"], c])
                row[c].set_axis_off()
                row[c].set_title(ep.camera_names[c], fontsize=8)
            ax = row[-1]
            v = ex["esdf"]
            hx, hy = 0.5 * v.shape[0] * ex["resolution"], 0.5 * v.shape[1] * ex["resolution"]
            # clearance in colour (0 to 1.5 m), obstacles (ESDF <= 0) in black, the robot's
            # footprint as a circle at the origin (x forward to the right, y left up)
            clear = np.ma.masked_where(v <= 0, np.clip(v, 0.0, 1.5))
            cmap = matplotlib.colormaps["viridis"].with_extremes(bad="black")
            ax.set_facecolor("0.85")  # outside the crop
            ax.imshow(clear.T, origin="lower", cmap=cmap, vmin=0, vmax=1.5,
                      extent=(-hx, hx, -hy, hy))  # fmt: skip
            ax.add_patch(plt.Circle((0, 0), ex["radius"], fill=False, color="w", lw=1))
            for key, style in (("expert", "w-"), ("straight", "y--"), ("astar", "m-.")):
                p = ex[key]
                ax.plot([0, *p[:, 0]], [0, *p[:, 1]], style, lw=1.2, label=key)
            plan_keys = [k for k in ex if k.startswith("plan:")]
            # every best-of-N row of every run (it drew only the first four before)
            palette = matplotlib.colormaps["tab10" if len(plan_keys) <= 10 else "tab20"].colors
            for i, key in enumerate(plan_keys):
                p, colour = ex[key], palette[i % len(palette)]
                ax.plot([0, *p[:, 0]], [0, *p[:, 1]], "-", color=colour, lw=2, label=key[5:])
            if ex.get("people") is not None:
                _draw_people(ax, *ex["people"])
                ax.set_xlim(-hx, hx)  # people beyond the crop must not widen the view
                ax.set_ylim(-hy, hy)
            ax.plot(*ex["subgoal"], "r*", ms=10)
            ax.set_title(f"episode {ex['episode']} tick {ex['tick']}", fontsize=8)
            ax.legend(fontsize=6, loc="lower left")
        fig.tight_layout()
        fig.savefig(out / "plans.png", dpi=80)
        plt.close(fig)
    shown = min(4, len(tracks.get("wheel only", [])))
    if shown:
        fig, axes = plt.subplots(1, shown, figsize=(4 * shown, 4), squeeze=False)
        for i, ax in enumerate(axes[0]):
            gt = tracks["wheel only"][i][1]
            ax.plot(gt[:, 0], gt[:, 1], "k-", lw=2, label="ground truth")
            for label, items in tracks.items():
                est = items[i][0]
                ax.plot(est[:, 0], est[:, 1], lw=1, label=label)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"episode {i}", fontsize=8)
        # One legend under the panels: inside a panel it covered the narrow tracks.
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7)
        fig.tight_layout(rect=(0.0, 0.04 * (1 + len(labels) // 3), 1.0, 1.0))
        fig.savefig(out / "odometry.png", dpi=80)
        plt.close(fig)


__all__ = ["evaluate_local", "load_checkpoint", "markdown", "parse_worlds"]
