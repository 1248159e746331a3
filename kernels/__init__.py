"""astra_jax.kernels"""
