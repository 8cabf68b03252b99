#!/bin/sh
# MovieLens 100K accuracy check of the recommender toolkit: Surprise's
# defaults (5 seeds) and tune() on the benchmark 80/20 split. Prints both
# test RMSEs; about 1-2 minutes on 2 cores. Skips when the data is absent.
# Usage: .ci/toolkit-movielens.sh [path/to/u.data]   (run with the venv's python first on PATH)
set -eu
DATA="${1:-${CMF_ML100K:-../shared/data/ml-100k/u.data}}"
if [ ! -f "$DATA" ]; then
    echo "toolkit-movielens: skipped, MovieLens 100K not found at $DATA"
    exit 0
fi
cd "$(dirname "$0")/.."
# run from outside the source tree so that the installed package is used
DATA="$(cd "$(dirname "$DATA")" && pwd)/$(basename "$DATA")"
SCRIPT="$(pwd)/examples/movielens_tuning.py"
cd /tmp && python "$SCRIPT" "$DATA"
