"""astra_jax.kernels: hot ops with a jnp reference, Pallas GPU/TPU versions and one dispatcher.

* :mod:`astra_jax.kernels.bev_splat`: Lift-Splat-Shoot voxel pooling.
"""
