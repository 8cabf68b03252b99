"""What a fit does with repeated (user, item) pairs and with ratings off the declared scale.

Every form of training data (a SciPy sparse matrix, triplets, a rating data
set, a batch of :meth:`~cmf.MatrixFactorization.partial_fit`) comes out of
:mod:`cmf._input` as :class:`~cmf._input.Triplets` in input order; these
functions apply the estimator's ``rating_scale`` and ``duplicates`` parameters
to them, so that one policy holds for every form.

Finding repeated pairs costs one sort of the int64 keys ``row * n_cols +
col`` (about 0.7 s for 10 million ratings), skipped when the keys are
already increasing (a dense matrix, a canonical CSR matrix, a file sorted by
user and item) and when ``duplicates="keep"``. Only when repeats exist is a
stable argsort made, once, for "last", "mean" or "error" to find them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from cmf._input import Triplets

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


def _keys(data: Triplets) -> np.ndarray:
    """One integer per (row, column) pair, ordered as the pairs are (row-major)."""
    assert data.shape is not None
    n_cols = data.shape[1]
    if data.shape[0] * n_cols <= np.iinfo(np.int32).max:
        # int32 keys sort about twice as fast as int64 ones.
        return data.rows * np.int32(n_cols) + data.cols
    return data.rows.astype(np.int64) * n_cols + data.cols


def _increasing(keys: np.ndarray) -> bool:
    return bool(np.all(keys[1:] > keys[:-1]))


def count_repeats(data: Triplets) -> int:
    """How many ratings repeat a (row, column) pair that an earlier rating has."""
    if len(data) < 2:
        return 0
    keys = _keys(data)
    if _increasing(keys):
        return 0
    keys.sort()
    return int(np.count_nonzero(keys[1:] == keys[:-1]))


def resolve_duplicates(data: Triplets, policy: str | None, describe: Describe) -> tuple[Triplets, int]:
    """Apply a ``duplicates`` policy to the training ratings.

    Parameters
    ----------
    data : Triplets
        The ratings, in input order.
    policy : {None, "keep", "last", "mean", "error"}
        None and "keep" keep every rating; "last" keeps the last rating of a
        repeated pair (in input order), at its position; "mean" keeps one
        rating of their mean (computed in float64), at the first one's
        position; "error" raises.
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
    # Counting needs a plain sort; the stable argsort that says which rating
    # repeats which costs about twice as much and is made only for repeats.
    n_repeats = count_repeats(data)
    if policy is None or n_repeats == 0:
        return data, n_repeats
    keys = _keys(data)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    repeat = keys[1:] == keys[:-1]  # repeat[i]: order[i + 1] repeats order[i]'s pair
    del keys
    if policy == "error":
        pos = int(order[1:][repeat].min())
        raise ValueError(
            f"{n_repeats:,} ratings repeat a (user, item) pair already rated; the first is at position {pos} "
            f"({describe(pos)}); pass duplicates='last' or 'mean' to merge them, or 'keep' to keep each"
        )
    starts = np.flatnonzero(np.concatenate([[True], ~repeat]))
    if policy == "last":
        keep = np.sort(order[np.append(starts[1:], len(order)) - 1])
        return Triplets(data.rows[keep], data.cols[keep], data.values[keep], data.shape), n_repeats
    sums = np.add.reduceat(data.values[order].astype(np.float64), starts)
    means = sums / np.diff(np.append(starts, len(order)))
    first = order[starts]
    by_position = np.argsort(first)
    keep = first[by_position]
    values = means[by_position].astype(data.values.dtype)
    return Triplets(data.rows[keep], data.cols[keep], values, data.shape), n_repeats


def repeats_message(n_repeats: int) -> str:
    """The text of the default policy's warning."""
    return (
        f"{n_repeats:,} ratings repeat a (user, item) pair already rated; each is kept as its own "
        "observation. Pass duplicates='keep' to silence this, or 'last', 'mean' or 'error'"
    )
