"""The logical axis vocabulary of every model's parameters, and the rules that map it onto the
(data, fsdp, tensor) mesh. One module, shared by the models (``nn/``, ``local_model/``,
``global_model/``) that name their dimensions and by the engine (``train/sharding.py``) that
shards them; a test checks that every parameter axis of every model appears here, so nothing
is replicated by accident.

Tensor parallelism follows Megatron: the projections into a wider space (attention heads,
MLP hidden width, vocabulary) are split over ``tensor``, and the model width is not. FSDP is
applied per parameter by size in ``train/sharding.py``, on top of these rules.
"""

from __future__ import annotations

MESH_AXES: tuple[str, ...] = ("data", "fsdp", "tensor")
BATCH_AXES: tuple[str, ...] = ("data", "fsdp")

# name -> what it means. Astra-Global's vision tower has its own names (``vit_*``) because its
# widths differ from the language model's.
LOGICAL_AXES: dict[str, str] = {
    "batch": "examples of a batch (activations only)",
    "seq": "tokens or patches of a sequence (activations only)",
    "embed": "the residual / model width",
    "mlp": "the hidden width of an MLP block",
    "heads": "attention heads (times the head width, when flattened)",
    "kv": "the width of one attention head",
    "q_heads": "query heads x head width of a grouped-query attention projection",
    "kv_heads": "key/value heads x head width of a grouped-query attention projection",
    "norm": "the scale of a norm layer (model width)",
    "vocab": "vocabulary entries of an embedding or output head",
    "input": "features of a model's raw input",
    "output": "features of a model's raw output",
    "channels": "output channels of a conv or a channel projection (not split)",
    "conv_in": "input channels of a conv or a channel projection (not split)",
    "conv_x": "a conv kernel's extent along x (image columns or voxel x)",
    "conv_y": "a conv kernel's extent along y (image rows or voxel y)",
    "conv_z": "a 3-D conv kernel's extent along z",
    "qkv": "a fused query/key/value projection (3 x heads x head width)",
    "layers": "stacked (scanned) layers",
    "vit_embed": "the vision tower's width",
    "vit_patch": "the flattened pixels of one vision patch",
    "vit_norm": "the scale of a vision-tower norm layer",
    "vit_qkv": "the vision tower's fused query/key/value projection (3 x width)",
    "vit_heads": "the vision tower's attention heads x head width",
    "vit_mlp": "the hidden width of a vision-tower MLP block",
    "vit_merge": "the patch merger's input (merge_unit x vision width)",
    "vit_merge_hidden": "the patch merger's hidden width",
}

# Logical axis -> mesh axis (or axes, or None = replicated). flax applies the rules in order
# and never uses a mesh axis twice in one array.
LOGICAL_AXIS_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", BATCH_AXES),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("q_heads", "tensor"),
    ("kv_heads", "tensor"),
    ("vocab", "tensor"),
    ("qkv", "tensor"),
    ("vit_qkv", "tensor"),
    ("vit_heads", "tensor"),
    ("vit_mlp", "tensor"),
    ("vit_merge_hidden", "tensor"),
    ("seq", None),
    ("embed", None),
    ("kv", None),
    ("norm", None),
    ("input", None),
    ("output", None),
    ("channels", None),
    ("conv_in", None),
    ("conv_x", None),
    ("conv_y", None),
    ("conv_z", None),
    ("layers", None),
    ("vit_embed", None),
    ("vit_patch", None),
    ("vit_norm", None),
    ("vit_merge", None),
)

assert {name for name, _ in LOGICAL_AXIS_RULES} == set(LOGICAL_AXES), "rules and vocabulary differ"
