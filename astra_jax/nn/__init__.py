"""Shared neural-network layers (Flax linen): ViT, attention, RoPE, RMSNorm, MLPs."""
