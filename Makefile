# Two commands: `make demo` and `make test`. Both build .venv from scratch when it is missing.
# `make lint` (ruff + mypy on the package, configured in pyproject.toml) runs in CI before the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/onemap demo demo_out

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check onemap
	$(VENV)/bin/mypy

# quick versions, one after another (full runs and their figures: benchmarks/README.md)
bench: $(STAMP)
	for b in change overlay accuracy enforce_scale postgis; do \
		$(PY) benchmarks/bench_$$b.py --quick || exit 1; done

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
