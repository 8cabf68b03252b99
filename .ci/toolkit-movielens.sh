#!/bin/sh
# MovieLens 100K accuracy check of the recommender toolkit: Surprise's
# defaults (5 seeds) and tune() on the benchmark 80/20 split; prints both
# test RMSEs. About 1 minute on 2 cores. Skips when the data is absent.
# Usage: .ci/toolkit-movielens.sh [path/to/u.data]
# (with the python of the environment where cmf is installed first on PATH)
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${1:-${CMF_ML100K:-}}"
if [ -z "$DATA" ]; then
    for candidate in "$ROOT/../shared/data/ml-100k/u.data" "$ROOT/../../shared/data/ml-100k/u.data"; do
        if [ -f "$candidate" ]; then DATA="$candidate"; break; fi
    done
fi
if [ -z "$DATA" ] || [ ! -f "$DATA" ]; then
    echo "toolkit-movielens: skipped, MovieLens 100K not found (pass its path or set CMF_ML100K)"
    exit 0
fi
DATA="$(cd "$(dirname "$DATA")" && pwd)/$(basename "$DATA")"
# run outside the source tree so that the installed package is used
cd "${TMPDIR:-/tmp}" && python "$ROOT/examples/movielens_tuning.py" "$DATA"
