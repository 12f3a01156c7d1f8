#!/usr/bin/env bash
# One script for a lent GPU machine, about 5 minutes: the CUDA-marked tests, then GPU-vs-CPU
# throughput in one process (training steps, embedding, kNN; CPU column on 2 threads, the
# development machine's cores), then the ecoreid demo end to end on CUDA.
# Usage (from the repository root, venv built by `make install`): bash benchmarks/gpu_check.sh
#   PY=python3 to use another interpreter; OUT=DIR keeps gpu_bench.md, tests.log and the demo's report.json.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUTDIR=${OUT:-/tmp/ecodml_gpu_check}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 300 $PY -m pytest -q -rs -p no:cacheprovider -m cuda tests/dmlcore/test_core_demo_cuda.py \
  tests/ecoreid/test_reid_cuda.py tests/ednaembed/test_edna_cuda.py 2>&1 | tee "$OUTDIR/tests.log" | tail -15
timeout 300 $PY benchmarks/gpu_bench.py --cpu-threads 2 2>&1 | tee "$OUTDIR/gpu_bench.md"
demo=$(mktemp -d)
start=$(date +%s)
timeout 300 $PY -m ecoreid.demo --out "$demo" --device cuda --quiet 2>&1 | tail -6
echo "ecoreid demo wall: $(( $(date +%s) - start )) s"
cp "$demo/results/report.json" "$OUTDIR/ecoreid_demo_report.json" 2>/dev/null || true
