#!/bin/sh
# Distributed fit (cmf.dask) smoke run: the quick benchmark (1M ratings, a
# two-process LocalCluster against the local threaded fit, one round), about
# 10-15 s on 2 cores. tests/test_dask.py runs with the normal test suite when
# the dask extra is installed (pip install ".[dask]" or ".[test]").
# Run from the repository root with the environment in which cmf is installed.
set -eu
PYTHON="${PYTHON:-python}"
"$PYTHON" -c "import distributed" 2>/dev/null || { echo "dask[distributed] not installed: skipping"; exit 0; }
"$PYTHON" benchmarks/dask_bench.py --quick --repeats 1
