# ecodml: two commands for a user, `make demo` and `make test`.
# torch and torchvision are pinned to releases that install quickly on this
# kind of machine and run on CPU and CUDA alike (a CUDA build of torch).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed
# numba caches compiled UMAP / hdbscan kernels here so that only the first run pays for compiling
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg

.PHONY: install demo test test-fast tutorials bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIN)
	$(PIP) install --quiet -e '.[dev]' $(TORCH_PIN)
	touch $(STAMP)

demo: install
	$(PY) -m dmlcore.demo --out demo_output/dmlcore

test: install
	$(PY) -m pytest -q -ra

test-fast: install
	$(PY) -m pytest -q -ra -m "not slow"

bench: install
	$(PY) benchmarks/bench_knn.py

clean:
	rm -rf $(VENV) .cache demo_output .pytest_cache
