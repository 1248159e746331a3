"""Task ``global-grpo``: Astra-Global's GRPO stage after SFT (paper Sec. 2.4).

``astra train global-grpo-tiny --config.sft-workdir RUN`` starts from the SFT run's
parameters (``sft_step``: best, latest or a number), which also stay frozen as the KL
reference. Each step (an :class:`~astra_jax.train.trainable.OnlineTrainable` rollout):

1. the batch's P prompts (training samples of the SFT data's train worlds, of the tasks in
   ``GrpoOptions.tasks``) are each answered G times by the current policy with the KV-cache
   generator (temperature sampling);
2. every answer is scored by the rule rewards of :func:`~astra_jax.tasks.global_rewards.
   sample_rewards` (format, landmark extraction, map matching, extra landmarks,
   co-visibility, pose accuracy) against the sample's own answer;
3. advantages are normalized within each prompt's group; prompt + answer become one training
   row, whose reference log-probabilities come from the frozen SFT parameters;
4. the engine takes one optimizer step on :func:`~astra_jax.train.grpo.grpo_loss` (clipped
   ratio, KL to the reference). One update per batch of samples, so the ratio's "old" policy
   is the current one (``stop_gradient``): the clip matters only for more updates per batch.

Every reward term is logged as its own training curve (``reward_<term>``, the mean over the
answers that have the term). At every checkpoint the policy answers a fixed set of the
validation worlds' prompts greedily; their mean total reward (``reward``) ranks checkpoints.
Test worlds are never read here. Single-process only (the rollout runs on this host).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import grain
import jax
import jax.numpy as jnp
import numpy as np

from astra_jax.config import ConfigError
from astra_jax.data.localization_packing import prompt_ids
from astra_jax.data.localization_samples import LocalizationSample, WorldSamples
from astra_jax.global_model.model import Qwen25VL, init_boxed_params
from astra_jax.tasks import TaskSpec
from astra_jax.tasks.global_rewards import REWARD_TERMS, REWARDED_TASKS, RewardWeights
from astra_jax.tasks.global_sft import GlobalSftConfig, forward_logits
from astra_jax.train import grpo
from astra_jax.train.precision import Precision
from astra_jax.train.trainable import Batch, Metrics
from astra_jax.validation import (
    check_bools,
    check_non_empty_strings,
    check_positive_ints,
    check_types,
)


@dataclasses.dataclass(frozen=True)
class GrpoOptions:
    """Sampling, objective and row shapes.

    Attributes:
        tasks: the sample tasks prompted (each has a rule reward).
        group_size: G, answers sampled per prompt.
        temperature: sampling temperature of the rollouts (top-p ``top_p``).
        max_new_tokens: longest answer (an unfinished answer does not parse: reward 0).
        clip_eps: the ratio's clip range.
        kl_beta: weight of the KL penalty to the SFT reference.
        seq_len: tokens per training row (prompt + answer); longer prompts are skipped.
        max_images: images per row.
        eval_per_task: validation prompts per task answered greedily at each checkpoint.
        rewards: the reward constants.
        drop_uniform_groups: leave out of the loss the groups whose answers all scored alike
            (DAPO's dynamic sampling without the refill; :func:`grpo.informative_groups`).
            Off by default (``--config.grpo.drop-uniform-groups`` turns it on): at tiny it did
            not raise the validation reward (docs/design.md section 14, "GRPO"), and recorded
            configs from before it rebuild what they trained.
    """

    tasks: tuple[str, ...] = ("coarse", "fine", "covisibility", "relative_pose", "landmarks")
    group_size: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 96
    clip_eps: float = 0.2
    kl_beta: float = 0.04
    seq_len: int = 1536
    max_images: int = 4
    eval_per_task: int = 8
    rewards: RewardWeights = dataclasses.field(default_factory=RewardWeights)
    drop_uniform_groups: bool = False

    def __post_init__(self) -> None:
        check_bools(self, "drop_uniform_groups")
        unknown = sorted(set(self.tasks) - set(REWARDED_TASKS))
        if unknown or not self.tasks:
            raise ConfigError(
                f"GrpoOptions.tasks = {self.tasks}: expected some of {REWARDED_TASKS}"
            )
        check_positive_ints(self, "max_new_tokens", "seq_len", "max_images", "eval_per_task")
        if not isinstance(self.group_size, int) or self.group_size < 2:
            raise ConfigError(f"GrpoOptions.group_size = {self.group_size!r}: expected >= 2")
        if not self.temperature > 0:
            raise ConfigError(f"GrpoOptions.temperature = {self.temperature}: expected > 0")
        if not 0 < self.clip_eps < 1 or not self.kl_beta >= 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                f"GrpoOptions: clip_eps {self.clip_eps} must lie in (0, 1), kl_beta "
                f"{self.kl_beta} >= 0, top_p {self.top_p} in (0, 1]"
            )


@dataclasses.dataclass(frozen=True)
class GlobalGrpoConfig:
    """The SFT run's config (model, rig, worlds), where its checkpoint is (``sft_workdir``, a
    global-sft run of that config; required to train), and GRPO's options."""

    name: str
    sft: GlobalSftConfig
    grpo: GrpoOptions = dataclasses.field(default_factory=GrpoOptions)
    sft_workdir: str = ""
    sft_step: str = "best"

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name", "sft_step")
        check_types(self, sft=GlobalSftConfig, grpo=GrpoOptions, sft_workdir=str)


