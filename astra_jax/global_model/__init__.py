"""Astra-Global: the Qwen2.5-VL multimodal LLM in Flax linen.

Public names; the implementation lives in the submodules:

* configs: ``GlobalModelConfig``, ``get_config`` (tiny / small / qwen2.5-vl-3b / -7b)
* model: ``Qwen25VL``, ``logical_axes``, ``count_params``
* inputs: ``Prompt``, ``make_batch``, ``ModelInputs``, ``preprocess_image``, ``mrope_positions``
* generation: ``generate``, ``generate_uncached``, ``prefill``, ``decode_step``,
  ``SamplingConfig``, ``KVCache``
* Hugging Face interop: ``import_hf_params``, ``export_hf``, ``check_hf_dir``,
  ``load_hf_config``, ``HFCheckpointError``
* text: ``ChatTokenizer``
"""

from astra_jax.global_model.config import GlobalModelConfig, get_config
from astra_jax.global_model.generate import (
    GenerationOutput,
    decode_step,
    generate,
    generate_uncached,
    prefill,
)
from astra_jax.global_model.hf_checkpoint import check_hf_dir, export_hf, import_hf_params
from astra_jax.global_model.hf_config import HFCheckpointError, load_hf_config
from astra_jax.global_model.image_processing import preprocess_image
from astra_jax.global_model.inputs import ModelInputs, Prompt, make_batch
from astra_jax.global_model.kv_cache import KVCache
from astra_jax.global_model.model import Qwen25VL, count_params, logical_axes
from astra_jax.global_model.positions import mrope_positions
from astra_jax.global_model.sampling import SamplingConfig
from astra_jax.global_model.tokenizer import ChatTokenizer

__all__ = [
    "ChatTokenizer",
    "GenerationOutput",
    "GlobalModelConfig",
    "HFCheckpointError",
    "KVCache",
    "ModelInputs",
    "Prompt",
    "Qwen25VL",
    "SamplingConfig",
    "check_hf_dir",
    "count_params",
    "decode_step",
    "export_hf",
    "generate",
    "generate_uncached",
    "get_config",
    "import_hf_params",
    "load_hf_config",
    "logical_axes",
    "make_batch",
    "mrope_positions",
    "prefill",
    "preprocess_image",
]
