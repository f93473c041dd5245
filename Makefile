# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the package with pip first (uv/poetry would download CUDA wheels),
# at exactly the versions of requirements/lock.txt (`make lock` regenerates it from pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
LATEST ?= .venv-latest
# What `make install` installs and the lock pins: the tests, the docs site, both trackers' clients.
EXTRAS := test,docs,mlflow,wandb

.PHONY: install demo test docs schema lock test-latest clean

$(BIN)/ablate: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -c $(LOCK) -e ".[$(EXTRAS)]"
	$(BIN)/python requirements/check_lock.py
	touch $(BIN)/ablate

install: $(BIN)/ablate

# A small cxr5-sweep run here with a local Ray instance, on the built-in synthetic dataset:
# six Optuna trials of the modified MobileNetV3-small at 64 px (PCB channels, fusion placement,
# gate, dropout, the Adam->SGD schedule), ASHA stopping the poor ones; ends by printing the best
# trials. The small-set rules pick batch 32 and BatchNorm momentum 0.09 for the 1,040 training
# images (docs/trial.md: "Small training sets"); times are in docs/getting-started.md.
demo: install
	rm -rf results/demo
	$(BIN)/ablate run cxr5-sweep --local --data synthetic --results results/demo \
		--set input_size=64 --set epochs=10 --set data.test_per_class=40 --set search.num_samples=6 \
		--set "search.space.phases.0.epochs={int: [2, 8]}"

# -v: each test's name as it starts; the 15 slowest at the end
test: install
	$(BIN)/ruff check ablate tests benchmarks
	$(BIN)/python -m pytest -v -rs --durations=15

# The documentation site (docs/, mkdocs.yml), served at http://127.0.0.1:8000 while you edit it;
# `make test` builds it with --strict (tests/unit/test_docs.py): a broken link or anchor fails.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# The JSON Schemas of a sweep file and a bare trial file (search_spaces/*.schema.json), regenerated
# from the pydantic models after a config field changes; a test fails while they are stale.
schema: install
	$(BIN)/ablate schema -o search_spaces/sweep.schema.json
	$(BIN)/ablate schema --trial -o search_spaces/trial.schema.json

# The lock: what a fresh `pip install -e ".[$(EXTRAS)]"` resolves today (pyproject.toml's ranges), every
# version exact. Run after changing a dependency, then commit requirements/lock.txt.
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install -q -e ".[$(EXTRAS)]" && \
	{ echo "# Exact versions of a fresh install of pyproject.toml's ranges: \`make lock\` wrote it on $$(date -u +%F)."; \
	  echo "# make install / the README install with -c requirements/lock.txt; make test-latest ignores it."; \
	  "$$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | grep -viE '^(ablate|pip)( |=|@)'; } > $(LOCK)
	@echo "$(LOCK): $$(grep -c '==' $(LOCK)) pins"

# The newest versions pyproject.toml's ranges allow (no lock), in their own venv: what differs from
# the lock, then the suite (all of it but the lock check of `make install`).
test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[$(EXTRAS)]"
	$(LATEST)/bin/python requirements/check_lock.py --diff
	$(LATEST)/bin/ruff check ablate tests benchmarks
	$(LATEST)/bin/python -m pytest -v -rs --durations=15 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) results
