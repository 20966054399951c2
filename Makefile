# One command to set up and run the main sweep, one to set up and run the tests.
#   make run     # venv + install + python -m sweeps.run sweeps/scaling.yaml (embedded local Ray):
#                # the IsoFLOP grid, its forecast at 4x, the forecast run, its score (last line)
#   make test    # venv + install + ruff + pytest
# VENV picks the virtual environment; TORCH the torch requirement (set TORCH_INDEX to a
# PyTorch wheel index, e.g. https://download.pytorch.org/whl/cpu, for CPU-only wheels).

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
SPEC ?= sweeps/scaling.yaml
CONSTRAINTS ?= -c constraints.txt
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint smoke fit clean browser cluster-deps latest constraints

# constraints.txt pins every package to the versions the suite last passed on, so an install
# made today resolves what CI tested; `make latest` tries the newest releases in its own venv.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) -m sweeps.run $(SPEC)

smoke: setup
	$(PY) -m sweeps.run sweeps/smoke.yaml

fit: setup
	$(PY) analysis/fit_scaling.py results/scaling --where "stage == 'grid'" --out results/scaling/fit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The live page's test opens it in a real headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium; }

# The cluster tests (-m cluster): an SSH server and rsync for `ray up` over SSH (Debian's
# packages), and moto's S3-compatible server in a venv of its own (moto needs
# python-dateutil<3, the project pins 4).
MOTO ?= moto[server]==5.2.6
MOTO_VENV ?= $(VENV)-moto
cluster-deps:
	@{ test -x /usr/sbin/sshd && command -v rsync >/dev/null 2>&1; } || \
		! command -v apt-get >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq openssh-server rsync; }
	@test -x $(MOTO_VENV)/bin/moto_server || \
		{ $(PYTHON) -m venv $(MOTO_VENV) && $(MOTO_VENV)/bin/pip install --quiet "$(MOTO)"; }

test: lint browser cluster-deps
	SCALESWEEP_MOTO_SERVER=$(MOTO_VENV)/bin/moto_server $(VENV)/bin/pytest -q --durations=15

# The newest releases the bounds in pyproject.toml allow, without the constraints: a manual
# check before raising a pin (never the default install).
latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=

# Rewrite constraints.txt from the venv the suite just passed in.
constraints: setup
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -viE '^(torch|scalesweep)=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
