#!/bin/sh
# Smoke run of the benchmark scripts against the installed cmf: W1 and the
# 1M-rating W2 with cmf only (no peers), one process per measurement. It
# checks that the scripts run end to end and prints the tables; it asserts
# no timing. Then the machine calibration (the plain C reference epoch of
# BENCHMARKS.md next to cmf) on the same 1M-rating set. About 1 minute on
# 2 cores.
# Usage: .ci/bench-smoke.sh [python]   (default: python on PATH)
set -eu
PY="${1:-python}"
cd "$(dirname "$0")/.."
"$PY" benchmarks/run.py --quick --peers "" --repeats 1 --ks 16,64
"$PY" benchmarks/calibrate.py --quick --repeats 1 --epochs 1
