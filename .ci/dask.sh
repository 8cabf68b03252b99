#!/bin/sh
# Distributed fit (cmf.dask): its tests on a two-process LocalCluster and the
# quick benchmark (1M ratings). About 15 s + 20 s on 2 cores; needs the
# dask extra (pip install ".[dask]"). Run from the repository root with the
# environment in which cmf is installed.
set -eu
PYTHON="${PYTHON:-python}"
"$PYTHON" -c "import distributed" 2>/dev/null || { echo "dask[distributed] not installed: skipping"; exit 0; }
"$PYTHON" -P -m pytest -q tests/test_dask.py
"$PYTHON" benchmarks/dask_bench.py --quick
