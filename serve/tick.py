"""Astra-Local's streaming tick: one compiled function per control tick, its cache as state.

Each tick reads the newest frame only (the rig's N images), plus the IMU and wheel samples
since the previous tick, and returns

* ``trajectories`` (B, S, n, 3): S flow-matching samples of the planning head, as ego-frame
  waypoint poses (x m, y m, yaw rad), for the navigator's best-of-S choice (the paper's FM*);
  with ``TickConfig.guidance`` the tick also takes this frame's run-time ESDF (``esdf``) and
  steers the Euler steps out of its obstacles
  (:mod:`~astra_jax.local_model.esdf_guidance`);
* ``odometry`` (B, 3) and ``odometry_log_scale`` (B, 3): the motion since the previous tick
  (dx m, dy m, dyaw rad in the previous frame) and its Laplace log scale; ``odometry_valid``
  (B,) is False on an episode's first tick (no previous frame);

with the state, a plain dict of arrays, passed back in on the next tick:

* ``prev_frame`` (B, X, Y, C): the previous frame's features, the odometry head's other half of
  the newest pair;
* ``tokens`` {modality: (B, W, width)} and ``valid`` (B, W): the odometry head's last W steps'
  tokens. A step's tokens depend on that step's inputs alone (:meth:`OdometryHead.tokens`), so
  only the newest pair is tokenized per tick; :meth:`OdometryHead.fuse` reads the window;
* ``frames`` (B, P, X, Y, Z', C') and ``poses`` (B, P, 3), only when the planner reads the
  temporally fused features (``heads_read = "fused"``): the encoder's past frames, warped into
  the current frame each tick by :func:`~astra_jax.local_model.temporal.warp_history`;
* ``ticks`` (B,) int32: ticks seen. On the first tick every history slot is filled with the
  current frame (a robot that stood still), which is also what the batch encoder sees when its
  history repeats the first frame.

What the planner reads (``TickConfig.heads_read``): ``frame``, the current frame's own splat,
which is what heads trained on the frozen encoder's cache read (``astra train local-*``);
``fused``, the temporal fusion's output (heads trained end to end through the encoder).

Equalities the tests hold (to 1e-5): the streaming encoder equals
:class:`~astra_jax.local_model.encoder.LocalEncoder` on the same frames; the planner equals
:func:`~astra_jax.local_model.flow_matching.sample` with the same key; the odometry equals
:class:`~astra_jax.local_model.odometry_head.OdometryHead` on the whole window.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.esdf_guidance import EsdfGuidance, guided_velocity
from astra_jax.local_model.flow_matching import euler
from astra_jax.local_model.frame_features import feature_shape, splat_frames
from astra_jax.local_model.odometry_head import OdometryHead, OdometryHeadConfig
from astra_jax.local_model.planning_head import PlanningHead, PlanningHeadConfig
from astra_jax.local_model.temporal import TemporalFusion, warp_history
from astra_jax.local_model.trajectory import rollout
from astra_jax.validation import check_choice, check_positive_ints, check_types, fail_field

HEADS_READ = ("frame", "fused")
Params = dict[str, Any]
State = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class TickConfig:
    """The models of one tick.

    Attributes:
      encoder: the encoder (lift, splat, and temporal fusion when ``heads_read = "fused"``).
      planning, odometry: the heads; both read the encoder's (X, Y, C) features.
      num_samples: S, planner samples per tick (best-of-S by the navigator).
      heads_read: ``frame`` or ``fused`` (module docstring).
      guidance: ESDF guidance of the planner's Euler steps, or None (no ``esdf`` input).
      esdf_shape: (Ex, Ey) cells of the ``esdf`` input (the navigator's run-time grid; cells
        of ``guidance.resolution`` m, laid out as ``LocalGridConfig`` says).
    """

    encoder: EncoderConfig
    planning: PlanningHeadConfig
    odometry: OdometryHeadConfig
    num_samples: int = 8
    heads_read: str = "frame"
    guidance: EsdfGuidance | None = None
    esdf_shape: tuple[int, int] = (96, 96)

    def __post_init__(self) -> None:
        check_types(self, encoder=EncoderConfig, planning=PlanningHeadConfig,
                    odometry=OdometryHeadConfig)  # fmt: skip
        check_positive_ints(self, "num_samples")
        if self.guidance is not None and not isinstance(self.guidance, EsdfGuidance):
            fail_field(self, "guidance", "an EsdfGuidance or None")
        shape = self.esdf_shape
        if not (isinstance(shape, tuple) and len(shape) == 2
                and all(isinstance(x, int) and x > 0 for x in shape)):  # fmt: skip
            fail_field(self, "esdf_shape", "a tuple of two positive ints")
        check_choice(self, "heads_read", HEADS_READ)
        bev = feature_shape(self.encoder)
        for head in ("planning", "odometry"):
            if getattr(self, head).bev_shape != bev:
                fail_field(self, head, f"a head reading the encoder's features, bev_shape {bev}")
        if self.planning.extra_channels:
            fail_field(self, "planning", "no extra channels (the tick has none to give yet)")

    @property
    def param_groups(self) -> tuple[str, ...]:
        """Top-level keys of the tick's parameters."""
        fused = ("fusion",) if self.heads_read == "fused" else ()
        return ("lift", *fused, "planning", "odometry")

    def inputs_spec(self, batch: Any) -> dict[str, jax.ShapeDtypeStruct]:
        """One tick's inputs for ``batch`` robots (an int or a symbolic dimension):

        * ``images`` (B, N, H, W, 3) uint8: the rig's cameras in config order;
        * ``pose`` (B, 3): the odometry pose (x, y, yaw) of this frame in any fixed frame (the
          fused encoder warps its history with it; the frame planner ignores it);
        * ``subgoal`` (B, 2) m in the ego frame; ``velocity`` (B, 2) (v m/s, omega rad/s);
        * ``imu`` (B, S_imu, 6) and ``wheel`` (B, S_wheel, 2): the samples since the previous
          tick (gyro rad/s and specific force m/s^2; wheel rates rad/s);
        * ``rng`` (2,) uint32: a threefry key's data, the planner's noise;
        * with ``guidance``, ``esdf`` (B, Ex, Ey) m: this frame's run-time ESDF (ego frame).
        """
        enc, odo, f32 = self.encoder, self.odometry, jnp.float32
        h, w = enc.rig.image_hw
        guide = {} if self.guidance is None else {
            "esdf": jax.ShapeDtypeStruct((batch, *self.esdf_shape), f32)
        }  # fmt: skip
        return {
            "images": jax.ShapeDtypeStruct((batch, enc.num_cameras, h, w, 3), jnp.uint8),
            "pose": jax.ShapeDtypeStruct((batch, 3), f32),
            "subgoal": jax.ShapeDtypeStruct((batch, 2), f32),
            "velocity": jax.ShapeDtypeStruct((batch, 2), f32),
            "imu": jax.ShapeDtypeStruct((batch, odo.imu_samples, 6), f32),
            "wheel": jax.ShapeDtypeStruct((batch, odo.wheel_samples, 2), f32),
            "rng": jax.ShapeDtypeStruct((2,), jnp.uint32),
            **guide,
        }

    def state_spec(self, batch: Any) -> dict[str, Any]:
        """The state's shapes (module docstring)."""
        odo, f32 = self.odometry, jnp.float32
        spec: dict[str, Any] = {
            "prev_frame": jax.ShapeDtypeStruct((batch, *odo.bev_shape), f32),
            "tokens": {
                m: jax.ShapeDtypeStruct((batch, odo.window, odo.width), f32) for m in odo.modalities
            },
            "valid": jax.ShapeDtypeStruct((batch, odo.window), jnp.bool_),
            "ticks": jax.ShapeDtypeStruct((batch,), jnp.int32),
        }
        if self.heads_read == "fused":
            enc = self.encoder
            past = enc.local.past_frames
            spec["frames"] = jax.ShapeDtypeStruct((batch, past, *enc.fused_shape), f32)
            spec["poses"] = jax.ShapeDtypeStruct((batch, past, 3), f32)
        return spec

    @classmethod
    def for_preset(cls, name: str, **overrides: Any) -> TickConfig:
        """The tick of preset ``name``'s encoder and heads."""
        return cls(
            encoder=EncoderConfig.from_preset(name),
            planning=PlanningHeadConfig.for_preset(name),
            odometry=OdometryHeadConfig.for_preset(name),
            **overrides,
        )

    def init_params(self, rng: jax.Array) -> Params:
        """Randomly initialised, unboxed parameters (tests and benchmarks)."""
        import flax.linen as nn

        r_enc, r_plan, r_odo = jax.random.split(rng, 3)
        encoder = nn.unbox(self.encoder.create(r_enc)[1])
        params = {
            "lift": encoder["lift"],
            "planning": nn.unbox(self.planning.create(r_plan)[1]),
            "odometry": nn.unbox(self.odometry.create(r_odo)[1]),
        }
        if self.heads_read == "fused":
            params["fusion"] = encoder["fusion"]
        return params

    def init_state(self, batch: int) -> State:
        """Zeros of :meth:`state_spec` (``ticks`` 0: the next tick starts an episode)."""
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), self.state_spec(batch))


