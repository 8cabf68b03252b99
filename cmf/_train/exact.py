"""Exact sums of floating-point values, so that a mean does not depend on the order.

A floating-point sum depends on the order of its terms; the mean of the
ratings (the model's global offset) would then depend on how the data is
split between processes or files. :func:`exact_sum` returns the sum as an
integer times a power of two, with no rounding at all; sums of pieces merge
exactly (:func:`merge_sums`), and :func:`exact_mean` rounds once at the end.
So the mean is the same bits however the values are ordered or split.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import numpy as np

# Significand bits per dtype. A significand is cut into parts narrow enough
# that a float64 bincount of up to n of them stays exact (below 2**53).
_SIGNIFICAND_BITS = {np.dtype(np.float32): 24, np.dtype(np.float64): 53}

ExactSum = tuple[int, int]
"""``(integer, exponent)``: the sum is ``integer * 2**exponent`` exactly."""


# Values per pass: bounds the temporary arrays to a few MB whatever n is.
_CHUNK = 1 << 18


def exact_sum(values: np.ndarray) -> ExactSum:
    """The exact sum of finite float32 or float64 values.

    Parameters
    ----------
    values : ndarray of float, shape (n,)
        Finite values (float32 converts to float64 exactly).

    Returns
    -------
    tuple of (int, int)
        ``(integer, exponent)`` with ``sum(values) == integer * 2**exponent``
        exactly.
    """
    v = np.asarray(values).ravel()
    if v.size > _CHUNK:
        return merge_sums(_chunk_sum(v[i:i + _CHUNK]) for i in range(0, v.size, _CHUNK))
    return _chunk_sum(v)


def _chunk_sum(v: np.ndarray) -> ExactSum:
    """:func:`exact_sum` of a 1-D array of at most a few million values."""
    if v.dtype not in _SIGNIFICAND_BITS:
        v = v.astype(np.float64)
    if v.size == 0:
        return (0, 0)
    bits = _SIGNIFICAND_BITS[v.dtype]
    frac, exp = np.frexp(v)
    # Fast path: every value is a multiple of 2**(lo - bits) and below
    # 2**hi in magnitude, so when n * 2**(hi - lo + bits) <= 2**53 every
    # partial sum is an integer multiple of 2**(lo - bits) below 2**53 of
    # them: float64 adds them exactly, in any order. Typical ratings (1 to 5
    # in float32) take it; zeros (exponent 0) only make the test stricter.
    lo, hi = int(exp.min()), int(exp.max())
    if int(v.size).bit_length() + hi - lo + bits <= 53:
        total = float(np.sum(v, dtype=np.float64))
        numerator, denominator = total.as_integer_ratio()
        return (numerator, 1 - denominator.bit_length())
    if hi - lo + bits <= 62:
        # Every significand shifted to the smallest exponent fits in int64
        # (squared deviations of ratings take this path): split each into
        # 31 high and 31 low bits, whose int64 sums cannot overflow for up
        # to 2**31 values, and add those exactly. The same integer as the
        # bincounts below give, with fewer passes and temporaries.
        sig = np.multiply(frac, float(1 << bits), out=frac).astype(np.int64)
        np.left_shift(sig, np.subtract(exp, lo, out=exp), out=sig)
        low = int(np.sum(np.bitwise_and(sig, (1 << 31) - 1), dtype=np.int64))
        high = int(np.sum(np.right_shift(sig, 31, out=sig), dtype=np.int64))
        return ((high << 31) + low, lo - bits)
    # frac * 2**bits is an integer below 2**bits in magnitude: exact in int64.
    sig = (frac.astype(np.float64) * float(1 << bits)).astype(np.int64)
    exp = exp.astype(np.int64) - bits
    base = int(exp.min())
    shift = exp - base
    # Sum the significands per exponent with float64 bincounts, exact while
    # every partial sum stays below 2**53: cut them into parts of at most
    # part_bits bits (non-negative, the top part keeps the sign). float32
    # needs one part for up to 2**29 values, float64 two.
    part_bits = 53 - max(1, int(v.size).bit_length())
    n_parts = -(-bits // part_bits)
    mask = (1 << part_bits) - 1
    total = 0
    for p in range(n_parts):
        part = sig >> (p * part_bits)
        if p < n_parts - 1:
            part = part & mask
        sums = np.bincount(shift, weights=part)
        for s in np.flatnonzero(sums):
            total += int(sums[s]) << (int(s) + p * part_bits)
    return (total, base)


def merge_sums(sums: Iterable[ExactSum]) -> ExactSum:
    """Add exact sums without rounding.

    Parameters
    ----------
    sums : iterable of (int, int)
        Results of :func:`exact_sum`.

    Returns
    -------
    tuple of (int, int)
    """
    items = [s for s in sums if s[0] != 0]
    if not items:
        return (0, 0)
    base = min(e for _, e in items)
    return (sum(m << (e - base) for m, e in items), base)


def mean_of_sum(total: ExactSum, n: int) -> float:
    """The correctly rounded mean ``total / n`` (0.0 when ``n`` is 0).

    Parameters
    ----------
    total : tuple of (int, int)
        An exact sum.
    n : int
        Number of values summed.

    Returns
    -------
    float
    """
    if n <= 0:
        return 0.0
    integer, exponent = total
    scale = Fraction(2) ** exponent
    return float(Fraction(integer) * scale / n)


def exact_mean(values: np.ndarray) -> float:
    """The correctly rounded mean of finite values, independent of their order.

    Parameters
    ----------
    values : ndarray of float, shape (n,)

    Returns
    -------
    float
        0.0 for no values.
    """
    v = np.asarray(values)
    return mean_of_sum(exact_sum(v), int(v.size))
