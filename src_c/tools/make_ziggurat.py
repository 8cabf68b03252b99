"""Write src_c/cmf_ziggurat.h, the tables of cmf_normal_rows_* (Marsaglia and Tsang's ziggurat).

    python src_c/tools/make_ziggurat.py > src_c/cmf_ziggurat.h

The tables are written out as literals, not computed when the library
loads, so that every build reads the same numbers whatever its libm does
with the ``log`` and ``exp`` they come from. Layer boundaries, for
f(x) = exp(-x^2 / 2), N = 256 layers of equal area V (Marsaglia and Tsang,
"The Ziggurat Method for Generating Random Variables", J. Stat. Softw. 5(8),
2000):

    x[1] = R,  x[0] = V / f(R)       (the base layer: the rectangle under
                                      f(R) out to R, plus the tail's area)
    x[i + 1] = f^-1(f(x[i]) + V / x[i])   for i = 1 .. 254,   x[256] = 0

Layer i (0 .. 255) is the box [0, x[i]] x [f(x[i]), f(x[i + 1])] (the base
layer: [0, x[0]] x [0, f(R)]). A point x = j * w[i], j uniform in
[0, 2^52), lies under the curve for sure when j < k[i]; the tables are

    k[i] = floor(2^52 * x[i + 1] / x[i]),  w[i] = x[i] / 2^52,  f[i] = f(x[i])

with f[256] = 1. This module is the tables' only source; a test checks that
the header matches it.
"""

from __future__ import annotations

import math

N = 256
R = 3.6541528853610088
V = 0.00492867323399


def boundaries() -> list[float]:
    """x[0] .. x[256]."""
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    x = [0.0] * (N + 1)
    x[0], x[1] = V / f(R), R
    for i in range(1, N - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(f(x[i]) + V / x[i]))
    return x


def tables() -> tuple[list[int], list[float], list[float]]:
    """k[0..255], w[0..255], f[0..256] as defined above."""
    x = boundaries()
    k = [math.floor(2.0**52 * x[i + 1] / x[i]) for i in range(N)]
    w = [x[i] / 2.0**52 for i in range(N)]
    f = [math.exp(-0.5 * x[i] * x[i]) for i in range(N)] + [1.0]
    return k, w, f


def header() -> str:
    """The text of cmf_ziggurat.h."""
    k, w, f = tables()

    def rows(values: list[str], per_line: int) -> str:
        lines = [", ".join(values[i:i + per_line]) for i in range(0, len(values), per_line)]
        return ",\n    ".join(lines)

    return f"""/*
 * cmf_ziggurat.h -- tables of the ziggurat of cmf_normal_rows_* (cmf_normal.c),
 * written by src_c/tools/make_ziggurat.py: do not edit. R = {R!r},
 * V = {V!r}, {N} layers; the script's docstring defines them.
 */
#ifndef CMF_ZIGGURAT_H
#define CMF_ZIGGURAT_H

#include <stdint.h>

#define CMF_ZIGGURAT_R {R!r}

/* k[i] = floor(2^52 x[i + 1] / x[i]): below it, layer i's point is accepted at once. */
static const uint64_t cmf_ziggurat_k[{N}] = {{
    {rows([f"UINT64_C({v})" for v in k], 3)}
}};

/* w[i] = x[i] / 2^52: a 52-bit integer times w[i] is a point of layer i. */
static const double cmf_ziggurat_w[{N}] = {{
    {rows([repr(v) for v in w], 3)}
}};

/* f[i] = exp(-x[i]^2 / 2), f[{N}] = 1: the layers' heights, for the wedge test. */
static const double cmf_ziggurat_f[{N + 1}] = {{
    {rows([repr(v) for v in f], 3)}
}};

#endif /* CMF_ZIGGURAT_H */
"""


if __name__ == "__main__":
    print(header(), end="")
