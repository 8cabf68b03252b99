#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors, from the package
# installed with its "docs" extra in a throwaway venv (autodoc imports the
# compiled package, never the source folder).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q -U pip >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; exit 1; }
"$WORK/venv/bin/pip" install -q "$ROOT[docs]" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; exit 1; }
# Run outside the repository so that only the installed cmf is importable.
cd "$WORK"
"$WORK/venv/bin/sphinx-build" -W -b html "$ROOT/docs" "$ROOT/docs/_build/html"
