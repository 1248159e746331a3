"""astra_jax.train"""
