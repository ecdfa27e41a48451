# squall's developer entry points. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: venv demo test test-fast check format bench bench-quick gpu-check gpu-check-offline clean

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
	$(PY) bench/llm_bench.py
	$(PY) bench/ui_bench.py

bench-quick: $(BENCH_STAMP)
	$(PY) bench/run.py --quick
	$(PY) bench/llm_bench.py --quick

# On an NVIDIA machine only (never in CI): a fresh venv with the vllm extra, the engine
# conformance suite and a throughput table (squall+vLLM, raw vLLM, squall+transformers).
GPU_VENV ?= .venv-gpu
gpu-check:
	rm -rf $(GPU_VENV) && $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install -q --upgrade pip
	$(GPU_VENV)/bin/python -m pip install -q -e ".[vllm]" "moto[server]>=5.0" pytest pytest-timeout
	$(GPU_VENV)/bin/python bench/gpu_check.py
	$(GPU_VENV)/bin/python -m pytest -q -p no:cacheprovider $(GPU_TESTS)

# The same on a GPU machine without a package index, over the machine's own CUDA torch:
# WHEELS is a folder holding a vllm wheel built for that torch and the packages it needs
# that the machine lacks; they go to GPU_SITE, squall runs from src/. Without a flashinfer
# wheel there, vLLM samples with PyTorch (VLLM_USE_FLASHINFER_SAMPLER=0).
GPU_TESTS := tests/hf/test_engine_conformance.py tests/hf/test_vllm_engine.py tests/model/test_vllm_mapping.py
GPU_SITE ?= /tmp/squall-gpu-site
gpu-check-offline:
	test -n "$(WHEELS)" || (echo "usage: make gpu-check-offline WHEELS=folder-of-wheels" && exit 2)
	$(PYTHON) -m pip install -q --no-index --no-deps --no-compile --target $(GPU_SITE) $(WHEELS)/*.whl
	ls $(WHEELS)/flashinfer* >/dev/null 2>&1 || export VLLM_USE_FLASHINFER_SAMPLER=0; \
	PYTHONPATH=$(GPU_SITE):$(CURDIR)/src $(PYTHON) bench/gpu_check.py; \
	PYTHONPATH=$(GPU_SITE):$(CURDIR)/src:$(CURDIR) $(PYTHON) -m pytest -q -p no:cacheprovider $(GPU_TESTS)

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
