#!/usr/bin/env bash
# One script for a lent GPU machine, under 5 minutes: the CUDA-marked tests, then
# training-step throughput, embedding throughput and kNN on the GPU against the CPU.
# Usage (from the repository root, venv built by `make install`): bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 150 $PY -m pytest -q -m cuda tests -p no:cacheprovider 2>&1 | tail -5
timeout 200 $PY benchmarks/gpu_bench.py
