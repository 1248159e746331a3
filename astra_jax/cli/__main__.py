import sys

from astra_jax.cli import main

sys.exit(main())
