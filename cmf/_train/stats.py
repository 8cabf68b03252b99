"""Statistics of the training data: entries per row and column, exact mean, scale.

Each is computed once per fit, exactly (independent of the order and the
splitting of the values), so that a distributed fit (:mod:`cmf.dask`)
computes the same bits from its pieces: :class:`DataStats` carries them into
the pipeline's setup whichever way they were computed. The passes over the
data are in C (``cmf_count_indices``, ``cmf_exact_sums_*``): one for the
counts of each side and one for both sums, a small part of a fit's setup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cmf import _kernels
from cmf._input import Triplets
from cmf._train import exact as _exact

__all__ = ["DataStats", "measure", "index_counts", "exact_mean", "robust_mean", "data_scale",
           "scale_from_sums", "scale_hint", "weight_hint", "data_hints", "failure_message", "weighted_mean"]


def index_counts(index: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(index, minlength=n)`` in int64, in C and without a copy of int32 indices.

    Parameters
    ----------
    index : ndarray of int, shape (m,)
        Indices in ``[0, n)``.
    n : int
        Number of counters.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    counts = np.zeros(n, dtype=np.int64)
    _kernels.count_indices(np.ascontiguousarray(index, dtype=np.int32), counts)
    return counts


def scale_hint(scale: float) -> str:
    """Advice for data far from unit scale, or "" when the scale is unremarkable.

    SGD with one learning rate is not scale-free: the biases move by about
    ``learning_rate * error`` per update, the factor products by about
    ``learning_rate * error * |q|^2``, and the penalty weighs against errors
    squared. The defaults suit values that vary by about 1 around their
    mean; far from that, fits diverge (large scale) or the penalty
    dominates and convergence is slow (tiny scale).
    """
    if scale == 0.0 or 0.1 <= scale <= 10.0:
        return ""
    return (
        f" The observed values vary by about {scale:.3g} around their mean, while the default "
        "learning_rate and regularization suit values that vary by about 1: divide the values by "
        f"{scale:.3g} before fitting and multiply the predictions back."
    )


def weight_hint(weight_mean: float | None) -> str:
    """Advice for sample weights far from unit scale, or "" for none or unremarkable ones.

    A weight multiplies its entry's loss, so the data's part of every SGD
    step (``learning_rate * weight * error``), but not the L2 terms
    (cmf.h, "Other losses, weights"): weights of mean ``m`` act as a
    learning rate ``m`` times as large with a penalty ``m`` times as weak.
    Timestamps taken for weights (about 1e9) make every step diverge;
    weights of 1e-3 leave the penalty to dominate. Dividing every weight by
    the same number keeps how much each entry counts against the others.
    The bounds are those of :func:`scale_hint`.
    """
    if weight_mean is None or 0.1 <= weight_mean <= 10.0:
        return ""
    return (
        f" The likely cause: the sample weights average {weight_mean:.3g}, but the default step size and penalty "
        "suit weights of about 1, since a weight multiplies its rating's loss and so its SGD step "
        "(step size x weight x error) but not the L2 penalty. Divide the weights by "
        f"{weight_mean:.3g}, which keeps how much each rating counts against the others."
    )


def data_hints(scale: float, weight_mean: float | None = None) -> str:
    """:func:`scale_hint` and :func:`weight_hint` together, for the messages of a fit that failed."""
    return scale_hint(scale) + weight_hint(weight_mean)


def failure_message(what: str, advice: str, scale: float, weight_mean: float | None = None) -> str:
    """A failed fit's message: ``what`` happened, then the remedies, with the data's hints.

    Sample weights far from 1 are then the likely cause (:func:`weight_hint`):
    their hint comes right after ``what``, and ``advice`` (a sentence
    starting "Use ...") follows as what else to try.
    """
    hint = weight_hint(weight_mean)
    if hint:
        advice = "Otherwise, " + advice[:1].lower() + advice[1:]
    return f"{what}{hint} {advice}{scale_hint(scale)}"


def data_scale(values: np.ndarray, mu: float) -> float:
    """Root mean square of ``values - mu``, the spread the factors must explain.

    For data that vary by less than 1 the initial factors are drawn with
    standard deviation ``init_std * sqrt(scale)``, so that the initial
    products p_u . q_i stay a small fraction of the data's spread: with
    values of order 1e-6, factors of order 0.1 would start as noise ten
    thousand times the signal and take hundreds of epochs to shrink. From a
    spread of 1 up, ``init_std`` is used as given, as in other SGD
    factorization libraries, so that their settings carry over. The scale
    is 0 when every value equals mu; the factors then start (and stay) at
    zero and the model is exactly mu.
    """
    # From the exact sums of the values and their squares: the result
    # depends neither on the order of the values nor on how they are split,
    # so a distributed fit (cmf.dask) computes the same bits from its pieces.
    sums = _exact.exact_sums(values)
    if sums is not None:
        return scale_from_sums(*sums, len(values), mu)
    # Values near the float64 limit: square after dividing by the largest.
    with np.errstate(over="ignore", invalid="ignore"):
        centred = values.astype(np.float64) - mu
        top = max(float(np.max(np.abs(centred))), np.finfo(np.float64).tiny)
        scale = top * float(np.sqrt(np.mean((centred / top) ** 2)))
    return scale if np.isfinite(scale) else float(np.finfo(np.float64).max)


def scale_from_sums(total: _exact.ExactSum, squares: _exact.ExactSum, n: int, mu: float) -> float:
    """:func:`data_scale` from the exact sums of ``n`` values and of their squares, around ``mu``."""
    scale = math.sqrt(max(_exact.mean_square_deviation(total, squares, n, mu), 0.0))
    if scale <= 8 * np.finfo(np.float64).eps * abs(mu):
        return 0.0  # only the rounding of mu: the data are constant
    return scale


def exact_mean(values: np.ndarray) -> float:
    """The correctly rounded mean of ``values``, independent of their order (0 for no values)."""
    try:
        return _exact.mean_of_sum(_exact.exact_sum(values), len(values))
    except ValueError:  # a value is not finite
        return robust_mean(values)


def weighted_mean(values: np.ndarray, weights: np.ndarray, weight_total: _exact.ExactSum | None = None) -> float:
    """The mean of ``values`` weighted by ``weights``, sum(w v) / sum(w), independent of their order.

    The products are formed in float64, exactly for float32 inputs (24-bit
    significands), rounded once each for float64 ones; both sums are exact
    and the quotient is rounded once. ``weight_total`` is the weights'
    exact sum when the caller has it. Values near the float64 limit, whose
    products overflow, fall back to a float64 average of scaled values.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        products = weights.astype(np.float64) * values.astype(np.float64)
    try:
        total = _exact.exact_sum(products)
    except ValueError:  # a product overflowed
        top = float(np.max(np.abs(values)))
        return top * float(np.average(values / top, weights=weights))
    weight_total = _exact.exact_sum(weights) if weight_total is None else weight_total
    return float(_exact.as_fraction(total) / _exact.as_fraction(weight_total))


