# squall's developer entry points. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: venv demo test test-fast check format bench bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e ".[dev,bench]"
	touch $(BENCH_STAMP)

# Benchmarks (never part of `make test`): see bench/README.md.
bench: $(BENCH_STAMP)
	$(PY) bench/run.py
	$(PY) bench/ui_bench.py

bench-quick: $(BENCH_STAMP)
	$(PY) bench/run.py --quick

demo: venv
	$(VENV)/bin/squall demo

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

check: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy src

format: venv
	$(VENV)/bin/ruff check --fix src tests
	$(VENV)/bin/ruff format src tests

clean:
	rm -rf .squall-demo .pytest_cache .mypy_cache .ruff_cache build dist
