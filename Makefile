# One command to set up and run the main sweep, one to set up and run the tests.
#   make run     # venv + install + python -m sweeps.run sweeps/scaling.yaml (embedded local Ray)
#   make test    # venv + install + ruff + pytest
# VENV picks the virtual environment; TORCH the torch requirement (set TORCH_INDEX to a
# PyTorch wheel index, e.g. https://download.pytorch.org/whl/cpu, for CPU-only wheels).

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
SPEC ?= sweeps/scaling.yaml
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint smoke fit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) -m sweeps.run $(SPEC)

smoke: setup
	$(PY) -m sweeps.run sweeps/smoke.yaml

fit: setup
	$(PY) analysis/fit_scaling.py results/scaling --out results/scaling/fit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