def robust_mean(values: np.ndarray) -> float:
    """The float64 mean of ``values``, without overflow for values near the float64 limit."""
    if len(values) and values.min() == values.max():
        return float(values[0])  # exact for constant data, where rounding would leave residuals
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(values, dtype=np.float64))
        if not np.isfinite(mean):
            top = float(np.max(np.abs(values)))
            mean = top * float(np.mean(values / top, dtype=np.float64))
    return mean


@dataclass(frozen=True)
class DataStats:
    """What the setup of a fit needs to know of its training data.

    Attributes
    ----------
    shape : tuple of int
        ``(n_rows, n_cols)``.
    n_entries : int
        Number of training entries.
    row_counts, col_counts : ndarray of int64
        Entries per row and per column.
    mean : float or None
        The correctly rounded mean of the values (:func:`exact_mean`), or
        with sample weights their weighted mean (:func:`weighted_mean`);
        None when the fit continues from given parameters and needs none.
    scale : float
        :func:`data_scale` of the values around the model's offset.
    weight_mean : float or None
        The correctly rounded mean of the sample weights, None without
        weights (for :func:`weight_hint`).
    """

    shape: tuple[int, int]
    n_entries: int
    row_counts: np.ndarray
    col_counts: np.ndarray
    mean: float | None
    scale: float
    weight_mean: float | None = None


def measure(data: Triplets, biased: bool, offset: float | None = None) -> DataStats:
    """The statistics of local training data.

    Parameters
    ----------
    data : Triplets
        The training entries.
    biased : bool
        Whether the model has an offset: the scale is then measured around
        the mean, else around 0.
    offset : float, optional
        The offset of the parameters a fit continues from: the scale is
        measured around it and no mean is returned.

    Returns
    -------
    DataStats
    """
    row_counts = index_counts(data.rows, data.shape[0])
    col_counts = index_counts(data.cols, data.shape[1])
    n = len(data)
    # The weights are finite and > 0 (checked with the input): their exact sum
    # gives both their mean, for the hints, and the weighted mean's divisor.
    weight_total = None if data.weights is None else _exact.exact_sum(data.weights)
    weight_mean = None if weight_total is None else _exact.mean_of_sum(weight_total, n)
    sums = _exact.exact_sums(data.values)
    if sums is None:  # squares beyond float64 (or values not finite): the slow, careful way
        mean = _mean(data, None, weight_total) if offset is None else None
        centre = offset if offset is not None else (mean if biased else 0.0)
        return DataStats(data.shape, n, row_counts, col_counts, mean, data_scale(data.values, centre), weight_mean)
    mean = _mean(data, sums[0], weight_total) if offset is None else None
    centre = offset if offset is not None else (mean if biased else 0.0)
    return DataStats(data.shape, n, row_counts, col_counts, mean, scale_from_sums(*sums, n, centre), weight_mean)


def _mean(data: Triplets, total: _exact.ExactSum | None, weight_total: _exact.ExactSum | None) -> float:
    """mu: the values' mean, weighted by the sample weights when there are any (the objective weighs each
    entry's error so, and mu is what it is best fitted by alone); ``total`` is the values' exact sum and
    ``weight_total`` the weights', when known."""
    if data.weights is not None:
        return weighted_mean(data.values, data.weights, weight_total)
    return exact_mean(data.values) if total is None else _exact.mean_of_sum(total, len(data))
