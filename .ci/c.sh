#!/usr/bin/env bash
# Build and test cmf's C core on its own, with every C compiler found here
# (gcc, clang): the CMake build with -std=c99 -Wall -Wextra -Werror -pedantic,
# the C unit tests and the example through ctest, then an install to a
# temporary prefix and the example compiled against it with pkg-config,
# once with the shared and once with the static library.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if ! command -v cmake >/dev/null; then
    # A machine without CMake gets it from PyPI, in a throwaway venv.
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q cmake
    PATH="$WORK/venv/bin:$PATH"
fi

compilers=()
for cc in gcc clang; do
    if command -v "$cc" >/dev/null; then compilers+=("$cc"); fi
done
[ "${#compilers[@]}" -gt 0 ] || { echo "c.sh: no C compiler found" >&2; exit 1; }

for cc in "${compilers[@]}"; do
    echo "== $cc: $("$cc" --version | head -n 1)"
    build="$WORK/build-$cc"
    prefix="$WORK/prefix-$cc"
    CC="$cc" cmake -S "$ROOT/src_c" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMF_STRICT_WARNINGS=ON -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
    cmake --build "$build" --parallel 2 >/dev/null
    ctest --test-dir "$build" --output-on-failure
    cmake --install "$build" >/dev/null

    pcdir="$(dirname "$(find "$prefix" -name cmf.pc | head -n 1)")"
    export PKG_CONFIG_PATH="$pcdir"
    flags=(-std=c99 -Wall -Wextra -Werror -pedantic -O2)
    # Shared library, found through pkg-config.
    # shellcheck disable=SC2046
    "$cc" "${flags[@]}" "$ROOT/examples/c/train.c" $(pkg-config --cflags --libs cmf) -lm \
        -o "$WORK/train-shared-$cc"
    LD_LIBRARY_PATH="$(pkg-config --variable=libdir cmf)" \
        "$WORK/train-shared-$cc" "$ROOT/examples/c/ratings.txt" >/dev/null
    # Static library, by path, with the flags pkg-config gives for it.
    # shellcheck disable=SC2046
    "$cc" "${flags[@]}" $(pkg-config --cflags cmf) "$ROOT/examples/c/train.c" \
        "$(pkg-config --variable=libdir cmf)/libcmf.a" $(pkg-config --static --libs-only-l cmf | sed 's/-lcmf//') -lm \
        -o "$WORK/train-static-$cc"
    "$WORK/train-static-$cc" "$ROOT/examples/c/ratings.txt" >/dev/null
    echo "== $cc: installed libcmf (shared and static) works through pkg-config $(pkg-config --modversion cmf)"
done
