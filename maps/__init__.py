"""astra_jax.maps"""
