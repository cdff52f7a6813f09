# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test lint bench clean

# Test workers: the suite runs in parallel processes, one test file per worker
# (pytest-xdist --dist loadfile keeps each file's module fixtures and order in one process).
WORKERS ?= 2

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed setup.cfg
	$(PIP) install --quiet -e ".[test,export,jax]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/rnan demo --out demo_out

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --line-length 100 rnan_keras tests scripts
	$(PY) -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadfile tests

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --line-length 100 rnan_keras tests scripts

clean:
	rm -rf $(VENV) demo_out .pytest_cache
