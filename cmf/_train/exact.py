"""Exact sums of floating-point values, so that a mean does not depend on the order.

A floating-point sum depends on the order of its terms; the mean of the
ratings (the model's global offset) would then depend on how the data is
split between processes or files. :func:`exact_sum` returns the sum as an
integer times a power of two, with no rounding at all; sums of pieces merge
exactly (:func:`merge_sums`), and :func:`exact_mean` rounds once at the end.
So the mean is the same bits however the values are ordered or split. The
same holds for the spread around any centre (:func:`mean_square_deviation`),
from the exact sums of the values and of their squares.

The sums are taken in C (``cmf_exact_sums_*``, documented in ``cmf.h``)
into bins of int64, one pass over the values and no temporaries; Python's
integers only add up the few bins in use.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import numpy as np

from cmf import _kernels

ExactSum = tuple[int, int]
"""``(integer, exponent)``: the sum is ``integer * 2**exponent`` exactly."""

# The weight of bin i of cmf_exact_sums (cmf.h): 2 ** (i // 2 - 1075), times
# 2 ** 26 for the even bins, which hold the significands' high parts.
_BIN_EXPONENTS = (np.arange(_kernels.EXACT_SUM_BINS) // 2 - 1075
                  + 26 * (np.arange(_kernels.EXACT_SUM_BINS) % 2 == 0))


def new_bins() -> np.ndarray:
    """Zeroed bins of an exact sum (``cmf_exact_sums_*`` adds to them)."""
    return np.zeros(_kernels.EXACT_SUM_BINS, dtype=np.int64)


def sum_of_bins(bins: np.ndarray) -> ExactSum:
    """The exact sum held by bins filled by ``cmf_exact_sums_*``.

    Parameters
    ----------
    bins : ndarray of int64, shape (EXACT_SUM_BINS,)

    Returns
    -------
    tuple of (int, int)
    """
    used = np.flatnonzero(bins)
    if used.size == 0:
        return (0, 0)
    exponents = _BIN_EXPONENTS[used]
    base = int(exponents.min())
    return (sum(int(bins[i]) << int(e - base) for i, e in zip(used, exponents)), base)


def _summable(values: np.ndarray) -> np.ndarray:
    """``values`` as a contiguous 1-D float32 or float64 array (other dtypes as float64)."""
    v = np.asarray(values).ravel()
    if v.dtype not in (np.float32, np.float64):
        v = v.astype(np.float64)
    return np.ascontiguousarray(v)


def exact_sum(values: np.ndarray) -> ExactSum:
    """The exact sum of finite values.

    Parameters
    ----------
    values : ndarray of float, shape (n,)
        Finite values (other dtypes are converted to float64).

    Returns
    -------
    tuple of (int, int)
        ``(integer, exponent)`` with ``sum(values) == integer * 2**exponent``
        exactly.

    Raises
    ------
    ValueError
        If a value is NaN or infinite.
    """
    bins = new_bins()
    if not _kernels.exact_sums(_summable(values), bins):
        raise ValueError("the values to sum must be finite")
    return sum_of_bins(bins)


def exact_sums(values: np.ndarray) -> tuple[ExactSum, ExactSum] | None:
    """The exact sums of the values and of their squares, in one pass over them.

    A float32 value's square is exact in float64; a float64 value's is
    summed as three exact parts (``cmf_exact_sums_f64``), so both sums are
    exact but for squares below about 2**-970.

    Parameters
    ----------
    values : ndarray of float, shape (n,)

    Returns
    -------
    tuple of ExactSum, or None
        ``(sum, sum of squares)``; None when a value is not finite or, in
        float64, beyond 1e300 in magnitude.
    """
    sums, squares = new_bins(), new_bins()
    if not _kernels.exact_sums(_summable(values), sums, squares):
        return None
    return sum_of_bins(sums), sum_of_bins(squares)


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
    return float(as_fraction(total) / n)


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


def mean_square_deviation(total: ExactSum, squares: ExactSum, n: int, centre: float) -> float:
    """The correctly rounded mean of ``(v - centre)**2`` over ``n`` values, from their exact sums.

    ``sum((v - c)**2) = sum(v**2) - 2 c sum(v) + n c**2``, computed with
    no rounding until the end, so the result depends neither on the order
    of the values nor on how they were split.

    Parameters
    ----------
    total, squares : tuple of (int, int)
        Exact sums of the values and of their squares.
    n : int
        Number of values.
    centre : float
        Finite.

    Returns
    -------
    float
        0.0 when ``n`` is 0.
    """
    if n <= 0:
        return 0.0
    c = Fraction(centre)
    deviations = as_fraction(squares) - 2 * c * as_fraction(total) + n * c * c
    return float(deviations / n)


def as_fraction(total: ExactSum) -> Fraction:
    """An exact sum as a Fraction.

    Parameters
    ----------
    total : tuple of (int, int)
        An exact sum.

    Returns
    -------
    Fraction
    """
    integer, exponent = total
    return Fraction(integer) * Fraction(2) ** exponent

