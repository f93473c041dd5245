# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the package with pip first (uv/poetry would download CUDA wheels).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test clean

$(BIN)/ablate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[test]"
	touch $(BIN)/ablate

install: $(BIN)/ablate

# One cxr5-sweep configuration (the modification, on ResNet18 at 64 px, Adam then SGD) trained
# here on the built-in synthetic dataset (CPU or one GPU; about a minute on a laptop CPU).
demo: install
	$(BIN)/ablate trial cxr5-sweep --data synthetic --results results/demo \
		--set backbone=resnet18 --set input_size=64 --set batch_size=32 \
		--set epochs=12 --set phases.0.epochs=8

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results
