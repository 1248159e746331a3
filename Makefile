# Every target creates .venv from the lock file when it is missing (or older than the lock).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.astra-installed
export MUJOCO_GL ?= egl

.PHONY: demo demo-assets test test-all lint format bench lock clean-venv

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "astra-jax needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m astra_jax.demo

# Remake the demo's shipped weights (about 6 min on 2 CPU cores, episode generation included): the tiny encoder, the tiny
# planning and odometry heads on it, exported as the streaming-tick artifact the demo drives with
# (its planner ESDF-guided, scale 1: docs/design.md section 15).
demo-assets: $(STAMP)
	$(BIN)/astra train encoder-tiny --workdir runs/demo-enc-tiny --steps 1500 --checkpoint-every 250 --eval-batches 31 --log-every 25
	$(BIN)/astra train local-tiny --workdir runs/demo-local-tiny --config.encoder-workdir runs/demo-enc-tiny
	$(BIN)/astra export local --checkpoint runs/demo-local-tiny --out astra_jax/demo_assets/local-tiny --guidance-scale 1 --overwrite

# Tests run in parallel worker processes (pytest-xdist), one per core up to 4 (each holds its own
# JAX runtime, ~1-2 GB); a test file stays on one worker, so its module fixtures are built once.
# The 30 slowest tests are listed at the end (the suite is over its 15-minute budget: see docs/design.md section 6).
PYTEST_PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=30 $(PYTEST_PARALLEL)

# Everything, slow tests included (accelerator tests still need a GPU/TPU).
test-all: $(STAMP)
	ASTRA_RUN_SLOW=1 $(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Regenerate the lock from pyproject.toml (needs network access to the package index).
# torch is pinned by its public version (the CPU build satisfies it: see the README).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra parity \
	  --find-links $${ASTRA_WHEELS:-/opt/wheels} --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 -o requirements.lock
	@# pin public versions only: a local "+cpu" exists on no index (pip still takes it from disk)
	sed -i -E 's/^(torch==[0-9.]+)\+cpu/\1/' requirements.lock

clean-venv:
	rm -rf $(VENV)
