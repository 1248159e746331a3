"""astra-jax: a JAX implementation of the Astra hierarchical navigation stack."""

__version__ = "0.1.0"
