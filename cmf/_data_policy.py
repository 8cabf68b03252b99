"""What a fit does with repeated (user, item) pairs and with ratings off the declared scale.

Every form of training data (a SciPy sparse matrix, triplets, a rating data
set, a batch of :meth:`~cmf.MatrixFactorization.partial_fit`) comes out of
:mod:`cmf._input` as :class:`~cmf._input.Triplets` in input order; these
functions apply the estimator's ``rating_scale`` and ``duplicates`` parameters
to them, so that one policy holds for every form.

Repeated pairs are found without sorting, by ``cmf_find_repeats`` in the C
core (:func:`cmf._kernels.find_repeats`): a counting sort of the positions by
row (skipped when the rows are already in order) and one pass with a mark
per column, O(n) time and O(n + n_rows + n_cols) work space. The same pass
says, for every rating, which ratings share its pair, which is all that
"last", "mean" and "error" need. Nothing is looked for when
``duplicates="keep"``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from cmf._input import Triplets
from cmf._kernels import find_repeats

__all__ = ["DUPLICATES", "check_scale", "count_repeats", "describer", "resolve_duplicates", "value_range"]

#: The accepted values of the ``duplicates`` parameter.
DUPLICATES = (None, "keep", "last", "mean", "error")

# The user and item of one rating, by its position in the input, for messages.
Describe = Callable[[int], str]


def describer(data: Triplets, labels: Any = None) -> Describe:
    """A function naming the user and item of the rating at a position: by label
    when ``labels`` is a ``(user_map, item_map)`` pair of LabelMaps, else by index."""
    if labels is not None and labels[0] is not None:
        user_map, item_map = labels

        def by_label(pos: int) -> str:
            return (f"user {user_map.labels[data.rows[pos]].item()!r}, "
                    f"item {item_map.labels[data.cols[pos]].item()!r}")

        return by_label
    return lambda pos: f"row {int(data.rows[pos])}, column {int(data.cols[pos])}"


def check_scale(data: Triplets, scale: tuple[float, float] | None, describe: Describe) -> None:
    """Raise ValueError naming the first training rating outside a declared ``rating_scale``.

    Parameters
    ----------
    data : Triplets
        The training ratings, in input order.
    scale : (low, high) or None
        The declared scale; None checks nothing.
    describe : callable
        Names the user and item of a position (:func:`describer`).
    """
    if scale is None or len(data) == 0:
        return
    low, high = scale
    values = data.values
    if values.min() >= low and values.max() <= high:
        return
    outside = np.flatnonzero((values < low) | (values > high))
    pos = int(outside[0])
    more = f" ({len(outside) - 1:,} more lie outside)" if len(outside) > 1 else ""
    raise ValueError(
        f"the rating at position {pos} ({describe(pos)}) is {values[pos].item():g}, outside "
        f"rating_scale=({low:g}, {high:g}){more}; fix the data or pass a wider rating_scale "
        "(rating_scale=None takes the scale from the data)"
    )


def value_range(data: Triplets) -> tuple[float, float]:
    """``(min, max)`` of the training values as Python floats."""
    return float(data.values.min()), float(data.values.max())


# An index side is renumbered to its distinct values first when its range is
# much larger than the data, so that the work space of the count (one int64
# per row and per column) stays O(n) for a huge sparse shape.
_COMPACT_ABOVE = 1 << 20


def _compact(index: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """``index`` and its range, renumbered to ``[0, distinct values)`` when the
    range ``size`` is far larger than the number of indices."""
    if size <= max(4 * len(index), _COMPACT_ABOVE):
        return index, size
    distinct, inverse = np.unique(index, return_inverse=True)
    return inverse.astype(np.int32).reshape(-1), len(distinct)


Found = tuple[int, np.ndarray | None, np.ndarray | None]


def _find(data: Triplets, *, first: bool = False, last: bool = False) -> Found:
    """The number of repeats and, when asked, for every position the first and
    the last position with its pair (see :func:`cmf._kernels.find_repeats`)."""
    assert data.shape is not None
    rows, n_rows = _compact(np.ascontiguousarray(data.rows), data.shape[0])
    cols, n_cols = _compact(np.ascontiguousarray(data.cols), data.shape[1])
    first_of = np.empty(len(data), np.int64) if first else None
    last_of = np.empty(len(data), np.int64) if last else None
    n_repeats = find_repeats(rows, cols, n_rows, n_cols, first_of, last_of)
    return n_repeats, first_of, last_of


def count_repeats(data: Triplets) -> int:
    """How many ratings repeat a (row, column) pair that an earlier rating has."""
    if len(data) < 2:
        return 0
    return _find(data)[0]


def resolve_duplicates(data: Triplets, policy: str | None, describe: Describe) -> tuple[Triplets, int]:
    """Apply a ``duplicates`` policy to the training ratings.

    Parameters
    ----------
    data : Triplets
        The ratings, in input order.
    policy : {None, "keep", "last", "mean", "error"}
        None and "keep" keep every rating; "last" keeps the last rating of a
        repeated pair (in input order), at its position, with its weight;
        "mean" keeps one rating of their mean (computed in float64), at the
        first one's position: with sample weights, their weighted mean, of
        their mean weight (so the pair still counts as one rating, as
        without weights); "error" raises.
    describe : callable
        Names the user and item of a position (:func:`describer`).

    Returns
    -------
    data : Triplets
        The ratings to train on: ``data`` itself when nothing changes.
    repeats : int
        How many ratings repeated an earlier pair (0 when not counted, for "keep").

    Raises
    ------
    ValueError
        For ``policy="error"`` and a repeated pair: names the first rating
        that repeats one, the pair and the count.
    """
    if policy == "keep":
        return data, 0
    # The count alone is the faster pass (it needs no positions); which
    # ratings repeat which is asked for only when some do.
    n_repeats = count_repeats(data)
    if policy is None or n_repeats == 0:
        return data, n_repeats
    _, first, last = _find(data, first=policy != "last", last=policy == "last")
    positions = np.arange(len(data))
    if policy == "error":
        assert first is not None
        pos = int(np.argmax(first != positions))
        raise ValueError(
            f"{n_repeats:,} ratings repeat a (user, item) pair already rated; the first is at position {pos} "
            f"({describe(pos)}); pass duplicates='last' or 'mean' to merge them, or 'keep' to keep each"
        )
    if policy == "last":
        assert last is not None
        keep = np.flatnonzero(last == positions)
        weights = None if data.weights is None else data.weights[keep]
        return Triplets(data.rows[keep], data.cols[keep], data.values[keep], data.shape, weights), n_repeats
    assert first is not None
    keep = np.flatnonzero(first == positions)
    # Each pair's sum, added in input order, lands at its first position.
    counts = np.bincount(first, minlength=len(data))[keep]
    if data.weights is None:
        sums = np.bincount(first, weights=data.values, minlength=len(data))[keep]
        values = (sums / counts).astype(data.values.dtype)
        return Triplets(data.rows[keep], data.cols[keep], values, data.shape), n_repeats
    w = data.weights.astype(np.float64)
    total = np.bincount(first, weights=w, minlength=len(data))[keep]
    sums = np.bincount(first, weights=w * data.values, minlength=len(data))[keep]
    values = (sums / total).astype(data.values.dtype)
    weights = (total / counts).astype(data.weights.dtype)
    return Triplets(data.rows[keep], data.cols[keep], values, data.shape, weights), n_repeats


def repeats_message(n_repeats: int) -> str:
    """The text of the default policy's warning."""
    return (
        f"{n_repeats:,} ratings repeat a (user, item) pair already rated; each is kept as its own "
        "observation. Pass duplicates='keep' to silence this, or 'last', 'mean' or 'error'"
    )
