#!/usr/bin/env bash
# Build and test cmf's C core on its own. First portability checks (no
# -march=native or fast-math; compiler extensions only behind an #if with a
# fallback, and that fallback tested). Then, with every C compiler found here
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

echo "== portability"
# No CPU-specific or value-changing optimisation in any build of the core.
if grep -nE "[\"'](-march=native|-mtune=native|-ffast-math|-Ofast|/fp:fast)" "$ROOT/setup.py" ||
   grep -nE '^[^#]*(-march=native|-mtune=native|-ffast-math|-Ofast|/fp:fast)' "$ROOT/src_c/CMakeLists.txt"; then
    echo "c.sh: a build uses -march=native or fast-math" >&2
    exit 1
fi
cc0="${compilers[0]}"
mkdir "$WORK/generic"
for src in "$ROOT"/src_c/*.c; do
    # Built without compiler extensions (CMF_PORTABLE, see cmf_compiler.h;
    # undefining __GNUC__ instead would break the system's own headers), the
    # core must use none outside an #if that offers a fallback ...
    if "$cc0" -std=c99 -E -DCMF_PORTABLE -I"$ROOT/src_c" "$src" |
        awk '/^# [0-9]+ "/ { file = $3; next }
             file ~ /src_c/ && /__builtin_|__attribute__|__declspec|__asm|__int128|__typeof__/ {
                 print file ": " $0; found = 1 }
             END { exit !found }'; then
        echo "c.sh: compiler extensions without a portable fallback (above)" >&2
        exit 1
    fi
    # ... and those fallbacks must compile cleanly and pass the tests.
    "$cc0" -std=c99 -Wall -Wextra -Werror -pedantic -Wvla -DCMF_PORTABLE \
        -I"$ROOT/src_c" -c "$src" -o "$WORK/generic/$(basename "$src" .c).o"
done
for test in test_cmf test_read test_repeats test_blocks test_bpr test_gibbs test_losses test_normal test_stats; do
    "$cc0" -std=c99 -I"$ROOT/src_c" "$ROOT/src_c/tests/$test.c" "$WORK"/generic/*.o -lm \
        -o "$WORK/generic/$test"
    "$WORK/generic/$test" | tail -n 1
done
echo "== portability: no -march=native or fast-math; no unguarded compiler extensions; generic fallbacks pass"

# Every way the kernels can be compiled must give the same bits: plain C
# loops (CMF_PORTABLE), vector code for the baseline (CMF_NO_DISPATCH),
# AVX2 (CMF_NO_AVX512) and AVX-512 where this CPU has them, with and without
# __builtin_shufflevector, with every compiler found here.
digests=()
for cc in "${compilers[@]}"; do
    for variant in "-DCMF_PORTABLE" "-DCMF_NO_DISPATCH" "-DCMF_NO_AVX512" "" \
                   "-DCMF_HAVE_SHUFFLEVECTOR=0" "-DCMF_NO_DISPATCH -DCMF_HAVE_SHUFFLEVECTOR=0"; do
        exe="$WORK/digest-$cc-${#digests[@]}"
        # shellcheck disable=SC2086
        "$cc" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -Wvla -ffp-contract=off $variant \
            -I"$ROOT/src_c" "$ROOT/src_c/tests/variant_digest.c" "$ROOT/src_c/cmf_sgd.c" \
            "$ROOT/src_c/cmf_blocks.c" -lm -o "$exe"
        "$exe" > "$exe.txt" 2> "$exe.variant"
        digests+=("$exe")
        if ! cmp -s "${digests[0]}.txt" "$exe.txt"; then
            echo "c.sh: $cc $variant ($(cat "$exe.variant")) computes other bits than" \
                 "the first build ($(cat "${digests[0]}.variant")):" >&2
            diff "${digests[0]}.txt" "$exe.txt" | head -n 5 >&2
            exit 1
        fi
    done
done
echo "== kernel variants: ${#digests[@]} builds, $(wc -l < "${digests[0]}.txt") cases, identical bits" \
     "($(cat "$WORK"/digest-*.variant | sort -u | tr '\n' ' '))"

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
