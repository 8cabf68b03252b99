"""Splitting ratings into a training and a test set, or into folds.

Random splits and folds, and splits by time (:func:`temporal_split`,
:func:`leave_last_out`). Kept below :mod:`cmf.model_selection` (which
re-exports them) so that the estimator, which splits off validation data in
``fit_ratings``, and the searches can use them without importing the
machinery built on top of the estimator.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from cmf._checks import is_integer
from cmf._dataset import RatingDataset, as_dataset

__all__ = ["KFold", "folds_of", "leave_last_out", "temporal_split", "train_test_split"]


def _n_test(test_size: Any, n: int) -> int:
    if isinstance(test_size, (bool, np.bool_)):
        raise TypeError("test_size must be a fraction or a count, not a bool")
    if is_integer(test_size):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        n_test = int(round(test_size * n))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size={test_size!r} leaves {n_test} of {n} ratings for testing; need 1 to {n - 1}")
    return n_test


def train_test_split(
    data: Any,
    test_size: float | int = 0.2,
    *,
    leave_k_out: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> tuple[RatingDataset, RatingDataset]:
    """Split ratings into a training and a test set.

    Random split: ``perm = default_rng(random_state).permutation(n)``; the
    first ``n - n_test`` positions of ``perm`` are the training rows and the
    rest the test rows, in that order. With ``random_state=0`` and
    ``test_size=0.2`` on MovieLens 100K this is the benchmark split.

    Per-user leave-k-out (``leave_k_out=k``): ``k`` random ratings of every
    user who has more than ``k`` go to the test set; users with ``k`` or
    fewer ratings stay wholly in training.

    Parameters
    ----------
    data : RatingDataset, DataFrame or tuple
        The ratings.
    test_size : float or int, default 0.2
        Fraction (or number) of ratings to test on; ignored with
        ``leave_k_out``.
    leave_k_out : int, optional
        Hold out this many ratings per user instead.
    random_state : int, Generator or None
        Seed.

    Returns
    -------
    train, test : RatingDataset
        Both keep the full shape and labels, so a model fitted on ``train``
        can score ``test``.
    """
    data = as_dataset(data)
    rng = np.random.default_rng(random_state)
    n = len(data)
    if leave_k_out is None:
        perm = rng.permutation(n)
        cut = n - _n_test(test_size, n)
        return data.subset(perm[:cut]), data.subset(perm[cut:])
    if not is_integer(leave_k_out) or leave_k_out < 1:
        raise ValueError(f"leave_k_out must be a positive integer, got {leave_k_out!r}")
    # a random key per rating, sorted within each user: the first k are held out
    return _hold_first(data, np.lexsort((rng.random(n), data.rows)), leave_k_out)


def _hold_first(data: RatingDataset, order: np.ndarray, k: int) -> tuple[RatingDataset, RatingDataset]:
    """Hold out the first ``k`` ratings of each user in ``order`` (which keeps each user's ratings together).

    Users with ``k`` or fewer ratings stay wholly in training; both parts
    keep the ratings in their original order.
    """
    n = len(order)
    rows = data.rows[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if n else np.zeros(0, int)
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)
    held = (rank < k) & (np.repeat(counts, counts) > k)
    if not held.any():
        raise ValueError(f"no user has more than {k} ratings: nothing to hold out")
    return data.subset(np.sort(order[~held])), data.subset(np.sort(order[held]))


def _timestamps(data: RatingDataset, split: str) -> np.ndarray:
    """The ratings' timestamps, or a ValueError saying how to get them."""
    if data.timestamps is None:
        where = f" (from {data.source})" if data.source else ""
        raise ValueError(
            f"{split} splits by time, but these ratings{where} have no timestamps: read a file with a timestamp "
            "column (cmf.io.load_ratings(path, columns=(user, item, rating, timestamp)); --columns U,I,R,T), "
            "pass a DataFrame with a 'timestamp' column, or build RatingDataset(..., timestamps=...)"
        )
    return data.timestamps


def temporal_split(
    data: Any, test_size: float | int | None = None, *, cutoff: int | None = None
) -> tuple[RatingDataset, RatingDataset]:
    """Split ratings by time: the latest ones are the test set.

    The ratings given at or after a cut-off time are the test set, the
    earlier ones the training set, so that every training rating precedes
    every test rating. The cut-off is ``cutoff`` when given; otherwise it
    is the timestamp of the ``n_test``-th latest rating. Ratings that share
    the cut-off's timestamp all go to the test set: the cut never separates
    ratings given at the same time, so the test set can hold a few more
    than ``test_size`` asks.

    Parameters
    ----------
    data : RatingDataset or DataFrame
        Ratings with timestamps (a file read with its timestamp column, a
        DataFrame with one, or ``RatingDataset(..., timestamps=...)``).
    test_size : float or int, optional
        Fraction (or number) of ratings to test on, at least; default 0.2
        unless ``cutoff`` is given.
    cutoff : int, optional
        The first timestamp of the test set, in the timestamps' unit
        (seconds since 1970 in MovieLens files).

    Returns
    -------
    train, test : RatingDataset
        Both keep the full shape and labels, and the ratings in their
        original order.

    Raises
    ------
    ValueError
        For data without timestamps, both ``test_size`` and ``cutoff``, or
        a cut-off that leaves either part empty.
    TypeError
        For a ``cutoff`` that is not an integer.

    Examples
    --------
    >>> train, test = temporal_split(load_ratings("ml-100k/u.data"), 0.2)  # doctest: +SKIP
    """
    data = as_dataset(data)
    stamps = _timestamps(data, "temporal_split")
    if cutoff is None:
        n = len(data)
        n_test = _n_test(0.2 if test_size is None else test_size, n)
        cutoff = int(np.partition(stamps, n - n_test)[n - n_test])
    elif test_size is not None:
        raise ValueError("pass test_size or cutoff, not both")
    elif not is_integer(cutoff):
        raise TypeError(f"cutoff must be an integer timestamp in the unit of the data's timestamps, got {cutoff!r}")
    test = stamps >= cutoff
    n_test = int(test.sum())
    if not 0 < n_test < len(data):
        raise ValueError(
            f"the cut-off {cutoff} leaves {len(data) - n_test} of {len(data)} ratings for training and {n_test} for "
            f"testing: the timestamps run from {stamps.min()} to {stamps.max()}; choose a cut-off after the first "
            "and at or before the last"
        )
    return data.subset(np.flatnonzero(~test)), data.subset(np.flatnonzero(test))


def leave_last_out(data: Any, k: int = 1) -> tuple[RatingDataset, RatingDataset]:
    """Hold out each user's ``k`` latest ratings.

    Within a user, ratings are ordered by timestamp and, among equal
    timestamps, by their position in ``data`` (a later line of a file is
    the later rating), so the split is the same on every run. Users with
    ``k`` or fewer ratings stay wholly in the training set, as with
    ``train_test_split(data, leave_k_out=k)``: a user with one rating is
    never tested by ``k=1``.

    Parameters
    ----------
    data : RatingDataset or DataFrame
        Ratings with timestamps.
    k : int, default 1
        Ratings held out per user, at least 1.

    Returns
    -------
    train, test : RatingDataset
        The held-out ratings are the test set; both keep the full shape,
        the labels and the ratings' order.

    Raises
    ------
    ValueError
        For data without timestamps, ``k`` below 1, or when no user has
        more than ``k`` ratings.
    """
    data = as_dataset(data)
    stamps = _timestamps(data, "leave_last_out")
    if not is_integer(k) or k < 1:
        raise ValueError(f"k must be a positive integer (ratings held out per user), got {k!r}")
    # Each user's ratings together, latest first (by time, then by position).
    order = np.lexsort((np.arange(len(data)), stamps, data.rows))[::-1]
    return _hold_first(data, order, int(k))


class KFold:
    """K-fold cross-validation over ratings.

    Parameters
    ----------
    n_splits : int, default 5
        Number of folds, at least 2.
    shuffle : bool, default True
        Shuffle the ratings before cutting them into folds.
    random_state : int, Generator or None
        Seed of the shuffle.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: Any = None) -> None:
        if not is_integer(n_splits) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, random_state={self.random_state!r})"

    def get_n_splits(self) -> int:
        """Number of folds.

        Returns
        -------
        int
        """
        return self.n_splits

    def split(self, data: Any) -> Iterator[tuple[RatingDataset, RatingDataset]]:
        """Yield ``(train, test)`` data sets, one per fold.

        Parameters
        ----------
        data : RatingDataset, DataFrame or tuple
            The ratings.

        Yields
        ------
        train, test : RatingDataset
            Every rating is in exactly one test set.
        """
        data = as_dataset(data)
        n = len(data)
        if n < self.n_splits:
            raise ValueError(f"cannot cut {n} ratings into {self.n_splits} folds")
        index = np.random.default_rng(self.random_state).permutation(n) if self.shuffle else np.arange(n)
        bounds = np.linspace(0, n, self.n_splits + 1).astype(np.int64)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            test = np.zeros(n, dtype=bool)
            test[index[lo:hi]] = True
            yield data.subset(~test), data.subset(test)


class _GivenFolds:
    """Folds given as a sequence of ``(train, test)`` pairs."""

    def __init__(self, pairs: Any) -> None:
        if len(pairs) == 2 and all(isinstance(part, RatingDataset) for part in pairs):
            raise TypeError("cv got one (train, test) pair: pass a list of pairs, such as cv=[temporal_split(data)]")
        self.pairs = []
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"cv as a list must hold (train, test) pairs, such as temporal_split(data); got {pair!r}")
            self.pairs.append((as_dataset(pair[0]), as_dataset(pair[1])))
        if not self.pairs:
            raise ValueError("cv is an empty list: give at least one (train, test) pair")

    def get_n_splits(self) -> int:
        return len(self.pairs)

    def split(self, data: Any = None) -> Iterator[tuple[RatingDataset, RatingDataset]]:
        return iter(self.pairs)


def folds_of(cv: Any, random_state: Any) -> Any:
    """The folds that a ``cv`` argument asks for.

    Parameters
    ----------
    cv : int, splitter or list of (train, test) pairs
        A number of folds; an object with a ``split(data)`` method yielding
        ``(train, test)`` pairs (:class:`KFold`,
        :class:`~cmf.model_selection.PredefinedFolds`); or the pairs
        themselves, such as ``[temporal_split(data)]``.
    random_state : int, Generator or None
        Seed of the shuffle when ``cv`` is a number.

    Returns
    -------
    object
        With a ``split(data)`` method.
    """
    if is_integer(cv):
        return KFold(int(cv), random_state=random_state)
    if callable(getattr(cv, "split", None)) and not isinstance(cv, (str, bytes)):
        return cv
    if isinstance(cv, (list, tuple)):
        return _GivenFolds(cv)
    raise TypeError(
        f"cv must be a number of folds, a splitter such as KFold or PredefinedFolds, or a list of "
        f"(train, test) pairs; got {cv!r}"
    )