def _fill_on_start(started: jax.Array, history: jax.Array, current: jax.Array) -> jax.Array:
    """``history`` (B, K, ...) where the robot has a past, else K copies of ``current`` (B, ...)."""
    mask = started.reshape(-1, *([1] * (history.ndim - 1)))
    return jnp.where(mask, history, current[:, None])


def _push(history: jax.Array, newest: jax.Array) -> jax.Array:
    """Drop the oldest of (B, K, ...) and append ``newest`` (B, ...)."""
    return jnp.concatenate([history[:, 1:], newest[:, None]], axis=1)


@dataclasses.dataclass(frozen=True)
class LocalTick:
    """The tick of ``config`` as a pure function: ``step(params, state, inputs) -> (state,
    outputs)`` (jit it, or export it with :mod:`astra_jax.serve.export`)."""

    config: TickConfig

    def encode(self, params: Params, state: State, images: jax.Array, pose: jax.Array
               ) -> tuple[jax.Array, jax.Array, State]:  # fmt: skip
        """(the planner's features (B, X, Y, C), this frame's own (B, X, Y, C), the encoder's
        part of the new state)."""
        enc = self.config.encoder
        frame = splat_frames(enc, params["lift"], images)  # (B, X, Y, Z', C')
        b = frame.shape[0]
        folded = frame.reshape(b, *feature_shape(enc))
        if self.config.heads_read == "frame":
            return folded, folded, {}
        started = state["ticks"] > 0
        past = _fill_on_start(started, state["frames"], frame)
        past_poses = _fill_on_start(started, state["poses"], pose)
        frames = jnp.concatenate([past, frame[:, None]], axis=1)
        poses = jnp.concatenate([past_poses, pose[:, None]], axis=1)
        fusion = TemporalFusion(enc.compute_dtype, enc.parameter_dtype)
        fused = fusion.apply(
            {"params": params["fusion"]}, frame, warp_history(frames, poses, enc.local.voxel)
        ).astype(jnp.float32)
        new = {"frames": frames[:, 1:], "poses": poses[:, 1:]}
        return fused.reshape(b, *feature_shape(enc)), folded, new

    def plan(self, params: Params, bev: jax.Array, subgoal: jax.Array, velocity: jax.Array,
             rng: jax.Array, esdf: jax.Array | None = None) -> jax.Array:  # fmt: skip
        """(B, S, n, 3) ego-frame waypoint poses: the condition encoded once, K Euler steps
        over the trajectory tokens only (as :func:`flow_matching.sample`, same noise), guided
        by ``esdf`` (B, Ex, Ey) m when the config has ``guidance``."""
        guidance = self.config.guidance
        cfg = self.config.planning
        head = PlanningHead(cfg)
        variables = {"params": params}
        x0 = jax.random.normal(
            jax.random.wrap_key_data(rng, impl="threefry2x32"),
            (bev.shape[0], self.config.num_samples, *cfg.action_shape),
        )
        cond = head.apply(variables, bev, subgoal, velocity, method=PlanningHead.encode)

        def field(x: jax.Array, t: jax.Array) -> jax.Array:
            v = head.apply(variables, cond, x, t, method=PlanningHead.velocity_field)
            if guidance is None:
                return v
            return guided_velocity(v, x, t, esdf, cfg.denormalize_action, guidance)

        return rollout(cfg.denormalize_action(euler(field, x0, cfg.flow_steps)))

    def odometry(self, params: Params, state: State, folded: jax.Array, imu: jax.Array,
                 wheel: jax.Array) -> tuple[dict[str, jax.Array], State]:  # fmt: skip
        """The newest pair's tokens pushed into the window, then the head's transformer."""
        head = OdometryHead(self.config.odometry)
        variables = {"params": params}
        started = state["ticks"] > 0
        prev = jnp.where(started[:, None, None, None], state["prev_frame"], folded)
        newest = head.apply(
            variables,
            jnp.stack([prev, folded], axis=1),
            imu[:, None],
            wheel[:, None],
            started[:, None],
            method=OdometryHead.tokens,
        )
        tokens = {m: _push(state["tokens"][m], newest[m][:, 0]) for m in newest}
        valid = _push(state["valid"], started)
        cfg = self.config.odometry
        kin = head.apply(variables, imu if cfg.use_imu else None,
                         wheel if cfg.use_wheel else None, folded.shape[0],
                         method=OdometryHead.kinematics)  # fmt: skip
        out = head.apply(variables, tokens, valid, kin, method=OdometryHead.fuse)
        outputs = {
            "odometry": out.pose,
            "odometry_log_scale": out.log_scale,
            "odometry_valid": started,
        }
        return outputs, {"prev_frame": folded, "tokens": tokens, "valid": valid}

    def step(self, params: Params, state: State, inputs: dict[str, jax.Array]
             ) -> tuple[State, dict[str, jax.Array]]:  # fmt: skip
        """One tick (shapes in :meth:`TickConfig.inputs_spec` / :meth:`TickConfig.state_spec`)."""
        bev, folded, enc_state = self.encode(params, state, inputs["images"], inputs["pose"])
        trajectories = self.plan(params["planning"], bev, inputs["subgoal"], inputs["velocity"],
                                 inputs["rng"], inputs.get("esdf"))  # fmt: skip
        outputs, odo_state = self.odometry(
            params["odometry"], state, folded, inputs["imu"], inputs["wheel"]
        )
        new_state = {**odo_state, **enc_state, "ticks": state["ticks"] + 1}
        return new_state, {"trajectories": trajectories, **outputs}
