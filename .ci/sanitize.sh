#!/usr/bin/env bash
# Memory-safety check of the C core and the extension.
#
# 1. Builds the C test programs (src_c/tests/*.c with a main: the API,
#    the reader, repeated pairs, the blocked epochs in every SIMD variant
#    (test_blocks.c), the variant digest) with AddressSanitizer +
#    UndefinedBehaviorSanitizer and runs them.
# 2. Builds them without sanitizers and runs them under valgrind memcheck
#    (skipped with a note when valgrind is absent).
# 3. Builds the extension with ASan + UBSan into a temporary virtual
#    environment and runs .ci/sanitize_smoke.py with the sanitizer runtimes
#    preloaded into Python.
#
# Self-contained: everything goes to a temporary directory removed on exit.
# Usage: .ci/sanitize.sh            (PYTHON=python3.12 .ci/sanitize.sh to pick one)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
CC="${CC:-gcc}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cmf-sanitize.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS

SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== C tests under ASan + UBSan ($CC)"
mapfile -t LIB_SOURCES < <(ls "$ROOT"/src_c/*.c)
PROGRAMS=()
for test_src in "$ROOT"/src_c/tests/*.c; do
    grep -q 'int main' "$test_src" || continue
    PROGRAMS+=("$test_src")
done
if [ ${#PROGRAMS[@]} -eq 0 ]; then
    echo "no C test programs found under src_c/tests" >&2
    exit 1
fi
# The blocked epoch's tests must not drop out of this step unnoticed.
case " ${PROGRAMS[*]} " in
    *"/test_blocks.c "*) ;;
    *) echo "src_c/tests/test_blocks.c is missing" >&2; exit 1 ;;
esac
# The core is compiled once per configuration and linked into every test
# program (the blocked kernels are many instantiations: slow to compile
# with sanitizers).
compile_core() {  # $1: object folder, then the flags
    local dir="$1"; shift
    mkdir -p "$dir"
    for src in "${LIB_SOURCES[@]}"; do
        "$CC" -std=c99 "$@" -I"$ROOT/src_c" -c "$src" -o "$dir/$(basename "$src" .c).o"
    done
}
# shellcheck disable=SC2086
compile_core "$WORK/asan" -Wall -Wextra -Werror -g -O1 $SAN_FLAGS
for test_src in "${PROGRAMS[@]}"; do
    name="$(basename "$test_src" .c)"
    # shellcheck disable=SC2086
    "$CC" -std=c99 -Wall -Wextra -Werror -g -O1 $SAN_FLAGS -I"$ROOT/src_c" \
        "$test_src" "$WORK"/asan/*.o -lm -o "$WORK/$name.asan"
    "$WORK/$name.asan"
done

echo "== C tests under valgrind memcheck"
if command -v valgrind >/dev/null 2>&1; then
    compile_core "$WORK/plain" -g -O1
    for test_src in "${PROGRAMS[@]}"; do
        name="$(basename "$test_src" .c)"
        "$CC" -std=c99 -g -O1 -I"$ROOT/src_c" "$test_src" "$WORK"/plain/*.o -lm -o "$WORK/$name.plain"
        valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            "$WORK/$name.plain"
    done
else
    echo "valgrind not installed: memcheck step skipped"
fi

echo "== extension built with ASan + UBSan, Python smoke test"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q -U pip setuptools Cython numpy scipy pytest hypothesis
# Build from a copy so no build artefacts land in the source tree.
mkdir "$WORK/src"
( cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | \
    xargs -0 cp --parents -t "$WORK/src" 2>/dev/null ) || cp -r "$ROOT"/. "$WORK/src"
( cd "$WORK/src" && CFLAGS="$SAN_FLAGS -O1 -g" LDFLAGS="-fsanitize=address,undefined" \
    "$VPY" -m pip install -q --no-build-isolation --no-deps . )
SO="$(find "$WORK/venv" -name '_kernels*.so' | head -n 1)"
# (grep -c reads all of nm's output: grep -q would end the pipe early and,
# under pipefail, fail the check on nm's broken pipe.)
if [ "$(nm -D "$SO" | grep -c __asan_)" -eq 0 ]; then
    echo "the extension $SO was not built with AddressSanitizer" >&2
    exit 1
fi
PRELOAD="$("$CC" -print-file-name=libasan.so) $("$CC" -print-file-name=libubsan.so)"
# Python itself is not instrumented and keeps memory alive until exit, so
# leak detection is off here; the C tests above cover leaks.
( cd "$WORK" && LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" \
    "$VPY" "$ROOT/.ci/sanitize_smoke.py" )

echo "== threads, fuzzing and size guards under ASan + UBSan"
# Concurrent predicts and refits, and generated bad input, through the
# instrumented kernel. Run from the copied tree against the installed build.
( cd "$WORK/src" && LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" \
    "$WORK/venv/bin/pytest" -q -p no:cacheprovider --import-mode=importlib \
    tests/test_concurrent_use.py tests/test_fuzz.py tests/test_large_inputs.py tests/test_interrupt.py )

echo "== sanitize.sh passed in $((SECONDS - START)) s"
