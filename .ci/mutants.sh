#!/usr/bin/env bash
# Mutation testing: applies a fixed list of small defects (.ci/mutants_list.py)
# one at a time to a copy of the C sources or of the installed cmf package,
# runs the tests that must notice each, prints a table and fails if a mutant
# survives or no longer applies. See .ci/mutants.py.
#
# Usage: .ci/mutants.sh [--only NAME ...] [--list]
#   PYTHON   the interpreter cmf and its test dependencies are installed in
#            (default: .venv/bin/python, as .ci/run installs it)
#   CMF_PACKAGE  a cmf package directory to mutate instead of the installed
#            one (e.g. an in-place build: CMF_PACKAGE=$PWD/cmf)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
args=(--python "$PYTHON")
if [ -n "${CMF_PACKAGE:-}" ]; then
    args+=(--package "$CMF_PACKAGE")
fi
exec python3 "$ROOT/.ci/mutants.py" "${args[@]}" "$@"
