"""File formats shared across layers, readable without the code that writes them.

Each module here holds one on-disk format: its schema, its writer and its validating reader,
importing only the standard library and numpy.

* :mod:`astra_jax.formats.episode`: simulator episodes (tours and goal runs). The simulator
  writes them and the map build reads them as tours, so ``astra_jax.maps`` never imports
  ``astra_jax.sim`` (MuJoCo, the renderer).
"""
