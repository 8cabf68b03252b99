#!/bin/sh
# Smoke run of the benchmark scripts against the installed cmf: W1 and the
# 1M-rating W2 with cmf only (no peers), one process per measurement. It
# checks that the scripts run end to end and prints the table; it asserts
# no timing. About 1 minute on 2 cores.
# Usage: .ci/bench-smoke.sh [python]   (default: python on PATH)
set -eu
PY="${1:-python}"
cd "$(dirname "$0")/.."
"$PY" benchmarks/run.py --quick --peers "" --repeats 1 --ks 16,64
