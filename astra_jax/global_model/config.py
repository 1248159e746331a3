"""Astra-Global configs: the Qwen2.5-VL vision tower, the Qwen2 language model, and presets.

``GlobalModelConfig`` is frozen and checks itself. ``create(rng)`` builds the model and its
parameters; ``inputs_spec(batch_size)`` gives the ``jax.ShapeDtypeStruct`` of every model input,
so shapes are defined once for init, ``eval_shape``, export, fake batches and tests.

Presets (see ``get_config``):

==================  =================================================================
``tiny``            unit tests, ~0.3M parameters, our byte-level BPE (2048-id vocab)
``small``           trained here from scratch, ~20M parameters, same tokenizer
``qwen2.5-vl-3b``   the published Qwen2.5-VL-3B-Instruct architecture (3.75B parameters)
``qwen2.5-vl-7b``   the published Qwen2.5-VL-7B-Instruct architecture (8.29B parameters)
==================  =================================================================

The two Qwen presets are read from ``qwen2_5_vl_*.config.json``, typed from the published
``config.json`` files; real weights come from a local Hugging Face directory
(``astra_jax.global_model.hf_checkpoint``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from astra_jax.validation import (
    ConfigError,
    check_bools,
    check_choice,
    check_dtype_names,
    check_hw,
    check_ints,
    check_non_empty_strings,
    check_positive_ints,
    check_positive_numbers,
    check_types,
    fail_field,
    fields_annotated,
)

if TYPE_CHECKING:
    from astra_jax.global_model.model import Qwen25VL

Params = dict[str, Any]

# Fixed by the architecture rather than by config.json: every RMSNorm of the vision tower
# (blocks and merger) uses eps = 1e-6 whatever the text model's rms_norm_eps is.
VISION_NORM_EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    """Qwen2.5-VL vision tower (a ViT with 2-D RoPE, window attention and a 2x2 patch merger).

    Images become ``patch_size`` px square patches; ``temporal_patch_size`` frames form one
    patch in time (a still image is repeated). ``window_size`` is in pixels: blocks attend within
    windows of ``window_size // (spatial_merge_size * patch_size)`` merged tokens per side,
    except the blocks in ``fullatt_block_indexes``, which attend over the whole frame. The merger
    concatenates ``spatial_merge_size``^2 neighbouring patches and maps them to
    ``out_hidden_size`` (the language model's width).
    """

    depth: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    out_hidden_size: int
    patch_size: int = 14
    temporal_patch_size: int = 2
    spatial_merge_size: int = 2
    in_channels: int = 3
    window_size: int = 112
    fullatt_block_indexes: tuple[int, ...] = (7, 15, 23, 31)
    rope_theta: float = 10000.0
    tokens_per_second: int = 2  # only used for video temporal ids (videos are not supported)

    def __post_init__(self) -> None:
        check_positive_ints(self, *fields_annotated(self, "int"))  # every int field
        if self.hidden_size % self.num_heads:
            fail_field(self, "num_heads", f"a divisor of hidden_size = {self.hidden_size}")
        if self.head_dim % 4:
            fail_field(
                self, "num_heads", "a head count giving a head dim divisible by 4 (axial RoPE)"
            )
        if self.window_merged < 1:
            fail_field(self, "window_size", "at least spatial_merge_size * patch_size pixels")
        idx = self.fullatt_block_indexes
        if not isinstance(idx, tuple) or any(
            not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.depth for i in idx
        ):
            fail_field(
                self, "fullatt_block_indexes", f"a tuple of block indices in [0, {self.depth})"
            )
        if len(set(idx)) != len(idx):
            fail_field(self, "fullatt_block_indexes", "distinct block indices")
        check_positive_numbers(self, "rope_theta")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def patch_dim(self) -> int:
        """Length of one flattened patch: channels x temporal x patch x patch."""
        return self.in_channels * self.temporal_patch_size * self.patch_size**2

    @property
    def merge_unit(self) -> int:
        """Patches merged into one language-model token."""
        return self.spatial_merge_size**2

    @property
    def window_merged(self) -> int:
        """Window side in merged tokens (Hugging Face's ``vit_merger_window_size``)."""
        return self.window_size // self.spatial_merge_size // self.patch_size

    @property
    def image_factor(self) -> int:
        """Image sides must be multiples of this many pixels."""
        return self.patch_size * self.spatial_merge_size


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """Qwen2 decoder: RMSNorm, SwiGLU, grouped-query attention with QKV bias and M-RoPE.

    ``mrope_section`` splits the head's D/2 rotary frequencies into temporal, height and width
    parts; it must sum to ``head_dim // 2``.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 32768

    def __post_init__(self) -> None:
        check_positive_ints(self, *fields_annotated(self, "int"))  # every int field
        if self.hidden_size % self.num_heads:
            fail_field(self, "num_heads", f"a divisor of hidden_size = {self.hidden_size}")
        if self.num_heads % self.num_kv_heads:
            fail_field(self, "num_kv_heads", f"a divisor of num_heads = {self.num_heads}")
        if self.head_dim % 2:
            fail_field(self, "num_heads", "a head count giving an even head dim")
        sec = self.mrope_section
        if (
            not isinstance(sec, tuple)
            or len(sec) != 3
            or any(not isinstance(s, int) or s < 0 for s in sec)
            or sum(sec) != self.head_dim // 2
        ):
            fail_field(
                self, "mrope_section", f"3 non-negative ints summing to {self.head_dim // 2}"
            )
        check_positive_numbers(self, "rms_norm_eps", "rope_theta")
        check_bools(self, "tie_word_embeddings")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclasses.dataclass(frozen=True)
class GlobalModelConfig:
    """The whole Astra-Global model (Qwen2.5-VL architecture) and its special token ids.

    ``dtype`` is the compute dtype, ``param_dtype`` the storage dtype of parameters.
    ``attention_impl`` is passed to ``jax.nn.dot_product_attention`` (None: XLA; "cudnn":
    flash attention on NVIDIA GPUs). ``spec_image_hw`` (pixels, multiples of
    ``vision.image_factor``) and ``spec_text_tokens`` size the example input of
    ``inputs_spec``: one image plus that many text tokens per row.

    ``scan_layers`` runs the decoder layers and the vision blocks with ``nn.scan`` over
    parameters stacked on a leading ``layers`` axis (``layers/...``, ``visual/blocks/...``)
    instead of one unrolled copy per layer (``layers_{i}``, ``visual/blocks_{i}``): XLA then
    compiles one layer body, so compile time stops growing with depth (the 3B's 36 + 32
    layers, unrolled, did not compile in 225 s on an H200). The computation is the same;
    ``global_model.layer_stack`` converts parameters between the two layouts.
    ``remat_layers`` recomputes each layer's activations in the backward pass
    (``nn.remat`` per decoder layer and vision block, nothing saved but each layer's input):
    activation memory of one layer instead of all, for about a third more compute.
    """

    name: str
    vision: VisionConfig
    text: TextConfig
    image_token_id: int
    video_token_id: int
    vision_start_token_id: int
    vision_end_token_id: int
    eos_token_ids: tuple[int, ...]
    pad_token_id: int
    initializer_range: float = 0.02
    dtype: str = "float32"
    param_dtype: str = "float32"
    attention_impl: str | None = None
    spec_image_hw: tuple[int, int] = (56, 56)
    spec_text_tokens: int = 32
    scan_layers: bool = False
    remat_layers: bool = False

    def __post_init__(self) -> None:
        check_non_empty_strings(self, "name")
        check_types(self, vision=VisionConfig, text=TextConfig)
        ids = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
        check_ints(self, *ids, "pad_token_id", minimum=0, expected="a non-negative token id")
        for n in (*ids, "pad_token_id"):
            if getattr(self, n) >= self.text.vocab_size:
                fail_field(self, n, f"a token id below vocab_size = {self.text.vocab_size}")
        if (
            not isinstance(self.eos_token_ids, tuple)
            or not self.eos_token_ids
            or any(
                not isinstance(t, int) or not 0 <= t < self.text.vocab_size
                for t in self.eos_token_ids
            )
        ):
            fail_field(
                self, "eos_token_ids", f"a non-empty tuple of token ids < {self.text.vocab_size}"
            )
        if self.vision.out_hidden_size != self.text.hidden_size:
            raise ConfigError(
                f"{self.name}: vision.out_hidden_size = {self.vision.out_hidden_size}: expected "
                f"the language model's hidden_size = {self.text.hidden_size}"
            )
        check_positive_numbers(self, "initializer_range")
        check_dtype_names(self, "dtype", "param_dtype")
        check_choice(self, "attention_impl", (None, "xla", "cudnn"))
        check_hw(self, "spec_image_hw", multiple_of=self.vision.image_factor)
        check_positive_ints(self, "spec_text_tokens")
        check_bools(self, "scan_layers", "remat_layers")

    # ------------------------------------------------------------------ derived

    @property
    def jnp_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.dtype)

    @property
    def jnp_param_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.param_dtype)

    def image_grid(self, height: int, width: int) -> tuple[int, int, int]:
        """Patch grid ``(t, h, w)`` of one still image of ``height`` x ``width`` pixels."""
        f = self.vision.image_factor
        if height % f or width % f or height <= 0 or width <= 0:
            raise ValueError(
                f"image of {height}x{width} px: expected sides that are positive multiples of {f}"
            )
        p = self.vision.patch_size
        return (1, height // p, width // p)

    def num_image_tokens(self, grid_thw: tuple[int, int, int]) -> int:
        """Language-model tokens (merged patches) for one image of grid ``(t, h, w)``."""
        t, h, w = grid_thw
        return t * h * w // self.vision.merge_unit

    def spec_grid_thw(self, batch_size: int) -> tuple[tuple[int, int, int], ...]:
        """The static image grids of ``inputs_spec(batch_size)``: one image per row."""
        return (self.image_grid(*self.spec_image_hw),) * batch_size

    def replace(self, **changes: Any) -> GlobalModelConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ model

    def model(self) -> Qwen25VL:
        """The Flax module (stateless; parameters are passed to ``apply``)."""
        from astra_jax.global_model.model import Qwen25VL

        return Qwen25VL(self)

    def inputs_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes and dtypes of the model inputs for ``batch_size`` rows of one image each.

        ``input_ids`` (B, S) int32, ``attention_mask`` (B, S) bool, ``positions`` (3, B, S)
        int32 M-RoPE ids, ``pixel_values`` (B * patches, patch_dim) float32, where
        S = image tokens + ``spec_text_tokens``. The matching static image grids are
        ``spec_grid_thw(batch_size)``.
        """
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size = {batch_size!r}: expected a positive integer")
        grid = self.image_grid(*self.spec_image_hw)
        seq = self.num_image_tokens(grid) + self.spec_text_tokens
        patches = batch_size * grid[0] * grid[1] * grid[2]
        return {
            "input_ids": jax.ShapeDtypeStruct((batch_size, seq), jnp.int32),
            "attention_mask": jax.ShapeDtypeStruct((batch_size, seq), jnp.bool_),
            "positions": jax.ShapeDtypeStruct((3, batch_size, seq), jnp.int32),
            "pixel_values": jax.ShapeDtypeStruct((patches, self.vision.patch_dim), jnp.float32),
        }

    def create(self, rng: jax.Array) -> tuple[Qwen25VL, Params]:
        """Build the module and freshly initialised parameters, boxed with their logical axis
        names (``nn.LogicallyPartitioned``), as every model's ``create`` returns them.

        ``model.apply`` takes them as they are; ``flax.linen.meta.unbox`` gives plain arrays.
        ``astra_jax.global_model.model.logical_axes`` gives the names without computing.
        """
        from astra_jax.global_model.model import init_boxed_params

        model = self.model()
        return model, init_boxed_params(model, rng)


# ----------------------------------------------------------------------------- presets

# Special tokens of our byte-level BPE (``tokenizer.json`` next to this file): the Qwen2.5-VL
# names in Qwen's order, at ids 0..13 (Qwen places them after its 151643 text tokens).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
OWN_VOCAB_SIZE = 2048  # a multiple of 128; the BPE may use fewer ids
_OWN_IDS = dict(
    image_token_id=SPECIAL_TOKENS.index("<|image_pad|>"),
    video_token_id=SPECIAL_TOKENS.index("<|video_pad|>"),
    vision_start_token_id=SPECIAL_TOKENS.index("<|vision_start|>"),
    vision_end_token_id=SPECIAL_TOKENS.index("<|vision_end|>"),
    eos_token_ids=(SPECIAL_TOKENS.index("<|im_end|>"), SPECIAL_TOKENS.index("<|endoftext|>")),
    pad_token_id=SPECIAL_TOKENS.index("<|endoftext|>"),
)


def tiny_config() -> GlobalModelConfig:
    """Unit-test size. Window 56 px = 2x2 merged tokens, so a 112 px image spans 2x2 windows."""
    return GlobalModelConfig(
        name="tiny",
        vision=VisionConfig(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            window_size=56,
            fullatt_block_indexes=(1,),
        ),
        text=TextConfig(
            vocab_size=OWN_VOCAB_SIZE,
            hidden_size=64,
            intermediate_size=128,
            num_layers=2,
            num_heads=4,
            num_kv_heads=2,
            mrope_section=(2, 3, 3),
            tie_word_embeddings=True,
            max_position_embeddings=4096,
        ),
        spec_image_hw=(56, 56),
        spec_text_tokens=16,
        **_OWN_IDS,
    )


def small_config() -> GlobalModelConfig:
    """About 20M parameters, trained here from scratch (CPU demo, edge)."""
    return GlobalModelConfig(
        name="small",
        vision=VisionConfig(
            depth=6,
            hidden_size=192,
            intermediate_size=512,
            num_heads=3,
            out_hidden_size=384,
            window_size=112,
            fullatt_block_indexes=(2, 5),
        ),
        text=TextConfig(
            vocab_size=OWN_VOCAB_SIZE,
            hidden_size=384,
            intermediate_size=1280,
            num_layers=8,
            num_heads=6,
            num_kv_heads=2,
            mrope_section=(8, 12, 12),
            tie_word_embeddings=True,
            max_position_embeddings=8192,
        ),
        spec_image_hw=(112, 112),
        spec_text_tokens=64,
        **_OWN_IDS,
    )


def with_own_tokenizer(config: GlobalModelConfig) -> GlobalModelConfig:
    """``config``'s shapes with our byte-level BPE's vocabulary and special ids (named
    ``<name>-own-vocab``): a published architecture trained from scratch here, with the shipped
    tokenizer instead of Qwen's (which is not shipped and never downloaded)."""
    text = dataclasses.replace(config.text, vocab_size=OWN_VOCAB_SIZE)
    return dataclasses.replace(config, name=f"{config.name}-own-vocab", text=text, **_OWN_IDS)


def get_config(name: str) -> GlobalModelConfig:
    """The Astra-Global config called ``name``: ``tiny``, ``small``, ``qwen2.5-vl-3b``, ``-7b``."""
    if name == "tiny":
        return tiny_config()
    if name == "small":
        return small_config()
    from astra_jax.global_model.hf_config import PUBLISHED_CONFIGS, load_published_config

    if name in PUBLISHED_CONFIGS:
        return load_published_config(name)
    names = ("tiny", "small", *PUBLISHED_CONFIGS)
    raise ConfigError(f"unknown Astra-Global config {name!r}: expected one of {', '.join(names)}")
