# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the package with pip first (uv/poetry would download CUDA wheels).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test schema clean

$(BIN)/ablate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[test]"
	touch $(BIN)/ablate

install: $(BIN)/ablate

# A small cxr5-sweep run here with a local Ray instance, on the built-in synthetic dataset:
# six Optuna trials of the modified MobileNetV3-small at 64 px (PCB channels, fusion placement,
# gate, dropout, the Adam->SGD schedule), ASHA stopping the poor ones; ends by printing the best
# trials. The small-set rules pick batch 32 and BatchNorm momentum 0.09 for the 1,040 training
# images (README: "Small training sets"); times are in the README.
demo: install
	rm -rf results/demo
	$(BIN)/ablate run cxr5-sweep --local --data synthetic --results results/demo \
		--set input_size=64 --set epochs=10 --set data.test_per_class=40 --set search.num_samples=6 \
		--set "search.space.phases.0.epochs={int: [2, 8]}"

# -v: each test's name as it starts; the 15 slowest at the end
test: install
	$(BIN)/ruff check ablate tests benchmarks
	$(BIN)/python -m pytest -v -rs --durations=15

# The JSON Schemas of a sweep file and a bare trial file (search_spaces/*.schema.json), regenerated
# from the pydantic models after a config field changes; a test fails while they are stale.
schema: install
	$(BIN)/ablate schema -o search_spaces/sweep.schema.json
	$(BIN)/ablate schema --trial -o search_spaces/trial.schema.json

clean:
	rm -rf $(VENV) results