@dataclasses.dataclass(frozen=True, eq=False)
class PromptItem:
    """A sample as a prompt: its chat-template ids (L,), and where its images and truth are."""

    world: int
    sample: LocalizationSample
    ids: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class PromptPool:
    """The prompts of one split's worlds that fit a row."""

    worlds: tuple[WorldSamples, ...]
    items: tuple[PromptItem, ...]


@dataclasses.dataclass(frozen=True)
class GlobalGrpoTask:
    """GRPO bound to one config: the engine's :class:`OnlineTrainable`."""

    config: GlobalGrpoConfig
    eval_split: str | None = "val"
    checkpoint_metric: tuple[str, str] = ("reward", "max")

    # ------------------------------------------------------------------ model

    @functools.cached_property
    def module(self) -> Qwen25VL:
        return self.config.sft.model.model()

    @property
    def grid(self) -> tuple[int, int, int]:
        from astra_jax.data.localization_packing import image_grid

        return image_grid(self.config.sft.model, self.config.sft.data.image_hw)

    def init(self, rng: jax.Array) -> Any:
        return init_boxed_params(self.module, rng)

    @property
    def initial_params_source(self) -> str:
        c = self.config
        return f"{c.sft_workdir} step {c.sft_step}"

    @functools.cached_property
    def _sft_params(self) -> Any:
        """The SFT checkpoint's parameters (host float32): the start and the KL reference."""
        c = self.config
        if not c.sft_workdir:
            raise ConfigError(
                "global-grpo needs an SFT run to start from: pass --config.sft-workdir RUN "
                "(the workdir of an astra train global-sft-<preset> run)"
            )
        from astra_jax.train.evaluate import restore_params
        from astra_jax.train.train_config import config_json

        params, _, saved = restore_params(c.sft_workdir, c.sft_step)
        theirs = dict((saved.get("model_config") or {}).get("model") or {})
        mine = config_json(c.sft.model)
        for k in ("dtype", "param_dtype"):  # the run's precision may differ
            theirs.pop(k, None)
            mine.pop(k, None)
        if theirs != mine:
            raise ConfigError(
                f"sft_workdir = {c.sft_workdir!r}: its run trained another model than "
                "config.sft.model; use the SFT preset this GRPO preset names"
            )
        return jax.tree.map(lambda x: np.asarray(x, np.float32), params)

    def initial_params(self) -> Any:
        return self._sft_params

    @functools.cached_property
    def _reference(self) -> Any:
        """The frozen reference policy (the SFT parameters) on the default device."""
        dtype = jnp.dtype(self.config.sft.model.param_dtype)
        return jax.tree.map(lambda x: jnp.asarray(x, dtype), self._sft_params)

    # ------------------------------------------------------------------ data

    @functools.cached_property
    def _tokenizer(self) -> Any:
        from astra_jax.global_model.tokenizer import ChatTokenizer

        tokenizer = ChatTokenizer.from_file()
        tokenizer.check_config(self.config.sft.model)
        return tokenizer

    @functools.cached_property
    def _pools(self) -> dict[str, PromptPool]:
        return {}

    def _pool(self, split: str) -> PromptPool:
        if split not in self._pools:
            self._pools[split] = self._make_pool(split)
        return self._pools[split]

    def _make_pool(self, split: str) -> PromptPool:
        from astra_jax.data.localization_worlds import ensure_world, load_world_samples

        sft, g = self.config.sft, self.config.grpo
        names = {"train": sft.data.train_worlds, "val": sft.data.val_worlds}.get(split)
        if names is None:
            raise ConfigError(f"split {split!r}: global-grpo reads train and val worlds only")
        worlds = tuple(
            load_world_samples(ensure_world(w, sft.render, sft.data.tour_frames, sft.data.samples))
            for w in names
        )
        items = []
        for w, ws in enumerate(worlds):
            for s in ws.samples:
                if s.task not in g.tasks or len(s.image_ids) > g.max_images:
                    continue
                ids = prompt_ids(s, self._tokenizer, sft.model, self.grid)
                if len(ids) + g.max_new_tokens <= g.seq_len:
                    items.append(PromptItem(w, s, ids))
        if not items:
            raise ConfigError(
                f"global-grpo: no {split} prompt of tasks {g.tasks} fits seq_len {g.seq_len} "
                f"with max_new_tokens {g.max_new_tokens} and {g.max_images} images"
            )
        return PromptPool(worlds, tuple(items))

    def _patches(self, split: str, item: PromptItem) -> list[np.ndarray]:
        """The patches of each image of ``item`` (in prompt order), at the training size."""
        from astra_jax.global_model.image_processing import preprocess_image_at

        images = self._pool(split).worlds[item.world].images
        vision, hw = self.config.sft.model.vision, self.config.sft.data.image_hw
        return [preprocess_image_at(images[i], vision, hw)[0] for i in item.sample.image_ids]

    def dataset(
        self, split: str, seed: int, process_index: int, process_count: int
    ) -> grain.MapDataset:
        del seed  # the engine shuffles
        if process_count != 1:
            raise ConfigError("global-grpo runs in one process (the rollout samples on this host)")
        n = len(self._pool(split).items)
        return grain.MapDataset.source([{"prompt": np.int32(i)} for i in range(n)])

    # ------------------------------------------------------------------ rollout

    def _answer(
        self,
        params: Any,
        items: list[PromptItem],
        patches: list[list[np.ndarray]],
        rng: jax.Array,
        greedy: bool,
    ) -> list[np.ndarray]:
        """Generated token ids (stop token included) of each prompt in ``items``, whose
        images' patches are ``patches``."""
        from astra_jax.global_model.generate import generate
        from astra_jax.global_model.inputs import Prompt, make_batch
        from astra_jax.global_model.sampling import SamplingConfig

        g, model = self.config.grpo, self.config.sft.model
        prompts = [
            Prompt(it.ids, tuple((x, self.grid) for x in px))
            for it, px in zip(items, patches, strict=True)
        ]
        sampling = SamplingConfig(
            g.max_new_tokens,
            0.0 if greedy else g.temperature,
            1.0 if greedy else g.top_p,
            tuple(self._tokenizer.stop_ids),
            model.pad_token_id,
            # an answer is text: vision tokens would turn into image slots in the training row
            banned_token_ids=(
                model.image_token_id,
                model.video_token_id,
                model.vision_start_token_id,
                model.vision_end_token_id,
            ),
        )
        # prompts padded to a multiple of 128 tokens: few compiled programs
        out = generate(self.module, params, make_batch(prompts, model, 128), rng, sampling)
        tokens, lengths = np.asarray(out.tokens), np.asarray(out.lengths)
        return [tokens[r, : lengths[r]] for r in range(len(items))]

    def _rewards(self, split: str, item: PromptItem, answer: np.ndarray) -> dict[str, float]:
        from astra_jax.global_model.formats import PlanarPose
        from astra_jax.tasks.global_rewards import sample_rewards

        ws = self._pool(split).worlds[item.world]
        s = item.sample
        query = PlanarPose(*ws.frame_poses[s.frame])
        text = self._tokenizer.decode(answer)
        return sample_rewards(
            s.task, text, s.answer, query, ws.landmark_xy, ws.bounds, self.config.grpo.rewards
        )

    def _row(
        self, item: PromptItem, patches: list[np.ndarray], answer: np.ndarray
    ) -> dict[str, np.ndarray]:
        """One training row: prompt + answer, the answer's tokens weighted."""
        from astra_jax.global_model.positions import mrope_positions

        g, model = self.config.grpo, self.config.sft.model
        s, t, h, w = g.seq_len, *self.grid
        ids = np.concatenate([item.ids, answer]).astype(np.int32)
        n, m = len(ids), len(item.ids)
        pos, _ = mrope_positions(
            item.ids[None], np.ones((1, m), bool), [self.grid] * len(item.sample.image_ids),
            model.image_token_id, model.vision.spatial_merge_size,
        )  # fmt: skip
        row_ids = np.full(s, model.pad_token_id, np.int32)
        row_ids[:n] = ids
        seg = np.zeros(s, np.int32)
        seg[:n] = 1
        positions = np.zeros((3, s), np.int32)
        positions[:, :m] = pos[:, 0]
        # answer tokens at the ids the generator fed them with: one past the prompt's largest
        positions[:, m:n] = pos.max() + 1 + np.arange(n - m)
        weights = np.zeros(s, np.float32)  # weights[i]: token i + 1 is an answer token
        weights[m - 1 : n - 1] = 1.0
        p = t * h * w
        pixels = np.zeros((g.max_images * p, model.vision.patch_dim), np.float32)
        for k, x in enumerate(patches):
            pixels[k * p : (k + 1) * p] = x
        return {
            "input_ids": row_ids,
            "segment_ids": seg,
            "positions": positions,
            "targets": np.roll(row_ids, -1),
            "weights": weights,
            "pixel_values": pixels,
        }

    def rollout(self, params: Any, examples: dict[str, Any], rng: jax.Array) -> dict[str, Any]:
        g = self.config.grpo
        pool = self._pool("train")
        items = [pool.items[int(i)] for i in np.asarray(examples["prompt"])]
        patches = [self._patches("train", it) for it in items]  # once per prompt, not per answer
        repeated = [it for it in items for _ in range(g.group_size)]
        repeated_px = [px for px in patches for _ in range(g.group_size)]
        answers = self._answer(params, repeated, repeated_px, rng, greedy=False)
        rewards = [self._rewards("train", it, a) for it, a in zip(repeated, answers, strict=True)]
        terms = np.array([[r.get(k, np.nan) for k in REWARD_TERMS] for r in rewards], np.float32)
        total = terms[:, REWARD_TERMS.index("total")]
        rows = [
            self._row(it, px, a) for it, px, a in zip(repeated, repeated_px, answers, strict=True)
        ]
        batch = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
        batch["advantages"] = np.asarray(grpo.group_advantages(jnp.asarray(total), g.group_size))
        batch["informative"] = np.asarray(grpo.informative_groups(jnp.asarray(total), g.group_size))
        batch["ref_logp"] = np.asarray(self._ref_logp(self._reference, batch))
        batch["rewards"] = np.nan_to_num(terms)
        batch["reward_valid"] = (~np.isnan(terms)).astype(np.float32)
        return batch

    @functools.cached_property
    def _ref_logp(self) -> Any:
        def logp(params: Any, batch: Batch) -> jax.Array:
            return grpo.token_log_probs(self._logits(params, batch), batch["targets"])

        return jax.jit(logp)

    # ------------------------------------------------------------------ loss

    def _logits(self, params: Any, batch: Batch) -> jax.Array:
        return forward_logits(self.module, params, batch, self.grid, self.config.grpo.max_images)

    def loss_fn(self, params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, Metrics]:
        del rng  # the randomness was in the rollout
        g = self.config.grpo
        logp = grpo.token_log_probs(self._logits(params, batch), batch["targets"])
        loss, stats = grpo.grpo_loss(
            logp,
            jax.lax.stop_gradient(logp),  # one update per rollout: the sampler is this policy
            batch["ref_logp"],
            batch["advantages"],
            batch["weights"],
            clip_eps=g.clip_eps,
            kl_beta=g.kl_beta,
            answer_weights=batch["informative"] if g.drop_uniform_groups else None,
        )
        valid, r = batch["reward_valid"], batch["rewards"]
        count = valid.sum(axis=0)
        means = jnp.where(count > 0, (r * valid).sum(axis=0) / jnp.maximum(count, 1.0), jnp.nan)
        w = batch["weights"]
        return loss, {
            "loss": loss,
            **stats,
            **{f"reward_{k}": means[i] for i, k in enumerate(REWARD_TERMS)},
            "answer_tokens": w.sum() / w.shape[0],
            # share of answers in groups whose rewards differ (the ones that teach something)
            "informative": batch["informative"].mean(),
            "num_tokens": (batch["segment_ids"] > 0).sum().astype(jnp.float32),
        }

    def eval_fn(self, params: Any, batch: Batch) -> Metrics:
        return self.loss_fn(params, batch, jax.random.key(0))[1]

    def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        g, model = self.config.grpo, self.config.sft.model
        b, s = batch_size * g.group_size, g.seq_len
        t, h, w = self.grid
        i32, f32 = jnp.int32, jnp.float32
        c = len(REWARD_TERMS)
        return {
            "input_ids": jax.ShapeDtypeStruct((b, s), i32),
            "segment_ids": jax.ShapeDtypeStruct((b, s), i32),
            "positions": jax.ShapeDtypeStruct((b, 3, s), i32),
            "targets": jax.ShapeDtypeStruct((b, s), i32),
            "weights": jax.ShapeDtypeStruct((b, s), f32),
            "pixel_values": jax.ShapeDtypeStruct(
                (b, g.max_images * t * h * w, model.vision.patch_dim), f32
            ),
            "advantages": jax.ShapeDtypeStruct((b,), f32),
            "informative": jax.ShapeDtypeStruct((b,), f32),
            "ref_logp": jax.ShapeDtypeStruct((b, s), f32),
            "rewards": jax.ShapeDtypeStruct((b, c), f32),
            "reward_valid": jax.ShapeDtypeStruct((b, c), f32),
        }

    # ------------------------------------------------------------------ evaluation

    @functools.cached_property
    def _eval_items(self) -> list[PromptItem]:
        """Up to ``eval_per_task`` validation prompts per task, a fixed draw."""
        by_task: dict[str, list[PromptItem]] = {}
        for it in self._pool("val").items:
            by_task.setdefault(it.sample.task, []).append(it)
        rng = np.random.default_rng(0xE7A1)
        out = []
        for task in sorted(by_task):
            items = by_task[task]
            pick = rng.choice(len(items), min(self.config.grpo.eval_per_task, len(items)), False)
            out += [items[int(i)] for i in sorted(pick)]
        return out

    def evaluate(self, params: Any) -> dict[str, float]:
        """Greedy answers to the validation prompts: mean total reward (``reward``), per task
        (``reward_<task>``) and the share that parse (``format``)."""
        items, rows = self._eval_items, []
        for start in range(0, len(items), 8):
            chunk = items[start : start + 8]
            patches = [self._patches("val", it) for it in chunk]
            answers = self._answer(params, chunk, patches, jax.random.key(0), greedy=True)
            rows += [(it.sample.task, self._rewards("val", it, a))
                     for it, a in zip(chunk, answers, strict=True)]  # fmt: skip
        out = {
            "reward": float(np.mean([r["total"] for _, r in rows])),
            "format": float(np.mean([r["format"] for _, r in rows])),
        }
        for task in sorted({t for t, _ in rows}):
            out[f"reward_{task}"] = float(np.mean([r["total"] for t, r in rows if t == task]))
        return out


def build(config: GlobalGrpoConfig, precision: Precision) -> GlobalGrpoTask:
    """The task for ``config``; the model computes and stores parameters in ``precision``'s
    dtypes."""
    model = dataclasses.replace(
        config.sft.model, dtype=precision.compute_dtype, param_dtype=precision.param_dtype
    )
    return GlobalGrpoTask(
        dataclasses.replace(config, sft=dataclasses.replace(config.sft, model=model))
    )


SPEC = TaskSpec(
    summary="Astra-Global GRPO after SFT: sampled answers, rule rewards, KL to the SFT model",
    config_type=GlobalGrpoConfig,
    build=build,
)
