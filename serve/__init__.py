"""astra_jax.serve"""
